// The vector exp and sigmoid of the fused CPU kernels (gated.cpp, bspline.cpp).
//
// Sleef's exp, which torch.compile emits, costs about as much as a pass over memory on
// the machines we measured; exp_lanes takes about half of that, within 1 ulp (the tests
// measure it).
#pragma once
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "simd.h"

namespace simd {

// e^r for |r| <= ln(2)/2: 1 + r + r^2 q(r) with q of degree 4, fitted to minimise the
// largest relative error (3e-9, below float's rounding; Lawson's weighted least squares
// on 20001 points). exp_lanes is then within 0.99 ulp of e^z (test_fused_gated.py
// measures it), as with Cephes' expf polynomial, one degree higher (1.00 ulp), for one
// multiply-add less per vector.
inline VF exp_reduced(VF r) {
  VF p = splat(1.381459995e-03f);
  p = p * r + 8.368710056e-03f;
  p = p * r + 4.166838899e-02f;
  p = p * r + 1.666652113e-01f;
  p = p * r + 4.999999404e-01f;
  return p * (r * r) + r + 1.0f;
}

// e^z = 2^n e^r with n = round(z / ln 2) and r = z - n ln 2 (ln 2 split in two floats so
// that n * hi is exact). z is clamped to where the result is still 0 or inf, which also
// keeps +-inf inputs from turning r into NaN; NaN passes through.
#if defined(__AVX512F__)
// AVX-512: vrndscaleps rounds, vscalefps multiplies by 2^n and over/underflows to inf/0.
// vminps and vmaxps return their second operand where either is NaN, so with z second a
// NaN passes through the clamp, and every step after it, with no blend.
inline VF exp_lanes(VF z) {
  const __m512 clamped = _mm512_max_ps(_mm512_set1_ps(-104.f), _mm512_min_ps(_mm512_set1_ps(89.f), (__m512)z));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(clamped, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  VF r = (VF)clamped - (VF)n * 0.693359375f;
  r = r - (VF)n * -2.12194440e-4f;
  return (VF)_mm512_scalef_ps((__m512)exp_reduced(r), n);
}
#else
// Elsewhere 2^n is built in the exponent bits, so n must stay within float's normal
// range: the polynomial runs on z clamped to [-87.3, 88], and beyond those ends (where
// e^z is below float's smallest normal or near its largest) the result is 0 or inf.
inline VF exp_lanes(VF z) {
  VF c = z < splat(-87.3f) ? splat(-87.3f) : z;
  c = c > splat(88.0f) ? splat(88.0f) : c;
  const VF t = c * 1.44269504088896341f;
  const VI n = __builtin_convertvector(t + (t >= 0 ? splat(0.5f) : splat(-0.5f)), VI);  // round half away
  const VF nf = __builtin_convertvector(n, VF);
  VF r = c - nf * 0.693359375f;
  r = r - nf * -2.12194440e-4f;
  const VI bits = (n + 127) << 23;
  VF scale;
  std::memcpy(&scale, &bits, sizeof scale);
  VF result = exp_reduced(r) * scale;
  result = z > splat(88.0f) ? splat(__builtin_inff()) : result;
  result = z < splat(-87.3f) ? VF{} : result;
  return z == z ? result : z;  // NaN compares false above and passes through here
}
#endif

inline VF sigmoid_lanes(VF z) { return 1.0f / (1.0f + exp_lanes(-z)); }

}  // namespace simd
