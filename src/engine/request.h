// Request: one generation request inside the engine: its sequence (scheduling state), its
// sampler and the text state that turns tokens into streamed text and finds stop strings.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "engine/engine.h"
#include "engine/sampler.h"
#include "sched/sequence.h"
#include "tokenizer/tokenizer.h"

namespace duet {

struct Request {
  Sequence seq;
  int64_t group = 0;  // DP group serving it
  SamplingParams params;
  OutputCallback on_output;
  std::unique_ptr<Sampler> sampler;
  std::unique_ptr<IncrementalDetokenizer> detok;  // null without a tokenizer
  std::string held_text;  // decoded text not yet emitted (may start a stop string)
  size_t max_stop_len = 0;
  bool finished = false;
  std::chrono::steady_clock::time_point arrival_time;
};

}  // namespace duet
