// Fused tropical activations (Khalfaoui-Hassani et al. 2025) on the CPU, float32:
//
//     tropical rational:  y = N(x) - D(x),   N(x) = max_k (p_k x + c_k),   D(x) = max_k (q_k x + d_k),
//     tropical:           y = s max_k (k x + c_k),   s = sqrt(2) / K,          k = 0..K.
//
// Forward: (K + 1) fused multiply-adds and K maximums per vector and maximum.
//
// Backward: each maximum's gradient goes to its winning line:
//     dx = dy (slope of N's winner - slope of D's winner),
//     dL/dp_k = sum over N's wins of dy x,   dL/dc_k = sum over N's wins of dy (D: negated).
// The winner comes from the envelope's breakpoints, found once per call on the scalar
// parameters: with the lines sorted by slope (stable), the maximum is convex, so the
// winner's sorted rank only grows with x and is the number of breakpoints b_j below x.
// Per element and breakpoint that is one compare and three masked adds (the slope and
// the sums of dy and dy x above b_j); the sums where line r wins are then differences of
// the sums above b_r and b_{r+1}. Ties go to the first line of the stable sort, as in the
// compiled kernel (torch.amax in the reference splits them: a set of measure zero).
// At K = 5 the 22 sums stay in registers, in one pass over x and dy; the compiled kernel
// took two passes for them. The tropical unit's slopes are fixed and already sorted: it
// needs only the sums of dy (K + 1) and its winner's slope is the count itself.
#include "passes.h"

#include <array>
#include <cmath>
#include <limits>
#include <numeric>

namespace {

using namespace passes;
constexpr int kMaxDegree = 8;  // others run the torch.compile kernel

// One maximum of lines, sorted by slope: slopes, breakpoints, and where each original
// line went.
template <int K>
struct Envelope {
  std::array<float, K + 1> slope;   // sorted
  std::array<float, K + 1> breaks;  // breaks[j], j >= 1: the winner's rank is >= j exactly where x > breaks[j]
  std::array<int, K + 1> rank;      // rank[k]: sorted position of original line k

  Envelope(const float* slopes, const float* offsets) {
    std::array<int, K + 1> order;
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return slopes[a] < slopes[b]; });
    std::array<float, K + 1> off;
    for (int r = 0; r <= K; ++r) slope[r] = slopes[order[r]], off[r] = offsets[order[r]], rank[order[r]] = r;
    const float inf = std::numeric_limits<float>::infinity();
    // Line k overtakes line i < k (sorted) beyond crossing(i, k); lines k >= j together
    // beat all i < j beyond min over k >= j of max over i < j of those crossings.
    auto crossing = [&](int i, int k) {
      const float rise = slope[k] - slope[i], gap = off[i] - off[k];
      return rise > 0 ? gap / rise : (gap < 0 ? -inf : inf);
    };
    breaks[0] = 0;
    for (int j = 1; j <= K; ++j) {
      float lowest = inf;
      for (int k = j; k <= K; ++k) {
        float beats_lower = -inf;
        for (int i = 0; i < j; ++i) beats_lower = std::max(beats_lower, crossing(i, k));
        lowest = std::min(lowest, beats_lower);
      }
      breaks[j] = lowest;
    }
  }
};

template <int K>
inline VF max_of_lines(VF x, const float* slopes, const float* offsets) {
  VF best = slopes[0] * x + offsets[0];
  for (int k = 1; k <= K; ++k) best = vmax(best, slopes[k] * x + offsets[k]);
  return best;
}

// A maximum's K + 1 slopes and offsets, copied out of the parameter tensors: y's stores
// might alias them, and read through the pointers every one would be loaded again for
// every vector.
template <int K>
struct Lines {
  float slope[K + 1], offset[K + 1];
  Lines(const float* slopes, const float* offsets) {
    for (int k = 0; k <= K; ++k) slope[k] = slopes[k], offset[k] = offsets[k];
  }
  VF max(VF x) const { return max_of_lines<K>(x, slope, offset); }
};

template <int K>
torch::Tensor forward(const torch::Tensor& x, const float* pn, const float* cn, const float* pd, const float* cd) {
  const Lines<K> num(pn, cn), den(pd, cd);
  return map_vectors(x, [&](VF v) { return num.max(v) - den.max(v); });
}

