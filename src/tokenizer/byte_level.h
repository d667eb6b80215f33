// GPT-2's bytes_to_unicode alphabet, which byte-level tokenizer.json vocabularies are written in:
// printable Latin-1 bytes stand for themselves, the other 68 bytes map to U+0100 onwards.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace duet::byte_level {

// The UTF-8 of the character that stands for byte b.
const std::string& char_for_byte(unsigned char b);

// Raw bytes of a vocabulary string, or nullopt when it has a character outside the alphabet.
std::optional<std::string> decode(std::string_view text);

// What Hugging Face's ByteLevel decoder produces for one token: the mapped bytes when every
// character is in the alphabet, else the token's own UTF-8 (e.g. "<｜User｜>").
std::string token_to_bytes(std::string_view text);

}  // namespace duet::byte_level
