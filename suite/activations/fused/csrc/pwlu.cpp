// Fused PWLU on the CPU: one pass forward, one pass backward.
//
// x is viewed as [outer, C, inner] (C = 1 for a per-layer unit). Work is split into items
// (one contiguous chunk of one channel row); each thread reduces the parameter gradients
// of its items into a private buffer, summed once at the end, so no atomics.
//
// Two formulations of the same function:
//
// * "hinge" (vectorised; units with up to kHingeMaxRegions regions, the common case).
//   With u = (x - B_L) / d and D_j = Y_{j+1} - Y_j, PWLU inside [B_L, B_R) is
//       y = Y_0 + sum_j D_j clamp(u - j, 0, 1),
//   a sum of hinges. Each lane's region k = clamp(floor(u), 0, N-1) gives its line
//   (Y_k - k D_k) + u D_k: looked up in a vector table (AVX-512: one vpermt2ps for up to
//   32 regions; AVX: vpermilps over 16, as AVX-without-AVX2 CPUs lack gathers and
//   cross-lane float permutes), else found by one compare per region end; where the
//   table holds N + 2 lines, the outer two are in it too (see Unit). The backward
//   takes the slope dy/dx = D_k / d the same way, and the heights gradient from the hinge sums
//   G_j = sum dy clamp(u - j, 0, 1) (Y_j gets G_{j-1} - G_j), each the difference of two
//   sums of dy max(u, j): two vector instructions per region end for a whole vector of
//   elements, where a scalar histogram costs several per element. The outer slopes'
//   gradients are differences of the same sums (see hinge_grad). The vector sums go
//   into double precision every kFlush elements, so the differences of large sums do not
//   lose the small ones.
// * "scalar" (any number of regions): one region lookup per element and a histogram of
//   the heights gradient in four interleaved sub-histograms.
//
// The bounds' gradients (both forms): with d = (B_R - B_L) / N, moving B_R moves region end
// j by j/N of it, so inside, dy/dB_R = -(dy/dx) u / N and dy/dB_L = -(dy/dx) (1 - u / N);
// left of B_L, dy/dB_L = -K_L; right of B_R, dy/dB_R = -K_R (and 0 for the other bound).
// With w = clamp(u, 0, N) / N (0 left of B_L, 1 right of B_R) both are one formula:
//     dL/dB_R = -sum dx w,   dL/dB_L = -sum dx (1 - w) = -sum dx - dL/dB_R,
// dx = dy dy/dx being the input gradient the backward computes anyway: two more sums.
#include <torch/extension.h>
#include <ATen/Parallel.h>
#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

#include "simd.h"
#include "tables.h"