// Sums per row: 0 sum dy, 1 sum dy x, then per envelope e and breakpoint j = 1..K the sums
// of dy and of dy x above it, at 2 + 2 (e K + j - 1) and one more.
template <int K>
std::vector<torch::Tensor> backward(const torch::Tensor& x, const torch::Tensor& dy, const float* pn, const float* cn,
                                    const float* pd, const float* cd) {
  constexpr int S = 2 + 4 * K;
  const Envelope<K> envelopes[2] = {Envelope<K>(pn, cn), Envelope<K>(pd, cd)};
  const Rows g(x, 1);
  auto dx = torch::empty_like(x);
  const float* xp = x.data_ptr<float>();
  const float* gp = dy.data_ptr<float>();
  float* dxp = dx.data_ptr<float>();
  // Splatted once: the loop reads them as vector operands (as scalars behind a pointer
  // that dx might alias, they were reloaded and broadcast per vector: 1.3x the time).
  VF first[2], breaks[2][K], steps[2][K];
  for (int e = 0; e < 2; ++e) {
    const Envelope<K>& env = envelopes[e];
    first[e] = splat(env.slope[0]);
    for (int j = 1; j <= K; ++j) {  // past b_j the winner's slope steps from slope[j-1] to slope[j]
      breaks[e][j - 1] = splat(env.breaks[j]);
      steps[e][j - 1] = splat(env.slope[j] - env.slope[j - 1]);
    }
  }
  const auto sums = row_sums<S>(g, [&](int64_t, int64_t i, int64_t n, VF* partial) {
    const VF v = load_part(xp + i, n), grad = load_part(gp + i, n), grad_x = grad * v;
    partial[0] += grad;
    partial[1] += grad_x;
    VF slope[2];
    for (int e = 0; e < 2; ++e) {
      slope[e] = first[e];
      for (int j = 1; j <= K; ++j) {
        const Mask above = greater_mask(v, breaks[e][j - 1]);
        const int s = 2 + 2 * (e * K + j - 1);
        slope[e] = add_where(slope[e], above, steps[e][j - 1]);
        partial[s] = add_where(partial[s], above, grad);
        partial[s + 1] = add_where(partial[s + 1], above, grad_x);
      }
    }
    store_part(dxp + i, grad * (slope[0] - slope[1]), n);
  });
  // Sums where sorted line r wins: above b_r minus above b_{r+1} (above b_0: everything).
  std::vector<torch::Tensor> grads = {dx};
  for (int e = 0; e < 2; ++e) {
    auto g_slopes = torch::empty({K + 1}, x.options()), g_offsets = torch::empty({K + 1}, x.options());
    auto above = [&](int r, int w) {  // w = 0: dy, 1: dy x
      if (r == 0) return sums[w];
      if (r > K) return 0.0;
      return sums[2 + 2 * (e * K + r - 1) + w];
    };
    const float sign = e == 0 ? 1.0f : -1.0f;
    for (int k = 0; k <= K; ++k) {
      const int r = envelopes[e].rank[k];
      g_offsets.data_ptr<float>()[k] = sign * static_cast<float>(above(r, 0) - above(r + 1, 0));
      g_slopes.data_ptr<float>()[k] = sign * static_cast<float>(above(r, 1) - above(r + 1, 1));
    }
    grads.push_back(g_slopes);
    grads.push_back(g_offsets);
  }
  return grads;  // dx, d powers_num, d coefficients_num, d powers_denom, d coefficients_denom
}

// The tropical unit: slopes 0..K (fixed), offsets c, output scaled by s = sqrt(2) / K.
template <int K>
struct FixedSlopes {
  float slope[K + 1];
  FixedSlopes() {
    for (int k = 0; k <= K; ++k) slope[k] = static_cast<float>(k);
  }
};

template <int K>
torch::Tensor tropical_forward(const torch::Tensor& x, const float* c) {
  const Lines<K> lines(FixedSlopes<K>().slope, c);
  const float scale = std::sqrt(2.0f) / K;
  return map_vectors(x, [&](VF v) { return scale * lines.max(v); });
}

