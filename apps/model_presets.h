// config.json presets for `duet mkmodel`: the real architectures (sizes from the public
// checkpoints' configs) and a tiny one for tests and first runs.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace duet {

std::vector<std::string> model_preset_names();
// Throws duet::Error for an unknown name.
nlohmann::ordered_json model_preset(const std::string& name);

}  // namespace duet
