// Fused KAN B-spline activation on the CPU, float32: one pass forward, one pass backward.
//
//     y = w_b silu(x) + w_s S(x),   S(x) = sum_i c_i B_i(x),
//
// B_i the order-k B-splines on uniform knots t_0 < ... < t_J (J = G + 2k intervals of
// width h, G + k coefficients). In interval j (t_j <= x < t_{j+1}), with u = (x - t_j) / h
// in [0, 1), B_{j-m}(x) = N_m(u) for m = 0..k, the pieces of the cardinal B-spline, so
//     S(x) = sum_m c_{j-m} N_m(u),
// a polynomial of degree k in u. Its coefficients per interval (times w_s), and those of
// its derivative, are tabulated once per call: a RegionTable lookup per coefficient then
// serves a whole vector, where the compiled kernel evaluated all G + k basis functions
// by the Cox-de Boor recursion. Outside [t_0, t_J) S is 0.
//
// Backward: dx = dy (w_b silu'(x) + w_s S'(x)), and per row the sums
//     sum dy silu(x)            (w_b's gradient),
//     G_i = sum dy B_i(x)       (c_i's gradient is w_s G_i, w_s's is sum_i c_i G_i).
// Each element adds dy N_m(u) to G_{j-m} for its m = 0..k: for a whole vector that is one
// compare per interval and one masked add per (interval, m), all in registers for up to
// 8 coefficients, where a histogram would cost k + 1 scalar adds per element.
//
// The interval is the reference's: floor((x - t_0) / h), then corrected by one compare
// with each knot around it, so x at a knot lands where the reference's comparisons put it
// (order 0 and 1 splines jump there, in value or slope).
#include "exp.h"
#include "passes.h"
#include "tables.h"

#include <cmath>

