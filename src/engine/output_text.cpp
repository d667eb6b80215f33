#include "engine/output_text.h"

namespace duet {

StopMatch append_text(Request& req, const std::string& piece) {
  StopMatch m;
  const size_t searched =
      req.held_text.size() >= req.max_stop_len ? req.held_text.size() - req.max_stop_len + 1 : 0;
  req.held_text += piece;
  size_t best = std::string::npos;
  for (const auto& s : req.params.stop) {
    const size_t pos = req.held_text.find(s, searched);
    if (pos != std::string::npos && pos < best) {
      best = pos;
      m.stop = s;
    }
  }
  if (best != std::string::npos) {
    m.found = true;
    req.held_text.resize(best + (req.params.include_stop_str_in_output ? m.stop.size() : 0));
  }
  return m;
}

std::string take_safe_text(Request& req) {
  const size_t keep = req.max_stop_len > 0 ? req.max_stop_len - 1 : 0;
  if (req.held_text.size() <= keep) return {};
  size_t cut = req.held_text.size() - keep;
  // Never split a UTF-8 sequence: move the cut back to a character start.
  while (cut > 0 && (static_cast<unsigned char>(req.held_text[cut]) & 0xC0) == 0x80) --cut;
  std::string out = req.held_text.substr(0, cut);
  req.held_text.erase(0, cut);
  return out;
}

std::string flush_text(Request& req, bool stopped_by_string) {
  if (!stopped_by_string && req.detok) {
    const std::string tail = req.detok->flush();
    if (!tail.empty()) append_text(req, tail);
  }
  std::string out;
  out.swap(req.held_text);
  return out;
}

}  // namespace duet
