// Finds added/special token strings in text, leftmost-longest (what Hugging Face's Aho-Corasick
// matcher does): at the leftmost position where any token starts, the longest token wins.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace duet {

class AddedTokenMatcher {
 public:
  void add(const std::string& content, int32_t id);
  bool empty() const { return nodes_.size() <= 1; }

  // Splits text into segments; f(segment, id) gets id -1 for ordinary text between tokens.
  // Empty text segments are not reported.
  template <typename F>
  void split(std::string_view text, F&& f) const {
    size_t pos = 0, last = 0;
    while (pos < text.size()) {
      if (!first_byte_[static_cast<uint8_t>(text[pos])]) {
        ++pos;
        continue;
      }
      size_t len;
      const int32_t id = longest_at(text, pos, &len);
      if (id < 0) {
        ++pos;
        continue;
      }
      if (pos > last) f(text.substr(last, pos - last), -1);
      f(text.substr(pos, len), id);
      pos += len;
      last = pos;
    }
    if (text.size() > last) f(text.substr(last), -1);
  }

 private:
  // Id of the longest token starting at text[pos] (its length in *len), or -1.
  int32_t longest_at(std::string_view text, size_t pos, size_t* len) const;

  struct Node {
    std::vector<std::pair<uint8_t, int32_t>> children;  // byte -> node index
    int32_t id = -1;
  };
  std::vector<Node> nodes_{Node{}};
  bool first_byte_[256] = {};
};

}  // namespace duet
