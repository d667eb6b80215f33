// Shared by the MLA decode kernels (mla_decode.cu): launch arguments and the CTA shape.
#pragma once

#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/mma.cuh"

namespace duet::cuda::mla {

constexpr int kWarps = 8, kThreads = 32 * kWarps;
constexpr int kColGroups = 4;  // 16-column V groups per warp: kv_rank <= 16 * 4 * 8 = 512
constexpr int kPad = 8;  // bf16 row padding: rows shift by 4 banks, fragment loads conflict-free

struct DecodeArgs {
  const bf16* q_lat;  // [T, H, r]
  const bf16* q;      // [T, ld_q]: q_rope of head h at h * qk + dn
  int64_t ld_q;
  int qk, dn;
  const bf16* cache;  // [blocks * 64, ld_cache]
  int64_t ld_cache;
  const int32_t* block_table;  // [S, ld_bt]
  int64_t ld_bt;
  const int32_t *q_start, *kv_len, *decode, *positions;
  int heads, r, dr, dp;  // dp: r + dr rounded up to 16 (zero columns past r + dr)
  float scale;
  int splits, rows_max;
  float* part_o;    // [S, splits, rows_max, r]
  float* part_lse;  // [S, splits, rows_max]
  bf16* o_lat;      // [T, H, r]: written directly when splits == 1
};

}  // namespace duet::cuda::mla