namespace {

using namespace simd;

constexpr int64_t kChunk = 16384;
constexpr int64_t kFlush = 512;  // elements per vector partial sum of the hinge backward
constexpr int64_t kMaxPoints = 257;  // regions <= 256 (checked in Python)
constexpr int64_t kHingeMaxRegions = 32;  // above it the lookup wins (N vector steps per element)
constexpr int kForwardBlock = 8;  // vectors per step of the region loop
constexpr int kBackwardBlock = 8;

struct Geometry {
  int64_t outer, channels, inner;
};

Geometry geometry(const torch::Tensor& x, int64_t channels) {
  if (channels == 1) return {1, 1, x.numel()};
  TORCH_CHECK(x.dim() >= 2 && x.size(1) == channels, "pwlu: channel mismatch");
  int64_t inner = 1;
  for (int64_t d = 2; d < x.dim(); ++d) inner *= x.size(d);
  return {x.size(0), channels, inner};
}

template <typename scalar_t>
inline void locate(scalar_t v, scalar_t left, scalar_t width, scalar_t top, int& index, scalar_t& t) {
  // Same arithmetic as the reference ((x - B_L) / d), so both pick the same region for
  // inputs within rounding of a region end, where the slope (and dx) jumps.
  const scalar_t u = (v - left) / width;
  const scalar_t f = std::min(std::max(std::floor(u), scalar_t(0)), top);
  index = static_cast<int>(f);
  t = u - f;
}

// A per-region float table (a line's base or slope): the values, and where the
// instruction set allows it their RegionTable for a whole vector of lookups at once.
template <typename T>
struct PerRegion {
  T values[kHingeMaxRegions] = {};
#if SUITE_REGION_TABLE
  RegionTable table;  // float only
  void seal() {  // call once the values are set: the first 32 as floats
    float t[kHingeMaxRegions];
    for (int j = 0; j < kHingeMaxRegions; ++j) t[j] = static_cast<float>(values[j]);
    table = RegionTable(t);
  }
#else
  void seal() {}
#endif
};

// One channel's constants, as vectors where the inner loop needs them.
template <typename T>
struct Unit {
  int regions;
  T left, right, width, kl, kr, h0, hn;
  PerRegion<T> steps;     // D_j = Y_{j+1} - Y_j
  PerRegion<T> base;      // Y_j - j D_j: the line of region j is base_j + u D_j
  PerRegion<T> dx_slope;  // D_j / d: dy/dx inside region j
  T level[kHingeMaxRegions + 1];  // j, the region ends in u
  T middle;                       // N / 2
  T centred[kHingeMaxRegions + 1];  // j - N / 2
  // Every line of y, the outer two included, as functions of u + 1 = x / d - line_origin:
  // the left line (x < B_L) has index 0, region j index j + 1, the right line (x >= B_R)
  // index N + 1, so the forward is one lookup by clamp(floor(u + 1), 0, N + 1) with no
  // compares for the outer regions. Used where the N + 2 lines fit one RegionTable.
  bool lines_fit_table = false;
  T line_origin = 0;
  PerRegion<T> line_base, line_slope;  // the line of index i: line_base_i + (u + 1) line_slope_i
  Unit(const T* h, int regions_, T L, T R, T KL, T KR)
      : regions(regions_), left(L), right(R), width((R - L) / regions_), kl(KL), kr(KR), h0(h[0]), hn(h[regions_]) {
    for (int j = 0; j < regions; ++j) {
      steps.values[j] = h[j + 1] - h[j];
      base.values[j] = h[j] - j * steps.values[j];
      dx_slope.values[j] = steps.values[j] / width;
    }
    steps.seal(), base.seal(), dx_slope.seal();
#if SUITE_REGION_TABLE
    if (std::is_same_v<T, float> && regions + 2 <= kTableRegions) {
      lines_fit_table = true;
      line_origin = left / width - 1;
      // y = Y_0 + (x - B_L) K_L = Y_0 + ((u + 1) - 1) d K_L on the left,
      // Y_j + (u - j) D_j = Y_j + ((u + 1) - (j + 1)) D_j in region j,
      // Y_N + (x - B_R) K_R = Y_N + ((u + 1) - (N + 1)) d K_R on the right.
      line_slope.values[0] = width * kl, line_base.values[0] = h0 - line_slope.values[0];
      for (int j = 0; j < regions; ++j)
        line_slope.values[j + 1] = steps.values[j], line_base.values[j + 1] = h[j] - (j + 1) * steps.values[j];
      line_slope.values[regions + 1] = width * kr;
      line_base.values[regions + 1] = hn - (regions + 1) * line_slope.values[regions + 1];
      line_base.seal(), line_slope.seal();
    }
#endif
    middle = static_cast<T>(regions / 2);
    for (int j = 0; j <= regions; ++j) {
      level[j] = static_cast<T>(j);
      centred[j] = level[j] - middle;
    }
  }
};


// Blocks of U vectors go through the region loop together: each vector's running values
// are chains of N dependent steps, and U independent chains keep the FP units busy.
//
// region_value: for each lane, table_k of its region k = clamp(floor(u), 0, N-1).
// Generic: one compare per region end (u >= j) selects table_j. float with a RegionTable
// (AVX-512: up to 32 regions, AVX: up to 16): one table lookup. (Two calls on the same u
// share the region computation: the compiler merges it.)
template <int U, typename T>
inline void region_value(const Unit<T>& p, const PerRegion<T>& table, const Vec<T>* u, Vec<T>* out) {
  using V = Vec<T>;
#if SUITE_REGION_TABLE
  if constexpr (std::is_same_v<T, float>) {
    if (p.regions <= kTableRegions) {
      const V top = splat(static_cast<float>(p.regions - 1));
      for (int v = 0; v < U; ++v) {
        V k = floor_lanes(u[v]);
        k = k < top ? k : top;
        k = k > V{} ? k : V{};
        out[v] = (V)table.table(k);
      }
      return;
    }
  }
#endif
  for (int v = 0; v < U; ++v) out[v] = splat(table.values[0]);
  for (int j = 1; j < p.regions; ++j) {
    const V level = splat(p.level[j]), value = splat(table.values[j]);
    for (int v = 0; v < U; ++v) out[v] = u[v] >= level ? value : out[v];
  }
}

template <int U, typename T>
inline void hinge_value(const Unit<T>& p, const T* xp, T* yp) {
  using V = Vec<T>;
  constexpr int W = kVecLanes<T>;
#if SUITE_REGION_TABLE
  if constexpr (std::is_same_v<T, float>) {
    // One lookup of every line (see Unit), no compares with the bounds: 0.67x the time
    // of the code below at 64K elements on one thread, 0.81x at 3.2M on two.
    if (p.lines_fit_table) {
      const V inv_width = splat(1.0f / p.width), origin = splat(p.line_origin), top = splat(float(p.regions + 1));
      for (int v = 0; v < U; ++v) {
        const V position = load(xp + v * W) * inv_width - origin;  // u + 1
        V k = floor_lanes(position);
        k = k < top ? k : top;
        k = k > V{} ? k : V{};
        store(yp + v * W, (V)p.line_base.table(k) + position * (V)p.line_slope.table(k));
      }
      return;
    }
  }
#endif
  // Times the reciprocal width (not divided by it, as the reference and the backward do):
  // y is continuous, so a region end decided one rounding differently changes nothing.
  const V L = splat(p.left), inv_width = splat(T(1) / p.width);
  V u[U], base[U], slope[U];
  for (int v = 0; v < U; ++v) u[v] = (load(xp + v * W) - L) * inv_width;
  region_value<U>(p, p.base, u, base);
  region_value<U>(p, p.steps, u, slope);
  const V R = splat(p.right);
  for (int v = 0; v < U; ++v) {
    const V x = load(xp + v * W);
    V y = base[v] + u[v] * slope[v];
    y = x < L ? splat(p.h0) + (x - L) * splat(p.kl) : y;
    y = x >= R ? splat(p.hn) + (x - R) * splat(p.kr) : y;
    store(yp + v * W, y);
  }
}

// Backward of a block: writes dx, and adds into acc[j] (j = 0..N) the sums
// M_j = sum dy max(u - N/2, j - N/2), into sum_dy the sum of dy and into sum_du the sum
// of dy (u - N/2). Since clamp(u - j, 0, 1) = max(u, j) - max(u, j + 1) + 1, the hinge
// sums are G_j = M_j - M_{j+1} + sum(dy): one max and one multiply-add per region end.
// The outer slopes' gradients come from the same sums (d = the region width):
//     sum over x < B_L of dy (x - B_L) = d sum dy min(u, 0) = d (sum_du - M_0),
//     sum over x >= B_R of dy (x - B_R) = d sum dy max(u - N, 0) = d (M_N - (N - N/2) sum(dy)),
// which saves two masked multiply-adds per vector. (u is centred on the middle region
// end so the sums stay small before the caller takes their differences in double.)
// The bounds' gradients take sum_dx = sum dx and sum_dxw = sum dx (N w - N/2) (see the top).
template <int U, typename T>
inline void hinge_grad(const Unit<T>& p, const T* xp, const T* gp, T* dxp, Vec<T>* acc, Vec<T>& sum_dy,
                       Vec<T>& sum_du, Vec<T>& sum_dx, Vec<T>& sum_dxw) {
  using V = Vec<T>;
  constexpr int W = kVecLanes<T>;
  const V L = splat(p.left), width = splat(p.width);
  V dy[U], u[U], slope[U];
  for (int v = 0; v < U; ++v) {
    dy[v] = load(gp + v * W);
    u[v] = (load(xp + v * W) - L) / width;  // as the reference: the same region for x at a region end
  }
  region_value<U>(p, p.dx_slope, u, slope);
  const V middle = splat(p.middle);
  for (int v = 0; v < U; ++v) u[v] -= middle;
  for (int j = 0; j <= p.regions; ++j) {
    const V level = splat(p.centred[j]);
    V a = acc[j];
    for (int v = 0; v < U; ++v) a += dy[v] * vmax(u[v], level);
    acc[j] = a;
  }
  const V R = splat(p.right), KL = splat(p.kl), KR = splat(p.kr);
  const V w_left = splat(-p.middle), w_right = splat(p.regions - p.middle);
  for (int v = 0; v < U; ++v) {
    const V x = load(xp + v * W);
    sum_dy += dy[v];
    sum_du += dy[v] * u[v];
    V s = x < L ? KL : slope[v];
    s = x >= R ? KR : s;
    const V dx = dy[v] * s;
    // N w - N/2 from the same compares as the slope, so an x at a bound gets the bound's
    // side exactly (the reference's branch) whatever u rounds to there
    V w = vmax(u[v], w_left);
    w = w < w_right ? w : w_right;
    w = x < L ? w_left : w;
    w = x >= R ? w_right : w;
    sum_dx += dx;
    sum_dxw += dx * w;
    store(dxp + v * W, dx);
  }
}

struct Items {
  Geometry g;
  int64_t chunks;
  explicit Items(Geometry g_) : g(g_), chunks((g_.inner + kChunk - 1) / kChunk) {}
  int64_t count() const { return g.outer * g.channels * chunks; }
  // channel, first element, one past the last element of item `item`
  void bounds(int64_t item, int64_t& c, int64_t& start, int64_t& stop) const {
    const int64_t row = item / chunks, chunk = item % chunks;
    c = row % g.channels;
    start = row * g.inner + chunk * kChunk;
    stop = std::min(start + kChunk, (row + 1) * g.inner);
  }
};

// body(c, start, stop) for every item, the items split across threads.
template <typename F>
void for_each_item(const Items& items, const F& body) {
  at::parallel_for(0, items.count(), 1, [&](int64_t begin, int64_t end) {
    for (int64_t item = begin; item < end; ++item) {
      int64_t c, start, stop;
      items.bounds(item, c, start, stop);
      body(c, start, stop);
    }
  });
}

// Per-thread parameter-gradient sums: [threads, C, points + 4] (heights, then K_L, K_R,
// B_L, B_R).
constexpr int64_t kExtraSums = 4;
torch::Tensor per_thread_sums(int64_t channels, int64_t points, const torch::TensorOptions& options) {
  return torch::zeros({at::get_num_threads(), channels, points + kExtraSums}, options);
}

// The backward's outputs: dx, then the per-thread sums added up and split into the
// gradients of the heights, K_L, K_R, B_L and B_R (in the input's dtype).
std::vector<torch::Tensor> backward_outputs(torch::Tensor dx, const torch::Tensor& partial, int64_t points) {
  auto total = partial.sum(0).to(dx.scalar_type());  // [C, points + 4]
  std::vector<torch::Tensor> out = {dx, total.narrow(1, 0, points).contiguous()};
  for (int64_t k = 0; k < kExtraSums; ++k) out.push_back(total.select(1, points + k).contiguous());
  return out;
}

// The unit's parameters, made contiguous once; one row (channel) at a time for the loops.
struct Parameters {
  torch::Tensor heights, left, right, kl, kr;
  Parameters(const torch::Tensor& h, const torch::Tensor& l, const torch::Tensor& r, const torch::Tensor& a,
             const torch::Tensor& b)
      : heights(h.contiguous()), left(l.contiguous()), right(r.contiguous()), kl(a.contiguous()), kr(b.contiguous()) {}
  int64_t points() const { return heights.size(1); }
  template <typename T> const T* h(int64_t c) const { return heights.data_ptr<T>() + c * points(); }
  template <typename T> T L(int64_t c) const { return left.data_ptr<T>()[c]; }
  template <typename T> T R(int64_t c) const { return right.data_ptr<T>()[c]; }
  template <typename T> T KL(int64_t c) const { return kl.data_ptr<T>()[c]; }
  template <typename T> T KR(int64_t c) const { return kr.data_ptr<T>()[c]; }
  // Every channel's Unit, built once per call: per item, building them cost as much as
  // the loop over a row of a few thousand elements.
  template <typename T> std::vector<Unit<T>> units() const {
    std::vector<Unit<T>> out;
    out.reserve(heights.size(0));
    for (int64_t c = 0; c < heights.size(0); ++c)
      out.emplace_back(h<T>(c), static_cast<int>(points() - 1), L<T>(c), R<T>(c), KL<T>(c), KR<T>(c));
    return out;
  }
};

}  // namespace

