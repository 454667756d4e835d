/* Rotary position embedding, Hugging Face pairing (j with j + HS/2).
 *
 * cos and sin come from a table held in the backend context (invariant 3 of
 * cpu_backend.h), computed in double precision once per (HS, theta) and
 * grown in powers of two, so a training step or a generated token costs no
 * trigonometry. The angle of position p, pair j is p * theta^(-2j/HS). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "backend/cpu/cpu_backend.h"

void agpt_cpu_rope_table(agpt_backend *be, int npos, int HS, float theta, const float **cosp, const float **sinp) {
  agpt_cpu_ctx *ctx = be->ctx;
  if (npos > ctx->rope_npos || HS != ctx->rope_hs || theta != ctx->rope_theta) {
    int cap = 1024;
    while (cap < npos) cap *= 2;
    int half = HS / 2;
    free(ctx->rope_cos);
    free(ctx->rope_sin);
    ctx->rope_cos = malloc((size_t)cap * half * sizeof(float));
    ctx->rope_sin = malloc((size_t)cap * half * sizeof(float));
    if (!ctx->rope_cos || !ctx->rope_sin) {
      fprintf(stderr, "agpt: cpu backend: cannot allocate the RoPE table for %d positions\n", cap);
      abort();
    }
#pragma omp parallel for schedule(static)
    for (int p = 0; p < cap; p++) {
      for (int j = 0; j < half; j++) {
        double ang = (double)p * pow((double)theta, -2.0 * j / (double)HS);
        ctx->rope_cos[(size_t)p * half + j] = (float)cos(ang);
        ctx->rope_sin[(size_t)p * half + j] = (float)sin(ang);
      }
    }
    ctx->rope_npos = cap;
    ctx->rope_hs = HS;
    ctx->rope_theta = theta;
  }
  *cosp = ctx->rope_cos;
  *sinp = ctx->rope_sin;
}

/* dir = +1 rotates by +angle (forward), -1 by -angle (the transpose) */
static void rope_apply(agpt_backend *be, float *x, int B, int T, int H, int HS, int row_stride, int pos0, float theta,
                       float dir) {
  const float *ct, *st;
  agpt_cpu_rope_table(be, pos0 + T, HS, theta, &ct, &st);
  int half = HS / 2, N = B * T;
#pragma omp parallel for schedule(static)
  for (int n = 0; n < N; n++) {
    const float *cs = ct + (size_t)(pos0 + n % T) * half, *sn = st + (size_t)(pos0 + n % T) * half;
    for (int h = 0; h < H; h++) {
      float *a = x + (size_t)n * row_stride + (size_t)h * HS, *b = a + half;
#pragma omp simd
      for (int j = 0; j < half; j++) {
        float s = dir * sn[j], x1 = a[j], x2 = b[j];
        a[j] = x1 * cs[j] - x2 * s;
        b[j] = x2 * cs[j] + x1 * s;
      }
    }
  }
}

void agpt_cpu_rope_fwd(agpt_backend *be, float *x, int B, int T, int H, int HS, int row_stride, int pos0,
                       float theta) {
  rope_apply(be, x, B, T, H, HS, row_stride, pos0, theta, 1.0f);
}

void agpt_cpu_rope_bwd(agpt_backend *be, float *dx, int B, int T, int H, int HS, int row_stride, int pos0,
                       float theta) {
  rope_apply(be, dx, B, T, H, HS, row_stride, pos0, theta, -1.0f);
}