namespace {

using namespace passes;

constexpr int kMaxOrder = 3;
#if SUITE_REGION_TABLE
// Slots of the tables: 0 outside [t_0, t_J), j + 1 for interval j.
constexpr int kMaxIntervals = kTableRegions - 2;

// pieces[m][p]: the coefficient of u^p in N_m(u), piece m of the cardinal B-spline of
// order K (support [0, K + 1)), by the recurrence
//     N^(q)(t) = (t N^(q-1)(t) + (q + 1 - t) N^(q-1)(t - 1)) / q,   N^(0) = 1 on [0, 1).
template <int K>
struct Pieces {
  double c[K + 1][K + 1] = {};
  Pieces() {
    c[0][0] = 1;
    for (int q = 1; q <= K; ++q) {
      double next[K + 1][K + 1] = {};
      for (int m = 0; m <= q; ++m) {
        // t = u + m: (u + m) A_m(u) + (q + 1 - m - u) A_{m-1}(u), A = the order q-1 pieces
        for (int p = 0; p < q; ++p) {
          if (m < q) {
            next[m][p] += m * c[m][p] / q;
            next[m][p + 1] += c[m][p] / q;
          }
          if (m >= 1) {
            next[m][p] += (q + 1 - m) * c[m - 1][p] / q;
            next[m][p + 1] -= c[m - 1][p] / q;
          }
        }
      }
      std::memcpy(c, next, sizeof c);
    }
  }
};

// The knots: their tables (t_j and t_{j+1} by the estimated interval j) and t_0, 1 / h.
struct Grid {
  int intervals;
  float t0, inv_h, h;
  RegionTable below, above;  // t_j, t_{j+1}
};

// One channel's constants: w_b, and the tables of w_s S and w_s S' per slot.
template <int K>
struct Unit {
  float base_weight;
  RegionTable value[K + 1];              // u^p coefficients of w_s S on each interval
  RegionTable slope[K > 0 ? K : 1];      // u^p coefficients of w_s dS/dx
};

template <int K>
Unit<K> make_unit(const Pieces<K>& pieces, const Grid& grid, const float* c, int coefficients, float wb, float ws) {
  double value[K + 1][kTableRegions] = {};
  for (int j = 0; j < grid.intervals; ++j)
    for (int m = 0; m <= K; ++m) {
      const int i = j - m;
      if (i < 0 || i >= coefficients) continue;
      for (int p = 0; p <= K; ++p) value[p][j + 1] += double(ws) * c[i] * pieces.c[m][p];
    }
  Unit<K> unit;
  unit.base_weight = wb;
  float row[kTableRegions];
  for (int p = 0; p <= K; ++p) {
    for (int s = 0; s < kTableRegions; ++s) row[s] = static_cast<float>(value[p][s]);
    unit.value[p] = RegionTable(row);
  }
  for (int p = 0; p < K; ++p) {  // d/dx = (1/h) d/du
    for (int s = 0; s < kTableRegions; ++s) row[s] = static_cast<float>((p + 1) * value[p + 1][s] / grid.h);
    unit.slope[p] = RegionTable(row);
  }
  if (K == 0) unit.slope[0] = RegionTable(std::vector<float>(kTableRegions, 0.f).data());
  return unit;
}

// Where x falls: the table slot (0 below t_0, j + 1 in interval j, J + 1 from t_J on) and
// u in [0, 1] (0 outside, so an infinite x meets a zero polynomial, not inf * 0).
struct Located {
  VF slot, u;
};

// Splines of order 2 and up are continuous with their slope, so an x within rounding of a
// knot may fall on either side. Orders 0 and 1 jump there (in value or slope): x is held
// to the knots themselves, as the reference's comparisons are, by one compare with each
// knot around it (floor's estimate is off by at most one).
template <int K>
inline Located locate(const Grid& grid, VF x) {
  const VF ux = (x - grid.t0) * grid.inv_h;
  const VF last = splat(float(grid.intervals));
  VF j = floor_lanes(ux);
  if constexpr (K <= 1) {
    j = j < last - 1.0f ? j : last - 1.0f;
    j = j > VF{} ? j : VF{};  // NaN compares false: 0
    j = x < (VF)grid.below(j) ? j - 1.0f : x >= (VF)grid.above(j) ? j + 1.0f : j;
    const auto inside = (x == x) & (j >= VF{}) & (j < last);
    return {inside ? j + 1.0f : VF{}, inside ? ux - j : VF{}};
  } else {
    j = j < last ? j : last;
    j = j > splat(-1.0f) ? j : splat(-1.0f);  // NaN compares false: -1, slot 0
    VF u = ux - j;
    u = u > VF{} ? u : VF{};
    u = u < splat(1.0f) ? u : splat(1.0f);
    return {j + 1.0f, u};
  }
}

// p[K] u^K + ... + p[0], the coefficients looked up by slot.
template <int N>
inline VF table_poly(const RegionTable (&p)[N], VF slot, VF u, int degree) {
  VF out = (VF)p[degree](slot);
  for (int d = degree - 1; d >= 0; --d) out = out * u + (VF)p[d](slot);
  return out;
}

struct Inputs {
  const float *c, *wb, *ws;
  int64_t length, coefficients;  // length: 1 (per layer) or C
};

Inputs read_inputs(const torch::Tensor& c, const torch::Tensor& wb, const torch::Tensor& ws, int64_t channels) {
  check_float32(c, "bspline", "coefficients");
  check_float32(wb, "bspline", "base_weight");
  check_float32(ws, "bspline", "spline_weight");
  const int64_t length = c.size(0);
  TORCH_CHECK(c.dim() == 2 && (length == 1 || length == channels) && wb.numel() == length && ws.numel() == length,
              "bspline: expected coefficients [1 or C, G + k] and weights [1 or C]; got ", c.sizes(), ", ", wb.sizes(),
              ", ", ws.sizes(), " for ", channels, " channels");
  return {c.data_ptr<float>(), wb.data_ptr<float>(), ws.data_ptr<float>(), length, c.size(1)};
}

Grid read_grid(const torch::Tensor& knots, int order, int64_t coefficients) {
  check_float32(knots, "bspline", "knots");
  const int intervals = static_cast<int>(knots.numel()) - 1;
  TORCH_CHECK(order >= 0 && order <= kMaxOrder && intervals >= 1 && intervals <= kMaxIntervals &&
                  coefficients == intervals - order,
              "bspline: order ", order, " with ", intervals, " intervals is not supported by the C++ kernel (order 0 to ",
              kMaxOrder, ", up to ", kMaxIntervals, " intervals, G + k coefficients)");
  const float* t = knots.data_ptr<float>();
  float below[kTableRegions] = {}, above[kTableRegions] = {};
  for (int j = 0; j < intervals; ++j) below[j] = t[j], above[j] = t[j + 1];
  const float h = (t[intervals] - t[0]) / intervals;
  return {intervals, t[0], 1.0f / h, h, RegionTable(below), RegionTable(above)};
}

template <int K>
std::vector<Unit<K>> units(const Pieces<K>& pieces, const Grid& grid, const Inputs& in) {
  std::vector<Unit<K>> out;
  for (int64_t l = 0; l < in.length; ++l)
    out.push_back(make_unit<K>(pieces, grid, in.c + l * in.coefficients, static_cast<int>(in.coefficients), in.wb[l],
                               in.ws[l]));
  return out;
}

template <int K>
torch::Tensor forward(const torch::Tensor& x, const Grid& grid, const Inputs& in, int64_t channels) {
  const Rows g(x, channels);
  const auto table = units<K>(Pieces<K>(), grid, in);
  auto y = torch::empty_like(x);
  const float* xp = x.data_ptr<float>();
  float* yp = y.data_ptr<float>();
  for_each_vector(g, [&](int64_t row, int64_t i, int64_t n) {
    const Unit<K>& unit = table[in.length == 1 ? 0 : row % g.channels];
    const VF v = load_part(xp + i, n);
    const Located at = locate<K>(grid, v);
    const VF spline = table_poly(unit.value, at.slot, at.u, K);
    store_part(yp + i, unit.base_weight * v * sigmoid_lanes(v) + spline, n);
  });
  return y;
}

// Sums per row: slots 0..NC-1 the G_i (NC >= the coefficients, padded), NC sum dy silu.
template <int K, int NC>
std::vector<torch::Tensor> backward(const torch::Tensor& x, const torch::Tensor& dy, const Grid& grid,
                                    const Inputs& in, int64_t channels) {
  const Rows g(x, channels);
  const Pieces<K> pieces;
  const auto table = units<K>(pieces, grid, in);
  float blend[K + 1][K + 1];
  for (int m = 0; m <= K; ++m)
    for (int p = 0; p <= K; ++p) blend[m][p] = static_cast<float>(pieces.c[m][p]);
  auto dx = torch::empty_like(x);
  const float* xp = x.data_ptr<float>();
  const float* gp = dy.data_ptr<float>();
  float* dxp = dx.data_ptr<float>();
  const int coefficients = static_cast<int>(in.coefficients);
  const auto sums = row_sums<NC + 1>(g, [&](int64_t row, int64_t i, int64_t n, VF* partial) {
    const Unit<K>& unit = table[in.length == 1 ? 0 : row % g.channels];
    const VF v = load_part(xp + i, n), grad = load_part(gp + i, n);
    const Located at = locate<K>(grid, v);
    const VF s = sigmoid_lanes(v), silu = v * s;
    const VF slope = K > 0 ? table_poly(unit.slope, at.slot, at.u, K - 1) : VF{};
    store_part(dxp + i, grad * (unit.base_weight * (s + silu * (1.0f - s)) + slope), n);
    partial[NC] += grad * silu;
    VF weighted[K + 1];  // dy N_m(u)
    for (int m = 0; m <= K; ++m) {
      VF b = splat(blend[m][K]);
      for (int p = K - 1; p >= 0; --p) b = b * at.u + blend[m][p];
      weighted[m] = grad * b;
    }
    // slot j + 1 (interval j) adds weighted[m] to G_{j-m}
    for (int j = 0; j < NC + K; ++j) {
      const Mask here = equal_mask(at.slot, splat(float(j + 1)));
      for (int m = 0; m <= K; ++m) {
        const int c = j - m;
        if (c >= 0 && c < NC) partial[c] = add_where(partial[c], here, weighted[m]);
      }
    }
  });
  // Per row down to the parameters' length; w_s scales G into c's gradient.
  const int64_t L = in.length;
  std::vector<double> G(L * coefficients, 0.0), silu_sum(L, 0.0);
  for (int64_t row = 0; row < g.rows; ++row) {
    const int64_t l = L == 1 ? 0 : row % g.channels;
    for (int c = 0; c < coefficients; ++c) G[l * coefficients + c] += sums[row * (NC + 1) + c];
    silu_sum[l] += sums[row * (NC + 1) + NC];
  }
  auto g_c = torch::empty({L, coefficients}, x.options()), g_wb = torch::empty({L}, x.options()),
       g_ws = torch::empty({L}, x.options());
  for (int64_t l = 0; l < L; ++l) {
    double spline = 0;
    for (int c = 0; c < coefficients; ++c) {
      spline += double(in.c[l * coefficients + c]) * G[l * coefficients + c];
      g_c.data_ptr<float>()[l * coefficients + c] = static_cast<float>(double(in.ws[l]) * G[l * coefficients + c]);
    }
    g_wb.data_ptr<float>()[l] = static_cast<float>(silu_sum[l]);
    g_ws.data_ptr<float>()[l] = static_cast<float>(spline);
  }
  return {dx, g_c, g_wb, g_ws};
}

// fn(integral_constant K, integral_constant NC) for the order and the coefficient count
// rounded up to 8, 16, 24 or 32 (masks of the padding never match).
template <typename Fn>
auto with_shape(int order, int64_t coefficients, Fn&& fn) {
  return with_constant<0, kMaxOrder>(order, [&](auto K) {
    return with_constant<1, 4>(static_cast<int>((coefficients + 7) / 8), [&](auto eighths) {
      return fn(K, std::integral_constant<int, 8 * decltype(eighths)::value>{});
    });
  });
}

torch::Tensor bspline_forward(const torch::Tensor& x, const torch::Tensor& c, const torch::Tensor& wb,
                              const torch::Tensor& ws, const torch::Tensor& knots, int64_t channels, int64_t order) {
  check_float32(x, "bspline", "x");
  const Inputs in = read_inputs(c, wb, ws, channels);
  const Grid grid = read_grid(knots, static_cast<int>(order), in.coefficients);
  return with_constant<0, kMaxOrder>(static_cast<int>(order), [&](auto K) { return forward<K()>(x, grid, in, channels); });
}

// -> (dx, d coefficients, d base_weight, d spline_weight, d knots = 0: the grid is fixed)
std::vector<torch::Tensor> bspline_backward(const torch::Tensor& x, const torch::Tensor& dy, const torch::Tensor& c,
                                            const torch::Tensor& wb, const torch::Tensor& ws, const torch::Tensor& knots,
                                            int64_t channels, int64_t order) {
  check_backward_inputs(x, dy, "bspline");
  const Inputs in = read_inputs(c, wb, ws, channels);
  const Grid grid = read_grid(knots, static_cast<int>(order), in.coefficients);
  auto grads = with_shape(static_cast<int>(order), in.coefficients,
                          [&](auto K, auto NC) { return backward<K(), NC()>(x, dy, grid, in, channels); });
  grads.push_back(torch::zeros_like(knots));
  return grads;
}

#else
constexpr int kMaxIntervals = 0;  // no vector table lookup here (e.g. ARM): the compiled kernel serves
#endif

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
#if SUITE_REGION_TABLE
  m.def("bspline_forward", &bspline_forward, "y = w_b silu(x) + w_s sum_i c_i B_i(x)");
  m.def("bspline_backward", &bspline_backward, "(dx, d coefficients, d base_weight, d spline_weight, d knots)");
#endif
  m.def("limits", [] { return std::make_pair(kMaxOrder, kMaxIntervals); }, "largest order and interval count");
}
