#include "server/generation_job.h"

#include <ctime>

#include "common/error.h"
#include "server/api_error.h"
#include "server/sse.h"

namespace duet::server {
namespace {

constexpr std::chrono::milliseconds kPollInterval{100};

double seconds(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

}  // namespace

GenerationJob::GenerationJob(ServerContext& ctx, GenerateRequest request,
                             std::vector<int32_t> prompt_ids, ChoiceOptions choice_options,
                             std::string echo_text)
    : ctx_(ctx),
      req_(std::move(request)),
      prompt_ids_(std::move(prompt_ids)),
      echo_text_(std::move(echo_text)),
      arrival_(Clock::now()) {
  ctx_.admit();
  admitted_ = true;
  const bool chat = req_.endpoint == Endpoint::kChat;
  header_ = {random_id(chat ? "chatcmpl-" : "cmpl-"), int64_t(std::time(nullptr)),
             ctx_.options().served_model_name};
  for (int i = 0; i < req_.n; ++i) choices_.emplace_back(i, choice_options);
  request_ids_.assign(req_.n, -1);
  text_sent_.assign(req_.n, echo_text_.size());
  last_token_at_.assign(req_.n, arrival_);
  got_first_.assign(req_.n, false);
}

GenerationJob::~GenerationJob() {
  abort();
  if (admitted_) ctx_.release();
}

void GenerationJob::submit() {
  for (int i = 0; i < req_.n; ++i) {
    std::shared_ptr<OutputQueue> queue = queue_;
    SamplingParams params = req_.sampling;
    // n choices with one seed must still differ from each other (and stay reproducible).
    if (params.seed) params.seed = *params.seed + uint64_t(i);
    try {
      request_ids_[i] = ctx_.engine().add_request(
          prompt_ids_, params, [queue, i](const RequestOutput& out) { queue->push(i, out); });
    } catch (const Error& e) {
      abort();  // choices already queued must not keep running
      throw ApiError(400, e.what());
    }
    ctx_.track(request_ids_[i]);
  }
  // A shutdown that began while we were queueing did not see our ids.
  if (ctx_.shutting_down()) abort();
}

void GenerationJob::abort() {
  for (size_t i = 0; i < request_ids_.size(); ++i) {
    int64_t& id = request_ids_[i];
    if (id < 0) continue;
    // The engine's final kAbort output will find no reader any more: count it here.
    if (!choices_[i].finished()) ctx_.metrics().record_finished("abort");
    ctx_.engine().abort(id);
    ctx_.untrack(id);
    id = -1;
  }
}

bool GenerationJob::all_finished() const {
  for (const ChoiceState& c : choices_)
    if (!c.finished()) return false;
  return true;
}

void GenerationJob::record_timing(int choice, const ChoiceOutput& out) {
  ServerMetrics& m = ctx_.metrics();
  const size_t num_tokens = out.output.token_ids.size();
  if (num_tokens > 0) {
    if (!got_first_[choice]) {
      m.record_first_token(seconds(out.at - arrival_));
      got_first_[choice] = true;
      // Tokens after the first in the same output arrived together: no gap to report.
    } else {
      const double gap = seconds(out.at - last_token_at_[choice]) / double(num_tokens);
      for (size_t t = 0; t < num_tokens; ++t) m.record_inter_token(gap);
    }
    last_token_at_[choice] = out.at;
  }
  if (out.output.finished) {
    m.record_e2e(seconds(out.at - arrival_));
    m.record_finished(finish_reason_string(out.output.finish_reason));
  }
}

bool GenerationJob::poll(std::chrono::milliseconds timeout,
                         std::vector<std::pair<int, ChoiceDelta>>& deltas) {
  std::vector<ChoiceOutput> outputs;
  if (!queue_->pop_all(outputs, timeout)) return false;
  for (const ChoiceOutput& o : outputs) {
    ChoiceState& c = choices_[o.choice];
    if (c.finished()) continue;  // e.g. our own abort arriving after a normal finish
    record_timing(o.choice, o);
    deltas.emplace_back(o.choice, c.apply(o.output));
    if (c.finished() && request_ids_[o.choice] >= 0) {
      ctx_.untrack(request_ids_[o.choice]);
      request_ids_[o.choice] = -1;
    }
  }
  return true;
}

json GenerationJob::usage() const {
  int64_t completion = 0;
  for (const ChoiceState& c : choices_) completion += c.num_output_tokens();
  // n choices share one prompt: it is counted once, as OpenAI does.
  return usage_json(int64_t(prompt_ids_.size()), completion,
                    choices_.empty() ? 0 : choices_[0].num_cached_tokens());
}

std::string GenerationJob::stream_start() {
  std::string out;
  for (int i = 0; i < req_.n; ++i) {
    if (req_.endpoint == Endpoint::kChat) {
      json choice = {{"index", i},
                     {"delta", {{"role", "assistant"}, {"content", ""}}},
                     {"logprobs", nullptr},
                     {"finish_reason", nullptr}};
      out += sse_event(chat_chunk(header_, std::move(choice)));
    } else if (!echo_text_.empty()) {
      json choice = {
          {"index", i}, {"text", echo_text_}, {"logprobs", nullptr}, {"finish_reason", nullptr}};
      out += sse_event(completion_chunk(header_, std::move(choice)));
    }
  }
  return out;
}

std::string GenerationJob::stream_delta(int i, const ChoiceDelta& d) {
  const ChoiceState& c = choices_[i];
  const TokenText text = [this](int32_t id) { return ctx_.token_text(id); };
  const bool want_logprobs = req_.logprobs && !d.logprobs.empty();
  // Without a tokenizer there is no text: token ids are then the only progress to report.
  const bool want_ids = req_.return_token_ids && !d.token_ids.empty();
  json choice = {{"index", i}};
  if (req_.endpoint == Endpoint::kChat) {
    json delta = json::object();
    if (!d.reasoning.empty()) delta["reasoning_content"] = d.reasoning;
    if (!d.content.empty()) delta["content"] = d.content;
    if (!d.tool_calls.empty()) delta["tool_calls"] = tool_call_deltas_json(d.tool_calls);
    if (delta.empty() && !want_logprobs && !want_ids && !d.finished) return "";
    choice["delta"] = std::move(delta);
    choice["logprobs"] =
        want_logprobs ? chat_logprobs_json(d.logprobs, text, req_.top_logprobs) : json(nullptr);
  } else {
    if (d.content.empty() && !want_logprobs && !want_ids && !d.finished) return "";
    choice["text"] = d.content;
    choice["logprobs"] =
        want_logprobs ? completion_logprobs_json(d.logprobs, text, req_.top_logprobs, text_sent_[i])
                      : json(nullptr);
    text_sent_[i] += d.content.size();
  }
  if (req_.return_token_ids) choice["token_ids"] = d.token_ids;
  choice["finish_reason"] = c.finish_reason_json();
  if (d.finished)
    choice["stop_reason"] = c.stop_reason().empty() ? json(nullptr) : json(c.stop_reason());
  return sse_event(req_.endpoint == Endpoint::kChat ? chat_chunk(header_, std::move(choice))
                                                    : completion_chunk(header_, std::move(choice)));
}

bool GenerationJob::next_stream_chunk(std::string& chunk) {
  if (!stream_started_) {
    stream_started_ = true;
    chunk += stream_start();
    return true;
  }
  if (stream_done_) return false;
  std::vector<std::pair<int, ChoiceDelta>> deltas;
  poll(kPollInterval, deltas);
  for (const auto& [i, d] : deltas) chunk += stream_delta(i, d);
  if (!all_finished()) return true;
  if (req_.include_usage)
    chunk += sse_event(usage_chunk(header_, req_.endpoint == Endpoint::kChat, usage()));
  chunk += sse_done();
  stream_done_ = true;
  return false;
}

json GenerationJob::wait_response() {
  std::vector<std::pair<int, ChoiceDelta>> deltas;
  while (!all_finished()) poll(kPollInterval, deltas);
  const TokenText text = [this](int32_t id) { return ctx_.token_text(id); };
  const bool chat = req_.endpoint == Endpoint::kChat;
  json choices = json::array();
  for (const ChoiceState& c : choices_) {
    if (c.finish_reason() == FinishReason::kError)
      throw ApiError(500, "generation failed: " + c.error());
    json choice = {{"index", c.index()}};
    if (chat) {
      json message = {{"role", "assistant"}};
      const bool tools = !c.tool_calls().empty();
      message["content"] = tools && c.content().empty() ? json(nullptr) : json(c.content());
      if (!c.reasoning().empty()) message["reasoning_content"] = c.reasoning();
      if (tools) message["tool_calls"] = tool_calls_json(c.tool_calls());
      choice["message"] = std::move(message);
      choice["logprobs"] =
          req_.logprobs ? chat_logprobs_json(c.logprobs(), text, req_.top_logprobs) : json(nullptr);
    } else {
      choice["text"] = echo_text_ + c.content();
      choice["logprobs"] =
          req_.logprobs
              ? completion_logprobs_json(c.logprobs(), text, req_.top_logprobs, echo_text_.size())
              : json(nullptr);
    }
    if (req_.return_token_ids) choice["token_ids"] = c.token_ids();
    choice["finish_reason"] = c.finish_reason_json();
    choice["stop_reason"] = c.stop_reason().empty() ? json(nullptr) : json(c.stop_reason());
    choices.push_back(std::move(choice));
  }
  json body = {{"id", header_.id},
               {"object", chat ? "chat.completion" : "text_completion"},
               {"created", header_.created},
               {"model", header_.model},
               {"choices", std::move(choices)},
               {"usage", usage()}};
  if (req_.return_token_ids) body["prompt_token_ids"] = prompt_ids_;
  return body;
}

}  // namespace duet::server
