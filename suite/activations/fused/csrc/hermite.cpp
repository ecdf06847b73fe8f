// Fused Hermite activation (Khalfaoui-Hassani et al. 2025) on the CPU, float32:
//     y = sum_{k=0..D} c_k h_k(x),   h_k = He_k / k!   (probabilists' Hermite polynomials),
// by the three-term recurrence on the scaled polynomials, as the reference computes it:
//     h_0 = 1,   h_1 = x,   h_{k+1} = (x h_k - h_{k-1}) / (k + 1),
// a fused multiply-add and a multiply per degree, never expanded powers.
//
// Backward: He_k' = k He_{k-1}, so h_k' = h_{k-1} and
//     dx = dy sum_{k>=1} c_k h_{k-1},   dL/dc_k = sum dy h_k,
// one pass over x and dy with the D + 1 sums in registers: the degree is a template
// parameter, so the recurrence and the sums unroll. (The torch.compile kernel this
// replaces took 3.6 ms for the backward of degree 8 on 3.2M elements, 3.5x ReLU's.)
#include "passes.h"

namespace {

using namespace passes;
constexpr int kMaxDegree = 16;  // others run the torch.compile kernel

// The coefficients and the recurrence's 1 / (k + 1), splatted once: read from the
// parameter tensor, which y's or dx's stores might alias, each would be loaded again for
// every vector.
template <int D>
struct Series {
  VF c[D + 1], inv[D + 1];  // inv[k] = 1 / k (k >= 2)
  explicit Series(const float* c_) {
    for (int k = 0; k <= D; ++k) c[k] = splat(c_[k]);
    for (int k = 2; k <= D; ++k) inv[k] = splat(1.0f / k);
  }
  // h_{k+1} from h_k and h_{k-1}, as the reference rounds it (x h_k - h_{k-1}, then the scale)
  VF next(int k, VF x, VF h, VF h_prev) const { return (x * h - h_prev) * inv[k + 1]; }
};

template <int D>
torch::Tensor forward(const torch::Tensor& x, const float* c) {
  const Series<D> s(c);
  return map_vectors(x, [&s](VF v) {
    VF h_prev = splat(1.0f), h = v;
    VF y = s.c[0] + s.c[1] * h;
    for (int k = 1; k < D; ++k) {
      const VF h_next = s.next(k, v, h, h_prev);
      h_prev = h, h = h_next;
      y += s.c[k + 1] * h;
    }
    return y;
  });
}

// -> (dx, dc [D + 1])
template <int D>
std::vector<torch::Tensor> backward(const torch::Tensor& x, const torch::Tensor& dy, const float* c) {
  constexpr int S = D + 1;
  const Series<D> s(c);
  const Rows g(x, 1);
  auto dx = torch::empty_like(x);
  const float* xp = x.data_ptr<float>();
  const float* gp = dy.data_ptr<float>();
  float* dxp = dx.data_ptr<float>();
  const auto sums = row_sums<S>(g, [&](int64_t, int64_t i, int64_t n, VF* partial) {
    const VF v = load_part(xp + i, n), grad = load_part(gp + i, n);
    VF h_prev = splat(1.0f), h = v;
    VF slope = s.c[1];  // sum_{k>=1} c_k h_{k-1}
    partial[0] += grad;
    partial[1] += grad * h;
    for (int k = 1; k < D; ++k) {
      slope += s.c[k + 1] * h;
      const VF h_next = s.next(k, v, h, h_prev);
      h_prev = h, h = h_next;
      partial[k + 1] += grad * h;
    }
    store_part(dxp + i, grad * slope, n);
  });
  auto g_c = torch::empty({S}, x.options());
  for (int k = 0; k < S; ++k) g_c.data_ptr<float>()[k] = static_cast<float>(sums[k]);
  return {dx, g_c};
}

torch::Tensor hermite_forward(const torch::Tensor& x, const torch::Tensor& c) {
  check_float32(x, "hermite", "x");
  const int degree = coefficients_degree(c, "hermite", kMaxDegree);
  return with_constant<1, kMaxDegree>(degree, [&](auto D) { return forward<D()>(x, c.data_ptr<float>()); });
}

std::vector<torch::Tensor> hermite_backward(const torch::Tensor& x, const torch::Tensor& dy, const torch::Tensor& c) {
  check_backward_inputs(x, dy, "hermite");
  const int degree = coefficients_degree(c, "hermite", kMaxDegree);
  return with_constant<1, kMaxDegree>(degree, [&](auto D) { return backward<D()>(x, dy, c.data_ptr<float>()); });
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("hermite_forward", &hermite_forward, "y = sum_k c_k He_k(x) / k!");
  m.def("hermite_backward", &hermite_backward, "(dx, dc)");
  m.def("max_degree", [] { return kMaxDegree; }, "largest degree");
}