torch::Tensor pwlu_forward_scalar(torch::Tensor x, torch::Tensor heights, torch::Tensor left, torch::Tensor right,
                                  torch::Tensor kl, torch::Tensor kr) {
  x = x.contiguous();
  const Parameters P(heights, left, right, kl, kr);
  const int64_t regions = P.points() - 1;
  const Items items(geometry(x, heights.size(0)));
  auto y = torch::empty_like(x);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "pwlu_forward_scalar", [&] {
    const scalar_t* xp = x.data_ptr<scalar_t>();
    scalar_t* yp = y.data_ptr<scalar_t>();
    for_each_item(items, [&](int64_t c, int64_t start, int64_t stop) {
      const scalar_t L = P.L<scalar_t>(c), R = P.R<scalar_t>(c), width = (R - L) / regions;
      const scalar_t KL = P.KL<scalar_t>(c), KR = P.KR<scalar_t>(c);
      const scalar_t* h = P.h<scalar_t>(c);
      const scalar_t h0 = h[0], hn = h[regions], top = static_cast<scalar_t>(regions - 1);
      for (int64_t i = start; i < stop; ++i) {
        const scalar_t v = xp[i];
        int k; scalar_t t;
        locate(v, L, width, top, k, t);
        const scalar_t lo = h[k], hi = h[k + 1];
        scalar_t out = lo + t * (hi - lo);
        out = v < L ? (v - L) * KL + h0 : out;
        out = v >= R ? (v - R) * KR + hn : out;
        yp[i] = out;
      }
    });
  });
  return y;
}

