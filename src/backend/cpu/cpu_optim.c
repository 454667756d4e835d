/* Reductions and element-wise updates on flat parameter/gradient ranges:
 * sum of squares (for the global gradient norm), a finiteness check, scaling
 * and AdamW.
 *
 * sumsq splits the input into fixed chunks of SUMSQ_CHUNK elements, sums each
 * in double, and adds the chunk sums in index order, so its result depends on
 * neither timing nor the thread count. all_finite tests exponent bits, which
 * no compiler flag can optimize away. AdamW follows torch.optim.AdamW's
 * operation order (lerp for m, mul+addcmul for v, decay before the step) so
 * the two agree to rounding. */
#include <math.h>
#include <string.h>

#include "backend/cpu/cpu_backend.h"

enum { SUMSQ_CHUNK = 1 << 16 };

double agpt_cpu_sumsq(agpt_backend *be, const float *x, size_t n) {
  if (n == 0) return 0.0;
  size_t nchunk = (n + SUMSQ_CHUNK - 1) / SUMSQ_CHUNK;
  double *part = (double *)agpt_cpu_scratch(be, nchunk * 2);
#pragma omp parallel for schedule(static)
  for (size_t k = 0; k < nchunk; k++) {
    size_t lo = k * SUMSQ_CHUNK, hi = lo + SUMSQ_CHUNK < n ? lo + SUMSQ_CHUNK : n;
    /* 32 independent lanes (four AVX-512 accumulators) hide the add latency */
    double acc[32] = {0}, s = 0.0;
    size_t i = lo;
    for (; i + 32 <= hi; i += 32) {
#pragma omp simd
      for (int l = 0; l < 32; l++) acc[l] += (double)x[i + l] * (double)x[i + l];
    }
    for (; i < hi; i++) s += (double)x[i] * (double)x[i];
    for (int l = 0; l < 32; l++) s += acc[l];
    part[k] = s;
  }
  double total = 0.0;
  for (size_t k = 0; k < nchunk; k++) total += part[k];
  return total;
}

int agpt_cpu_all_finite(agpt_backend *be, const float *x, size_t n) {
  (void)be;
  uint32_t bad = 0;
#pragma omp parallel for simd schedule(static) reduction(| : bad)
  for (size_t i = 0; i < n; i++) {
    uint32_t b;
    memcpy(&b, &x[i], sizeof b);
    bad |= (uint32_t)((b & 0x7f800000u) == 0x7f800000u);
  }
  return bad == 0;
}

void agpt_cpu_scale(agpt_backend *be, float *x, size_t n, float s) {
  (void)be;
#pragma omp parallel for simd schedule(static)
  for (size_t i = 0; i < n; i++) x[i] *= s;
}

void agpt_cpu_adamw(agpt_backend *be, float *p, const float *g, float *m, float *v, size_t n, float lr, float b1,
                    float b2, float eps, float wd, float bc1, float bc2) {
  (void)be;
  float decay = 1.0f - lr * wd, step = lr / bc1, sbc2 = sqrtf(bc2), w1 = 1.0f - b1, w2 = 1.0f - b2;
#pragma omp parallel for simd schedule(static)
  for (size_t i = 0; i < n; i++) {
    float gi = g[i];
    float mi = m[i] + w1 * (gi - m[i]);
    float vi = v[i] * b2 + w2 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] = p[i] * decay - step * (mi / (sqrtf(vi) / sbc2 + eps));
  }
}
