#include "server/tool_parsers.h"

#include "server/text_markers.h"

namespace duet::server {
namespace {

std::string_view trim(std::string_view s) {
  const char* ws = " \t\r\n";
  const size_t b = s.find_first_not_of(ws);
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(ws) - b + 1);
}

// A header longer than this is not a header: the section is malformed and becomes content.
constexpr size_t kMaxHeaderBytes = 1024;

}  // namespace

ToolCallFormat deepseek_v3_tool_format() {
  ToolCallFormat f;
  f.name = "deepseek_v3";
  f.section_begin = "<｜tool▁calls▁begin｜>";
  f.section_end = "<｜tool▁calls▁end｜>";
  f.call_begin = "<｜tool▁call▁begin｜>";
  f.header_end = "```json\n";
  f.args_end = "\n```<｜tool▁call▁end｜>";
  f.parse_header = [](std::string_view header) {
    const std::string_view sep = "<｜tool▁sep｜>";
    const size_t pos = header.find(sep);
    std::string_view name =
        pos == std::string_view::npos ? header : header.substr(pos + sep.size());
    return std::pair<std::string, std::string>(std::string(trim(name)), "");
  };
  return f;
}

ToolCallFormat kimi_k2_tool_format() {
  ToolCallFormat f;
  f.name = "kimi_k2";
  f.section_begin = "<|tool_calls_section_begin|>";
  f.section_end = "<|tool_calls_section_end|>";
  f.call_begin = "<|tool_call_begin|>";
  f.header_end = "<|tool_call_argument_begin|>";
  f.args_end = "<|tool_call_end|>";
  // "functions.get_weather:0": Kimi's own call id; the name sits between the dot and the colon.
  f.parse_header = [](std::string_view header) {
    const std::string_view id = trim(header);
    std::string_view name = id;
    if (name.starts_with("functions.")) name.remove_prefix(10);
    const size_t colon = name.rfind(':');
    if (colon != std::string_view::npos) name = name.substr(0, colon);
    return std::pair<std::string, std::string>(std::string(name), std::string(id));
  };
  return f;
}

std::unique_ptr<ToolCallFormat> detect_tool_format(
    const std::function<bool(std::string_view)>& has_token) {
  for (ToolCallFormat f : {deepseek_v3_tool_format(), kimi_k2_tool_format()})
    if (has_token(f.section_begin)) return std::make_unique<ToolCallFormat>(std::move(f));
  return nullptr;
}

ToolCallParser::ToolCallParser(ToolCallFormat format) : format_(std::move(format)) {}

ToolParseResult ToolCallParser::feed(std::string_view text) {
  ToolParseResult out;
  pending_.append(text);
  while (step(out)) {
  }
  return out;
}

bool ToolCallParser::step(ToolParseResult& out) {
  switch (state_) {
    case State::kContent: {
      const size_t pos = pending_.find(format_.section_begin);
      if (pos == std::string::npos) {
        const size_t keep = partial_marker_suffix(pending_, format_.section_begin);
        out.content.append(pending_, 0, pending_.size() - keep);
        pending_.erase(0, pending_.size() - keep);
        return false;
      }
      out.content.append(pending_, 0, pos);
      pending_.erase(0, pos + format_.section_begin.size());
      state_ = State::kSection;
      return true;
    }
    case State::kSection: {
      const size_t start = pending_.find_first_not_of(" \t\r\n");
      pending_.erase(0, start == std::string::npos ? pending_.size() : start);
      if (pending_.empty()) return false;
      for (const std::string* m : {&format_.call_begin, &format_.section_end}) {
        if (pending_.starts_with(*m)) {
          pending_.erase(0, m->size());
          state_ = m == &format_.call_begin ? State::kHeader : State::kContent;
          return true;
        }
        if (std::string_view(*m).starts_with(pending_)) return false;  // a marker in progress
      }
      state_ = State::kContent;  // junk inside the section: give it back as content
      return true;
    }
    case State::kHeader: {
      const size_t pos = pending_.find(format_.header_end);
      if (pos == std::string::npos) {
        if (pending_.size() <= kMaxHeaderBytes) return false;
        state_ = State::kContent;
        return true;
      }
      auto [name, id] = format_.parse_header(std::string_view(pending_).substr(0, pos));
      pending_.erase(0, pos + format_.header_end.size());
      out.calls.push_back({num_started_++, std::move(id), std::move(name), ""});
      state_ = State::kArgs;
      return true;
    }
    case State::kArgs: {
      const size_t pos = pending_.find(format_.args_end);
      const size_t take = pos != std::string::npos
                              ? pos
                              : pending_.size() - partial_marker_suffix(pending_, format_.args_end);
      if (take > 0) {
        // Merge with this feed's earlier delta of the same call (one chunk per call per feed).
        if (!out.calls.empty() && out.calls.back().index == num_started_ - 1)
          out.calls.back().arguments.append(pending_, 0, take);
        else
          out.calls.push_back({num_started_ - 1, "", "", pending_.substr(0, take)});
      }
      if (pos == std::string::npos) {
        pending_.erase(0, take);
        return false;
      }
      pending_.erase(0, pos + format_.args_end.size());
      state_ = State::kSection;
      return true;
    }
  }
  return false;
}

ToolParseResult ToolCallParser::finish() {
  ToolParseResult out;
  if (state_ == State::kContent) {
    out.content = std::move(pending_);
  } else if (state_ == State::kArgs && !pending_.empty()) {
    out.calls.push_back({num_started_ - 1, "", "", std::move(pending_)});
  }
  pending_.clear();
  return out;
}

}  // namespace duet::server
