// TMA tensor maps: cuTensorMapEncodeTiled is a driver function; it is found once through the
// runtime (cudaGetDriverEntryPointByVersion), so nothing links libcuda directly.
#pragma once

#include <cuda.h>
#include <cudaTypedefs.h>

#include <cstdint>

namespace duet::cuda {

// The encoder, or null when the driver does not provide it.
PFN_cuTensorMapEncodeTiled_v12000 tensor_map_encoder();

// A bf16 matrix [rows, cols] with rows `ld` elements apart, read in boxes of box_rows x box_cols
// that land 128-byte swizzled (box_cols * 2 must be 128). False when it cannot be encoded.
bool bf16_matrix_map(const void* data, int64_t rows, int64_t cols, int64_t ld, int box_rows,
                     int box_cols, CUtensorMap* map);

// `batch` bf16 matrices [rows, cols] (rows `ld` elements apart, matrices `batch_stride` apart) as
// one 3-D map read in boxes of 1 x box_rows x 64 that land 128-byte swizzled.
bool bf16_stacked_map(const void* data, int64_t batch, int64_t rows, int64_t cols, int64_t ld,
                      int64_t batch_stride, int box_rows, CUtensorMap* map);

}  // namespace duet::cuda
