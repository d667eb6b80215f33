// Tensor: a non-owning view of backend memory. Everything duet computes on is a (batch of)
// 2-D row-major matrices: `rows` x `cols`, consecutive rows `ld` elements apart (ld >= cols, so
// a column range of a wider matrix is a view too), consecutive batches `batch_stride` apart.
#pragma once

#include <cstdint>

#include "common/dtype.h"
#include "common/error.h"

namespace duet {

struct Tensor {
  void* data = nullptr;
  DType dtype = DType::kF32;
  int64_t batch = 1;
  int64_t rows = 0;
  int64_t cols = 0;
  int64_t ld = 0;            // elements between rows
  int64_t batch_stride = 0;  // elements between batches

  static Tensor matrix(void* data, DType dtype, int64_t rows, int64_t cols) {
    return Tensor{data, dtype, 1, rows, cols, cols, rows * cols};
  }
  static Tensor vector(void* data, DType dtype, int64_t n) { return matrix(data, dtype, 1, n); }
  static Tensor stacked(void* data, DType dtype, int64_t batch, int64_t rows, int64_t cols) {
    return Tensor{data, dtype, batch, rows, cols, cols, rows * cols};
  }

  bool empty() const { return data == nullptr; }
  bool contiguous() const { return ld == cols && (batch == 1 || batch_stride == rows * cols); }
  int64_t numel() const { return batch * rows * cols; }
  size_t elem_size() const { return dtype_size(dtype); }

  template <typename T>
  T* ptr() const {
    return static_cast<T*>(data);
  }
  // Element (b, r, c) address, in bytes from data.
  void* at(int64_t b, int64_t r, int64_t c = 0) const {
    return static_cast<char*>(data) + (b * batch_stride + r * ld + c) * elem_size();
  }
  // Rows [begin, end) of a 2-D tensor.
  Tensor slice_rows(int64_t begin, int64_t end) const {
    DUET_CHECK(begin >= 0 && begin <= end && end <= rows);
    Tensor t = *this;
    t.data = static_cast<char*>(data) + begin * ld * elem_size();
    t.rows = end - begin;
    return t;
  }
  // Columns [begin, end): a strided view.
  Tensor slice_cols(int64_t begin, int64_t end) const {
    DUET_CHECK(begin >= 0 && begin <= end && end <= cols);
    Tensor t = *this;
    t.data = static_cast<char*>(data) + begin * elem_size();
    t.cols = end - begin;
    return t;
  }
  // Batch entry b as a 2-D tensor.
  Tensor operator[](int64_t b) const {
    DUET_CHECK(b >= 0 && b < batch);
    Tensor t = *this;
    t.data = static_cast<char*>(data) + b * batch_stride * elem_size();
    t.batch = 1;
    t.batch_stride = rows * ld;
    return t;
  }
};

}  // namespace duet
