#include "apps/default_model.h"

#include <cstdlib>
#include <filesystem>

namespace duet {

std::string default_model_dir() {
  if (const char* env = std::getenv("DUET_DEFAULT_MODEL"); env && *env) return env;
  const std::string shipped = std::string(DUET_SOURCE_DIR) + "/models/duet-arith-tiny";
  std::error_code ec;
  return std::filesystem::exists(shipped + "/config.json", ec) ? shipped : std::string();
}

std::string default_model_help() {
  return "checkpoint directory (default: $DUET_DEFAULT_MODEL, else the shipped "
         "models/duet-arith-tiny, a small model trained for duet on arithmetic word problems)";
}

}  // namespace duet
