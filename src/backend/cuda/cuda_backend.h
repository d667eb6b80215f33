// The CUDA backend: bf16 activations, weights and latent cache, fp32 accumulation, one stream.
#pragma once

#include <memory>

#include "backend/backend.h"

namespace duet {

std::unique_ptr<Backend> make_cuda_backend();
// True when the CUDA runtime sees at least one device this build can run on (sm_90).
bool cuda_device_available();

// cuda_bench only: mean device time per call of the phases of the absorbed MLA decode path,
// from CUDA events around each phase of `iters` back-to-back mla_attention calls on `be` (a
// CUDA backend): q absorption GEMMs, attention kernel plus split combine, output projection.
// generic_kernel: the kernel for any latent width instead of the 512 + 64 one, for comparison;
// variant: an alternative CTA shape of the 512 + 64 kernel (0: the default; see mla_decode.cu).
struct MlaDecodePhaseTimes {
  double absorb_us = 0, attention_us = 0, project_us = 0;
};
MlaDecodePhaseTimes cuda_mla_decode_phase_times(Backend& be, const MlaParams& p, int iters,
                                                bool generic_kernel = false, int variant = 0);
// cuda_bench only: the same for the cuDNN prefill path (expanded form): latent gather plus kv_b
// up-projection, then the fused attention (the own-kernel fallback counts as attention only).
struct MlaPrefillPhaseTimes {
  double prepare_us = 0, attention_us = 0;
};
MlaPrefillPhaseTimes cuda_mla_prefill_phase_times(Backend& be, const MlaParams& p, int iters);
// cuda_bench and tests only: how moe_experts runs, for same-run comparisons. 0: the default;
// -1: the pointer-array chunk path (up to 128 tokens); -2: the grouped GEMM kernel at any size;
// -3: counted batches on pointer arrays even where strided batches apply; -4: neither grouped
// kernel (chunks up to 128 tokens, else counted cuBLAS batches); -5: the warpgroup-MMA grouped
// kernel at any size (-6, -7: its loads alone, its products alone, wrong results); > 0: the grouped
// kernel with an alternative tile shape (grouped_gemm.cu).
void cuda_moe_experts_path(Backend& be, int path);
// Tests only: how many add_rms_norm_route calls on `be` ran as one launch (the router's CTAs
// norming their input) rather than as the two ops.
int64_t cuda_norm_routes_in_one_launch(Backend& be);

}  // namespace duet
