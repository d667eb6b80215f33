// duet generate: offline generation for one or many prompts, all run together through the
// engine; results are printed in the order the prompts were given.
#include <cstdio>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "apps/command.h"
#include "apps/default_model.h"
#include "apps/engine_flags.h"
#include "common/error.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace duet {
namespace {

using json = nlohmann::json;

struct Job {
  std::vector<int32_t> prompt;
  SamplingParams params;
  std::vector<int32_t> output;
  FinishReason reason = FinishReason::kNone;
  std::string text, error;
};

std::vector<int32_t> encode_text(const Engine& e, const std::string& text, bool chat) {
  const Tokenizer* tok = e.tokenizer();
  if (!tok)
    fail("text prompts need tokenizer files, and this checkpoint has none (use --prompt-ids)");
  if (!chat) return tok->encode(text, /*add_special_tokens=*/true);
  return {};
}

std::vector<int32_t> render_chat(const Engine& e, const std::string& model_dir,
                                 const nlohmann::ordered_json& messages) {
  const Tokenizer* tok = e.tokenizer();
  if (!tok) fail("--chat needs tokenizer files, and this checkpoint has none");
  auto tmpl = ChatTemplate::from_model_dir(model_dir);
  if (!tmpl) fail(model_dir, ": --chat needs a chat template, and this checkpoint has none");
  ChatTemplate::Inputs in;
  in.messages = messages;
  in.add_generation_prompt = true;
  in.bos_token = tok->bos_token();
  in.eos_token = tok->eos_token();
  // The template emits any BOS itself, so encode without adding special tokens.
  return tok->encode(tmpl->render(in), /*add_special_tokens=*/false);
}

// Applies the per-request sampling fields of a prompts-file line.
void apply_json_params(const json& j, SamplingParams& p, const std::string& where) {
  try {
    if (j.contains("max_tokens")) p.max_tokens = j["max_tokens"].get<int32_t>();
    if (j.contains("temperature")) p.temperature = j["temperature"].get<float>();
    if (j.contains("top_p")) p.top_p = j["top_p"].get<float>();
    if (j.contains("top_k")) p.top_k = j["top_k"].get<int32_t>();
    if (j.contains("min_p")) p.min_p = j["min_p"].get<float>();
    if (j.contains("seed")) p.seed = j["seed"].get<uint64_t>();
    if (j.contains("ignore_eos")) p.ignore_eos = j["ignore_eos"].get<bool>();
    if (j.contains("repetition_penalty"))
      p.repetition_penalty = j["repetition_penalty"].get<float>();
    if (j.contains("frequency_penalty")) p.frequency_penalty = j["frequency_penalty"].get<float>();
    if (j.contains("presence_penalty")) p.presence_penalty = j["presence_penalty"].get<float>();
    if (j.contains("stop")) {
      if (j["stop"].is_string())
        p.stop = {j["stop"].get<std::string>()};
      else
        p.stop = j["stop"].get<std::vector<std::string>>();
    }
  } catch (const json::exception& e) {
    fail(where, ": bad sampling field: ", e.what());
  }
}

int run_generate(const std::vector<std::string>& args) {
  Flags flags(
      "duet generate",
      "duet generate --model DIR (--prompt-ids IDS | --prompt TEXT)... "
      "[--prompts-file F.jsonl] [flags]",
      "Generates continuations of every prompt, all run together through the engine.\n"
      "Results are printed in the order the prompts were given: the text (or ids when\n"
      "the checkpoint has no tokenizer), or with --json one object per line:\n"
      "{\"prompt_ids\", \"token_ids\", \"finish_reason\", \"text\"}. A generated EOS id is\n"
      "the last element of token_ids. --prompts-file lines are JSON objects with\n"
      "\"prompt\" (text), \"prompt_ids\" or \"messages\" (chat), plus optional sampling\n"
      "fields (max_tokens, temperature, top_p, top_k, min_p, seed, stop, ignore_eos,\n"
      "repetition_penalty, frequency_penalty, presence_penalty).\n"
      "Sampling defaults come from generation_config.json; --temperature 0 is greedy.");
  EngineFlags ef = add_engine_flags(flags, default_model_help());
  auto& prompt_ids = flags.add_list("prompt-ids", "comma-separated token ids of a prompt");
  auto& prompts = flags.add_list("prompt", "a text prompt (BOS added as the tokenizer does)");
  auto& prompts_file = flags.add_string("prompts-file", "", "JSONL file of prompts");
  auto& max_tokens = flags.add_int("max-tokens", 64, "tokens to generate per prompt");
  auto& temperature = flags.add_double("temperature", 1.0, "sampling temperature (0: greedy)");
  auto& top_p = flags.add_double("top-p", 1.0, "nucleus sampling mass");
  auto& top_k = flags.add_int("top-k", 0, "sample among the k most likely (0: off)");
  auto& min_p = flags.add_double("min-p", 0.0, "drop tokens below min-p x the best probability");
  auto& seed = flags.add_int("seed", -1, "random seed (-1: none)");
  auto& ignore_eos = flags.add_bool("ignore-eos", "do not stop at EOS ids");
  auto& chat = flags.add_bool("chat", "wrap each --prompt as a user message via the chat template");
  auto& json_out = flags.add_bool("json", "print one JSON object per prompt per line");
  if (!flags.parse(args)) {
    std::fputs(flags.help().c_str(), stdout);
    return 0;
  }
  const EngineOptions opts = ef.options(default_model_dir());
  if (prompt_ids.empty() && prompts.empty() && prompts_file.empty())
    fail("duet generate: give --prompt-ids, --prompt or --prompts-file");
  auto engine = create_engine_with_progress(opts);

  SamplingParams base = engine->default_sampling();
  base.max_tokens = static_cast<int32_t>(max_tokens);
  if (flags.was_set("temperature")) base.temperature = static_cast<float>(temperature);
  if (flags.was_set("top-p")) base.top_p = static_cast<float>(top_p);
  if (flags.was_set("top-k")) base.top_k = static_cast<int32_t>(top_k);
  if (flags.was_set("min-p")) base.min_p = static_cast<float>(min_p);
  if (seed >= 0) base.seed = static_cast<uint64_t>(seed);
  base.ignore_eos = ignore_eos;

  std::vector<Job> jobs;
  for (const auto& [name, index] : flags.occurrence_order()) {
    Job job;
    job.params = base;
    if (name == "prompt-ids") {
      job.prompt = parse_id_list(prompt_ids[index], "prompt-ids");
    } else {
      job.prompt = chat ? render_chat(*engine, opts.model_dir,
                                      nlohmann::ordered_json::array(
                                          {{{"role", "user"}, {"content", prompts[index]}}}))
                        : encode_text(*engine, prompts[index], false);
    }
    jobs.push_back(std::move(job));
  }
  if (!prompts_file.empty()) {
    std::ifstream in(prompts_file);
    if (!in) fail(prompts_file, ": cannot open");
    std::string line;
    for (int n = 1; std::getline(in, line); ++n) {
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      const std::string where = prompts_file + ":" + std::to_string(n);
      nlohmann::ordered_json j;
      try {
        j = nlohmann::ordered_json::parse(line);
      } catch (const json::exception& e) {
        fail(where, ": invalid JSON: ", e.what());
      }
      Job job;
      job.params = base;
      apply_json_params(json::parse(line), job.params, where);
      if (j.contains("prompt_ids"))
        job.prompt = j["prompt_ids"].get<std::vector<int32_t>>();
      else if (j.contains("messages"))
        job.prompt = render_chat(*engine, opts.model_dir, j["messages"]);
      else if (j.contains("prompt") && j["prompt"].is_string())
        job.prompt = encode_text(*engine, j["prompt"].get<std::string>(), false);
      else
        fail(where, ": needs \"prompt\", \"prompt_ids\" or \"messages\"");
      jobs.push_back(std::move(job));
    }
  }
  for (size_t i = 0; i < jobs.size(); ++i) {
    Job& job = jobs[i];
    try {
      engine->add_request(job.prompt, job.params, [&job](const RequestOutput& o) {
        job.output.insert(job.output.end(), o.token_ids.begin(), o.token_ids.end());
        job.text += o.text;
        if (o.finished) {
          job.reason = o.finish_reason;
          job.error = o.error;
        }
      });
    } catch (const Error& e) {
      fail("prompt ", i + 1, ": ", e.what());
    }
  }
  engine->run_until_idle();
  int status = 0;
  for (const Job& job : jobs) {
    if (job.reason == FinishReason::kError) status = 1;
    if (json_out) {
      json j = {{"prompt_ids", job.prompt},
                {"token_ids", job.output},
                {"finish_reason", finish_reason_name(job.reason)}};
      if (engine->tokenizer()) j["text"] = job.text;
      if (!job.error.empty()) j["error"] = job.error;
      std::printf("%s\n", j.dump(-1, ' ', false, json::error_handler_t::replace).c_str());
    } else if (engine->tokenizer()) {
      std::printf("%s\n", job.text.c_str());
    } else {
      std::string ids;
      for (size_t k = 0; k < job.output.size(); ++k)
        ids += (k ? "," : "") + std::to_string(job.output[k]);
      std::printf("%s\n", ids.c_str());
    }
  }
  return status;
}

RegisterCommand reg("generate", {"generate continuations of prompts (offline)", run_generate});

}  // namespace
}  // namespace duet
