#include "tokenizer/bpe_model.h"

#include <climits>
#include <queue>

#include "tokenizer/piece_cache.h"

namespace duet {
namespace {

// Pieces up to this many symbols use the quadratic scan, which beats a heap on short words;
// longer ones (long words, digit-free runs of letters) use the O(n log n) heap.
constexpr size_t kSmallPiece = 48;
const std::string kEmpty;

}  // namespace

BpeModel::BpeModel() : cache_(std::make_unique<PieceCache>()) {
  for (int32_t& id : byte_ids_) id = -1;
}
BpeModel::~BpeModel() = default;

void BpeModel::set_tokens(std::vector<std::string> token_bytes) {
  tokens_ = std::move(token_bytes);
  by_bytes_.clear();
  by_bytes_.reserve(tokens_.size());
  for (size_t id = 0; id < tokens_.size(); ++id) {
    if (!tokens_[id].empty()) by_bytes_.emplace(tokens_[id], static_cast<int32_t>(id));
  }
  for (int b = 0; b < 256; ++b) byte_ids_[b] = id_of(std::string(1, static_cast<char>(b)));
}

const std::string& BpeModel::bytes_of(int32_t id) const {
  if (id < 0 || id >= num_ids()) return kEmpty;
  return tokens_[id];
}

int32_t BpeModel::id_of(std::string_view bytes) const {
  auto it = by_bytes_.find(bytes);
  return it == by_bytes_.end() ? -1 : it->second;
}

void BpeModel::encode(std::string_view piece, std::vector<int32_t>& out) const {
  if (piece.empty()) return;
  if (piece.size() == 1) {
    const int32_t id = byte_ids_[static_cast<uint8_t>(piece[0])];
    if (id >= 0)
      out.push_back(id);
    else if (unk_id_ >= 0)
      out.push_back(unk_id_);
    return;
  }
  if (whole_piece_) {
    const int32_t id = id_of(piece);
    if (id >= 0) {
      out.push_back(id);
      return;
    }
  }
  if (piece.size() > PieceCache::kMaxPieceBytes) {
    merge(piece, out);
    return;
  }
  const size_t hash = std::hash<std::string_view>{}(piece);
  if (cache_->lookup(piece, hash, out)) return;
  const size_t before = out.size();
  merge(piece, out);
  cache_->insert(piece, hash, out.data() + before, out.size() - before);
}

void BpeModel::merge(std::string_view piece, std::vector<int32_t>& out) const {
  std::vector<int32_t> syms;
  syms.reserve(piece.size());
  for (char c : piece) {
    const int32_t id = byte_ids_[static_cast<uint8_t>(c)];
    // A byte without a token: HF's BPE emits unk when configured, else silently drops the
    // byte; tokenizer loaders reject vocabularies where this could lose text.
    if (id >= 0)
      syms.push_back(id);
    else if (unk_id_ >= 0)
      syms.push_back(unk_id_);
  }
  if (syms.size() <= kSmallPiece)
    merge_small(syms);
  else
    merge_heap(syms);
  out.insert(out.end(), syms.begin(), syms.end());
}

void BpeModel::merge_small(std::vector<int32_t>& syms) const {
  size_t n = syms.size();
  if (n < 2) return;
  Merge m[kSmallPiece];  // m[i]: merge of (syms[i], syms[i+1]); rank INT_MAX when none
  auto pair_at = [&](size_t i) {
    const Merge* f = pairs_.find(syms[i], syms[i + 1]);
    m[i] = f ? *f : Merge{INT_MAX, -1};
  };
  for (size_t i = 0; i + 1 < n; ++i) pair_at(i);
  while (n > 1) {
    size_t best = 0;
    for (size_t i = 1; i + 1 < n; ++i) {
      if (m[i].rank < m[best].rank) best = i;
    }
    if (m[best].rank == INT_MAX) break;
    syms[best] = m[best].id;
    for (size_t i = best + 1; i + 1 < n; ++i) {
      syms[i] = syms[i + 1];
      m[i] = m[i + 1];
    }
    --n;
    if (best > 0) pair_at(best - 1);
    if (best + 1 < n) pair_at(best);
  }
  syms.resize(n);
}

void BpeModel::merge_heap(std::vector<int32_t>& syms) const {
  // Hugging Face's word.rs algorithm: a min-heap of (rank, position) candidates over a doubly
  // linked list of symbols; entries made stale by an earlier merge are skipped when popped.
  const int n = static_cast<int>(syms.size());
  std::vector<int> prev(n), next(n);
  std::vector<char> alive(n, 1);
  for (int i = 0; i < n; ++i) {
    prev[i] = i - 1;
    next[i] = i + 1 < n ? i + 1 : -1;
  }
  struct Cand {
    int32_t rank;
    int pos;
    int32_t id;
    bool operator>(const Cand& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  std::priority_queue<Cand, std::vector<Cand>, std::greater<Cand>> heap;
  for (int i = 0; i + 1 < n; ++i) {
    if (const Merge* f = pairs_.find(syms[i], syms[i + 1])) heap.push({f->rank, i, f->id});
  }
  while (!heap.empty()) {
    const Cand c = heap.top();
    heap.pop();
    if (!alive[c.pos] || next[c.pos] < 0) continue;
    const int right = next[c.pos];
    const Merge* cur = pairs_.find(syms[c.pos], syms[right]);
    if (!cur || cur->id != c.id) continue;  // stale: one side changed since this was queued
    syms[c.pos] = c.id;
    alive[right] = 0;
    next[c.pos] = next[right];
    if (next[right] >= 0) prev[next[right]] = c.pos;
    if (prev[c.pos] >= 0) {
      if (const Merge* f = pairs_.find(syms[prev[c.pos]], syms[c.pos]))
        heap.push({f->rank, prev[c.pos], f->id});
    }
    if (next[c.pos] >= 0) {
      if (const Merge* f = pairs_.find(syms[c.pos], syms[next[c.pos]]))
        heap.push({f->rank, c.pos, f->id});
    }
  }
  size_t w = 0;
  for (int i = 0; i >= 0 && i < n; i = next[i]) syms[w++] = syms[i];
  syms.resize(w);
}

}  // namespace duet