std::vector<torch::Tensor> pwlu_backward_scalar(torch::Tensor x, torch::Tensor dy, torch::Tensor heights,
                                                torch::Tensor left, torch::Tensor right, torch::Tensor kl,
                                                torch::Tensor kr) {
  x = x.contiguous(); dy = dy.contiguous();
  const Parameters P(heights, left, right, kl, kr);
  const int64_t channels = heights.size(0), points = P.points(), regions = points - 1;
  const Items items(geometry(x, channels));
  auto dx = torch::empty_like(x);
  const int64_t stride = points + kExtraSums;
  auto partial = per_thread_sums(channels, points, x.options());
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "pwlu_backward_scalar", [&] {
    const scalar_t* xp = x.data_ptr<scalar_t>();
    const scalar_t* gp = dy.data_ptr<scalar_t>();
    scalar_t* dxp = dx.data_ptr<scalar_t>();
    scalar_t* pp = partial.data_ptr<scalar_t>();
    for_each_item(items, [&](int64_t c, int64_t start, int64_t stop) {
      const scalar_t L = P.L<scalar_t>(c), R = P.R<scalar_t>(c), width = (R - L) / regions;
      const scalar_t KL = P.KL<scalar_t>(c), KR = P.KR<scalar_t>(c);
      const scalar_t* h = P.h<scalar_t>(c);
      scalar_t* acc = pp + (at::get_thread_num() * channels + c) * stride;
      // Four interleaved sub-histograms: neighbouring elements often fall in the same
      // region, and one histogram would chain their read-modify-writes.
      constexpr int kLanes = 4;
      scalar_t lanes[kLanes][kMaxPoints + 1] = {};
      scalar_t acc_kl = 0, acc_kr = 0, acc_dx = 0, acc_dxw = 0;  // the last two: the bounds (see the top)
      const scalar_t top = static_cast<scalar_t>(regions - 1), n = static_cast<scalar_t>(regions);
      for (int64_t i = start; i < stop; ++i) {
        const scalar_t v = xp[i], d = gp[i];
        int k; scalar_t t;
        locate(v, L, width, top, k, t);
        const bool left_out = v < L, right_out = v >= R;
        const scalar_t inside = (left_out || right_out) ? scalar_t(0) : scalar_t(1);
        const scalar_t slope = left_out ? KL : (right_out ? KR : (h[k + 1] - h[k]) / width);
        const scalar_t dx = d * slope;
        dxp[i] = dx;
        const scalar_t u = std::min(std::max(k + t, scalar_t(0)), n);
        acc_dx += dx;
        acc_dxw += left_out ? scalar_t(0) : (right_out ? dx : dx * (u / n));
        scalar_t* lane = lanes[i & (kLanes - 1)];
        // inside: d(1-t) to k, d t to k+1; left: d to 0 (k = 0, t <= 0); right: d to N.
        lane[k] += inside * d * (1 - t) + (left_out ? d : scalar_t(0));
        lane[k + 1] += inside * d * t + (right_out ? d : scalar_t(0));
        acc_kl += left_out ? d * (v - L) : scalar_t(0);
        acc_kr += right_out ? d * (v - R) : scalar_t(0);
      }
      for (int l = 0; l < kLanes; ++l)
        for (int64_t j = 0; j < points; ++j) acc[j] += lanes[l][j];
      acc[points] += acc_kl;
      acc[points + 1] += acc_kr;
      acc[points + 2] += acc_dxw - acc_dx;  // -sum dx (1 - w)
      acc[points + 3] -= acc_dxw;
    });
  });
  return backward_outputs(dx, partial, points);
}


