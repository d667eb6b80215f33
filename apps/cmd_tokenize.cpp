// duet tokenize: text -> ids with the checkpoint's tokenizer (no special tokens added).
#include <cstdio>
#include <iostream>
#include <iterator>
#include <string>

#include "apps/command.h"
#include "common/error.h"
#include "common/flags.h"
#include "tokenizer/tokenizer.h"

namespace duet {
namespace {

int run_tokenize(const std::vector<std::string>& args) {
  Flags flags("duet tokenize", "duet tokenize --model DIR [--text T] [--json]",
              "Encodes T (or all of stdin, byte for byte) as plain text without adding special "
              "tokens; special-token strings in the text become their ids. Prints the ids "
              "comma-separated on one line. Invalid UTF-8 input is encoded as U+FFFD.");
  std::string& model = flags.add_string(
      "model", "", "checkpoint directory with tokenizer.json or tiktoken.model (required)");
  std::string& text = flags.add_string("text", "", "text to encode [default: read stdin]");
  bool& as_json = flags.add_bool("json", "print one JSON array of ids instead");
  if (!flags.parse(args)) {
    std::fputs(flags.help().c_str(), stdout);
    return 0;
  }
  if (model.empty()) fail("duet tokenize: --model DIR is required");
  auto tok = Tokenizer::load(model);
  if (!tok) fail(model, ": no tokenizer.json or tiktoken.model in this directory");
  std::string input = text;
  if (!flags.was_set("text")) {
    std::ios::sync_with_stdio(false);
    std::freopen(nullptr, "rb", stdin);
    input.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  }
  const auto ids = tok->encode(input, /*add_special_tokens=*/false);
  std::string out = as_json ? "[" : "";
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) out.push_back(',');
    out.append(std::to_string(ids[i]));
  }
  out.append(as_json ? "]\n" : "\n");
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}

RegisterCommand reg("tokenize", {"encode text into token ids", run_tokenize});

}  // namespace
}  // namespace duet
