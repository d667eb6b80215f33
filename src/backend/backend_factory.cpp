// Backend selection: "cpu", "cuda", or "" (cuda when this build has it and a GPU is usable).
#include "backend/backend.h"
#include "common/error.h"
#include "common/thread_pool.h"

namespace duet {

#ifdef DUET_HAS_CUDA
std::unique_ptr<Backend> make_cuda_backend();  // backend/cuda
bool cuda_device_available();
#endif

std::unique_ptr<Backend> make_backend(const std::string& device, int64_t threads) {
  const int n = threads > 0 ? static_cast<int>(threads) : ThreadPool::default_threads();
  if (device == "cpu") return make_cpu_backend(n);
#ifdef DUET_HAS_CUDA
  if (device == "cuda") {
    if (!cuda_device_available()) fail("--device cuda: no usable CUDA GPU");
    return make_cuda_backend();
  }
  if (device.empty()) return cuda_device_available() ? make_cuda_backend() : make_cpu_backend(n);
#else
  if (device == "cuda") fail("--device cuda: this build has no CUDA backend (built without nvcc)");
  if (device.empty()) return make_cpu_backend(n);
#endif
  fail("--device '", device, "' is not a device (expected cpu or cuda)");
}

}  // namespace duet
