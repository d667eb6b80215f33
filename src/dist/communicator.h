// Communicator: the collectives duet's parallel layouts need, behind one interface with two
// implementations: ThreadComm (ranks are threads of one process; CPU runs and CI) and, later,
// NcclComm (GPUs). Every rank of a group must call the same collectives in the same order with
// compatible arguments; a rank that does not arrive within the timeout fails the collective on
// every rank with a message naming the missing ranks and the collective, never a silent hang.
//
// Activation tensors are 2-D row-major [rows, D] views in backend memory (f32 on CPU).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "backend/tensor.h"

namespace duet {

// One logged collective, for tests that compare the sequences of every rank.
struct CollectiveRecord {
  std::string op;               // "all_gather_host", "all_gather_v", ...
  std::string dtype;            // element type of the activations ("" for host records)
  std::vector<int64_t> counts;  // rows per rank (or bytes for host records)
  int64_t width = 0;            // D
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;  // within this group
  virtual int size() const = 0;
  virtual std::string name() const = 0;  // "world", "attn_tp", "dp" (for messages)

  // Host all-gather of one fixed-size record per rank: out holds size() * bytes, rank order.
  virtual void all_gather_host(const void* in, size_t bytes, void* out) = 0;

  // out[sum(counts[<r]) + i] = in of rank r, row i. counts[r] = rows of rank r (may be 0);
  // in: [counts[rank], D], out: [sum(counts), D].
  virtual void all_gather_v(const Tensor& in, const std::vector<int64_t>& counts,
                            const Tensor& out) = 0;
  // out (rank r) = sum over ranks q, in rank order, of in_q rows [sum(counts[<r]), +counts[r]).
  // in: [sum(counts), D], out: [counts[rank], D].
  virtual void reduce_scatter_v(const Tensor& in, const std::vector<int64_t>& counts,
                                const Tensor& out) = 0;
  // x = sum over ranks of x, in rank order, on every rank. x: [rows, D], same rows everywhere.
  virtual void all_reduce(const Tensor& x) = 0;

  // The collectives this rank issued, in order (cleared by clear_trace()).
  virtual const std::vector<CollectiveRecord>& trace() const = 0;
  virtual void clear_trace() = 0;
};

}  // namespace duet
