// duet logits: one forward pass over exactly the given ids; raw f32 logits of every position.
#include <cstdio>

#include "apps/command.h"
#include "apps/model_setup.h"
#include "common/error.h"
#include "common/file_util.h"
#include "model/reference_runner.h"

namespace duet {
namespace {

int run_logits(const std::vector<std::string>& args) {
  Flags flags("duet logits", "duet logits --model DIR --prompt-ids IDS --out FILE",
              "Runs one forward pass over exactly the given token ids (nothing is added) and\n"
              "writes the logits of every position to FILE: little-endian float32, row-major\n"
              "[len(IDS), vocab_size]. Prints nothing on stdout.");
  ModelFlags mf = add_model_flags(flags, "");
  auto& ids_text = flags.add_string("prompt-ids", "", "comma-separated token ids");
  auto& out = flags.add_string("out", "", "output file");
  if (!flags.parse(args)) {
    std::fputs(flags.help().c_str(), stdout);
    return 0;
  }
  if (ids_text.empty()) fail("duet logits: --prompt-ids is required");
  if (out.empty()) fail("duet logits: --out is required");
  const std::vector<int32_t> ids = parse_id_list(ids_text, "prompt-ids");
  LoadedModel m = load_model_with_progress(mf);
  for (int32_t id : ids)
    if (id >= m.config.vocab_size)
      fail("--prompt-ids: id ", id, " is not below vocab_size ", m.config.vocab_size);
  ReferenceRunner runner(*m.model);
  const std::vector<float> logits = runner.prompt_logits(ids);
  write_file(out, std::string(reinterpret_cast<const char*>(logits.data()),
                              logits.size() * sizeof(float)));
  return 0;
}

RegisterCommand reg("logits", {"write the logits of every position of a prompt", run_logits});

}  // namespace
}  // namespace duet
