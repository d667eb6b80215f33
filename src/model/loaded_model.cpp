#include "model/loaded_model.h"

#include <chrono>

#include "loader/checkpoint.h"
#include "model/weights.h"

namespace duet {

LoadedModel load_model(const std::string& dir, const std::string& device, int64_t threads,
                       const std::function<void(uint64_t, uint64_t)>& progress) {
  if (dir.empty()) fail("--model is required");
  const auto start = std::chrono::steady_clock::now();
  LoadedModel m;
  m.config = load_model_config(dir);
  m.backend = make_backend(device, threads);
  Checkpoint ck = Checkpoint::open(dir, m.config.weight_prefix);
  ModelWeights w = load_weights(m.config, ck, *m.backend, progress);
  m.model = std::make_unique<DeepseekModel>(m.config, *m.backend, std::move(w));
  m.load_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return m;
}

}  // namespace duet