// Sums per row: 0 sum dy, then j = 1..K the sum of dy above breakpoint b_j.
template <int K>
std::vector<torch::Tensor> tropical_backward(const torch::Tensor& x, const torch::Tensor& dy, const float* c) {
  constexpr int S = 1 + K;
  const FixedSlopes<K> lines;
  const Envelope<K> envelope(lines.slope, c);
  const float scale = std::sqrt(2.0f) / K;
  const Rows g(x, 1);
  auto dx = torch::empty_like(x);
  const float* xp = x.data_ptr<float>();
  const float* gp = dy.data_ptr<float>();
  float* dxp = dx.data_ptr<float>();
  // Each breakpoint passed raises the winner's slope by 1, so s times its slope is a
  // masked add of s per breakpoint.
  VF breaks[K];
  for (int j = 1; j <= K; ++j) breaks[j - 1] = splat(envelope.breaks[j]);
  const VF step = splat(scale);
  const auto sums = row_sums<S>(g, [&](int64_t, int64_t i, int64_t n, VF* partial) {
    const VF v = load_part(xp + i, n), grad = load_part(gp + i, n);
    partial[0] += grad;
    VF slope{};
    for (int j = 1; j <= K; ++j) {
      const Mask above = greater_mask(v, breaks[j - 1]);
      slope = add_where(slope, above, step);
      partial[j] = add_where(partial[j], above, grad);
    }
    store_part(dxp + i, grad * slope, n);
  });
  auto g_c = torch::empty({K + 1}, x.options());
  for (int k = 0; k <= K; ++k) {  // line k wins between b_k and b_{k+1}
    const double upper = k < K ? sums[k + 1] : 0.0;
    g_c.data_ptr<float>()[k] = static_cast<float>(scale * (sums[k] - upper));
  }
  return {dx, g_c};
}

int check_parameters(const torch::Tensor& pn, const torch::Tensor& cn, const torch::Tensor& pd,
                     const torch::Tensor& cd) {
  for (const auto* t : {&pn, &cn, &pd, &cd}) check_float32(*t, "tropical_rational", "each parameter");
  const int64_t lines = pn.numel();
  TORCH_CHECK(pn.dim() == 1 && cn.numel() == lines && pd.numel() == lines && cd.numel() == lines,
              "tropical_rational: expected four parameters [degree + 1]");
  TORCH_CHECK(lines >= 2 && lines <= kMaxDegree + 1, "tropical_rational: degree ", lines - 1,
              " not supported by the C++ kernel (1 to ", kMaxDegree, ")");
  return static_cast<int>(lines - 1);
}

torch::Tensor tropical_rational_forward(const torch::Tensor& x, const torch::Tensor& pn, const torch::Tensor& cn,
                                        const torch::Tensor& pd, const torch::Tensor& cd) {
  check_float32(x, "tropical_rational", "x");
  const int degree = check_parameters(pn, cn, pd, cd);
  return with_constant<1, kMaxDegree>(degree, [&](auto K) {
    return forward<K()>(x, pn.data_ptr<float>(), cn.data_ptr<float>(), pd.data_ptr<float>(), cd.data_ptr<float>());
  });
}

std::vector<torch::Tensor> tropical_rational_backward(const torch::Tensor& x, const torch::Tensor& dy,
                                                      const torch::Tensor& pn, const torch::Tensor& cn,
                                                      const torch::Tensor& pd, const torch::Tensor& cd) {
  check_backward_inputs(x, dy, "tropical_rational");
  const int degree = check_parameters(pn, cn, pd, cd);
  return with_constant<1, kMaxDegree>(degree, [&](auto K) {
    return backward<K()>(x, dy, pn.data_ptr<float>(), cn.data_ptr<float>(), pd.data_ptr<float>(),
                         cd.data_ptr<float>());
  });
}

torch::Tensor tropical_forward_op(const torch::Tensor& x, const torch::Tensor& c) {
  check_float32(x, "tropical", "x");
  const int degree = coefficients_degree(c, "tropical", kMaxDegree);
  return with_constant<1, kMaxDegree>(degree, [&](auto K) { return tropical_forward<K()>(x, c.data_ptr<float>()); });
}

std::vector<torch::Tensor> tropical_backward_op(const torch::Tensor& x, const torch::Tensor& dy, const torch::Tensor& c) {
  check_backward_inputs(x, dy, "tropical");
  const int degree = coefficients_degree(c, "tropical", kMaxDegree);
  return with_constant<1, kMaxDegree>(degree,
                                      [&](auto K) { return tropical_backward<K()>(x, dy, c.data_ptr<float>()); });
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("tropical_rational_forward", &tropical_rational_forward, "y = max_k (p_k x + c_k) - max_k (q_k x + d_k)");
  m.def("tropical_rational_backward", &tropical_rational_backward, "(dx, d p, d c, d q, d d)");
  m.def("tropical_forward", &tropical_forward_op, "y = sqrt(2) / K max_k (k x + c_k)");
  m.def("tropical_backward", &tropical_backward_op, "(dx, d c)");
  m.def("max_degree", [] { return kMaxDegree; }, "largest degree");
}
