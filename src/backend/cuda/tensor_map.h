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

// The same matrix as [rows / 8 groups][cols / 64 atoms][8 rows][64] boxes: a 3-D map (64
// values, rows, column atoms), each box 8 rows x all atoms, landing atom after atom, 128-byte
// swizzled. cols must be a multiple of 64.
bool bf16_row_group_map(const void* data, int64_t rows, int64_t cols, int64_t ld,
                        CUtensorMap* map);

}  // namespace duet::cuda
