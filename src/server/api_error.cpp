#include "server/api_error.h"

namespace duet::server {

const char* error_type_for_status(int status) {
  switch (status) {
    case 400:
    case 404:
    case 413:
      return "invalid_request_error";
    case 401:
      return "authentication_error";
    case 429:
      return "rate_limit_error";
    case 503:
      return "unavailable_error";
    default:
      return "server_error";
  }
}

nlohmann::json error_body(int status, const std::string& message, const std::string& param) {
  nlohmann::json err = {{"message", message},
                        {"type", error_type_for_status(status)},
                        {"param", param.empty() ? nlohmann::json(nullptr) : nlohmann::json(param)},
                        {"code", status}};
  return {{"error", err}};
}

}  // namespace duet::server
