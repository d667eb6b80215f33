// Shared by the commands that run the model: the --model/--device/--threads flags, and loading
// a checkpoint onto a backend with a progress bar and a one-line summary on stderr.
#pragma once

#include <memory>
#include <string>

#include "backend/backend.h"
#include "common/flags.h"
#include "config/model_config.h"
#include "model/deepseek_model.h"

namespace duet {

struct ModelFlags {
  std::string* model;
  std::string* device;
  int64_t* threads;
};
ModelFlags add_model_flags(Flags& flags, const std::string& default_model_help);

struct LoadedModel {
  ModelConfig config;
  std::unique_ptr<Backend> backend;
  std::unique_ptr<DeepseekModel> model;
};

// Loads DIR onto the requested device ("cpu", "cuda" or "" for the default).
LoadedModel load_model(const std::string& dir, const std::string& device, int64_t threads);

}  // namespace duet
