/* Token (and learned position) embeddings, forward and backward.
 *
 * The backward scatter-adds rows of dout into dwte; tokens repeat, so rows
 * cannot be split across threads without races or atomics. Threads split the
 * channels instead: each owns a slice of every row and visits the tokens in
 * order, which is race-free and gives the same sums for any thread count. */
#include <omp.h>

#include "backend/cpu/cpu_backend.h"

void agpt_cpu_embedding_fwd(agpt_backend *be, float *out, const int32_t *tokens, const float *wte, const float *wpe,
                            int B, int T, int C, int pos0) {
  (void)be;
  int N = B * T;
#pragma omp parallel for schedule(static)
  for (int n = 0; n < N; n++) {
    float *o = out + (size_t)n * C;
    const float *e = wte + (size_t)tokens[n] * C;
    if (wpe) {
      const float *p = wpe + (size_t)(pos0 + n % T) * C;
#pragma omp simd
      for (int c = 0; c < C; c++) o[c] = e[c] + p[c];
    } else {
#pragma omp simd
      for (int c = 0; c < C; c++) o[c] = e[c];
    }
  }
}

void agpt_cpu_embedding_bwd(agpt_backend *be, float *dwte, float *dwpe, const float *dout, const int32_t *tokens,
                            int B, int T, int C) {
  (void)be;
  int N = B * T;
#pragma omp parallel
  {
    int nt = omp_get_num_threads(), id = omp_get_thread_num();
    /* channel slices of whole cache lines */
    int chunk = ((C + nt - 1) / nt + 15) / 16 * 16;
    int c0 = id * chunk, c1 = c0 + chunk < C ? c0 + chunk : C;
    for (int n = 0; n < N && c0 < c1; n++) {
      float *d = dwte + (size_t)tokens[n] * C;
      const float *g = dout + (size_t)n * C;
#pragma omp simd
      for (int c = c0; c < c1; c++) d[c] += g[c];
    }
    if (dwpe) {
#pragma omp for schedule(static)
      for (int t = 0; t < T; t++) {
        float *d = dwpe + (size_t)t * C;
        for (int b = 0; b < B; b++) {
          const float *g = dout + ((size_t)b * T + t) * C;
#pragma omp simd
          for (int c = 0; c < C; c++) d[c] += g[c];
        }
      }
    }
  }
}
