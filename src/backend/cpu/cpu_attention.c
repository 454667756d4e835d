/* Causal grouped-query attention: forward, backward through the saved
 * log-sum-exp, and the cached form used in generation.
 *
 * Work is split over (batch, head) in the forward and over (batch, kv head)
 * in the backward, whose tasks own the dK and dV of their kv head and sum
 * the query heads of the group in a fixed order: no atomics, and results do
 * not depend on timing. Each task copies its K (and V) head transposed,
 * (HS, T), into per-thread scratch from the backend's arena, so that the
 * scores of a query row are a loop over keys with unit stride (AVX-512 over
 * 16 keys, no horizontal sums). Scratch is O(T * HS) per thread; the only
 * O(T) per-row buffers hold one row of probabilities, never a T x T matrix.
 *
 * The forward is a two-pass softmax per row (scores, then max, exp and sum),
 * exact rather than online since a row fits in L1; lse = max + log(sum) is
 * what the backward needs to rebuild the probabilities. */
#include <math.h>
#include <omp.h>
#include <string.h>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/cpu_math.h"

static int round16(int x) { return (x + 15) / 16 * 16; }

/* dst(HS, Tp) = transpose of T rows of HS floats at src with row stride R */
static void transpose_head(float *dst, const float *src, int T, int Tp, int HS, size_t R) {
  for (int t = 0; t < T; t++) {
    const float *s = src + (size_t)t * R;
    for (int d = 0; d < HS; d++) dst[(size_t)d * Tp + t] = s[d];
  }
}

/* s[j] = scale * q . k_j for j < len, k transposed (HS, Tp) */
static inline void scores_row(float *s, const float *q, const float *kt, int len, int Tp, int HS, float scale) {
#pragma omp simd
  for (int j = 0; j < len; j++) s[j] = 0.0f;
  for (int d = 0; d < HS; d++) {
    const float *k = kt + (size_t)d * Tp;
    float qd = q[d] * scale;
#pragma omp simd
    for (int j = 0; j < len; j++) s[j] = __builtin_fmaf(qd, k[j], s[j]);
  }
}

/* o = sum_j p[j] v_j, v rows of stride R */
static inline void weighted_sum(float *o, const float *p, const float *v, int len, size_t R, int HS) {
  memset(o, 0, (size_t)HS * sizeof(float));
  for (int j = 0; j < len; j++) {
    const float *vj = v + (size_t)j * R;
    float pj = p[j];
#pragma omp simd
    for (int d = 0; d < HS; d++) o[d] = __builtin_fmaf(pj, vj[d], o[d]);
  }
}

/* Softmax of s[0..len) in place; returns the log-sum-exp. */
static inline float softmax_row(float *s, int len) {
  float m = -INFINITY, l = 0.0f;
#pragma omp simd reduction(max : m)
  for (int j = 0; j < len; j++) m = s[j] > m ? s[j] : m;
#pragma omp simd reduction(+ : l)
  for (int j = 0; j < len; j++) {
    float e = agpt_cpu_expf(s[j] - m);
    s[j] = e;
    l += e;
  }
  float inv = 1.0f / l;
#pragma omp simd
  for (int j = 0; j < len; j++) s[j] *= inv;
  return m + logf(l);
}

void agpt_cpu_attention_fwd(agpt_backend *be, float *out, float *lse, const float *qkv, int B, int T, int NH,
                            int KVH, int HS) {
  int Tp = round16(T), grp = NH / KVH, nthr = omp_get_max_threads();
  size_t R = (size_t)(NH + 2 * KVH) * HS, per = (size_t)HS * Tp + Tp;
  float *scratch = agpt_cpu_scratch(be, per * (size_t)nthr);
  float scale = 1.0f / sqrtf((float)HS);
#pragma omp parallel for schedule(static)
  for (int task = 0; task < B * NH; task++) {
    int b = task / NH, h = task % NH, g = h / grp;
    float *kt = scratch + per * (size_t)omp_get_thread_num(), *p = kt + (size_t)HS * Tp;
    const float *base = qkv + (size_t)b * T * R;
    const float *k = base + (size_t)(NH + g) * HS, *v = base + (size_t)(NH + KVH + g) * HS;
    transpose_head(kt, k, T, Tp, HS, R);
    for (int i = 0; i < T; i++) {
      const float *q = base + (size_t)i * R + (size_t)h * HS;
      scores_row(p, q, kt, i + 1, Tp, HS, scale);
      lse[((size_t)b * NH + h) * T + i] = softmax_row(p, i + 1);
      weighted_sum(out + ((size_t)b * T + i) * NH * HS + (size_t)h * HS, p, v, i + 1, R, HS);
    }
  }
}

