/* Causal grouped-query attention: forward, backward through the saved
 * log-sum-exp, and the cached form used in generation.
 *
 * Work is split over (batch, head) in the forward and over (batch, kv head)
 * in the backward, whose tasks own the dK and dV of their kv head and sum
 * the query heads of the group in a fixed order: no atomics, and results do
 * not depend on timing. Within a task, queries go in blocks of QB rows; each
 * block is a handful of small matrix products over the keys it can see
 * (S = Q K^T, O = P V; in the backward dP = dO V^T, dQ = dS K, dK += dS^T Q,
 * dV += P^T dO), done by the single-threaded GEMM (OpenBLAS runs on one
 * thread inside a parallel region; the blocked fallback likewise), with the
 * softmax between them. Scratch is QB x T floats per thread (one or two
 * blocks of scores) from the backend's arena: O(T) per row, never T x T.
 *
 * The softmax of a row is exact (max, then exp and sum) since the whole row
 * of scores is at hand; lse = max + log(sum) is what the backward needs to
 * rebuild the probabilities. Scores above the diagonal of a block are
 * computed by the GEMM but masked to probability 0. The cached form (new
 * queries at pos0.. over a KV cache) runs the same block routine with the
 * diagonal shifted by pos0, so prompt prefill gets the GEMM speed too. */
#include <math.h>
#include <omp.h>
#include <string.h>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/cpu_math.h"

#ifdef AGPT_HAVE_OPENBLAS
#include <cblas.h>
#endif

enum { QB = 64 };

static int round16(int x) { return (x + 15) / 16 * 16; }

/* C = alpha op(A) op(B) + beta C on the calling thread only */
static void gemm1(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb,
                  float beta, float *C, int ldc) {
#ifdef AGPT_HAVE_OPENBLAS
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda,
              B, ldb, beta, C, ldc);
#else
  agpt_cpu_matmul_blocked(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
#endif
}

/* Softmax of s[0..len) in place, s[len..n) set to 0; returns the log-sum-exp. */
static inline float softmax_row(float *s, int len, int n) {
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
  for (int j = len; j < n; j++) s[j] = 0.0f;
  return m + logf(l);
}

/* Queries i0..i0+bq-1 of one head, at positions pos0+i0.., over the keys
 * they see (positions 0..pos0+i0+bq-1): out rows (stride ldo) and, when lse
 * is not NULL, lse[r]. s is scratch of bq rows of ld_s >= pos0+i0+bq floats. */
static void attend_block(float *s, int ld_s, const float *q, int ldq, const float *k, const float *v, int ldkv,
                         int pos0, int bq, int HS, float scale, float *out, int ldo, float *lse) {
  int len = pos0 + bq;
  gemm1(0, 1, bq, len, HS, scale, q, ldq, k, ldkv, 0.0f, s, ld_s);
  for (int r = 0; r < bq; r++) {
    float l = softmax_row(s + (size_t)r * ld_s, pos0 + r + 1, len);
    if (lse) lse[r] = l;
  }
  gemm1(0, 0, bq, HS, len, 1.0f, s, ld_s, v, ldkv, 0.0f, out, ldo);
}

void agpt_cpu_attention_fwd(agpt_backend *be, float *out, float *lse, const float *qkv, int B, int T, int NH,
                            int KVH, int HS) {
  int Tp = round16(T), grp = NH / KVH, nthr = omp_get_max_threads(), R = (NH + 2 * KVH) * HS, OC = NH * HS;
  size_t per = (size_t)QB * Tp;
  float *scratch = agpt_cpu_scratch(be, per * (size_t)nthr);
  float scale = 1.0f / sqrtf((float)HS);
#pragma omp parallel for schedule(static)
  for (int task = 0; task < B * NH; task++) {
    int b = task / NH, h = task % NH, g = h / grp;
    float *s = scratch + per * (size_t)omp_get_thread_num();
    const float *base = qkv + (size_t)b * T * R;
    const float *k = base + (size_t)(NH + g) * HS, *v = base + (size_t)(NH + KVH + g) * HS;
    for (int i0 = 0; i0 < T; i0 += QB) {
      int bq = T - i0 < QB ? T - i0 : QB;
      attend_block(s, Tp, base + (size_t)i0 * R + (size_t)h * HS, R, k, v, R, i0, bq, HS, scale,
                   out + ((size_t)b * T + i0) * OC + (size_t)h * HS, OC, lse + ((size_t)b * NH + h) * T + i0);
    }
  }
}

