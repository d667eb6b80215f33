// duet detokenize: ids -> text with the checkpoint's tokenizer.
#include <cstdio>
#include <string>

#include "apps/command.h"
#include "common/error.h"
#include "common/flags.h"
#include "tokenizer/tokenizer.h"

namespace duet {
namespace {

int run_detokenize(const std::vector<std::string>& args) {
  Flags flags("duet detokenize", "duet detokenize --model DIR --ids IDS [--skip-special-tokens]",
              "Decodes comma-separated token ids and prints the text exactly (no newline is "
              "added). Invalid UTF-8 in the token bytes is printed as U+FFFD.");
  std::string& model = flags.add_string(
      "model", "", "checkpoint directory with tokenizer.json or tiktoken.model (required)");
  std::string& ids_text =
      flags.add_string("ids", "", "comma-separated token ids, e.g. 3,17,42 (required)");
  bool& skip = flags.add_bool("skip-special-tokens", "leave special tokens out of the text");
  if (!flags.parse(args)) {
    std::fputs(flags.help().c_str(), stdout);
    return 0;
  }
  if (model.empty()) fail("duet detokenize: --model DIR is required");
  if (!flags.was_set("ids")) fail("duet detokenize: --ids is required");
  auto tok = Tokenizer::load(model);
  if (!tok) fail(model, ": no tokenizer.json or tiktoken.model in this directory");
  const auto ids = parse_id_list(ids_text, "ids");
  for (int32_t id : ids) {
    if (id >= tok->vocab_size())
      fail("--ids: id ", id, " is out of range (vocab size ", tok->vocab_size(), ")");
  }
  const std::string text = tok->decode(ids, skip);
  std::fwrite(text.data(), 1, text.size(), stdout);
  return 0;
}

RegisterCommand reg("detokenize", {"decode token ids into text", run_detokenize});

}  // namespace
}  // namespace duet
