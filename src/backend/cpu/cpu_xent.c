/* Fused softmax cross-entropy over the vocabulary, one row per thread task.
 *
 * A row of V logits (200 KB for GPT-2) stays in L2 across the passes: the
 * maximum, then e^(x - max) summed (and stored in place when a gradient is
 * wanted), then the stored exponentials scaled into dscale * (p - onehot).
 * The sum uses 16-lane partial sums (vectorized), a fixed order. NaN logits
 * give a NaN loss, so the caller's finiteness check sees them. */
#include <math.h>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/cpu_math.h"

void agpt_cpu_xent_fwd_bwd(agpt_backend *be, float *losses, float *logits, const int32_t *targets, int N, int V,
                           float dscale) {
  (void)be;
#pragma omp parallel for schedule(static)
  for (int n = 0; n < N; n++) {
    float *x = logits + (size_t)n * V;
    int tgt = targets[n];
    if (tgt < 0) {
      losses[n] = 0.0f;
      if (dscale != 0.0f) {
#pragma omp simd
        for (int i = 0; i < V; i++) x[i] = 0.0f;
      }
      continue;
    }
    float m = -INFINITY;
#pragma omp simd reduction(max : m)
    for (int i = 0; i < V; i++) m = x[i] > m ? x[i] : m;
    float xt = x[tgt], s = 0.0f;
    if (dscale != 0.0f) {
#pragma omp simd reduction(+ : s)
      for (int i = 0; i < V; i++) {
        float e = agpt_cpu_expf(x[i] - m);
        x[i] = e;
        s += e;
      }
    } else {
#pragma omp simd reduction(+ : s)
      for (int i = 0; i < V; i++) s += agpt_cpu_expf(x[i] - m);
    }
    losses[n] = logf(s) + m - xt;
    if (dscale != 0.0f) {
      float k = dscale / s;
#pragma omp simd
      for (int i = 0; i < V; i++) x[i] *= k;
      x[tgt] -= dscale;
    }
  }
}
