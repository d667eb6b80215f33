// The CUDA backend: bf16 activations, weights and latent cache, fp32 accumulation, one stream.
#pragma once

#include <memory>

#include "backend/backend.h"

namespace duet {

std::unique_ptr<Backend> make_cuda_backend();
// True when the CUDA runtime sees at least one device this build can run on (sm_90).
bool cuda_device_available();

}  // namespace duet
