// The one error type request handling throws: carries the HTTP status and the OpenAI-style
// error object ({"error": {"message", "type", "param", "code"}}) the client receives.
#pragma once

#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

namespace duet::server {

class ApiError : public std::runtime_error {
 public:
  ApiError(int status, std::string message, std::string param = "")
      : std::runtime_error(message), status_(status), param_(std::move(param)) {}
  int status() const { return status_; }
  const std::string& param() const { return param_; }

 private:
  int status_;
  std::string param_;
};

// OpenAI's "type" for a status: invalid_request_error (400/404/413), authentication_error
// (401), rate_limit_error (429), unavailable_error (503), server_error otherwise.
const char* error_type_for_status(int status);

// {"error": {"message", "type", "param", "code"}}; code is the status as a number, param null
// when empty.
nlohmann::json error_body(int status, const std::string& message, const std::string& param = "");

}  // namespace duet::server
