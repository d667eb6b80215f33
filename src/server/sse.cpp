#include "server/sse.h"

namespace duet::server {

std::string sse_event(const nlohmann::ordered_json& payload) {
  // dump() escapes control characters, so the payload never contains a raw newline that would
  // end the event early. Invalid UTF-8 is replaced rather than throwing mid-stream.
  return "data: " + payload.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) +
         "\n\n";
}

std::string sse_done() {
  return "data: [DONE]\n\n";
}

void SseParser::feed(std::string_view bytes, std::vector<std::string>& out) {
  for (char c : bytes) {
    if (c != '\n') {
      line_.push_back(c);
      continue;
    }
    if (!line_.empty() && line_.back() == '\r') line_.pop_back();
    if (line_.empty()) {  // blank line: the event is complete
      if (has_data_) out.push_back(std::move(data_));
      data_.clear();
      has_data_ = false;
    } else if (line_.starts_with("data:")) {
      std::string_view value = std::string_view(line_).substr(5);
      if (value.starts_with(' ')) value.remove_prefix(1);
      if (has_data_) data_.push_back('\n');
      data_.append(value);
      has_data_ = true;
    }
    line_.clear();
  }
}

}  // namespace duet::server
