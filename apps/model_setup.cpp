#include "apps/model_setup.h"

#include <chrono>

#include "common/log.h"
#include "common/progress.h"
#include "common/thread_pool.h"
#include "loader/checkpoint.h"
#include "model/weights.h"

namespace duet {

ModelFlags add_model_flags(Flags& flags, const std::string& default_model_help) {
  ModelFlags f;
  f.model = &flags.add_string("model", "", "Hugging Face checkpoint directory" + default_model_help);
  f.device = &flags.add_string("device", "", "cpu or cuda (default: cuda when a GPU is usable)");
  f.threads = &flags.add_int("threads", 0, "CPU threads (0: all cores)");
  return f;
}

LoadedModel load_model(const std::string& dir, const std::string& device, int64_t threads) {
  if (dir.empty()) fail("--model is required");
  if (!device.empty() && device != "cpu")
    fail("--device ", device, ": this build has no such backend (available: cpu)");
  LoadedModel m;
  m.config = load_model_config(dir);
  const auto start = std::chrono::steady_clock::now();
  const int nthreads = threads > 0 ? static_cast<int>(threads) : ThreadPool::default_threads();
  m.backend = make_cpu_backend(nthreads);
  Checkpoint ck = Checkpoint::open(dir, m.config.weight_prefix);
  ProgressBar bar("loading " + dir, ck.total_bytes());
  ModelWeights w = load_weights(m.config, ck, *m.backend,
                                [&](uint64_t done, uint64_t total) { bar.update(done * ck.total_bytes() / std::max<uint64_t>(total, 1)); });
  bar.update(ck.total_bytes());
  bar.finish();
  m.model = std::make_unique<DeepseekModel>(m.config, *m.backend, std::move(w));
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  log_info("loaded ", describe(m.config), " on ", m.backend->name(), " (", nthreads,
           " threads) in ", secs, " s");
  return m;
}

}  // namespace duet
