// Loading a checkpoint directory onto a backend: config, weights, model.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "backend/backend.h"
#include "config/model_config.h"
#include "model/deepseek_model.h"

namespace duet {

struct LoadedModel {
  ModelConfig config;
  std::unique_ptr<Backend> backend;
  std::unique_ptr<DeepseekModel> model;
  double load_seconds = 0;
};

// device: "cpu", "cuda" or "" (default); progress(done, total) in checkpoint bytes.
LoadedModel load_model(const std::string& dir, const std::string& device, int64_t threads,
                       const std::function<void(uint64_t, uint64_t)>& progress = {});

}  // namespace duet