torch::Tensor pwlu_forward_hinge(torch::Tensor x, torch::Tensor heights, torch::Tensor left, torch::Tensor right,
                                 torch::Tensor kl, torch::Tensor kr) {
  TORCH_CHECK(heights.size(1) - 1 <= kHingeMaxRegions, "pwlu hinge kernel: at most ", kHingeMaxRegions, " regions");
  x = x.contiguous();
  const Parameters P(heights, left, right, kl, kr);
  const Items items(geometry(x, heights.size(0)));
  auto y = torch::empty_like(x);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "pwlu_forward_hinge", [&] {
    using T = scalar_t;
    constexpr int kBlock = kForwardBlock * kVecLanes<T>;
    const T* xp = x.data_ptr<T>();
    T* yp = y.data_ptr<T>();
    const std::vector<Unit<T>> units = P.units<T>();
    for_each_item(items, [&](int64_t c, int64_t start, int64_t stop) {
      const Unit<T> unit = units[c];  // a local copy: stores to y cannot alias it
      int64_t i = start;
      for (; i + kBlock <= stop; i += kBlock) hinge_value<kForwardBlock>(unit, xp + i, yp + i);
      if (i < stop) {  // the last partial block goes through a padded copy
        T xb[kBlock], yb[kBlock];
        std::fill(xb, xb + kBlock, unit.left);
        std::copy(xp + i, xp + stop, xb);
        hinge_value<kForwardBlock>(unit, xb, yb);
        std::copy(yb, yb + (stop - i), yp + i);
      }
    });
  });
  return y;
}

