/* RMSNorm and LayerNorm, forward and backward.
 *
 * Rows are independent and split across threads. The weight and bias
 * gradients sum over rows; to keep that sum race-free and its order fixed,
 * a second phase splits the channels across threads and each thread walks
 * all rows in order for its channels (the same result for any thread count). */
#include <math.h>
#include <omp.h>

#include "backend/cpu/cpu_backend.h"

/* [c0, c1): this thread's channel slice, whole cache lines */
static void channel_slice(int C, int *c0, int *c1) {
  int nt = omp_get_num_threads(), id = omp_get_thread_num();
  int chunk = ((C + nt - 1) / nt + 15) / 16 * 16;
  *c0 = id * chunk < C ? id * chunk : C;
  *c1 = *c0 + chunk < C ? *c0 + chunk : C;
}

void agpt_cpu_rmsnorm_fwd(agpt_backend *be, float *out, float *rstd, const float *inp, const float *w, int N, int C,
                          float eps) {
  (void)be;
#pragma omp parallel for schedule(static)
  for (int n = 0; n < N; n++) {
    const float *x = inp + (size_t)n * C;
    float *o = out + (size_t)n * C;
    float ss = 0.0f;
#pragma omp simd reduction(+ : ss)
    for (int c = 0; c < C; c++) ss += x[c] * x[c];
    float r = 1.0f / sqrtf(ss / (float)C + eps);
    rstd[n] = r;
#pragma omp simd
    for (int c = 0; c < C; c++) o[c] = x[c] * r * w[c];
  }
}

void agpt_cpu_rmsnorm_bwd(agpt_backend *be, float *dinp, float *dw, const float *dout, const float *inp,
                          const float *w, const float *rstd, int N, int C) {
  (void)be;
#pragma omp parallel
  {
#pragma omp for schedule(static)
    for (int n = 0; n < N; n++) {
      const float *x = inp + (size_t)n * C, *g = dout + (size_t)n * C;
      float *dx = dinp + (size_t)n * C;
      float r = rstd[n], dot = 0.0f;
#pragma omp simd reduction(+ : dot)
      for (int c = 0; c < C; c++) dot += g[c] * w[c] * x[c];
      float k = r * r * r * dot / (float)C;
#pragma omp simd
      for (int c = 0; c < C; c++) dx[c] += r * g[c] * w[c] - k * x[c];
    }
    int c0, c1;
    channel_slice(C, &c0, &c1);
    for (int n = 0; n < N && c0 < c1; n++) {
      const float *x = inp + (size_t)n * C, *g = dout + (size_t)n * C;
      float r = rstd[n];
#pragma omp simd
      for (int c = c0; c < c1; c++) dw[c] += g[c] * x[c] * r;
    }
  }
}

void agpt_cpu_layernorm_fwd(agpt_backend *be, float *out, float *mean, float *rstd, const float *inp, const float *w,
                            const float *b, int N, int C, float eps) {
  (void)be;
#pragma omp parallel for schedule(static)
  for (int n = 0; n < N; n++) {
    const float *x = inp + (size_t)n * C;
    float *o = out + (size_t)n * C;
    float s = 0.0f;
#pragma omp simd reduction(+ : s)
    for (int c = 0; c < C; c++) s += x[c];
    float m = s / (float)C, v = 0.0f;
#pragma omp simd reduction(+ : v)
    for (int c = 0; c < C; c++) v += (x[c] - m) * (x[c] - m);
    float r = 1.0f / sqrtf(v / (float)C + eps);
    mean[n] = m;
    rstd[n] = r;
#pragma omp simd
    for (int c = 0; c < C; c++) o[c] = (x[c] - m) * r * w[c] + b[c];
  }
}

void agpt_cpu_layernorm_bwd(agpt_backend *be, float *dinp, float *dw, float *db, const float *dout,
                            const float *inp, const float *w, const float *mean, const float *rstd, int N, int C) {
  (void)be;
#pragma omp parallel
  {
#pragma omp for schedule(static)
    for (int n = 0; n < N; n++) {
      const float *x = inp + (size_t)n * C, *g = dout + (size_t)n * C;
      float *dx = dinp + (size_t)n * C;
      float m = mean[n], r = rstd[n], sd = 0.0f, sdx = 0.0f;
#pragma omp simd reduction(+ : sd, sdx)
      for (int c = 0; c < C; c++) {
        float dn = g[c] * w[c];
        sd += dn;
        sdx += dn * (x[c] - m) * r;
      }
      sd /= (float)C;
      sdx /= (float)C;
#pragma omp simd
      for (int c = 0; c < C; c++) {
        float xh = (x[c] - m) * r;
        dx[c] += r * (g[c] * w[c] - sd - xh * sdx);
      }
    }
    int c0, c1;
    channel_slice(C, &c0, &c1);
    for (int n = 0; n < N && c0 < c1; n++) {
      const float *x = inp + (size_t)n * C, *g = dout + (size_t)n * C;
      float m = mean[n], r = rstd[n];
#pragma omp simd
      for (int c = c0; c < c1; c++) {
        dw[c] += g[c] * (x[c] - m) * r;
        db[c] += g[c];
      }
    }
  }
}
