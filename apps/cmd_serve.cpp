// duet serve: the OpenAI-compatible HTTP server over one Engine.
//
// Threads: main parses flags, binds, loads the model and then waits for SIGINT/SIGTERM (blocked
// in every thread and taken with sigwait, so no handler runs in an arbitrary thread); one
// thread runs cpp-httplib's accept loop (its pool runs the handlers); the engine runs its own
// step thread.
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "apps/command.h"
#include "apps/default_model.h"
#include "apps/engine_flags.h"
#include "common/error.h"
#include "common/file_util.h"
#include "common/log.h"
#include "engine/engine.h"
#include "server/http_server.h"
#include "server/server_context.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace duet {
namespace {

server::ChatRenderer make_renderer(const std::string& model_dir, const std::string& override_file,
                                   const Tokenizer* tok) {
  std::shared_ptr<ChatTemplate> tmpl;
  if (!override_file.empty())
    tmpl = std::make_shared<ChatTemplate>(read_file(override_file));
  else
    tmpl = ChatTemplate::from_model_dir(model_dir);
  if (!tmpl || !tok) return {};
  const std::string bos = tok->bos_token(), eos = tok->eos_token();
  return
      [tmpl, bos, eos](const nlohmann::ordered_json& messages, const nlohmann::ordered_json& tools,
                       const nlohmann::ordered_json& extra) {
        ChatTemplate::Inputs in;
        in.messages = messages;
        in.tools = tools;
        in.extra = extra.is_object() ? extra : nlohmann::ordered_json::object();
        in.add_generation_prompt = in.extra.value("add_generation_prompt", true);
        in.extra.erase("add_generation_prompt");
        in.bos_token = bos;
        in.eos_token = eos;
        return tmpl->render(in);
      };
}

int run_serve(const std::vector<std::string>& args) {
  Flags flags("duet serve", "duet serve [--model DIR] [--host H] [--port P] [flags]",
              "OpenAI-compatible HTTP server: /v1/chat/completions, /v1/completions,\n"
              "/v1/models, /tokenize, /detokenize, /health, /metrics (see docs/SERVER.md).\n"
              "With no --model, serves the default model (see --model). Prints 'duet serve: "
              "listening on http://HOST:PORT' on stderr once bound\n"
              "(before the model has loaded: /health answers 503 until it has).");
  EngineFlags ef = add_engine_flags(flags, default_model_help());
  auto& host = flags.add_string("host", "127.0.0.1", "address to listen on");
  auto& port = flags.add_int("port", 8000, "port (0: pick a free one)");
  auto& served_name = flags.add_string("served-model-name", "",
                                       "model name clients send (default: model directory name)");
  auto& api_key = flags.add_string("api-key", "", "require 'Authorization: Bearer KEY'");
  auto& max_waiting = flags.add_int("max-waiting", 256,
                                    "requests allowed to wait beyond --max-num-seqs (then 429)");
  auto& max_body = flags.add_int("max-body-bytes", 8 << 20, "largest request body (then 413)");
  auto& chat_template = flags.add_string("chat-template", "", "Jinja chat template file");
  if (!flags.parse(args)) {
    std::fputs(flags.help().c_str(), stdout);
    return 0;
  }
  const EngineOptions eo = ef.options(default_model_dir());
  const std::string& model_dir = eo.model_dir;
  if (port < 0 || port > 65535) fail("--port must be in [0, 65535]");
  if (max_waiting < 0 || max_body < 1)
    fail("--max-waiting must be >= 0 and --max-body-bytes positive");

  // Block the shutdown signals before any thread exists, so every thread inherits the mask and
  // only sigwait below sees them. A client that disconnects must not kill us with SIGPIPE.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  server::ServerOptions options;
  options.model_dir = model_dir;
  options.served_model_name =
      served_name.empty() ? std::filesystem::path(model_dir).lexically_normal().filename().string()
                          : served_name;
  if (options.served_model_name.empty())  // "dir/" normalises to an empty filename
    options.served_model_name =
        std::filesystem::path(model_dir).lexically_normal().parent_path().filename().string();
  options.api_key = api_key;
  options.max_num_seqs = eo.max_num_seqs;
  options.max_waiting = max_waiting;
  options.max_body_bytes = size_t(max_body);
  server::ServerContext ctx(options);
  server::HttpServer http(ctx);
  const int bound = http.bind(host, int(port));
  std::fprintf(stderr, "duet serve: listening on http://%s:%d\n", host.c_str(), bound);
  std::thread listener([&] { http.listen(); });

  std::unique_ptr<Engine> engine;
  try {
    engine = create_engine_with_progress(eo);
    ctx.attach(*engine, make_renderer(model_dir, chat_template, engine->tokenizer()));
    // One step with nothing queued only refreshes the engine's stats (KV capacity for the
    // summary below); then the engine thread takes over.
    engine->step();
    engine->start();
  } catch (...) {
    http.stop();
    listener.join();
    throw;
  }
  const EngineStats stats = engine->stats();
  std::fprintf(stderr,
               "duet serve: model %s (%s), layout dp=%lld tp=%lld moe=%s%s, KV capacity %lld "
               "tokens, max-model-len %lld, serving at http://%s:%d\n",
               options.served_model_name.c_str(), describe(engine->model_config()).c_str(),
               (long long)eo.dp, (long long)eo.tp, eo.moe.c_str(), eo.tbo ? " tbo" : "",
               (long long)stats.kv_tokens_capacity, (long long)engine->max_model_len(),
               host.c_str(), bound);

  int sig = 0;
  sigwait(&signals, &sig);
  log_info("duet serve: signal ", sig, ", shutting down");
  ctx.begin_shutdown();  // aborts in-flight requests so their handlers return promptly
  http.stop();
  listener.join();
  engine->stop();
  return 0;
}

RegisterCommand reg("serve", {"OpenAI-compatible HTTP server", run_serve});

}  // namespace
}  // namespace duet
