// Fused Fourier activation on the CPU (Khalfaoui-Hassani et al. 2025):
//     y = a0 + sum_k c_k cos(z_k),   z_k = w_k x - phi_k,   c_k = a_k / k!,
// one pass forward, one pass backward, float32. The frequencies w_k are learnt, so the
// harmonics share no recurrence: each costs one sine-cosine pair per element, and that
// is where the time goes. The backward needs, per element, dx = -dy sum_k c_k w_k sin z_k
// and per k the sums of dy cos z_k, dy sin z_k and dy x sin z_k (1 + 3d sums in all), from
// which the parameters' gradients follow.
//
// sin and cos: one range reduction by pi for both, then minimax polynomials on
// |r| <= pi/2 (see reduce()); the forward needs only cos. The reduction is exact for
// |z| <= kExactBelow with or without fused multiply-adds (with them it stays close much
// further, but its rounding of z / pi fails outright past 2^22 pi). A work item whose
// inputs may reach |z| > kExactBelow (or hold an inf or NaN) is therefore redone element
// by element with the C library's sin and cos, so no input loses accuracy.
#include "passes.h"

#include <cmath>

namespace {

using namespace passes;
constexpr int kMaxDegree = 8;  // degrees above run the torch.compile kernel
constexpr float kExactBelow = 8192.f;

// z = n pi + r with |r| <= pi/2, n rounded to nearest by the 1.5 * 2^23 trick (exact for
// |z / pi| < 2^22, vectorises everywhere). cos z = (-1)^n cos r and sin z = (-1)^n sin r,
// the sign flipped in the bits. The parity of n is the lowest mantissa bit of
// z / pi + 1.5 * 2^23 (whose ulp is 1), so no conversion is needed.
//
// r = z - n pi with pi split in floats (Cody and Waite). With fused multiply-adds, two:
// z - n fl(pi) is exact in one (for |z| <= kExactBelow it is a multiple of fl(pi)'s ulp
// below pi/2 in size, so a float holds it), and the second leaves r within half an ulp.
// Without them, three: the first has 8 significant bits, so n times it is exact.
struct Reduced {
  VF r, r2;
  VI sign;  // the sign bit where n is odd
};

inline Reduced reduce(VF z) {
  const VF shifted = z * 0.318309886183790672f + 12582912.f;
  const VF n = shifted - 12582912.f;
#if SUITE_HAS_FMA
  VF r = fnmadd(n, splat(3.14159274101257324f), z);
  r = fnmadd(n, splat(-8.74227765734758577e-8f), r);
#else
  VF r = z - n * 3.140625f;
  r = r - n * 9.67502593994140625e-4f;
  r = r - n * 1.509957990978376432e-7f;
#endif
  return {r, r * r, (VI)shifted << 31};
}

// Polynomials in r^2 on |r| <= pi/2, to r^8 for cos and r^9 for sin: fitted to the
// least largest absolute error (5e-8 and 5e-9, Lawson's weighted least squares with the
// constant term fixed at 1), then each coefficient moved by a few float ulps where that
// lowered the error of the float Horner evaluation. With the reduction, cos z and sin z
// are within 2e-7 and 1.5e-7 of the exact values up to |z| = kExactBelow (the tests
// hold them to 2.5e-7). Taylor's polynomials, to r^12 and r^13 for the same rounding
// (their remainders are 6e-9 and 7e-10), came to 1.5e-7 and 1.4e-7 for two
// multiply-adds more each: the forward took 1.19x and the backward 1.24x the time.
constexpr float kCos[5] = {1.0f, -0.4999993145465851f, 0.04166398569941521f, -0.0013855922734364867f,
                           2.319444320164621e-05f};
constexpr float kSin[5] = {1.0f, -0.16666656732559204f, 0.008333015255630016f, -0.00019806617638096213f,
                           2.600058678581263e-06f};

template <int N>
inline VF horner(VF t, const float (&c)[N]) {
  VF p = splat(c[N - 1]);
  for (int i = N - 2; i >= 0; --i) p = p * t + c[i];
  return p;
}

inline VF with_sign(VF v, VI sign) { return (VF)((VI)v ^ sign); }

inline VF cos_lanes(VF z) {
  const Reduced q = reduce(z);
  return with_sign(horner(q.r2, kCos), q.sign);
}

// cos z and sin z both without the (-1)^n, which the caller applies once to their
// common factor (the backward's dy) instead of to each.
struct UnsignedCosSin {
  VF cos, sin;
  VI sign;  // the sign bit where (-1)^n = -1
};

inline UnsignedCosSin unsigned_cos_sin(VF z) {
  const Reduced q = reduce(z);
  return {horner(q.r2, kCos), q.r * horner(q.r2, kSin), q.sign};
}

struct Params {
  float a0;
  float c[kMaxDegree], w[kMaxDegree], phi[kMaxDegree];
  float x_limit;  // |x| <= x_limit keeps every |z_k| <= kExactBelow
};

Params read_params(const torch::Tensor& a0, const torch::Tensor& a, const torch::Tensor& w,
                   const torch::Tensor& phi, int D) {
  for (const auto* t : {&a0, &a, &w, &phi})
    TORCH_CHECK(t->dim() == 1 && t->is_contiguous() && t->scalar_type() == torch::kFloat32,
                "fourier: parameters must be contiguous float32 vectors");
  TORCH_CHECK(a0.size(0) == 1 && a.size(0) == D && w.size(0) == D && phi.size(0) == D,
              "fourier: expected a0 [1] and a, w, phi [", D, "]");
  Params p{};
  p.a0 = a0.data_ptr<float>()[0];
  float max_w = 0, max_phi = 0;
  double factorial = 1;
  for (int k = 0; k < D; ++k) {
    factorial *= k + 1;
    p.c[k] = static_cast<float>(a.data_ptr<float>()[k] / factorial);
    p.w[k] = w.data_ptr<float>()[k];
    p.phi[k] = phi.data_ptr<float>()[k];
    max_w = std::max(max_w, std::fabs(p.w[k]));
    max_phi = std::max(max_phi, std::fabs(p.phi[k]));
  }
  // NaN parameters leave x_limit NaN, which sends every item to the exact path below.
  p.x_limit = max_w > 0 ? (kExactBelow - max_phi) / max_w : (max_phi <= kExactBelow ? INFINITY : -1.f);
  return p;
}

// The parameters splatted into vectors, once per work item, in the loop's own locals:
// read from Params (reachable from outside, so y's or dx's stores might alias it), each
// was loaded and broadcast again for every vector.
template <int D>
struct Lanes {
  VF a0, x_limit, c[D], w[D], phi[D];
  explicit Lanes(const Params& p) : a0(splat(p.a0)), x_limit(splat(p.x_limit)) {
    for (int k = 0; k < D; ++k) c[k] = splat(p.c[k]), w[k] = splat(p.w[k]), phi[k] = splat(p.phi[k]);
  }
};

// Lanes set where the fast path may not be exact: |x| beyond the limit, inf or NaN.
inline VI out_of_range(VF v, VF limit) {
  const VF magnitude = (VF)((VI)v & 0x7fffffff);
  return ~(magnitude <= limit);
}

inline bool any_lane(VI mask) {
  for (int l = 0; l < kLanes; ++l)
    if (mask[l]) return true;
  return false;
}

// z_k as the fast path forms it (one fused multiply-add where the machine has it), so
// both paths see the same argument.
inline float argument(float w, float x, float phi) { return std::fma(w, x, -phi); }

template <int D>
torch::Tensor forward(const torch::Tensor& x, const Params& p) {
  const Rows g(x, 1);
  auto y = torch::empty_like(x);
  const float* xp = x.data_ptr<float>();
  float* yp = y.data_ptr<float>();
  at::parallel_for(0, g.items(), g.grain(), [&](int64_t first, int64_t last) {
    for (int64_t item = first; item < last; ++item) {
      int64_t row, begin, end;
      g.range(item, row, begin, end);
      const Lanes<D> q(p);
      VI outside{};
      for (int64_t i = begin; i < end; i += kLanes) {
        const int64_t n = std::min<int64_t>(kLanes, end - i);
        const VF v = load_part(xp + i, n);
        outside |= out_of_range(v, q.x_limit);
        VF out = q.a0;
        for (int k = 0; k < D; ++k) out += q.c[k] * cos_lanes(v * q.w[k] - q.phi[k]);
        store_part(yp + i, out, n);
      }
      if (!any_lane(outside)) continue;
      for (int64_t i = begin; i < end; ++i) {
        double out = p.a0;
        for (int k = 0; k < D; ++k) out += p.c[k] * std::cos(double(argument(p.w[k], xp[i], p.phi[k])));
        yp[i] = static_cast<float>(out);
      }
    }
  });
  return y;
}

// -> (dx, da0, da, dw, dphi), from the sums per k (slots 3k, 3k+1, 3k+2) of dy cos z_k,
// dy sin z_k and dy x sin z_k, and of dy (slot 3D).
template <int D>
std::vector<torch::Tensor> backward(const torch::Tensor& x, const torch::Tensor& dy, const Params& p) {
  constexpr int S = 3 * D + 1;
  const Rows g(x, 1);
  auto dx = torch::empty_like(x);
  const float* xp = x.data_ptr<float>();
  const float* gp = dy.data_ptr<float>();
  float* dxp = dx.data_ptr<float>();
  float slope[kMaxDegree];  // -c_k w_k
  for (int k = 0; k < D; ++k) slope[k] = -p.c[k] * p.w[k];
  const auto sums = sums_by_item<S>(g, [&](int64_t row, int64_t begin, int64_t end, double* out) {
    const Lanes<D> q(p);
    VF slopes[D];
    for (int k = 0; k < D; ++k) slopes[k] = splat(slope[k]);
    VI outside{};
    vector_sums<S>(row, begin, end, [&](int64_t, int64_t i, int64_t n, VF* partial) {
      const VF v = load_part(xp + i, n), grad = load_part(gp + i, n);
      outside |= out_of_range(v, q.x_limit);
      VF grad_x{};  // dx = sum_k -c_k w_k dy sin z_k
      for (int k = 0; k < D; ++k) {
        const UnsignedCosSin t = unsigned_cos_sin(v * q.w[k] - q.phi[k]);
        const VF signed_grad = with_sign(grad, t.sign);  // one xor for both cos and sin
        const VF grad_s = signed_grad * t.sin;
        partial[3 * k] += signed_grad * t.cos;
        partial[3 * k + 1] += grad_s;
        partial[3 * k + 2] += grad_s * v;
        grad_x += slopes[k] * grad_s;
      }
      partial[3 * D] += grad;
      store_part(dxp + i, grad_x, n);
    }, out);
    if (!any_lane(outside)) return;
    std::fill(out, out + S, 0.0);
    for (int64_t i = begin; i < end; ++i) {
      const double v = xp[i], grad = gp[i];
      double derivative = 0;
      for (int k = 0; k < D; ++k) {
        const double z = argument(p.w[k], xp[i], p.phi[k]), c = std::cos(z), s = std::sin(z);
        out[3 * k] += grad * c;
        out[3 * k + 1] += grad * s;
        out[3 * k + 2] += grad * s * v;
        derivative += double(slope[k]) * s;
      }
      out[3 * D] += grad;
      dxp[i] = static_cast<float>(grad * derivative);
    }
  });
  // dy/da0 = 1; dy/da_k = cos z_k / k!; dy/dw_k = -c_k x sin z_k; dy/dphi_k = c_k sin z_k
  auto g_a0 = torch::empty({1}, x.options()), g_a = torch::empty({D}, x.options());
  auto g_w = torch::empty({D}, x.options()), g_phi = torch::empty({D}, x.options());
  g_a0.data_ptr<float>()[0] = static_cast<float>(sums[3 * D]);
  double factorial = 1;
  for (int k = 0; k < D; ++k) {
    factorial *= k + 1;
    g_a.data_ptr<float>()[k] = static_cast<float>(sums[3 * k] / factorial);
    g_w.data_ptr<float>()[k] = static_cast<float>(-double(p.c[k]) * sums[3 * k + 2]);
    g_phi.data_ptr<float>()[k] = static_cast<float>(double(p.c[k]) * sums[3 * k + 1]);
  }
  return {dx, g_a0, g_a, g_w, g_phi};
}

int checked_degree(const torch::Tensor& a) {
  TORCH_CHECK(a.dim() == 1 && a.size(0) >= 1 && a.size(0) <= kMaxDegree, "fourier: degree ", a.numel(),
              " not supported by the C++ kernel (1 to ", kMaxDegree, ")");
  return static_cast<int>(a.size(0));
}

torch::Tensor fourier_forward(const torch::Tensor& x, const torch::Tensor& a0, const torch::Tensor& a,
                              const torch::Tensor& w, const torch::Tensor& phi) {
  check_float32(x, "fourier", "x");
  const int degree = checked_degree(a);
  const Params p = read_params(a0, a, w, phi, degree);
  return with_constant<1, kMaxDegree>(degree, [&](auto D) { return forward<D()>(x, p); });
}

// -> (dx, and the gradients of a0, a, w, phi).
std::vector<torch::Tensor> fourier_backward(const torch::Tensor& x, const torch::Tensor& dy, const torch::Tensor& a0,
                                            const torch::Tensor& a, const torch::Tensor& w, const torch::Tensor& phi) {
  check_backward_inputs(x, dy, "fourier");
  const int degree = checked_degree(a);
  const Params p = read_params(a0, a, w, phi, degree);
  return with_constant<1, kMaxDegree>(degree, [&](auto D) { return backward<D()>(x, dy, p); });
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("fourier_forward", &fourier_forward, "y = a0 + sum_k a_k / k! cos(w_k x - phi_k)");
  m.def("fourier_backward", &fourier_backward, "(dx, da0, da, dw, dphi)");
  m.def("max_degree", [] { return kMaxDegree; }, "largest degree the kernel takes");
  m.def("exact_below", [] { return kExactBelow; }, "|z| up to which the vector range reduction is exact");
}
