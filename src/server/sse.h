// Server-sent events as the OpenAI streaming API frames them: every event is one
// "data: <json>\n\n" and the stream ends with "data: [DONE]\n\n".
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace duet::server {

std::string sse_event(const nlohmann::ordered_json& payload);
std::string sse_done();

// Client side (duet bench): bytes in arbitrary pieces -> the data payloads of complete events.
// Lines other than "data:" (comments, event:, id:) are ignored; "\r\n" line ends are accepted.
class SseParser {
 public:
  // Appends the payloads of the events completed by `bytes` to `out`.
  void feed(std::string_view bytes, std::vector<std::string>& out);

 private:
  std::string line_;  // the current, unfinished line
  std::string data_;  // data lines of the current event, joined by "\n"
  bool has_data_ = false;
};

}  // namespace duet::server
