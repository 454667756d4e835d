/* Element-wise math for the CPU kernels, written so that GCC vectorizes it.
 *
 * glibc's expf is only called in vector form under -ffast-math, which we do
 * not use (it would break the NaN checks), so the softmax, SiLU and GELU loops
 * would run one scalar call per element. agpt_cpu_expf is a branch-free
 * Cody-Waite reduction plus a degree-7 polynomial: within 2 ulp of expf on
 * [-87.3, 88.7], +inf above, 0 below (no subnormal results), NaN for NaN.
 * Everything here is static inline and free of calls and branches, so a loop
 * under `#pragma omp simd` becomes AVX-512 code. */
#ifndef AGPT_BACKEND_CPU_MATH_H
#define AGPT_BACKEND_CPU_MATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#pragma omp declare simd notinbranch
static inline float agpt_cpu_expf(float x) {
  /* Clamping with comparisons (not fminf) keeps NaN a NaN. */
  float xc = x < -87.33654f ? -87.33654f : x;
  xc = xc > 88.72283f ? 88.72283f : xc;
  /* n = round(x / ln2) by the 1.5 * 2^23 trick: exact for |n| < 2^22. */
  const float shifter = 12582912.0f;
  float t = xc * 1.44269504088896341f + shifter;
  float n = t - shifter;
  /* ln2 split into a part with few mantissa bits (n * hi is exact) and the rest */
  float r = xc - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  /* e^r on |r| <= ln2/2, Taylor to degree 7 (error ~5e-9 relative) */
  float p = 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  /* 2^n as two factors so that n = 128 and n = -126 both stay normal */
  int32_t ni = (int32_t)n;
  int32_t n1 = ni >> 1, n2 = ni - n1;
  uint32_t b1 = (uint32_t)(n1 + 127) << 23, b2 = (uint32_t)(n2 + 127) << 23;
  float s1, s2;
  memcpy(&s1, &b1, sizeof s1);
  memcpy(&s2, &b2, sizeof s2);
  float y = p * s1 * s2;
  y = x > 88.72283f ? INFINITY : y;
  y = x < -87.33654f ? 0.0f : y;
  return y;
}

/* 1 / (1 + e^-x); saturates to 0 and 1 without NaN for large |x|. */
#pragma omp declare simd notinbranch
static inline float agpt_cpu_sigmoidf(float x) { return 1.0f / (1.0f + agpt_cpu_expf(-x)); }

/* tanh through e^(2x): 1 - 2 / (e^(2x) + 1). The absolute error near 0 is a
 * few 1e-8, which is what GELU (which adds 1 to it) needs. */
#pragma omp declare simd notinbranch
static inline float agpt_cpu_tanhf(float x) { return 1.0f - 2.0f / (agpt_cpu_expf(2.0f * x) + 1.0f); }

#endif
