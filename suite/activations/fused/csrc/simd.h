// Portable SIMD vectors for the fused CPU kernels (GCC/Clang vector extensions): as wide
// as the widest registers the build targets, so one source serves AVX-512, AVX and NEON
// and the compiler picks the instructions. Element-wise operators (+ - * / < ?:) work
// lane by lane; load/store go through memcpy, which compiles to unaligned moves.
#pragma once
#include <cstring>
#if defined(__AVX512F__) || defined(__FMA__)
#include <immintrin.h>
#endif

namespace simd {

// 64 bytes with AVX-512, 32 bytes otherwise: AVX registers on x86, two NEON registers on ARM.
#if defined(__AVX512F__)
constexpr int kVecBytes = 64;
#else
constexpr int kVecBytes = 32;
#endif
template <typename T> struct VecOf;
template <> struct VecOf<float> { typedef float type __attribute__((vector_size(kVecBytes), aligned(4))); };
template <> struct VecOf<double> { typedef double type __attribute__((vector_size(kVecBytes), aligned(8))); };

template <typename T> using Vec = typename VecOf<T>::type;
template <typename T> constexpr int kVecLanes = kVecBytes / sizeof(T);
using VF = Vec<float>;
typedef int VI __attribute__((vector_size(kVecBytes), aligned(4)));  // as many int lanes as VF's

template <typename T> inline Vec<T> splat(T s) { return Vec<T>{} + s; }
template <typename V> inline V vmax(V a, V b) { return a > b ? a : b; }

template <typename T> inline Vec<T> load(const T* p) { Vec<T> v; std::memcpy(&v, p, sizeof v); return v; }
template <typename T> inline void store(T* p, Vec<T> v) { std::memcpy(p, &v, sizeof v); }

// acc + w in the lanes a mask selects: one masked add with AVX-512 (a mask register per
// compare), where GCC's vector extensions make it a blend and an add (a backward summing
// by masks took 1.16x the time).
#if defined(__AVX512F__)
typedef __mmask16 Mask;
inline Mask equal_mask(Vec<float> a, Vec<float> b) { return _mm512_cmpeq_ps_mask((__m512)a, (__m512)b); }
inline Mask greater_mask(Vec<float> a, Vec<float> b) { return _mm512_cmp_ps_mask((__m512)a, (__m512)b, _CMP_GT_OQ); }
inline Vec<float> add_where(Vec<float> acc, Mask m, Vec<float> w) {
  return (Vec<float>)_mm512_mask_add_ps((__m512)acc, m, (__m512)acc, (__m512)w);
}
#else
typedef VI Mask;
inline Mask equal_mask(Vec<float> a, Vec<float> b) { return a == b; }
inline Mask greater_mask(Vec<float> a, Vec<float> b) { return a > b; }
inline Vec<float> add_where(Vec<float> acc, Mask m, Vec<float> w) { return acc + (m ? w : Vec<float>{}); }
#endif

// c - a b rounded once, where the build targets fused multiply-adds (SUITE_HAS_FMA is
// then 1). The compiler contracts a * b + c by itself; this is for code whose exactness
// depends on the single rounding, which must not be left to the optimiser.
#if defined(__AVX512F__)
#define SUITE_HAS_FMA 1
inline Vec<float> fnmadd(Vec<float> a, Vec<float> b, Vec<float> c) {
  return (Vec<float>)_mm512_fnmadd_ps((__m512)a, (__m512)b, (__m512)c);
}
#elif defined(__FMA__)
#define SUITE_HAS_FMA 1
inline Vec<float> fnmadd(Vec<float> a, Vec<float> b, Vec<float> c) {
  return (Vec<float>)_mm256_fnmadd_ps((__m256)a, (__m256)b, (__m256)c);
}
#else
#define SUITE_HAS_FMA 0
#endif

// Totals that must keep small terms: a vector of doubles with one lane per lane of Vec<T>
// (for float twice as wide, two registers). Adding a widened vector to one is a
// conversion and an add; its lanes are summed once, at the end.
template <typename T> struct WideOf;
template <> struct WideOf<float> { typedef double type __attribute__((vector_size(2 * kVecBytes), aligned(8))); };
template <> struct WideOf<double> { typedef Vec<double> type; };
template <typename T> using Wide = typename WideOf<T>::type;

template <typename T> inline Wide<T> widen(Vec<T> v) { return __builtin_convertvector(v, Wide<T>); }
template <typename W> inline double lane_sum(W v) {
  double total = 0;
  for (int l = 0; l < int(sizeof(W) / sizeof(double)); ++l) total += v[l];
  return total;
}

}  // namespace simd