void agpt_cpu_attention_bwd(agpt_backend *be, float *dqkv, const float *dout, const float *qkv, const float *out,
                            const float *lse, int B, int T, int NH, int KVH, int HS) {
  int Tp = round16(T), grp = NH / KVH, nthr = omp_get_max_threads();
  size_t R = (size_t)(NH + 2 * KVH) * HS, per = 2 * (size_t)HS * Tp + 2 * (size_t)Tp;
  float *scratch = agpt_cpu_scratch(be, per * (size_t)nthr);
  float scale = 1.0f / sqrtf((float)HS);
#pragma omp parallel for schedule(static)
  for (int task = 0; task < B * KVH; task++) {
    int b = task / KVH, g = task % KVH;
    float *kt = scratch + per * (size_t)omp_get_thread_num(), *vt = kt + (size_t)HS * Tp;
    float *p = vt + (size_t)HS * Tp, *dp = p + Tp;
    const float *base = qkv + (size_t)b * T * R;
    const float *k = base + (size_t)(NH + g) * HS, *v = base + (size_t)(NH + KVH + g) * HS;
    float *dbase = dqkv + (size_t)b * T * R;
    float *dk = dbase + (size_t)(NH + g) * HS, *dv = dbase + (size_t)(NH + KVH + g) * HS;
    transpose_head(kt, k, T, Tp, HS, R);
    transpose_head(vt, v, T, Tp, HS, R);
    for (int t = 0; t < T; t++) {
      memset(dk + (size_t)t * R, 0, (size_t)HS * sizeof(float));
      memset(dv + (size_t)t * R, 0, (size_t)HS * sizeof(float));
    }
    for (int h = g * grp; h < (g + 1) * grp; h++) {
      for (int i = 0; i < T; i++) {
        int len = i + 1;
        const float *q = base + (size_t)i * R + (size_t)h * HS;
        const float *dout_i = dout + ((size_t)b * T + i) * NH * HS + (size_t)h * HS;
        const float *o_i = out + ((size_t)b * T + i) * NH * HS + (size_t)h * HS;
        float *dq = dbase + (size_t)i * R + (size_t)h * HS;
        float li = lse[((size_t)b * NH + h) * T + i];
        scores_row(p, q, kt, len, Tp, HS, scale);
#pragma omp simd
        for (int j = 0; j < len; j++) p[j] = agpt_cpu_expf(p[j] - li);
        scores_row(dp, dout_i, vt, len, Tp, HS, 1.0f);
        float D = 0.0f;
#pragma omp simd reduction(+ : D)
        for (int d = 0; d < HS; d++) D += dout_i[d] * o_i[d];
        /* dp becomes dS * scale: the gradient of the scaled scores */
#pragma omp simd
        for (int j = 0; j < len; j++) dp[j] = p[j] * (dp[j] - D) * scale;
        weighted_sum(dq, dp, k, len, R, HS);
        for (int j = 0; j < len; j++) {
          float *dkj = dk + (size_t)j * R, *dvj = dv + (size_t)j * R;
          float dsj = dp[j], pj = p[j];
#pragma omp simd
          for (int d = 0; d < HS; d++) {
            dkj[d] = __builtin_fmaf(dsj, q[d], dkj[d]);
            dvj[d] = __builtin_fmaf(pj, dout_i[d], dvj[d]);
          }
        }
      }
    }
  }
}

void agpt_cpu_attention_cached(agpt_backend *be, float *out, const float *q, int q_stride, const float *kc,
                               const float *vc, int B, int Tq, int pos0, int Tmax, int NH, int KVH, int HS) {
  int grp = NH / KVH, nthr = omp_get_max_threads(), Lp = round16(pos0 + Tq);
  float *scratch = agpt_cpu_scratch(be, (size_t)Lp * nthr);
  float scale = 1.0f / sqrtf((float)HS);
  size_t R = (size_t)KVH * HS;
#pragma omp parallel for collapse(2) schedule(static)
  for (int b = 0; b < B; b++) {
    for (int h = 0; h < NH; h++) {
      float *s = scratch + (size_t)Lp * omp_get_thread_num();
      int g = h / grp;
      const float *k = kc + (size_t)b * Tmax * R + (size_t)g * HS, *v = vc + (size_t)b * Tmax * R + (size_t)g * HS;
      for (int i = 0; i < Tq; i++) {
        int len = pos0 + i + 1;
        const float *qi = q + ((size_t)b * Tq + i) * q_stride + (size_t)h * HS;
        for (int j = 0; j < len; j++) {
          const float *kj = k + (size_t)j * R;
          float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
          for (int d = 0; d < HS; d++) dot += qi[d] * kj[d];
          s[j] = dot * scale;
        }
        softmax_row(s, len);
        weighted_sum(out + ((size_t)b * Tq + i) * NH * HS + (size_t)h * HS, s, v, len, R, HS);
      }
    }
  }
}
