/* Element-wise kernels: SwiGLU, GELU (tanh form), residual add, bias.
 *
 * Each is one fused pass over memory, threads on contiguous ranges, the
 * transcendental parts through cpu_math.h so the loops vectorize. The bias
 * gradient splits channels across threads (each sums all rows in order) so
 * it is race-free and independent of the thread count. */
#include <omp.h>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/cpu_math.h"

#define GELU_K 0.7978845608028654f /* sqrt(2/pi) */
#define GELU_A 0.044715f

void agpt_cpu_swiglu_fwd(agpt_backend *be, float *out, const float *gu, int N, int F) {
  (void)be;
#pragma omp parallel for schedule(static)
  for (int n = 0; n < N; n++) {
    const float *g = gu + (size_t)n * 2 * F, *u = g + F;
    float *o = out + (size_t)n * F;
#pragma omp simd
    for (int i = 0; i < F; i++) o[i] = g[i] * agpt_cpu_sigmoidf(g[i]) * u[i];
  }
}

void agpt_cpu_swiglu_bwd(agpt_backend *be, float *dgu, const float *dout, const float *gu, int N, int F) {
  (void)be;
#pragma omp parallel for schedule(static)
  for (int n = 0; n < N; n++) {
    const float *g = gu + (size_t)n * 2 * F, *u = g + F, *d = dout + (size_t)n * F;
    float *dg = dgu + (size_t)n * 2 * F, *du = dg + F;
#pragma omp simd
    for (int i = 0; i < F; i++) {
      float s = agpt_cpu_sigmoidf(g[i]), silu = g[i] * s;
      dg[i] = d[i] * u[i] * s * (1.0f + g[i] * (1.0f - s));
      du[i] = d[i] * silu;
    }
  }
}

void agpt_cpu_gelu_fwd(agpt_backend *be, float *out, const float *inp, size_t n) {
  (void)be;
#pragma omp parallel for simd schedule(static)
  for (size_t i = 0; i < n; i++) {
    float x = inp[i];
    out[i] = 0.5f * x * (1.0f + agpt_cpu_tanhf(GELU_K * (x + GELU_A * x * x * x)));
  }
}

void agpt_cpu_gelu_bwd(agpt_backend *be, float *dinp, const float *dout, const float *inp, size_t n) {
  (void)be;
#pragma omp parallel for simd schedule(static)
  for (size_t i = 0; i < n; i++) {
    float x = inp[i];
    float th = agpt_cpu_tanhf(GELU_K * (x + GELU_A * x * x * x));
    float dth = (1.0f - th * th) * GELU_K * (1.0f + 3.0f * GELU_A * x * x);
    dinp[i] = dout[i] * (0.5f * (1.0f + th) + 0.5f * x * dth);
  }
}

void agpt_cpu_add(agpt_backend *be, float *out, const float *a, const float *b, size_t n) {
  (void)be;
#pragma omp parallel for simd schedule(static)
  for (size_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

void agpt_cpu_bias_fwd(agpt_backend *be, float *out, const float *bias, int N, int C) {
  (void)be;
#pragma omp parallel for schedule(static)
  for (int n = 0; n < N; n++) {
    float *o = out + (size_t)n * C;
#pragma omp simd
    for (int c = 0; c < C; c++) o[c] += bias[c];
  }
}

void agpt_cpu_bias_bwd(agpt_backend *be, float *dbias, const float *dout, int N, int C) {
  (void)be;
#pragma omp parallel
  {
    int nt = omp_get_num_threads(), id = omp_get_thread_num();
    int chunk = ((C + nt - 1) / nt + 15) / 16 * 16;
    int c0 = id * chunk < C ? id * chunk : C, c1 = c0 + chunk < C ? c0 + chunk : C;
    for (int n = 0; n < N && c0 < c1; n++) {
      const float *g = dout + (size_t)n * C;
#pragma omp simd
      for (int c = c0; c < c1; c++) dbias[c] += g[c];
    }
  }
}
