// Sequence: the scheduling state of one request. Its tokens are the prompt followed by the
// generated tokens; num_computed of them have their KV in the cache (in `blocks`).
#pragma once

#include <cstdint>
#include <vector>

namespace duet {

enum class SeqStatus { kWaiting, kRunning, kFinished };

struct Sequence {
  int64_t id = 0;
  int64_t arrival = 0;  // admission order (FCFS), assigned by the scheduler
  std::vector<int32_t> tokens;
  int32_t num_prompt_tokens = 0;
  int32_t num_computed = 0;
  std::vector<int32_t> blocks;         // cache blocks of positions 0, 64, 128, ...
  std::vector<uint64_t> block_hashes;  // chained hashes of the full blocks computed so far
  int32_t num_published = 0;           // blocks offered to the prefix cache
  int32_t num_cached_prompt = 0;       // prompt tokens found in the prefix cache at admission
  bool admitted_once = false;
  int32_t num_preemptions = 0;
  SeqStatus status = SeqStatus::kWaiting;

  int32_t num_tokens() const { return static_cast<int32_t>(tokens.size()); }
  int32_t num_output_tokens() const { return num_tokens() - num_prompt_tokens; }
  int32_t num_uncomputed() const { return num_tokens() - num_computed; }
};

}  // namespace duet