std::vector<torch::Tensor> pwlu_backward_hinge(torch::Tensor x, torch::Tensor dy, torch::Tensor heights,
                                               torch::Tensor left, torch::Tensor right, torch::Tensor kl,
                                               torch::Tensor kr) {
  TORCH_CHECK(heights.size(1) - 1 <= kHingeMaxRegions, "pwlu hinge kernel: at most ", kHingeMaxRegions, " regions");
  x = x.contiguous(); dy = dy.contiguous();
  const Parameters P(heights, left, right, kl, kr);
  const int64_t channels = heights.size(0), points = P.points(), regions = points - 1;
  const Items items(geometry(x, channels));
  auto dx = torch::empty_like(x);
  const int64_t stride = points + kExtraSums;
  auto partial = per_thread_sums(channels, points, x.options().dtype(torch::kFloat64));
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "pwlu_backward_hinge", [&] {
    using T = scalar_t;
    using V = Vec<T>;
    constexpr int kBlock = kBackwardBlock * kVecLanes<T>;
    const T* xp = x.data_ptr<T>();
    const T* gp = dy.data_ptr<T>();
    T* dxp = dx.data_ptr<T>();
    double* pp = partial.data_ptr<double>();
    const std::vector<Unit<T>> units = P.units<T>();
    for_each_item(items, [&](int64_t c, int64_t start, int64_t stop) {
      const Unit<T> unit = units[c];  // a local copy: stores to dx cannot alias it
      // The vector sums stay short (kFlush elements) before they go into double sums:
      // they add values up to N |dy|, and the heights gradient is their differences.
      // The double totals stay vectors (a lane each) until the item's end: a flush is a
      // conversion and an add per sum, where a horizontal sum is a chain of one per lane
      // (measured: the scalar flush cost a quarter of the loop without the hinge sums).
      V acc[kHingeMaxRegions + 1], sum_dy, sum_du, sum_dx, sum_dxw;
      // M_0..M_N, then sum(dy), sum(dy (u - N/2)), sum(dx), sum(dx (N w - N/2))
      Wide<T> totals[kHingeMaxRegions + 5] = {};
      auto reset = [&] {
        for (int64_t j = 0; j <= regions; ++j) acc[j] = V{};
        sum_dy = sum_du = sum_dx = sum_dxw = V{};
      };
      auto flush = [&] {
        for (int64_t j = 0; j <= regions; ++j) totals[j] += widen<T>(acc[j]);
        totals[regions + 1] += widen<T>(sum_dy), totals[regions + 2] += widen<T>(sum_du);
        totals[regions + 3] += widen<T>(sum_dx), totals[regions + 4] += widen<T>(sum_dxw);
      };
      int64_t i = start;
      while (i + kBlock <= stop) {
        reset();
        const int64_t flush_at = std::min(stop, i + kFlush);
        for (; i + kBlock <= flush_at; i += kBlock)
          hinge_grad<kBackwardBlock>(unit, xp + i, gp + i, dxp + i, acc, sum_dy, sum_du, sum_dx, sum_dxw);
        flush();
      }
      if (i < stop) {  // padded copy; padding has dy = 0, so it adds nothing
        reset();
        T xb[kBlock], gb[kBlock], db[kBlock];
        std::fill(xb, xb + kBlock, unit.left);
        std::fill(gb, gb + kBlock, T(0));
        std::copy(xp + i, xp + stop, xb);
        std::copy(gp + i, gp + stop, gb);
        hinge_grad<kBackwardBlock>(unit, xb, gb, db, acc, sum_dy, sum_du, sum_dx, sum_dxw);
        std::copy(db, db + (stop - i), dxp + i);
        flush();
      }
      double sums[kHingeMaxRegions + 5];
      for (int64_t j = 0; j < regions + 5; ++j) sums[j] = lane_sum(totals[j]);
      // G_j -> heights: Y_0 gets sum(dy) - G_0, Y_j gets G_{j-1} - G_j, Y_N gets G_{N-1}.
      const double sum_all = sums[regions + 1];
      double* out = pp + (at::get_thread_num() * channels + c) * stride;
      double previous = sum_all;
      for (int64_t j = 0; j < regions; ++j) {
        const double g = sums[j] - sums[j + 1] + sum_all;  // G_j
        out[j] += previous - g;
        previous = g;
      }
      out[regions] += previous;
      const double d = unit.width, above_middle = regions - unit.middle;
      out[points] += d * (sums[regions + 2] - sums[0]);
      out[points + 1] += d * (sums[regions] - above_middle * sum_all);
      // sum dx w = (sum dx (N w - N/2) + N/2 sum dx) / N
      const double sum_dx_all = sums[regions + 3];
      const double grad_right = -(sums[regions + 4] + unit.middle * sum_dx_all) / regions;
      out[points + 2] += -sum_dx_all - grad_right;
      out[points + 3] += grad_right;
    });
  });
  return backward_outputs(dx, partial, points);
}