void agpt_cpu_attention_bwd(agpt_backend *be, float *dqkv, const float *dout, const float *qkv, const float *out,
                            const float *lse, int B, int T, int NH, int KVH, int HS) {
  int Tp = round16(T), grp = NH / KVH, nthr = omp_get_max_threads(), R = (NH + 2 * KVH) * HS, OC = NH * HS;
  size_t per = 2 * (size_t)QB * Tp;
  float *scratch = agpt_cpu_scratch(be, per * (size_t)nthr);
  float scale = 1.0f / sqrtf((float)HS);
#pragma omp parallel for schedule(static)
  for (int task = 0; task < B * KVH; task++) {
    int b = task / KVH, g = task % KVH;
    float *p = scratch + per * (size_t)omp_get_thread_num(), *dp = p + (size_t)QB * Tp;
    const float *base = qkv + (size_t)b * T * R;
    const float *k = base + (size_t)(NH + g) * HS, *v = base + (size_t)(NH + KVH + g) * HS;
    float *dbase = dqkv + (size_t)b * T * R;
    float *dk = dbase + (size_t)(NH + g) * HS, *dv = dbase + (size_t)(NH + KVH + g) * HS;
    for (int t = 0; t < T; t++) {
      memset(dk + (size_t)t * R, 0, (size_t)HS * sizeof(float));
      memset(dv + (size_t)t * R, 0, (size_t)HS * sizeof(float));
    }
    for (int h = g * grp; h < (g + 1) * grp; h++) {
      for (int i0 = 0; i0 < T; i0 += QB) {
        int bq = T - i0 < QB ? T - i0 : QB, len = i0 + bq;
        const float *q = base + (size_t)i0 * R + (size_t)h * HS;
        const float *dout_b = dout + ((size_t)b * T + i0) * OC + (size_t)h * HS;
        const float *out_b = out + ((size_t)b * T + i0) * OC + (size_t)h * HS;
        gemm1(0, 1, bq, len, HS, scale, q, R, k, R, 0.0f, p, Tp);
        gemm1(0, 1, bq, len, HS, 1.0f, dout_b, OC, v, R, 0.0f, dp, Tp);
        for (int r = 0; r < bq; r++) {
          float *pr = p + (size_t)r * Tp, *dpr = dp + (size_t)r * Tp;
          const float *dor = dout_b + (size_t)r * OC, *orow = out_b + (size_t)r * OC;
          int n = i0 + r + 1;
          float li = lse[((size_t)b * NH + h) * T + i0 + r], D = 0.0f;
#pragma omp simd reduction(+ : D)
          for (int d = 0; d < HS; d++) D += dor[d] * orow[d];
          /* p = softmax row rebuilt from lse; dp becomes the gradient of
           * the scaled scores, scale folded in */
#pragma omp simd
          for (int j = 0; j < n; j++) {
            float pj = agpt_cpu_expf(pr[j] - li);
            pr[j] = pj;
            dpr[j] = pj * (dpr[j] - D) * scale;
          }
          for (int j = n; j < len; j++) pr[j] = dpr[j] = 0.0f;
        }
        gemm1(0, 0, bq, HS, len, 1.0f, dp, Tp, k, R, 0.0f, dbase + (size_t)i0 * R + (size_t)h * HS, R);
        gemm1(1, 0, len, HS, bq, 1.0f, dp, Tp, q, R, 1.0f, dk, R);
        gemm1(1, 0, len, HS, bq, 1.0f, p, Tp, dout_b, OC, 1.0f, dv, R);
      }
    }
  }
}

void agpt_cpu_attention_cached(agpt_backend *be, float *out, const float *q, int q_stride, const float *kc,
                               const float *vc, int B, int Tq, int pos0, int Tmax, int NH, int KVH, int HS) {
  int grp = NH / KVH, nthr = omp_get_max_threads(), Lp = round16(pos0 + Tq), R = KVH * HS, OC = NH * HS;
  size_t per = (size_t)(Tq < QB ? Tq : QB) * Lp;
  float *scratch = agpt_cpu_scratch(be, per * (size_t)nthr);
  float scale = 1.0f / sqrtf((float)HS);
#pragma omp parallel for collapse(2) schedule(static)
  for (int b = 0; b < B; b++) {
    for (int h = 0; h < NH; h++) {
      float *s = scratch + per * (size_t)omp_get_thread_num();
      int g = h / grp;
      const float *k = kc + (size_t)b * Tmax * R + (size_t)g * HS, *v = vc + (size_t)b * Tmax * R + (size_t)g * HS;
      for (int i0 = 0; i0 < Tq; i0 += QB) {
        int bq = Tq - i0 < QB ? Tq - i0 : QB;
        attend_block(s, Lp, q + ((size_t)b * Tq + i0) * q_stride + (size_t)h * HS, q_stride, k, v, R, pos0 + i0, bq,
                     HS, scale, out + ((size_t)b * Tq + i0) * OC + (size_t)h * HS, OC, NULL);
      }
    }
  }
}
