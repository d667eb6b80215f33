// /v1/models, /health, /metrics, /tokenize, /detokenize.
#include <ctime>

#include "server/api_error.h"
#include "server/openai_protocol.h"
#include "server/routes.h"
#include "tokenizer/tokenizer.h"

namespace duet::server {

HttpResponse handle_models(ServerContext& ctx, const HttpRequest&) {
  static const int64_t created = int64_t(std::time(nullptr));
  nlohmann::ordered_json model = {{"id", ctx.options().served_model_name},
                                  {"object", "model"},
                                  {"created", created},
                                  {"owned_by", "duet"},
                                  {"root", ctx.options().model_dir},
                                  {"max_model_len", ctx.engine().max_model_len()},
                                  {"vocab_size", ctx.vocab_size()}};
  return json_response({{"object", "list"}, {"data", nlohmann::ordered_json::array({model})}});
}

HttpResponse handle_health(ServerContext& ctx, const HttpRequest&) {
  if (ctx.shutting_down()) return error_response(503, "shutting down");
  if (!ctx.engine().healthy())
    return error_response(503, "engine failed: " + ctx.engine().last_error());
  return json_response(nlohmann::ordered_json::object());
}

HttpResponse handle_metrics(ServerContext& ctx, const HttpRequest&) {
  HttpResponse r;
  r.content_type = "text/plain; version=0.0.4; charset=utf-8";
  r.body = ctx.metrics().render(ctx.engine().stats(), ctx.engine().healthy());
  return r;
}

HttpResponse handle_tokenize(ServerContext& ctx, const HttpRequest& http) {
  const TokenizeRequest req = parse_tokenize_request(parse_json_body(http.body));
  ctx.check_model(req.model);
  const Tokenizer* tok = ctx.tokenizer();
  if (!tok) throw ApiError(400, "this model has no tokenizer files");
  std::vector<int32_t> ids;
  if (req.prompt) {
    ids = tok->encode(*req.prompt, req.add_special_tokens);
  } else {
    if (!ctx.chat_renderer()) throw ApiError(400, "this model has no chat template");
    nlohmann::ordered_json extra = {{"add_generation_prompt", req.add_generation_prompt}};
    ids = tok->encode(ctx.chat_renderer()(req.messages, nullptr, extra), req.add_special_tokens);
  }
  return json_response(
      {{"count", ids.size()}, {"max_model_len", ctx.engine().max_model_len()}, {"tokens", ids}});
}

HttpResponse handle_detokenize(ServerContext& ctx, const HttpRequest& http) {
  const DetokenizeRequest req = parse_detokenize_request(parse_json_body(http.body));
  ctx.check_model(req.model);
  const Tokenizer* tok = ctx.tokenizer();
  if (!tok) throw ApiError(400, "this model has no tokenizer files");
  for (int32_t id : req.tokens)
    if (id >= tok->vocab_size())
      throw ApiError(400, "token id " + std::to_string(id) + " is out of the vocabulary", "tokens");
  return json_response({{"prompt", tok->decode(req.tokens, false)}});
}

}  // namespace duet::server
