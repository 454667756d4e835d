/* CPU attention and RoPE against double-precision references.
 *
 * Causal grouped-query attention (NH=4, KVH=2, HS=8, T=7 and other odd
 * shapes): out and lse against a double softmax, dqkv against central finite
 * differences of the double forward, attention_cached against attention_fwd
 * on the same data (whole prompt and a continuation at pos0 > 0). RoPE with
 * pos0 > 0 and a row stride wider than the heads: forward against a double
 * rotation, backward against finite differences, and untouched padding. */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "check.h"
#include "testvec.h"


static agpt_backend *be;

struct attn_ctx {
  int B, T, NH, KVH, HS;
  double *qkv, *lse; /* lse written by the reference, (B, NH, T) */
};
static void attn_ref(void *p, double *y) {
  struct attn_ctx *c = p;
  int R = (c->NH + 2 * c->KVH) * c->HS, grp = c->NH / c->KVH;
  double *s = malloc((size_t)c->T * sizeof *s);
  for (int b = 0; b < c->B; b++)
    for (int h = 0; h < c->NH; h++) {
      int g = h / grp;
      for (int i = 0; i < c->T; i++) {
        const double *q = c->qkv + ((size_t)b * c->T + i) * R + (size_t)h * c->HS;
        double m = -INFINITY, l = 0;
        for (int j = 0; j <= i; j++) {
          const double *k = c->qkv + ((size_t)b * c->T + j) * R + (size_t)(c->NH + g) * c->HS;
          double d = 0;
          for (int e = 0; e < c->HS; e++) d += q[e] * k[e];
          s[j] = d / sqrt((double)c->HS);
          m = fmax(m, s[j]);
        }
        for (int j = 0; j <= i; j++) l += exp(s[j] - m);
        c->lse[((size_t)b * c->NH + h) * c->T + i] = m + log(l);
        double *o = y + ((size_t)b * c->T + i) * c->NH * c->HS + (size_t)h * c->HS;
        for (int e = 0; e < c->HS; e++) o[e] = 0;
        for (int j = 0; j <= i; j++) {
          const double *v = c->qkv + ((size_t)b * c->T + j) * R + (size_t)(c->NH + c->KVH + g) * c->HS;
          for (int e = 0; e < c->HS; e++) o[e] += exp(s[j] - m) / l * v[e];
        }
      }
    }
  free(s);
}

