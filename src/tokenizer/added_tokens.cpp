#include "tokenizer/added_tokens.h"

namespace duet {

void AddedTokenMatcher::add(const std::string& content, int32_t id) {
  if (content.empty()) return;
  int32_t node = 0;
  for (char ch : content) {
    const auto c = static_cast<uint8_t>(ch);
    int32_t child = -1;
    for (const auto& [b, n] : nodes_[node].children) {
      if (b == c) child = n;
    }
    if (child < 0) {
      child = static_cast<int32_t>(nodes_.size());
      nodes_[node].children.emplace_back(c, child);
      nodes_.emplace_back();
    }
    node = child;
  }
  if (nodes_[node].id < 0) nodes_[node].id = id;  // first definition of a duplicate wins
  first_byte_[static_cast<uint8_t>(content[0])] = true;
}

int32_t AddedTokenMatcher::longest_at(std::string_view text, size_t pos, size_t* len) const {
  int32_t node = 0, best = -1;
  for (size_t i = pos; i < text.size(); ++i) {
    const auto c = static_cast<uint8_t>(text[i]);
    int32_t child = -1;
    for (const auto& [b, n] : nodes_[node].children) {
      if (b == c) {
        child = n;
        break;
      }
    }
    if (child < 0) break;
    node = child;
    if (nodes_[node].id >= 0) {
      best = nodes_[node].id;
      *len = i - pos + 1;
    }
  }
  return best;
}

}  // namespace duet
