// duet eval: GSM8K-style accuracy (K-shot, greedy, exact match of the extracted answer) of the
// offline engine (--model) or of a running server (--url, /v1/completions).
#include <httplib.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "apps/command.h"
#include "apps/default_model.h"
#include "apps/engine_flags.h"
#include "common/error.h"
#include "common/file_util.h"
#include "common/log.h"
#include "common/progress.h"
#include "eval/arith_task.h"
#include "eval/gsm8k.h"
#include "tokenizer/tokenizer.h"

namespace duet {
namespace {

using json = nlohmann::json;

// Runs every prompt through the offline engine with at most `concurrency` in flight.
std::vector<std::string> run_offline(Engine& engine, const std::vector<std::string>& prompts,
                                     int64_t concurrency, ProgressBar& bar) {
  const Tokenizer* tok = engine.tokenizer();
  if (!tok) fail("duet eval needs a checkpoint with tokenizer files");
  std::vector<std::string> out(prompts.size());
  size_t next = 0, done = 0;
  std::function<void()> submit = [&]() {
    const size_t i = next++;
    SamplingParams p;
    p.temperature = 0;
    p.max_tokens = kEvalMaxTokens;
    p.stop = eval_stop_strings();
    engine.add_request(tok->encode(prompts[i], /*add_special_tokens=*/true), p,
                       [&, i](const RequestOutput& o) {
                         out[i] += o.text;
                         if (!o.finished) return;
                         if (o.finish_reason == FinishReason::kError)
                           fail("request ", i, " failed: ", o.error);
                         bar.update(++done);
                         if (next < prompts.size()) submit();
                       });
  };
  for (int64_t k = 0; k < concurrency && next < prompts.size(); ++k) submit();
  engine.run_until_idle();
  return out;
}

std::vector<std::string> run_remote(const std::string& url, const std::string& api_key,
                                    const std::vector<std::string>& prompts, int64_t concurrency,
                                    ProgressBar& bar) {
  httplib::Headers headers;
  if (!api_key.empty()) headers.emplace("Authorization", "Bearer " + api_key);
  std::string model;
  {
    httplib::Client cli(url);
    cli.set_read_timeout(60);
    auto res = cli.Get("/v1/models", headers);
    if (!res || res->status != 200)
      fail(url, "/v1/models: ",
           res ? "HTTP " + std::to_string(res->status) : httplib::to_string(res.error()));
    model = json::parse(res->body).at("data").at(0).at("id").get<std::string>();
  }
  std::vector<std::string> out(prompts.size());
  std::atomic<size_t> next{0}, done{0};
  std::mutex error_mutex, bar_mutex;
  std::string error;
  auto worker = [&]() {
    httplib::Client cli(url);
    cli.set_read_timeout(600);
    for (size_t i; (i = next++) < prompts.size();) {
      json body = {{"model", model},
                   {"prompt", prompts[i]},
                   {"max_tokens", kEvalMaxTokens},
                   {"temperature", 0},
                   {"stop", eval_stop_strings()}};
      auto res = cli.Post("/v1/completions", headers, body.dump(), "application/json");
      if (!res || res->status != 200) {
        std::lock_guard<std::mutex> lock(error_mutex);
        error = str_cat("problem ", i, ": ",
                        res ? "HTTP " + std::to_string(res->status) + " " + res->body
                            : httplib::to_string(res.error()));
        return;
      }
      out[i] = json::parse(res->body).at("choices").at(0).at("text").get<std::string>();
      std::lock_guard<std::mutex> lock(bar_mutex);
      bar.update(++done);
    }
  };
  std::vector<std::thread> threads;
  for (int64_t k = 0; k < concurrency; ++k) threads.emplace_back(worker);
  for (auto& t : threads) t.join();
  if (!error.empty()) fail(url, ": ", error);
  return out;
}

int run_eval(const std::vector<std::string>& args) {
  Flags flags(
      "duet eval",
      "duet eval (--url URL | --model DIR [layout flags]) (--task arith [--num N] [--seed S] "
      "| --data FILE.jsonl) [flags]",
      "GSM8K-style accuracy: K-shot prompts (\"Question: ...\\nAnswer: ...\" joined by blank\n"
      "lines), greedy decoding up to 256 tokens stopping at a blank line or \"Question:\",\n"
      "answer = the number after \"####\", else the last number; exact match.\n"
      "Few-shot examples come from --fewshot, else the model's fewshot.jsonl, else the\n"
      "built-in arith generator. --save writes {index, completion, extracted} per line;\n"
      "--reference counts problems whose extracted answer differs from such a file.");
  EngineFlags ef = add_engine_flags(flags, default_model_help());
  auto& url =
      flags.add_string("url", "", "evaluate a running server instead (e.g. http://127.0.0.1:8000)");
  auto& api_key = flags.add_string("api-key", "", "bearer token for --url");
  auto& task = flags.add_string("task", "", "built-in task: arith");
  auto& num = flags.add_int("num", 200, "problems of the built-in task");
  auto& seed = flags.add_int("seed", 1234, "seed of the built-in task");
  auto& data = flags.add_string("data", "", "GSM8K-format JSONL (question, answer)");
  auto& fewshot_path = flags.add_string("fewshot", "", "JSONL of few-shot examples");
  auto& shots = flags.add_int("shots", kEvalDefaultShots, "few-shot examples per prompt");
  auto& concurrency = flags.add_int("concurrency", 16, "requests in flight");
  auto& save = flags.add_string("save", "", "write completions to this JSONL file");
  auto& reference =
      flags.add_string("reference", "", "compare extracted answers with this --save file");
  auto& json_out = flags.add_bool("json", "print one JSON summary object");
  if (!flags.parse(args)) {
    std::fputs(flags.help().c_str(), stdout);
    return 0;
  }
  if (task.empty() == data.empty())
    fail("duet eval: give exactly one of --task arith, --data FILE");
  if (!task.empty() && task != "arith")
    fail("duet eval: unknown task '", task, "' (available: arith)");
  if (concurrency < 1) fail("--concurrency must be at least 1");
  if (shots < 0) fail("--shots must be non-negative");
  const std::vector<Problem> problems =
      data.empty() ? make_arith_problems(static_cast<uint64_t>(seed), static_cast<int>(num))
                   : read_problems(data);
  std::string model_dir =
      url.empty() ? (ef.model->empty() ? default_model_dir() : *ef.model) : *ef.model;
  if (url.empty() && model_dir.empty()) fail("duet eval: give --model or --url");
  std::vector<Problem> fewshot;
  std::string fs = fewshot_path;
  if (fs.empty()) {
    const std::string dir = model_dir.empty() ? default_model_dir() : model_dir;
    if (!dir.empty() && file_exists(path_join(dir, "fewshot.jsonl")))
      fs = path_join(dir, "fewshot.jsonl");
  }
  fewshot = fs.empty() ? make_arith_problems(static_cast<uint64_t>(seed) + 1000003,
                                             static_cast<int>(shots))
                       : read_problems(fs);
  if (static_cast<int64_t>(fewshot.size()) < shots)
    fail("--shots ", shots, " but only ", fewshot.size(), " few-shot examples");
  std::vector<std::string> prompts;
  for (const auto& p : problems)
    prompts.push_back(build_prompt(p.question, fewshot, static_cast<int>(shots)));

  ProgressBar bar("eval", problems.size(), "");
  std::vector<std::string> completions;
  if (!url.empty()) {
    completions = run_remote(url, api_key, prompts, concurrency, bar);
  } else {
    EngineOptions o = ef.options(model_dir);
    o.max_num_seqs = std::max<int64_t>(o.max_num_seqs, concurrency);
    auto engine = create_engine_with_progress(o);
    completions = run_offline(*engine, prompts, concurrency, bar);
  }
  bar.finish();

  std::vector<std::string> ref_extracted;
  if (!reference.empty()) {
    std::ifstream in(reference);
    if (!in) fail(reference, ": cannot open");
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      auto j = json::parse(line);
      const size_t i = j.at("index").get<size_t>();
      if (ref_extracted.size() <= i) ref_extracted.resize(i + 1);
      ref_extracted[i] = j.at("extracted").get<std::string>();
    }
    if (ref_extracted.size() != problems.size())
      fail(reference, ": holds ", ref_extracted.size(), " problems, the evaluation has ",
           problems.size());
  }
  std::ofstream save_out;
  if (!save.empty()) {
    save_out.open(save);
    if (!save_out) fail(save, ": cannot open for writing");
  }
  int64_t correct = 0, invalid = 0, differ = 0;
  for (size_t i = 0; i < problems.size(); ++i) {
    const std::string completion = truncate_at_stop(completions[i]);
    const std::string got = extract_answer(completion);
    if (got.empty()) ++invalid;
    if (!got.empty() && got == extract_answer(problems[i].answer)) ++correct;
    if (!reference.empty() && got != ref_extracted[i]) ++differ;
    if (save_out)
      save_out << json{{"index", i}, {"completion", completion}, {"extracted", got}}.dump(
                      -1, ' ', false, json::error_handler_t::replace)
               << "\n";
  }
  const double n = static_cast<double>(problems.size());
  json summary = {{"num", problems.size()},
                  {"correct", correct},
                  {"accuracy", n ? correct / n : 0.0},
                  {"invalid", invalid}};
  if (!reference.empty()) summary["differ"] = differ;
  if (json_out) {
    std::printf("%s\n", summary.dump().c_str());
  } else {
    std::printf("accuracy %.4f (%lld/%zu), invalid %lld", n ? correct / n : 0.0,
                static_cast<long long>(correct), problems.size(), static_cast<long long>(invalid));
    if (!reference.empty())
      std::printf(", differ from reference %lld", static_cast<long long>(differ));
    std::printf("\n");
  }
  return 0;
}

RegisterCommand reg("eval", {"GSM8K-style accuracy of the engine or a server", run_eval});

}  // namespace
}  // namespace duet
