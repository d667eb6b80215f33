// Helpers for streaming parsers that look for marker strings in text that arrives in arbitrary
// pieces: text that might be the start of a marker is held back until the next piece decides.
#pragma once

#include <algorithm>
#include <cstddef>
#include <string_view>

namespace duet::server {

// Length of the longest proper prefix of `marker` that `text` ends with (0 if none). That many
// bytes at the end of `text` must be held back: the next piece may complete the marker.
inline size_t partial_marker_suffix(std::string_view text, std::string_view marker) {
  const size_t max_len = std::min(text.size(), marker.size() - 1);
  for (size_t len = max_len; len > 0; --len)
    if (text.substr(text.size() - len) == marker.substr(0, len)) return len;
  return 0;
}

}  // namespace duet::server
