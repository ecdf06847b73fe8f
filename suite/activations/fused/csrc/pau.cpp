// Fused Padé Activation Unit (Molina et al. 2020) on the CPU, float32, in both versions:
//     y = P(x) / q,   P(x) = a_0 + ... + a_m x^m,
//     version B:  q = 1 + |r|,   r = b_1 x + ... + b_n x^n     (pau_forward, pau_backward)
//     version A:  q = 1 + |b_1| |x| + ... + |b_n| |x|^n          (pau_a_forward, pau_a_backward)
// Version B below; version A (the authors' code) after it.
// One pass forward (Horner for P and r, one division), one pass backward from one table
// of powers x^0..x^max(m, n):
//     g = dy / q,   h = -g P sign(r) / q,   dx = g P'(x) + h r'(x),
//     dL/da_k = sum g x^k,   dL/db_k = sum h x^k,
// sign(0) = 0 as autograd's |r|. The degrees are template parameters (1 <= m <= kMaxM,
// 1 <= n <= kMaxN), so the power table and the m + 1 + n sums unroll into registers.
#include "passes.h"

#include <cstdint>

namespace {

using namespace passes;
constexpr int kMaxM = 6, kMaxN = 5;  // others run the torch.compile kernel

// The coefficients, copied out of the parameter tensors: the loops store through float
// pointers that might alias a tensor's memory, so read from it, every coefficient would
// be loaded again for every vector (and k a_k recomputed). With that and magnitude()
// below: forward 0.87x, backward 0.82x the time in the same run, bit-identical.
template <int M, int N>
struct Coefficients {
  float a[M + 1], b[N];  // P's, then r's (b_k at b[k - 1])
  float da[M], db[N];    // P' and r': k a_k at da[k - 1], k b_k at db[k - 1]
  float abs_b[N], abs_db[N];  // version A: |b_k| and k |b_k|
  Coefficients(const float* a_, const float* b_) {
    for (int k = 0; k <= M; ++k) a[k] = a_[k];
    for (int k = 0; k < N; ++k) b[k] = b_[k];
    for (int k = 1; k <= M; ++k) da[k - 1] = k * a[k];
    for (int k = 1; k <= N; ++k) db[k - 1] = k * b[k - 1];
    for (int k = 0; k < N; ++k) abs_b[k] = b[k] < 0 ? -b[k] : b[k];
    for (int k = 1; k <= N; ++k) abs_db[k - 1] = k * abs_b[k - 1];
  }
};

// |v| by clearing the sign bit: written as v < 0 ? -v : v, GCC carried the select into
// the division below and divided twice.
inline VF magnitude(VF v) { return (VF)((VI)v & 0x7fffffff); }

// -sign(r) v, with sign(0) = 0 as autograd's |r|: v with its sign bit flipped where r's is
// clear, then zeroed where r == 0 (an xor, an and-not and a select where two compares, two
// selects and a multiply were).
inline VF minus_sign_times(VF r, VF v) {
  const VI flip = ~(VI)r & INT32_MIN;  // the sign bit
  const VF signed_v = (VF)((VI)v ^ flip);
  return r == 0.0f ? VF{} : signed_v;
}

template <int M, int N>
torch::Tensor forward(const torch::Tensor& x, const Coefficients<M, N>& c) {
  return map_vectors(x, [c](VF v) {
    VF p = splat(c.a[M]);
    for (int k = M - 1; k >= 0; --k) p = p * v + c.a[k];
    VF r = splat(c.b[N - 1]);
    for (int k = N - 2; k >= 0; --k) r = r * v + c.b[k];
    r = r * v;
    return p / (1.0f + magnitude(r));
  });
}

// -> (dx, da [m + 1], db [n])
template <int M, int N>
std::vector<torch::Tensor> backward(const torch::Tensor& x, const torch::Tensor& dy, const Coefficients<M, N>& c) {
  constexpr int P = M > N ? M : N;  // highest power needed
  constexpr int S = M + 1 + N;      // sums: a_0..a_m, then b_1..b_n
  const Rows g(x, 1);
  auto dx = torch::empty_like(x);
  const float* xp = x.data_ptr<float>();
  const float* gp = dy.data_ptr<float>();
  float* dxp = dx.data_ptr<float>();
  const VF one = splat(1.0f);
  const auto sums = row_sums<S>(g, [=](int64_t, int64_t i, int64_t n, VF* partial) {
    const VF v = load_part(xp + i, n), grad = load_part(gp + i, n);
    VF power[P + 1];
    power[0] = one;
    power[1] = v;
    for (int k = 2; k <= P; ++k) power[k] = power[k - 1] * v;
    VF p = splat(c.a[0]), dp = splat(c.da[0]);
    for (int k = 1; k <= M; ++k) p += c.a[k] * power[k];
    for (int k = 2; k <= M; ++k) dp += c.da[k - 1] * power[k - 1];
    VF r{}, dr = splat(c.db[0]);
    for (int k = 1; k <= N; ++k) r += c.b[k - 1] * power[k];
    for (int k = 2; k <= N; ++k) dr += c.db[k - 1] * power[k - 1];
    const VF inv_q = 1.0f / (1.0f + magnitude(r));
    const VF gq = grad * inv_q;
    const VF h = minus_sign_times(r, gq * p * inv_q);
    store_part(dxp + i, gq * dp + h * dr, n);
    for (int k = 0; k <= M; ++k) partial[k] += gq * power[k];
    for (int k = 1; k <= N; ++k) partial[M + k] += h * power[k];
  });
  auto g_a = torch::empty({M + 1}, x.options()), g_b = torch::empty({N}, x.options());
  for (int k = 0; k <= M; ++k) g_a.data_ptr<float>()[k] = static_cast<float>(sums[k]);
  for (int k = 1; k <= N; ++k) g_b.data_ptr<float>()[k - 1] = static_cast<float>(sums[M + k]);
  return {dx, g_a, g_b};
}

// Version A: q = 1 + s(|x|), s(t) = |b_1| t + ... + |b_n| t^n, so
//     dq/dx = sign(x) s'(|x|),   dq/db_k = sign(b_k) |x|^k,
// with sign(0) = 0 as autograd's |.|: g = dy / q,  u = g P / q (so dL/dq = -u),
//     dx = g P'(x) - sign(x) u s'(|x|),   dL/da_k = sum g x^k,   dL/db_k = -sign(b_k) sum u |x|^k.
template <int M, int N>
torch::Tensor forward_a(const torch::Tensor& x, const Coefficients<M, N>& c) {
  return map_vectors(x, [c](VF v) {
    VF p = splat(c.a[M]);
    for (int k = M - 1; k >= 0; --k) p = p * v + c.a[k];
    const VF t = magnitude(v);
    VF s = splat(c.abs_b[N - 1]);
    for (int k = N - 2; k >= 0; --k) s = s * t + c.abs_b[k];
    return p / (1.0f + s * t);
  });
}

// -> (dx, da [m + 1], db [n])
template <int M, int N>
std::vector<torch::Tensor> backward_a(const torch::Tensor& x, const torch::Tensor& dy, const Coefficients<M, N>& c) {
  constexpr int P = M > N ? M : N;  // highest power needed
  constexpr int S = M + 1 + N;      // sums: a_0..a_m, then u |x|^k for b_1..b_n
  const Rows g(x, 1);
  auto dx = torch::empty_like(x);
  const float* xp = x.data_ptr<float>();
  const float* gp = dy.data_ptr<float>();
  float* dxp = dx.data_ptr<float>();
  const VF one = splat(1.0f);
  const auto sums = row_sums<S>(g, [=](int64_t, int64_t i, int64_t n, VF* partial) {
    const VF v = load_part(xp + i, n), grad = load_part(gp + i, n);
    const VF t = magnitude(v);
    VF power[P + 1];  // of |x|: x^k = sign(x)^k |x|^k, so the odd ones take x's sign back
    power[0] = one;
    power[1] = t;
    for (int k = 2; k <= P; ++k) power[k] = power[k - 1] * t;
    VF p = splat(c.a[0]), dp = splat(c.da[0]);
    VF s{}, ds = splat(c.abs_db[0]);
    for (int k = 1; k <= N; ++k) s += c.abs_b[k - 1] * power[k];
    for (int k = 2; k <= N; ++k) ds += c.abs_db[k - 1] * power[k - 1];
    const VF inv_q = 1.0f / (1.0f + s);
    const VF gq = grad * inv_q;
    VF signed_power[M + 1];  // x^k
    signed_power[0] = one;
    for (int k = 1; k <= M; ++k) signed_power[k] = (k % 2) ? minus_sign_times(v, -power[k]) : power[k];
    for (int k = 1; k <= M; ++k) p += c.a[k] * signed_power[k];
    for (int k = 2; k <= M; ++k) dp += c.da[k - 1] * signed_power[k - 1];
    const VF u = gq * p * inv_q;
    store_part(dxp + i, gq * dp + minus_sign_times(v, u * ds), n);
    for (int k = 0; k <= M; ++k) partial[k] += gq * signed_power[k];
    for (int k = 1; k <= N; ++k) partial[M + k] += u * power[k];
  });
  auto g_a = torch::empty({M + 1}, x.options()), g_b = torch::empty({N}, x.options());
  for (int k = 0; k <= M; ++k) g_a.data_ptr<float>()[k] = static_cast<float>(sums[k]);
  for (int k = 1; k <= N; ++k) {
    const float b = c.b[k - 1];
    const float sign_b = b > 0 ? 1.0f : (b < 0 ? -1.0f : 0.0f);
    g_b.data_ptr<float>()[k - 1] = static_cast<float>(-sign_b * sums[M + k]);
  }
  return {dx, g_a, g_b};
}

// fn(integral_constant M, integral_constant N) for the runtime degrees (m, n).
template <typename Fn>
auto with_degrees(int m, int n, Fn&& fn) {
  return with_constant<1, kMaxM>(m, [&](auto M) { return with_constant<1, kMaxN>(n, [&](auto N) { return fn(M, N); }); });
}

void check_degrees(const torch::Tensor& a, const torch::Tensor& b) {
  check_float32(a, "pau", "numerator");
  check_float32(b, "pau", "denominator");
  TORCH_CHECK(a.dim() == 1 && b.dim() == 1 && a.size(0) >= 2 && a.size(0) <= kMaxM + 1 && b.size(0) >= 1 &&
                  b.size(0) <= kMaxN,
              "pau: degrees (", a.numel() - 1, ", ", b.numel(), ") not supported by the C++ kernel (numerator 1 to ",
              kMaxM, ", denominator 1 to ", kMaxN, ")");
}

torch::Tensor pau_forward(const torch::Tensor& x, const torch::Tensor& a, const torch::Tensor& b) {
  check_float32(x, "pau", "x");
  check_degrees(a, b);
  const float *ap = a.data_ptr<float>(), *bp = b.data_ptr<float>();
  return with_degrees(a.size(0) - 1, b.size(0),
                      [&](auto M, auto N) { return forward<M(), N()>(x, Coefficients<M(), N()>(ap, bp)); });
}

std::vector<torch::Tensor> pau_backward(const torch::Tensor& x, const torch::Tensor& dy, const torch::Tensor& a,
                                        const torch::Tensor& b) {
  check_backward_inputs(x, dy, "pau");
  check_degrees(a, b);
  const float *ap = a.data_ptr<float>(), *bp = b.data_ptr<float>();
  return with_degrees(a.size(0) - 1, b.size(0),
                      [&](auto M, auto N) { return backward<M(), N()>(x, dy, Coefficients<M(), N()>(ap, bp)); });
}

torch::Tensor pau_a_forward(const torch::Tensor& x, const torch::Tensor& a, const torch::Tensor& b) {
  check_float32(x, "pau", "x");
  check_degrees(a, b);
  const float *ap = a.data_ptr<float>(), *bp = b.data_ptr<float>();
  return with_degrees(a.size(0) - 1, b.size(0),
                      [&](auto M, auto N) { return forward_a<M(), N()>(x, Coefficients<M(), N()>(ap, bp)); });
}

std::vector<torch::Tensor> pau_a_backward(const torch::Tensor& x, const torch::Tensor& dy, const torch::Tensor& a,
                                          const torch::Tensor& b) {
  check_backward_inputs(x, dy, "pau");
  check_degrees(a, b);
  const float *ap = a.data_ptr<float>(), *bp = b.data_ptr<float>();
  return with_degrees(a.size(0) - 1, b.size(0),
                      [&](auto M, auto N) { return backward_a<M(), N()>(x, dy, Coefficients<M(), N()>(ap, bp)); });
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("pau_forward", &pau_forward, "y = P(x) / (1 + |x B(x)|)");
  m.def("pau_backward", &pau_backward, "(dx, d numerator, d denominator)");
  m.def("pau_a_forward", &pau_a_forward, "y = P(x) / (1 + sum |b_k| |x|^k)");
  m.def("pau_a_backward", &pau_a_backward, "(dx, d numerator, d denominator) of version A");
  m.def("max_degrees", [] { return std::make_pair(kMaxM, kMaxN); }, "largest numerator and denominator degrees");
}