static void test_attention(int B, int T, int NH, int KVH, int HS, int fd) {
  char what[160];
  int R = (NH + 2 * KVH) * HS;
  size_t nqkv = (size_t)B * T * R, nout = (size_t)B * T * NH * HS, nl = (size_t)B * NH * T;
  float *qkv = frand(nqkv, 1.5), *out = malloc(nout * 4), *lse = malloc(nl * 4);
  for (size_t i = 0; i < nout; i++) out[i] = NAN;
  struct attn_ctx ctx = {B, T, NH, KVH, HS, to_d(qkv, nqkv), malloc(nl * 8)};
  double *want = malloc(nout * 8);
  attn_ref(&ctx, want);
  be->attention_fwd(be, out, lse, qkv, B, T, NH, KVH, HS);
  snprintf(what, sizeof what, "attention_fwd B=%d T=%d NH=%d KVH=%d HS=%d", B, T, NH, KVH, HS);
  check_vec(what, out, want, nout, 1e-5);
  snprintf(what, sizeof what, "attention_fwd lse B=%d T=%d NH=%d KVH=%d HS=%d", B, T, NH, KVH, HS);
  check_vec(what, lse, ctx.lse, nl, 1e-5);

  /* cached: the whole sequence at once, then its last tokens after a prefix */
  int Tmax = T + 3;
  size_t ncache = (size_t)B * Tmax * KVH * HS;
  float *kc = malloc(ncache * 4), *vc = malloc(ncache * 4), *oc = malloc(nout * 4);
  for (size_t i = 0; i < ncache; i++) kc[i] = vc[i] = NAN; /* beyond the filled positions */
  for (int b = 0; b < B; b++)
    for (int t = 0; t < T; t++)
      for (int e = 0; e < KVH * HS; e++) {
        kc[((size_t)b * Tmax + t) * KVH * HS + e] = qkv[((size_t)b * T + t) * R + (size_t)NH * HS + e];
        vc[((size_t)b * Tmax + t) * KVH * HS + e] = qkv[((size_t)b * T + t) * R + (size_t)(NH + KVH) * HS + e];
      }
  for (size_t i = 0; i < nout; i++) oc[i] = NAN;
  be->attention_cached(be, oc, qkv, R, kc, vc, B, T, 0, Tmax, NH, KVH, HS);
  snprintf(what, sizeof what, "attention_cached pos0=0 T=%d", T);
  check_vec(what, oc, want, nout, 1e-5);
  for (int pass = 0; pass < 2; pass++) { /* a continuation, then one generated token */
    int pos0 = pass == 0 ? T / 2 : T - 1, Tq = T - pos0, qs = NH * HS + 5;
    float *q2 = malloc((size_t)B * Tq * qs * 4), *o2 = malloc((size_t)B * Tq * NH * HS * 4);
    double *w2 = malloc((size_t)B * Tq * NH * HS * 8);
    for (int b = 0; b < B; b++)
      for (int i = 0; i < Tq; i++) {
        memcpy(q2 + ((size_t)b * Tq + i) * qs, qkv + ((size_t)b * T + pos0 + i) * R, (size_t)NH * HS * 4);
        for (int e = 0; e < NH * HS; e++)
          w2[((size_t)b * Tq + i) * NH * HS + e] = want[((size_t)b * T + pos0 + i) * NH * HS + e];
      }
    be->attention_cached(be, o2, q2, qs, kc, vc, B, Tq, pos0, Tmax, NH, KVH, HS);
    snprintf(what, sizeof what, "attention_cached pos0=%d Tq=%d", pos0, Tq);
    check_vec(what, o2, w2, (size_t)B * Tq * NH * HS, 1e-5);
    free(q2), free(o2), free(w2);
  }

  if (!fd) { /* bitwise the same on a second run, forward and backward */
    float *out2 = malloc(nout * 4), *lse2 = malloc(nl * 4), *dout = frand(nout, 1);
    float *d1 = malloc(nqkv * 4), *d2 = malloc(nqkv * 4);
    be->attention_fwd(be, out2, lse2, qkv, B, T, NH, KVH, HS);
    CHECK_MSG(!memcmp(out, out2, nout * 4) && !memcmp(lse, lse2, nl * 4), "attention_fwd not reproducible");
    be->attention_bwd(be, d1, dout, qkv, out, lse, B, T, NH, KVH, HS);
    be->attention_bwd(be, d2, dout, qkv, out, lse, B, T, NH, KVH, HS);
    CHECK_MSG(!memcmp(d1, d2, nqkv * 4), "attention_bwd not reproducible");
    /* tasks are whole (batch, head) units, so the thread count does not matter */
    int nt = omp_get_max_threads();
    omp_set_num_threads(3);
    be->attention_fwd(be, out2, lse2, qkv, B, T, NH, KVH, HS);
    be->attention_bwd(be, d2, dout, qkv, out, lse, B, T, NH, KVH, HS);
    omp_set_num_threads(nt);
    CHECK_MSG(!memcmp(out, out2, nout * 4) && !memcmp(d1, d2, nqkv * 4), "attention depends on the thread count");
    free(out2), free(lse2), free(dout), free(d1), free(d2);
  }
  if (fd) {
    float *dout = frand(nout, 1), *dqkv = malloc(nqkv * 4);
    for (size_t i = 0; i < nqkv; i++) dqkv[i] = NAN; /* "=": every element must be written */
    be->attention_bwd(be, dqkv, dout, qkv, out, lse, B, T, NH, KVH, HS);
    double *r = to_d(dout, nout), *y = malloc(nout * 8), *g = malloc(nqkv * 8);
    const double h = 1e-6;
    for (size_t i = 0; i < nqkv; i++) {
      double keep = ctx.qkv[i], lp = 0, lm = 0;
      ctx.qkv[i] = keep + h;
      attn_ref(&ctx, y);
      for (size_t k = 0; k < nout; k++) lp += r[k] * y[k];
      ctx.qkv[i] = keep - h;
      attn_ref(&ctx, y);
      for (size_t k = 0; k < nout; k++) lm += r[k] * y[k];
      ctx.qkv[i] = keep;
      g[i] = (lp - lm) / (2 * h);
    }
    snprintf(what, sizeof what, "attention_bwd dqkv B=%d T=%d NH=%d KVH=%d HS=%d", B, T, NH, KVH, HS);
    check_vec(what, dqkv, g, nqkv, 1e-4);
    free(dout), free(dqkv), free(r), free(y), free(g);
  }
  free(qkv), free(out), free(lse), free(ctx.qkv), free(ctx.lse), free(want), free(kc), free(vc), free(oc);
}

