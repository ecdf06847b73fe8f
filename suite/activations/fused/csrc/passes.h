// Passes over x viewed as [rows, inner] for the fused CPU kernels: work items of one
// chunk of one row run in parallel, and each item's sums go into its own slot, added up
// once at the end (no atomics). Sums run in float within a block of kFlush elements and
// in double across blocks, so a sum over a long row keeps its small terms.
#pragma once
#include <torch/extension.h>
#include <ATen/Parallel.h>
#include <algorithm>
#include <type_traits>
#include <vector>

#include "simd.h"

namespace passes {

using namespace simd;
constexpr int kLanes = kVecLanes<float>;
constexpr int64_t kChunk = 16384;  // elements per work item
constexpr int64_t kFlush = 512;    // elements per float partial sum before it moves into double
constexpr int64_t kSerialBelow = 32768;  // elements per thread below which threads cost more than they save

// The kernels take contiguous float32 CPU tensors; `kernel` names the one that refuses.
inline void check_float32(const torch::Tensor& t, const char* kernel, const char* what) {
  TORCH_CHECK(t.is_contiguous() && t.scalar_type() == torch::kFloat32 && t.device().is_cpu(), kernel, ": ", what,
              " must be a contiguous float32 CPU tensor");
}

// A backward's x and dy: float32 as above, of one shape.
inline void check_backward_inputs(const torch::Tensor& x, const torch::Tensor& dy, const char* kernel) {
  check_float32(x, kernel, "x");
  check_float32(dy, kernel, "dy");
  TORCH_CHECK(dy.sizes() == x.sizes(), kernel, ": dy and x differ in shape");
}

// A polynomial-like unit's coefficients: a contiguous float32 vector of degree + 1 of them,
// the degree 1 to max_degree (the kernel's template instances); -> the degree.
inline int coefficients_degree(const torch::Tensor& c, const char* kernel, int max_degree) {
  check_float32(c, kernel, "coefficients");
  TORCH_CHECK(c.dim() == 1 && c.numel() >= 2 && c.numel() <= max_degree + 1, kernel, ": degree ", c.numel() - 1,
              " not supported by the C++ kernel (1 to ", max_degree, ")");
  return static_cast<int>(c.numel() - 1);
}

// fn(std::integral_constant<int, V>{}) for the V in [Lo, Hi] equal to the runtime
// value (the caller has checked the range): turns a degree into a template parameter,
// so loops over it unroll and its sums stay in registers.
template <int Lo, int Hi, typename Fn>
auto with_constant(int value, Fn&& fn) {
  if constexpr (Lo < Hi) {
    if (value != Lo) return with_constant<Lo + 1, Hi>(value, fn);
  }
  return fn(std::integral_constant<int, Lo>{});
}

// A row's last partial vector is zero-padded: every backward sum is a multiple of dy,
// so padded lanes add nothing, and only the real lanes are stored.
inline VF load_part(const float* p, int64_t n) {
  if (n == kLanes) return load(p);
  float buffer[kLanes] = {};
  std::copy(p, p + n, buffer);
  return load(buffer);
}

inline void store_part(float* p, VF v, int64_t n) {
  if (n == kLanes) return store(p, v);
  float buffer[kLanes];
  store(buffer, v);
  std::copy(buffer, buffer + n, p);
}

// x viewed as [rows, inner]: rows = samples x channels, or one row for channels == 1.
struct Rows {
  int64_t rows, channels, inner, chunks;  // chunks per row
  Rows(const torch::Tensor& x, int64_t channels_) : channels(channels_) {
    if (channels == 1) {
      rows = 1, inner = x.numel();
    } else {
      TORCH_CHECK(x.dim() >= 2 && x.size(1) == channels, "input channel mismatch");
      rows = x.size(0) * channels, inner = rows ? x.numel() / rows : 0;
    }
    chunks = std::max<int64_t>(1, (inner + kChunk - 1) / kChunk);
  }
  int64_t items() const { return rows * chunks; }
  int64_t grain() const { return std::max<int64_t>(1, kSerialBelow / std::max<int64_t>(1, std::min(inner, kChunk))); }
  // item -> (row, element range)
  void range(int64_t item, int64_t& row, int64_t& begin, int64_t& end) const {
    row = item / chunks;
    begin = row * inner + (item % chunks) * kChunk;
    end = std::min(begin + kChunk, (row + 1) * inner);
  }
};

// body(row, i, n) for each vector of n <= kLanes elements at offset i; items in parallel.
// The full vectors (n == kLanes, a constant once inlined) are a loop apart from the last.
template <typename Body>
void for_each_vector(const Rows& g, Body&& body) {
  at::parallel_for(0, g.items(), g.grain(), [&](int64_t first, int64_t last) {
    for (int64_t item = first; item < last; ++item) {
      int64_t row, begin, end;
      g.range(item, row, begin, end);
      int64_t i = begin;
      for (; i + kLanes <= end; i += kLanes) body(row, i, kLanes);
      if (i < end) body(row, i, end - i);
    }
  });
}

// y = fn(x) vector by vector, for a forward with one set of parameters for all of x.
template <typename Fn>
torch::Tensor map_vectors(const torch::Tensor& x, Fn&& fn) {
  const Rows g(x, 1);
  auto y = torch::empty_like(x);
  const float* xp = x.data_ptr<float>();
  float* yp = y.data_ptr<float>();
  for_each_vector(g, [&](int64_t, int64_t i, int64_t n) { store_part(yp + i, fn(load_part(xp + i, n)), n); });
  return y;
}

// The S sums of body(row, i, n, partial) over the vectors of [begin, end), into out:
// body adds S vectors of terms to partial, float sums over a block of kFlush elements
// that then go into double totals (simd::Wide, a lane each until the end). Each block is
// a loop of its own, with no branch to flush inside, so the partial sums stay in
// registers, and full vectors run apart from the row's last partial one, so the body
// sees n == kLanes as a constant and load_part/store_part lose their branch (backwards of
// 12 to 22 sums: 0.72-0.91x the time of one loop with the flush and the branch inside,
// in the same run; Fourier's and APALU's about the same).
template <int S, typename Body>
void vector_sums(int64_t row, int64_t begin, int64_t end, Body&& body, double* out) {
  Wide<float> total[S] = {};
  for (int64_t block = begin; block < end; block += kFlush) {
    VF partial[S] = {};
    const int64_t block_end = std::min(block + kFlush, end);
    int64_t i = block;
    for (; i + kLanes <= block_end; i += kLanes) body(row, i, kLanes, partial);
    if (i < block_end) body(row, i, block_end - i, partial);
    for (int s = 0; s < S; ++s) total[s] += widen<float>(partial[s]);
  }
  for (int s = 0; s < S; ++s) out[s] = lane_sum(total[s]);
}

// item(row, begin, end, out) writes the S sums of one work item to out, items in
// parallel; -> the S sums per row.
template <int S, typename Item>
std::vector<double> sums_by_item(const Rows& g, Item&& item) {
  std::vector<double> item_sums(g.items() * S, 0.0);
  at::parallel_for(0, g.items(), g.grain(), [&](int64_t first, int64_t last) {
    for (int64_t it = first; it < last; ++it) {
      int64_t row, begin, end;
      g.range(it, row, begin, end);
      item(row, begin, end, item_sums.data() + it * S);
    }
  });
  std::vector<double> out(g.rows * S, 0.0);
  for (int64_t it = 0; it < g.items(); ++it)
    for (int s = 0; s < S; ++s) out[(it / g.chunks) * S + s] += item_sums[it * S + s];
  return out;
}

// As for_each_vector, with body(row, i, n, partial) adding S vectors of terms to partial;
// -> the S sums per row.
template <int S, typename Body>
std::vector<double> row_sums(const Rows& g, Body&& body) {
  return sums_by_item<S>(g, [&](int64_t row, int64_t begin, int64_t end, double* out) {
    vector_sums<S>(row, begin, end, body, out);
  });
}

}  // namespace passes