// Dispatch: the vectorised hinge form for few regions, the lookup otherwise.
torch::Tensor pwlu_forward(torch::Tensor x, torch::Tensor heights, torch::Tensor left, torch::Tensor right,
                           torch::Tensor kl, torch::Tensor kr) {
  if (heights.size(1) - 1 <= kHingeMaxRegions) return pwlu_forward_hinge(x, heights, left, right, kl, kr);
  return pwlu_forward_scalar(x, heights, left, right, kl, kr);
}

std::vector<torch::Tensor> pwlu_backward(torch::Tensor x, torch::Tensor dy, torch::Tensor heights, torch::Tensor left,
                                         torch::Tensor right, torch::Tensor kl, torch::Tensor kr) {
  if (heights.size(1) - 1 <= kHingeMaxRegions) return pwlu_backward_hinge(x, dy, heights, left, right, kl, kr);
  return pwlu_backward_scalar(x, dy, heights, left, right, kl, kr);
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("forward", &pwlu_forward, "PWLU forward (CPU)");
  m.def("backward", &pwlu_backward, "PWLU backward (CPU)");
  // Both formulations, so tests can hold each to the reference whatever the dispatch picks.
  m.def("forward_hinge", &pwlu_forward_hinge);
  m.def("backward_hinge", &pwlu_backward_hinge);
  m.def("forward_scalar", &pwlu_forward_scalar);
  m.def("backward_scalar", &pwlu_backward_scalar);
}
