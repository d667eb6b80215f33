#include "tokenizer/byte_level.h"

#include <array>
#include <cstdint>

#include "tokenizer/utf8.h"

namespace duet::byte_level {
namespace {

struct Tables {
  std::array<std::string, 256> chars;
  std::array<int16_t, 512> byte_of_cp;  // code points used are all < 324
  Tables() {
    byte_of_cp.fill(-1);
    int extra = 0;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
      const uint32_t cp = printable ? b : 256 + extra++;
      utf8::append_code_point(chars[b], cp);
      byte_of_cp[cp] = static_cast<int16_t>(b);
    }
  }
};

const Tables& tables() {
  static const Tables t;
  return t;
}

}  // namespace

const std::string& char_for_byte(unsigned char b) {
  return tables().chars[b];
}

std::optional<std::string> decode(std::string_view text) {
  const Tables& t = tables();
  if (!utf8::is_valid(text)) return std::nullopt;
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    const uint32_t cp = utf8::next_code_point(text, i);
    if (cp >= t.byte_of_cp.size() || t.byte_of_cp[cp] < 0) return std::nullopt;
    out.push_back(static_cast<char>(t.byte_of_cp[cp]));
  }
  return out;
}

std::string token_to_bytes(std::string_view text) {
  auto bytes = decode(text);
  return bytes ? *bytes : std::string(text);
}

}  // namespace duet::byte_level