/* ---- RoPE ---- */
struct rope_ctx {
  int N, T, H, HS, stride, pos0;
  double theta, *x;
};
static void rope_ref(void *p, double *y) {
  struct rope_ctx *c = p;
  int half = c->HS / 2;
  memcpy(y, c->x, (size_t)c->N * c->stride * sizeof *y);
  for (int n = 0; n < c->N; n++)
    for (int h = 0; h < c->H; h++)
      for (int j = 0; j < half; j++) {
        double ang = (c->pos0 + n % c->T) * pow(c->theta, -2.0 * j / c->HS);
        size_t a = (size_t)n * c->stride + (size_t)h * c->HS + j;
        y[a] = c->x[a] * cos(ang) - c->x[a + half] * sin(ang);
        y[a + half] = c->x[a + half] * cos(ang) + c->x[a] * sin(ang);
      }
}

static void test_rope(void) {
  int B = 2, T = 7, H = 3, HS = 8, stride = H * HS + 5, pos0 = 5;
  float theta = 10000.0f;
  size_t n = (size_t)B * T * stride;
  float *x = frand(n, 1);
  struct rope_ctx ctx = {B * T, T, H, HS, stride, pos0, theta, to_d(x, n)};
  double *want = malloc(n * 8), *y = malloc(n * 8), *g = malloc(n * 8);
  rope_ref(&ctx, want);
  float *xr = malloc(n * 4);
  memcpy(xr, x, n * 4);
  be->rope_fwd(be, xr, B, T, H, HS, stride, pos0, theta);
  check_vec("rope_fwd pos0=5", xr, want, n, 1e-6);
  int pad_ok = 1;
  for (int r = 0; r < B * T; r++)
    for (int e = H * HS; e < stride; e++) pad_ok &= xr[(size_t)r * stride + e] == x[(size_t)r * stride + e];
  CHECK_MSG(pad_ok, "rope_fwd wrote outside its heads");
  /* backward: the transpose, checked by finite differences */
  float *dx = frand(n, 1);
  double *r = to_d(dx, n);
  be->rope_bwd(be, dx, B, T, H, HS, stride, pos0, theta);
  const double h = 1e-6;
  for (size_t i = 0; i < n; i++) {
    double keep = ctx.x[i], lp = 0, lm = 0;
    ctx.x[i] = keep + h;
    rope_ref(&ctx, y);
    for (size_t k = 0; k < n; k++) lp += r[k] * y[k];
    ctx.x[i] = keep - h;
    rope_ref(&ctx, y);
    for (size_t k = 0; k < n; k++) lm += r[k] * y[k];
    ctx.x[i] = keep;
    g[i] = (lp - lm) / (2 * h);
  }
  check_vec("rope_bwd pos0=5", dx, g, n, 1e-5);
  /* a longer sequence after a shorter one (the table grows), other theta */
  int T2 = 1500;
  size_t n2 = (size_t)T2 * HS;
  float *x2 = frand(n2, 1);
  struct rope_ctx c2 = {T2, T2, 1, HS, HS, 0, 500000.0, to_d(x2, n2)};
  double *want2 = malloc(n2 * 8);
  rope_ref(&c2, want2);
  be->rope_fwd(be, x2, 1, T2, 1, HS, HS, 0, 500000.0f);
  check_vec("rope_fwd T=1500 theta=5e5", x2, want2, n2, 1e-5);
  free(x), free(ctx.x), free(want), free(y), free(g), free(xr), free(dx), free(r), free(x2), free(c2.x), free(want2);
}

int main(void) {
  test_rng_state = 0x2545F4914F6CDD1Dull;
  CHECK(agpt_backend_get("cpu", &be) == AGPT_OK && be);
  if (!be) return check_done("test_backend_attention");
  test_attention(2, 7, 4, 2, 8, 1);  /* GQA */
  test_attention(1, 9, 3, 3, 6, 1);  /* multi-head, odd head size */
  test_attention(2, 5, 4, 1, 16, 1); /* multi-query */
  test_attention(1, 1, 2, 1, 8, 1);  /* one token */
  test_attention(1, 67, 2, 1, 4, 1);  /* more than one block of 64 queries */
  test_attention(2, 37, 4, 2, 64, 0); /* head size of the real models, forward only */
  test_attention(1, 150, 4, 2, 64, 0);
  test_rope();
  return check_done("test_backend_attention");
}
