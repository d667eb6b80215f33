// One /v1/chat/completions or /v1/completions request in flight: its n engine requests, the
// queue their outputs arrive on, one ChoiceState per choice, and the formatting of both
// streaming chunks and the final response.
//
// Threads: the engine thread only pushes into the shared OutputQueue (the callbacks hold the
// queue, never the job, so a job may end while the engine still delivers a final abort). All
// other members belong to the one HTTP thread serving the request.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "server/choice_state.h"
#include "server/openai_protocol.h"
#include "server/output_queue.h"
#include "server/server_context.h"

namespace duet::server {

class GenerationJob {
 public:
  // Admits the request (429/503 otherwise); submit() queues it in the engine.
  GenerationJob(ServerContext& ctx, GenerateRequest request, std::vector<int32_t> prompt_ids,
                ChoiceOptions choice_options, std::string echo_text);
  ~GenerationJob();  // aborts choices still running, releases the admission
  GenerationJob(const GenerationJob&) = delete;
  GenerationJob& operator=(const GenerationJob&) = delete;

  // Queues the n choices; an engine refusal (bad prompt, too long) is ApiError 400.
  void submit();

  // Streaming: appends the next SSE bytes to `chunk`; false when the stream is complete.
  bool next_stream_chunk(std::string& chunk);
  // Non-streaming: waits for every choice and returns the whole response (ApiError 500 when
  // the engine failed the request).
  json wait_response();
  // The client went away: abort whatever still runs.
  void abort();

 private:
  bool poll(std::chrono::milliseconds timeout, std::vector<std::pair<int, ChoiceDelta>>& deltas);
  void record_timing(int choice, const ChoiceOutput& out);
  std::string stream_delta(int choice, const ChoiceDelta& d);
  std::string stream_start();
  json usage() const;
  bool all_finished() const;

  ServerContext& ctx_;
  GenerateRequest req_;
  std::vector<int32_t> prompt_ids_;
  std::string echo_text_;
  ResponseHeader header_;
  std::shared_ptr<OutputQueue> queue_ = std::make_shared<OutputQueue>();
  std::vector<ChoiceState> choices_;
  std::vector<int64_t> request_ids_;  // -1 until submitted / after finishing
  std::vector<size_t> text_sent_;     // bytes of text streamed per choice (legacy text_offset)

  using Clock = std::chrono::steady_clock;
  Clock::time_point arrival_;
  std::vector<Clock::time_point> last_token_at_;
  std::vector<bool> got_first_;
  bool stream_started_ = false;
  bool stream_done_ = false;
  bool admitted_ = false;
};

}  // namespace duet::server
