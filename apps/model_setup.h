// Shared by the commands that run the model: the --model/--device/--threads flags, and loading
// a checkpoint with a progress bar and a one-line summary on stderr.
#pragma once

#include <string>

#include "common/flags.h"
#include "model/loaded_model.h"

namespace duet {

struct ModelFlags {
  std::string* model;
  std::string* device;
  int64_t* threads;
};
ModelFlags add_model_flags(Flags& flags, const std::string& default_model_help);

// Loads the model with a progress bar on stderr and logs a summary line.
LoadedModel load_model_with_progress(const ModelFlags& flags);

}  // namespace duet
