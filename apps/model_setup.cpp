#include "apps/model_setup.h"

#include <memory>

#include "common/log.h"
#include "common/progress.h"

namespace duet {

ModelFlags add_model_flags(Flags& flags, const std::string& default_model_help) {
  ModelFlags f;
  f.model =
      &flags.add_string("model", "", "Hugging Face checkpoint directory" + default_model_help);
  f.device = &flags.add_string("device", "", "cpu or cuda (default: cuda when a GPU is usable)");
  f.threads = &flags.add_int("threads", 0, "CPU threads (0: all cores)");
  return f;
}

LoadedModel load_model_with_progress(const ModelFlags& flags) {
  std::unique_ptr<ProgressBar> bar;
  LoadedModel m =
      load_model(*flags.model, *flags.device, *flags.threads, [&](uint64_t done, uint64_t total) {
        if (!bar) bar = std::make_unique<ProgressBar>("loading", total);
        bar->update(done);
      });
  if (bar) bar->finish();
  log_info("loaded ", describe(m.config), " on ", m.backend->name(), " in ", m.load_seconds, " s");
  return m;
}

}  // namespace duet
