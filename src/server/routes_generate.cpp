// /v1/chat/completions and /v1/completions: parse, build the prompt ids, finalise sampling,
// then run a GenerationJob either streaming (SSE) or to completion.
#include <memory>

#include "common/error.h"
#include "server/api_error.h"
#include "server/generation_job.h"
#include "server/routes.h"
#include "server/sse.h"
#include "tokenizer/tokenizer.h"

namespace duet::server {
namespace {

struct Prompt {
  std::vector<int32_t> ids;
  std::string rendered;  // chat: the template's output (to see whether it opens <think>)
  std::string echo;      // completions with echo: the prompt text
};

const Tokenizer& require_tokenizer(const ServerContext& ctx, const char* what) {
  if (!ctx.tokenizer())
    throw ApiError(400, std::string("this model has no tokenizer files, so ") + what +
                            " is not available; send token ids as the prompt");
  return *ctx.tokenizer();
}

Prompt build_prompt(const ServerContext& ctx, const GenerateRequest& req) {
  Prompt p;
  if (req.endpoint == Endpoint::kChat) {
    const Tokenizer& tok = require_tokenizer(ctx, "chat");
    if (!ctx.chat_renderer()) throw ApiError(400, "this model has no chat template");
    nlohmann::ordered_json extra = req.chat_template_kwargs.is_object()
                                       ? req.chat_template_kwargs
                                       : nlohmann::ordered_json::object();
    if (!req.tool_choice.is_null()) extra["tool_choice"] = req.tool_choice;
    p.rendered = ctx.chat_renderer()(req.messages, req.tools, extra);
    // The template wrote BOS and the other markers itself: add nothing more.
    p.ids = tok.encode(p.rendered, /*add_special_tokens=*/false);
  } else if (req.prompt_text) {
    p.ids = require_tokenizer(ctx, "a text prompt").encode(*req.prompt_text, true);
    if (req.echo) p.echo = *req.prompt_text;
  } else {
    p.ids = req.prompt_ids;
    if (req.echo && ctx.tokenizer()) p.echo = ctx.tokenizer()->decode(p.ids, true);
  }
  if (p.ids.empty()) throw ApiError(400, "the prompt is empty after tokenization", "prompt");
  return p;
}

// Resolves max_tokens against the context and checks the sampling values.
void finalize_sampling(const ServerContext& ctx, GenerateRequest& req, size_t prompt_len) {
  const int64_t max_len = ctx.engine().max_model_len();
  const int64_t room = max_len - int64_t(prompt_len);
  if (room <= 0)
    throw ApiError(400,
                   str_cat("This model's maximum context length is ", max_len,
                           " tokens. However, your prompt has ", prompt_len, " tokens."),
                   req.endpoint == Endpoint::kChat ? "messages" : "prompt");
  if (req.max_tokens) {
    if (*req.max_tokens > room)
      throw ApiError(
          400,
          str_cat("This model's maximum context length is ", max_len,
                  " tokens. However, you requested ", prompt_len + *req.max_tokens, " tokens (",
                  prompt_len, " in the prompt, ", *req.max_tokens, " in the completion)."),
          "max_tokens");
    req.sampling.max_tokens = *req.max_tokens;
  } else {
    // OpenAI's defaults: 16 for legacy completions, the rest of the context for chat.
    req.sampling.max_tokens =
        int32_t(req.endpoint == Endpoint::kChat ? room : std::min<int64_t>(16, room));
  }
  req.sampling.logprobs = req.logprobs ? req.top_logprobs : -1;
  try {
    req.sampling.validate(ctx.vocab_size());
  } catch (const Error& e) {
    throw ApiError(400, e.what());
  }
}

ChoiceOptions choice_options(const ServerContext& ctx, GenerateRequest& req, const Prompt& p) {
  ChoiceOptions o;
  if (req.endpoint != Endpoint::kChat || !ctx.tokenizer()) return o;
  o.parse_reasoning = ctx.has_reasoning_markers();
  o.reasoning_starts_open = o.parse_reasoning && prompt_opens_reasoning(p.rendered);
  const bool tools_offered = req.tools.is_array() && !req.tools.empty() &&
                             !(req.tool_choice.is_string() && req.tool_choice == "none");
  if (tools_offered) o.tool_format = ctx.tool_format();
  // The parsers need the marker tokens in the text even when they are special tokens; what is
  // left of special tokens afterwards is removed here if the client asked for that.
  if ((o.parse_reasoning || o.tool_format) && req.sampling.skip_special_tokens) {
    req.sampling.skip_special_tokens = false;
    o.strip = &ctx.special_strings();
  }
  return o;
}

HttpResponse run_generation(ServerContext& ctx, const HttpRequest& http, Endpoint endpoint) {
  const nlohmann::json body = parse_json_body(http.body);
  GenerateRequest req = endpoint == Endpoint::kChat
                            ? parse_chat_request(body, ctx.default_sampling())
                            : parse_completion_request(body, ctx.default_sampling());
  ctx.check_model(req.model);
  Prompt prompt = build_prompt(ctx, req);
  finalize_sampling(ctx, req, prompt.ids.size());
  ChoiceOptions options = choice_options(ctx, req, prompt);
  const bool stream = req.stream;
  auto job = std::make_shared<GenerationJob>(ctx, std::move(req), std::move(prompt.ids), options,
                                             std::move(prompt.echo));
  job->submit();
  if (!stream) return json_response(job->wait_response());
  HttpResponse r;
  r.content_type = "text/event-stream";
  r.next = [job](std::string& chunk) { return job->next_stream_chunk(chunk); };
  r.on_close = [job](bool completed) {
    if (!completed) job->abort();
  };
  return r;
}

}  // namespace

HttpResponse handle_chat_completions(ServerContext& ctx, const HttpRequest& request) {
  return run_generation(ctx, request, Endpoint::kChat);
}

HttpResponse handle_completions(ServerContext& ctx, const HttpRequest& request) {
  return run_generation(ctx, request, Endpoint::kCompletion);
}

}  // namespace duet::server
