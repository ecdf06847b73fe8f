// RegionTable: a small float table (one value per region of a piecewise function: a
// line's base or slope, a polynomial's coefficient) looked up for a whole vector of region
// indices at once, where the instruction set allows it (SUITE_REGION_TABLE is then 1);
// the kernels fall back to one compare-and-select per region end elsewhere.
#pragma once
#if defined(__AVX__) || defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "simd.h"

namespace simd {

#if defined(__AVX512F__)
// AVX-512: vpermt2ps picks from two 16-float registers by the low 5 bits of the index,
// i.e. up to 32 regions in one instruction.
constexpr int kTableRegions = 32;

struct RegionTable {
  __m512 low, high;
  RegionTable() = default;
  explicit RegionTable(const float* t) : low(_mm512_loadu_ps(t)), high(_mm512_loadu_ps(t + 16)) {}  // t: 32 entries
  __m512 operator()(__m512 k) const {  // k: region indices as floats
    return _mm512_permutex2var_ps(low, _mm512_cvttps_epi32(k), high);
  }
};
inline Vec<float> floor_lanes(Vec<float> v) { return (Vec<float>)_mm512_roundscale_ps((__m512)v, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC); }
#elif defined(__AVX__)
// AVX without AVX2 has no gathers and no cross-lane permutes of floats: vpermilps picks
// within each 128-bit half by the low 2 bits of the index, from four 4-entry slices of
// the table (each copied into both halves); bits 2 and 3 of the index pick the slice.
// About 12 instructions against 30 for compare-and-select over 16 regions.
constexpr int kTableRegions = 16;

struct RegionTable {
  __m256 slice[4];
  RegionTable() = default;
  explicit RegionTable(const float* t) {  // t: 16 entries used (32 given)
    for (int s = 0; s < 4; ++s)
      slice[s] = _mm256_setr_ps(t[4 * s], t[4 * s + 1], t[4 * s + 2], t[4 * s + 3], t[4 * s], t[4 * s + 1],
                                t[4 * s + 2], t[4 * s + 3]);
  }
  __m256 operator()(__m256 k) const {  // k: region indices as floats
    const __m256 eight = _mm256_set1_ps(8.f), four = _mm256_set1_ps(4.f);
    const __m256 bit3 = _mm256_cmp_ps(k, eight, _CMP_GE_OQ);
    const __m256 bit2 = _mm256_cmp_ps(_mm256_sub_ps(k, _mm256_and_ps(bit3, eight)), four, _CMP_GE_OQ);
    const __m256i index = _mm256_cvttps_epi32(k);
    const __m256 low = _mm256_blendv_ps(_mm256_permutevar_ps(slice[0], index), _mm256_permutevar_ps(slice[1], index), bit2);
    const __m256 high = _mm256_blendv_ps(_mm256_permutevar_ps(slice[2], index), _mm256_permutevar_ps(slice[3], index), bit2);
    return _mm256_blendv_ps(low, high, bit3);
  }
};
inline Vec<float> floor_lanes(Vec<float> v) { return (Vec<float>)_mm256_floor_ps((__m256)v); }
#endif
#if defined(__AVX__) || defined(__AVX512F__)
#define SUITE_REGION_TABLE 1
#endif

}  // namespace simd
