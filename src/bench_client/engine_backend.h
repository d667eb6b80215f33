// duet bench --model: the same workload driven straight into an Engine (no HTTP), timed in the
// output callback, so HTTP overhead can be told apart from engine time.
#pragma once

#include "bench_client/runner.h"
#include "engine/engine.h"

namespace duet::bench {

// The engine must be started (Engine::start) and outlive every call.
SendFn make_engine_sender(Engine& engine);

}  // namespace duet::bench
