/* The CPU backend against double-precision references written here.
 *
 * For each kernel: the forward matches a double reference (relative 1e-5 of
 * the output's scale), and the backward matches central finite differences
 * of the double reference forward of L = sum(r * out) for a random r, on
 * small odd shapes. Gradients declared "+=" are checked on buffers that
 * start non-zero; "=" outputs start as NaN so a missed element shows.
 * Attention and RoPE have their own file (test_backend_attention.c). */
#include <float.h>
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/cpu_math.h"
#include "check.h"
#include "testvec.h"

static float *fnan(size_t n) {
  float *x = malloc(n * sizeof *x);
  for (size_t i = 0; i < n; i++) x[i] = NAN;
  return x;
}

/* Finite differences of L = sum(r * f()) in double, perturbing var[0..n). */
typedef void (*ref_fn)(void *ctx, double *y);
static void fd_grad(ref_fn f, void *ctx, double *var, size_t n, const double *r, double *y, size_t ny, double *g) {
  const double h = 1e-6;
  for (size_t i = 0; i < n; i++) {
    double keep = var[i], lp = 0, lm = 0;
    var[i] = keep + h;
    f(ctx, y);
    for (size_t k = 0; k < ny; k++) lp += r[k] * y[k];
    var[i] = keep - h;
    f(ctx, y);
    for (size_t k = 0; k < ny; k++) lm += r[k] * y[k];
    var[i] = keep;
    g[i] = (lp - lm) / (2 * h);
  }
}
/* kernel gradient after "+=" from g0 compared with finite differences */
static void check_grad_acc(const char *what, const float *after, const float *g0, const double *fd, size_t n,
                           double tol) {
  float *delta = malloc(n * sizeof *delta);
  for (size_t i = 0; i < n; i++) delta[i] = after[i] - g0[i];
  check_vec(what, delta, fd, n, tol);
  free(delta);
}

static agpt_backend *be;

/* ---- matmul ---- */
static void test_matmul_case(int blocked, int ta, int tb, int M, int N, int K, float alpha, float beta, int pad) {
  int lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;
  size_t na = (size_t)(ta ? K : M) * lda, nb = (size_t)(tb ? N : K) * ldb, nc = (size_t)M * ldc;
  float *A = frand(na, 1), *B = frand(nb, 1), *C = beta == 0 ? fnan(nc) : frand(nc, 1);
  double *want = to_d(C, nc);
  for (int i = 0; i < M; i++)
    for (int j = 0; j < N; j++) {
      double s = 0;
      for (int k = 0; k < K; k++)
        s += (double)(ta ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k]) *
             (double)(tb ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j]);
      want[(size_t)i * ldc + j] = alpha * s + (beta == 0 ? 0 : beta * want[(size_t)i * ldc + j]);
    }
  if (blocked)
    agpt_cpu_matmul_blocked(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  else
    be->matmul(be, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  /* the padding columns of C must be untouched: compare only the M x N part,
   * then the padding separately (NaN-filled when beta == 0) */
  double worst = 0, scale = 1e-30;
  int pad_ok = 1;
  for (int i = 0; i < M; i++) {
    for (int j = 0; j < N; j++) {
      worst = fmax(worst, fabs(C[(size_t)i * ldc + j] - want[(size_t)i * ldc + j]));
      if (!(fabs(C[(size_t)i * ldc + j] - want[(size_t)i * ldc + j]) <= 1e30)) worst = INFINITY;
      scale = fmax(scale, fabs(want[(size_t)i * ldc + j]));
    }
    for (int j = N; j < ldc; j++) {
      float c = C[(size_t)i * ldc + j];
      if (beta == 0 ? !isnan(c) : c != (float)want[(size_t)i * ldc + j]) pad_ok = 0;
    }
  }
  CHECK_MSG(worst <= 1e-5 * scale, "matmul%s ta=%d tb=%d M=%d N=%d K=%d beta=%g: error %.3g of %.3g",
            blocked ? "_blocked" : "", ta, tb, M, N, K, beta, worst, scale);
  CHECK_MSG(pad_ok, "matmul%s ta=%d tb=%d wrote outside its columns", blocked ? "_blocked" : "", ta, tb);
  free(A), free(B), free(C), free(want);
}

static void test_matmul(void) {
  for (int blocked = 0; blocked < 2; blocked++)
    for (int ta = 0; ta < 2; ta++)
      for (int tb = 0; tb < 2; tb++) {
        test_matmul_case(blocked, ta, tb, 13, 19, 23, 0.7f, 0.0f, 3);
        test_matmul_case(blocked, ta, tb, 13, 19, 23, 1.0f, 1.0f, 0);
        test_matmul_case(blocked, ta, tb, 7, 5, 3, -1.5f, 0.5f, 5);
        /* crosses every tile edge of the blocked kernel */
        test_matmul_case(blocked, ta, tb, 70, 261, 259, 1.0f, 1.0f, 1);
      }
  /* K = 0: C = beta * C */
  float C[6] = {1, 2, 3, 4, 5, 6}, A[1] = {0}, B[1] = {0};
  be->matmul(be, 0, 0, 2, 3, 0, 1.0f, A, 1, B, 3, 2.0f, C, 3);
  CHECK(C[0] == 2 && C[5] == 12);
  agpt_cpu_matmul_blocked(0, 0, 2, 3, 0, 1.0f, A, 1, B, 3, 0.5f, C, 3);
  CHECK(C[0] == 1 && C[5] == 6);
}

/* ---- embedding ---- */
struct emb_ctx {
  int B, T, C;
  const int32_t *tok;
  double *wte, *wpe;
};
static void emb_ref(void *p, double *y) {
  struct emb_ctx *c = p;
  for (int n = 0; n < c->B * c->T; n++)
    for (int k = 0; k < c->C; k++)
      y[(size_t)n * c->C + k] =
          c->wte[(size_t)c->tok[n] * c->C + k] + (c->wpe ? c->wpe[(size_t)(n % c->T) * c->C + k] : 0);
}

static void test_embedding(void) {
  int B = 2, T = 5, C = 37, V = 11, pos0 = 3;
  int32_t tok[10] = {3, 7, 3, 0, 10, 7, 7, 1, 3, 9};
  float *wte = frand((size_t)V * C, 1), *wpe = frand((size_t)(T + pos0) * C, 1), *out = fnan((size_t)B * T * C);
  be->embedding_fwd(be, out, tok, wte, wpe, B, T, C, pos0);
  double *want = malloc((size_t)B * T * C * sizeof *want);
  for (int n = 0; n < B * T; n++)
    for (int k = 0; k < C; k++)
      want[(size_t)n * C + k] = (double)wte[(size_t)tok[n] * C + k] + wpe[(size_t)(pos0 + n % T) * C + k];
  check_vec("embedding_fwd pos0=3", out, want, (size_t)B * T * C, 1e-6);
  be->embedding_fwd(be, out, tok, wte, NULL, B, T, C, 0);
  for (int n = 0; n < B * T; n++)
    for (int k = 0; k < C; k++) want[(size_t)n * C + k] = wte[(size_t)tok[n] * C + k];
  check_vec("embedding_fwd no wpe", out, want, (size_t)B * T * C, 0);

  /* backward: += into non-zero gradients, repeated tokens */
  struct emb_ctx ctx = {B, T, C, tok, to_d(wte, (size_t)V * C), to_d(wpe, (size_t)T * C)};
  size_t ny = (size_t)B * T * C;
  float *dout = frand(ny, 1), *dwte = frand((size_t)V * C, 1), *dwpe = frand((size_t)T * C, 1);
  float *dwte0 = malloc((size_t)V * C * 4), *dwpe0 = malloc((size_t)T * C * 4);
  memcpy(dwte0, dwte, (size_t)V * C * 4);
  memcpy(dwpe0, dwpe, (size_t)T * C * 4);
  be->embedding_bwd(be, dwte, dwpe, dout, tok, B, T, C);
  double *r = to_d(dout, ny), *y = malloc(ny * 8), *fd = malloc((size_t)V * C * 8);
  fd_grad(emb_ref, &ctx, ctx.wte, (size_t)V * C, r, y, ny, fd);
  check_grad_acc("embedding_bwd dwte", dwte, dwte0, fd, (size_t)V * C, 1e-5);
  fd_grad(emb_ref, &ctx, ctx.wpe, (size_t)T * C, r, y, ny, fd);
  check_grad_acc("embedding_bwd dwpe", dwpe, dwpe0, fd, (size_t)T * C, 1e-5);
  /* dwpe == NULL is allowed */
  memcpy(dwte, dwte0, (size_t)V * C * 4);
  be->embedding_bwd(be, dwte, NULL, dout, tok, B, T, C);
  fd_grad(emb_ref, &ctx, ctx.wte, (size_t)V * C, r, y, ny, fd);
  check_grad_acc("embedding_bwd dwte (no wpe)", dwte, dwte0, fd, (size_t)V * C, 1e-5);
  free(wte), free(wpe), free(out), free(want), free(ctx.wte), free(ctx.wpe), free(dout), free(dwte), free(dwpe);
  free(dwte0), free(dwpe0), free(r), free(y), free(fd);
}

/* ---- norms ---- */
struct norm_ctx {
  int N, C, layer;
  double eps, *x, *w, *b;
};
static void norm_ref(void *p, double *y) {
  struct norm_ctx *c = p;
  for (int n = 0; n < c->N; n++) {
    const double *x = c->x + (size_t)n * c->C;
    double m = 0, v = 0;
    if (c->layer) {
      for (int k = 0; k < c->C; k++) m += x[k];
      m /= c->C;
    }
    for (int k = 0; k < c->C; k++) v += (x[k] - m) * (x[k] - m);
    double r = 1 / sqrt(v / c->C + c->eps);
    for (int k = 0; k < c->C; k++) y[(size_t)n * c->C + k] = (x[k] - m) * r * c->w[k] + (c->layer ? c->b[k] : 0);
  }
}

static void test_norm(int layer) {
  int N = 5, C = 37;
  float eps = 1e-5f;
  size_t nx = (size_t)N * C;
  float *x = frand(nx, 2), *w = frand(C, 1), *b = frand(C, 1), *out = fnan(nx), *mean = fnan(N), *rstd = fnan(N);
  for (size_t i = 0; i < nx; i++) x[i] += 0.5f; /* non-zero mean */
  struct norm_ctx ctx = {N, C, layer, eps, to_d(x, nx), to_d(w, C), to_d(b, C)};
  double *want = malloc(nx * 8);
  norm_ref(&ctx, want);
  if (layer)
    be->layernorm_fwd(be, out, mean, rstd, x, w, b, N, C, eps);
  else
    be->rmsnorm_fwd(be, out, rstd, x, w, N, C, eps);
  check_vec(layer ? "layernorm_fwd" : "rmsnorm_fwd", out, want, nx, 1e-5);
  for (int n = 0; n < N; n++) {
    double m = 0, v = 0;
    if (layer) {
      for (int k = 0; k < C; k++) m += ctx.x[(size_t)n * C + k];
      m /= C;
      CHECK_CLOSE(mean[n], m, 1e-5, 1e-6);
    }
    for (int k = 0; k < C; k++) v += (ctx.x[(size_t)n * C + k] - m) * (ctx.x[(size_t)n * C + k] - m);
    CHECK_CLOSE(rstd[n], 1 / sqrt(v / C + eps), 1e-5, 0);
  }
  float *dout = frand(nx, 1), *dx = frand(nx, 1), *dw = frand(C, 1), *db = frand(C, 1);
  float *dx0 = malloc(nx * 4), *dw0 = malloc(C * 4), *db0 = malloc(C * 4);
  memcpy(dx0, dx, nx * 4), memcpy(dw0, dw, C * 4), memcpy(db0, db, C * 4);
  if (layer)
    be->layernorm_bwd(be, dx, dw, db, dout, x, w, mean, rstd, N, C);
  else
    be->rmsnorm_bwd(be, dx, dw, dout, x, w, rstd, N, C);
  double *r = to_d(dout, nx), *y = malloc(nx * 8), *fd = malloc(nx * 8);
  fd_grad(norm_ref, &ctx, ctx.x, nx, r, y, nx, fd);
  check_grad_acc(layer ? "layernorm_bwd dinp" : "rmsnorm_bwd dinp", dx, dx0, fd, nx, 1e-4);
  fd_grad(norm_ref, &ctx, ctx.w, C, r, y, nx, fd);
  check_grad_acc(layer ? "layernorm_bwd dw" : "rmsnorm_bwd dw", dw, dw0, fd, C, 1e-4);
  if (layer) {
    fd_grad(norm_ref, &ctx, ctx.b, C, r, y, nx, fd);
    check_grad_acc("layernorm_bwd db", db, db0, fd, C, 1e-4);
  }
  free(x), free(w), free(b), free(out), free(mean), free(rstd), free(ctx.x), free(ctx.w), free(ctx.b), free(want);
  free(dout), free(dx), free(dw), free(db), free(dx0), free(dw0), free(db0), free(r), free(y), free(fd);
}

/* ---- activations ---- */
struct act_ctx {
  int N, F, kind; /* 0 swiglu, 1 gelu */
  double *x;
};
static void act_ref(void *p, double *y) {
  struct act_ctx *c = p;
  if (c->kind == 0) {
    for (int n = 0; n < c->N; n++)
      for (int i = 0; i < c->F; i++) {
        double g = c->x[(size_t)n * 2 * c->F + i], u = c->x[(size_t)n * 2 * c->F + c->F + i];
        y[(size_t)n * c->F + i] = g / (1 + exp(-g)) * u;
      }
  } else {
    for (int i = 0; i < c->N; i++) {
      double x = c->x[i];
      y[i] = 0.5 * x * (1 + tanh(sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
    }
  }
}

static void test_swiglu(void) {
  int N = 5, F = 13;
  size_t nin = (size_t)N * 2 * F, nout = (size_t)N * F;
  float *gu = frand(nin, 4), *out = fnan(nout);
  gu[0] = 30, gu[1] = -30, gu[2] = 0; /* saturated sigmoid and zero */
  struct act_ctx ctx = {N, F, 0, to_d(gu, nin)};
  double *want = malloc(nout * 8), *y = malloc(nout * 8), *fd = malloc(nin * 8);
  act_ref(&ctx, want);
  be->swiglu_fwd(be, out, gu, N, F);
  check_vec("swiglu_fwd", out, want, nout, 1e-5);
  float *dout = frand(nout, 1), *dgu = fnan(nin);
  be->swiglu_bwd(be, dgu, dout, gu, N, F);
  double *r = to_d(dout, nout);
  fd_grad(act_ref, &ctx, ctx.x, nin, r, y, nout, fd);
  check_vec("swiglu_bwd", dgu, fd, nin, 1e-4);
  free(gu), free(out), free(ctx.x), free(want), free(y), free(fd), free(dout), free(dgu), free(r);
}

static void test_gelu(void) {
  size_t n = 101;
  float *x = frand(n, 4), *out = fnan(n);
  x[0] = 12, x[1] = -12, x[2] = 0, x[3] = 1e-4f;
  struct act_ctx ctx = {(int)n, 0, 1, to_d(x, n)};
  double *want = malloc(n * 8), *y = malloc(n * 8), *fd = malloc(n * 8);
  act_ref(&ctx, want);
  be->gelu_fwd(be, out, x, n);
  check_vec("gelu_fwd", out, want, n, 1e-6);
  float *dout = frand(n, 1), *dx = fnan(n);
  be->gelu_bwd(be, dx, dout, x, n);
  double *r = to_d(dout, n);
  fd_grad(act_ref, &ctx, ctx.x, n, r, y, n, fd);
  check_vec("gelu_bwd", dx, fd, n, 1e-4);
  free(x), free(out), free(ctx.x), free(want), free(y), free(fd), free(dout), free(dx), free(r);
}

static void test_add_bias(void) {
  size_t n = 1003;
  float *a = frand(n, 1), *b = frand(n, 1), *o = fnan(n);
  double *want = malloc(n * 8);
  for (size_t i = 0; i < n; i++) want[i] = (double)a[i] + b[i];
  be->add(be, o, a, b, n);
  check_vec("add", o, want, n, 1e-7);
  be->add(be, a, a, b, n); /* aliasing */
  check_vec("add aliased", a, want, n, 1e-7);
  int N = 7, C = 37;
  float *x = frand((size_t)N * C, 1), *bias = frand(C, 1), *db = frand(C, 1);
  double *w2 = malloc((size_t)N * C * 8), *dbw = malloc(C * 8);
  for (int i = 0; i < N; i++)
    for (int c = 0; c < C; c++) w2[(size_t)i * C + c] = (double)x[(size_t)i * C + c] + bias[c];
  for (int c = 0; c < C; c++) {
    dbw[c] = db[c];
    for (int i = 0; i < N; i++) dbw[c] += x[(size_t)i * C + c];
  }
  be->bias_bwd(be, db, x, N, C);
  check_vec("bias_bwd", db, dbw, C, 1e-6);
  be->bias_fwd(be, x, bias, N, C);
  check_vec("bias_fwd", x, w2, (size_t)N * C, 1e-7);
  free(a), free(b), free(o), free(want), free(x), free(bias), free(db), free(w2), free(dbw);
}

/* ---- cross-entropy ---- */
struct xent_ctx {
  int N, V;
  const int32_t *tgt;
  double *x;
};
static void xent_ref(void *p, double *y) {
  struct xent_ctx *c = p;
  for (int n = 0; n < c->N; n++) {
    const double *x = c->x + (size_t)n * c->V;
    if (c->tgt[n] < 0) {
      y[n] = 0;
      continue;
    }
    double m = -INFINITY, s = 0;
    for (int i = 0; i < c->V; i++) m = fmax(m, x[i]);
    for (int i = 0; i < c->V; i++) s += exp(x[i] - m);
    y[n] = log(s) + m - x[c->tgt[n]];
  }
}

static void test_xent(void) {
  int N = 6, V = 1001;
  int32_t tgt[6] = {5, -1, 1000, 0, 77, -100};
  size_t nl = (size_t)N * V;
  float *logits = frand(nl, 3), *losses = fnan(N);
  for (int i = 0; i < V; i++) logits[(size_t)3 * V + i] *= 40; /* spread of ~100: stability */
  logits[(size_t)4 * V + 77] = -150; /* target far below the max: loss ~ 150+ */
  struct xent_ctx ctx = {N, V, tgt, to_d(logits, nl)};
  double want[6], y[6];
  xent_ref(&ctx, want);
  float *copy = malloc(nl * 4);
  memcpy(copy, logits, nl * 4);
  be->xent_fwd_bwd(be, losses, copy, tgt, N, V, 0.0f);
  check_vec("xent losses (no grad)", losses, want, N, 1e-6);
  CHECK_MSG(!memcmp(copy, logits, nl * 4), "xent with dscale 0 changed the logits");
  for (int n = 0; n < N; n++) CHECK_CLOSE(losses[n], want[n], 1e-5, 1e-6);
  float dscale = 0.37f;
  be->xent_fwd_bwd(be, losses, copy, tgt, N, V, dscale);
  for (int n = 0; n < N; n++) CHECK_CLOSE(losses[n], want[n], 1e-5, 1e-6);
  double r[6], *fd = malloc(nl * 8);
  for (int n = 0; n < N; n++) r[n] = dscale;
  /* only rows 0..2 get finite differences (row 3's scale makes them costly in
   * precision, row 4's gradient is checked below by its closed form) */
  struct xent_ctx small = {3, V, tgt, ctx.x};
  fd_grad(xent_ref, &small, ctx.x, (size_t)3 * V, r, y, 3, fd);
  check_vec("xent gradient rows 0-2", copy, fd, (size_t)3 * V, 1e-4);
  int zero_ok = 1;
  for (int i = 0; i < V; i++) zero_ok &= copy[(size_t)1 * V + i] == 0.0f && copy[(size_t)5 * V + i] == 0.0f;
  CHECK_MSG(zero_ok, "xent: ignored rows must get a zero gradient");
  for (int n = 3; n < 5; n++) { /* closed form dscale * (softmax - onehot) */
    const double *x = ctx.x + (size_t)n * V;
    double m = -INFINITY, s = 0;
    for (int i = 0; i < V; i++) m = fmax(m, x[i]);
    for (int i = 0; i < V; i++) s += exp(x[i] - m);
    for (int i = 0; i < V; i++) fd[i] = dscale * (exp(x[i] - m) / s - (i == tgt[n]));
    check_vec(n == 3 ? "xent gradient, wide row" : "xent gradient, far target", copy + (size_t)n * V, fd, V, 1e-5);
  }
  free(logits), free(losses), free(ctx.x), free(copy), free(fd);
}

/* ---- optimizer helpers ---- */
static void test_optim(void) {
  size_t n = 300001;
  float *x = frand(n, 3);
  double want = 0;
  for (size_t i = 0; i < n; i++) want += (double)x[i] * x[i];
  double s1 = be->sumsq(be, x, n), s2 = be->sumsq(be, x, n);
  CHECK_CLOSE(s1, want, 1e-12, 0);
  CHECK_MSG(!memcmp(&s1, &s2, sizeof s1), "sumsq: two calls differ");
  int nt = omp_get_max_threads();
  omp_set_num_threads(1);
  double s3 = be->sumsq(be, x, n);
  omp_set_num_threads(3);
  double s4 = be->sumsq(be, x, n);
  omp_set_num_threads(nt);
  CHECK_MSG(!memcmp(&s1, &s3, sizeof s1) && !memcmp(&s1, &s4, sizeof s1), "sumsq depends on the thread count");
  CHECK(be->sumsq(be, x, 0) == 0.0);

  CHECK(be->all_finite(be, x, n) == 1);
  float keep = x[n - 1];
  x[n - 1] = FLT_MAX;
  CHECK(be->all_finite(be, x, n) == 1);
  x[n - 1] = INFINITY;
  CHECK(be->all_finite(be, x, n) == 0);
  x[n - 1] = keep;
  x[12345] = NAN;
  CHECK(be->all_finite(be, x, n) == 0);
  x[12345] = -INFINITY;
  CHECK(be->all_finite(be, x, n) == 0);
  x[12345] = 1;
  CHECK(be->all_finite(be, x, 0) == 1);

  float *y = malloc(n * 4);
  memcpy(y, x, n * 4);
  be->scale(be, y, n, 0.25f);
  int ok = 1;
  for (size_t i = 0; i < n; i++) ok &= y[i] == x[i] * 0.25f;
  CHECK_MSG(ok, "scale");

  /* AdamW against a double reference over several steps */
  size_t np = 1037;
  float *p = frand(np, 1), *m = calloc(np, 4), *v = calloc(np, 4);
  double *pd = to_d(p, np), *md = calloc(np, 8), *vd = calloc(np, 8);
  float lr = 1e-2f, b1 = 0.9f, b2 = 0.95f, eps = 1e-8f, wd = 0.1f;
  for (int t = 1; t <= 5; t++) {
    float *g = frand(np, 0.5);
    if (t == 3) g[7] = 0; /* zero gradient: first moment decays, no division issue */
    float bc1 = 1 - powf(b1, t), bc2 = 1 - powf(b2, t);
    be->adamw(be, p, g, m, v, np, lr, b1, b2, eps, wd, bc1, bc2);
    for (size_t i = 0; i < np; i++) {
      md[i] = b1 * md[i] + (1 - (double)b1) * g[i];
      vd[i] = b2 * vd[i] + (1 - (double)b2) * g[i] * (double)g[i];
      pd[i] -= lr * ((md[i] / bc1) / (sqrt(vd[i] / bc2) + eps) + wd * pd[i]);
    }
    free(g);
  }
  check_vec("adamw p after 5 steps", p, pd, np, 1e-5);
  check_vec("adamw m", m, md, np, 1e-5);
  check_vec("adamw v", v, vd, np, 1e-5);
  free(x), free(y), free(p), free(m), free(v), free(pd), free(md), free(vd);
}

/* ---- reductions across rows do not depend on the thread count ---- */
static void test_thread_independence(void) {
  int N = 301, C = 773, V = 97, nt = omp_get_max_threads();
  size_t nx = (size_t)N * C;
  float *x = frand(nx, 1), *g = frand(nx, 1), *w = frand(C, 1), *mean = malloc(N * 4), *rstd = malloc(N * 4);
  float *out = malloc(nx * 4), *r[2][4];
  int32_t *tok = malloc(N * sizeof *tok);
  for (int i = 0; i < N; i++) tok[i] = (int32_t)((i * 37) % V);
  for (int k = 0; k < 2; k++) {
    omp_set_num_threads(k == 0 ? 1 : 3);
    r[k][0] = calloc(nx, 4), r[k][1] = calloc(C, 4), r[k][2] = calloc(C, 4), r[k][3] = calloc((size_t)V * C, 4);
    be->layernorm_fwd(be, out, mean, rstd, x, w, w, N, C, 1e-5f);
    be->layernorm_bwd(be, r[k][0], r[k][1], r[k][2], g, x, w, mean, rstd, N, C);
    be->bias_bwd(be, r[k][2], g, N, C);
    be->embedding_bwd(be, r[k][3], NULL, g, tok, 1, N, C);
  }
  omp_set_num_threads(nt);
  CHECK_MSG(!memcmp(r[0][0], r[1][0], nx * 4) && !memcmp(r[0][1], r[1][1], (size_t)C * 4) &&
                !memcmp(r[0][2], r[1][2], (size_t)C * 4) && !memcmp(r[0][3], r[1][3], (size_t)V * C * 4),
            "norm, bias or embedding gradients depend on the thread count");
  for (int k = 0; k < 2; k++)
    for (int i = 0; i < 4; i++) free(r[k][i]);
  free(x), free(g), free(w), free(mean), free(rstd), free(out), free(tok);
}

/* ---- the vectorizable exp under the softmax, SiLU and GELU ---- */
static void test_expf(void) {
  enum { NX = 200001 };
  static float x[NX], y[NX];
  for (int i = 0; i < NX; i++) x[i] = -87.0f + 175.5f * (float)i / (NX - 1);
#pragma omp simd
  for (int i = 0; i < NX; i++) y[i] = agpt_cpu_expf(x[i]);
  double worst = 0;
  for (int i = 0; i < NX; i++) {
    double e = exp((double)x[i]);
    if (e > FLT_MAX) continue;
    worst = fmax(worst, fabs(y[i] - e) / e);
  }
  CHECK_MSG(worst < 2.5e-7, "agpt_cpu_expf: relative error %.3g", worst);
  CHECK(agpt_cpu_expf(0.0f) == 1.0f);
  CHECK(isnan(agpt_cpu_expf(NAN)));
  CHECK(agpt_cpu_expf(INFINITY) == INFINITY && agpt_cpu_expf(100.0f) == INFINITY);
  CHECK(agpt_cpu_expf(-INFINITY) == 0.0f && agpt_cpu_expf(-100.0f) == 0.0f);
  CHECK(agpt_cpu_sigmoidf(-200.0f) == 0.0f && agpt_cpu_sigmoidf(200.0f) == 1.0f);
}

/* ---- registry and memory ---- */
static void test_memory(void) {
  agpt_backend *other = NULL;
  CHECK(agpt_backend_get("no-such-device", &other) == AGPT_ERR && other == NULL);
  CHECK(strstr(agpt_errmsg(), "cpu") != NULL);
  void *a = NULL, *big = NULL;
  CHECK(be->alloc(be, 100, &a) == AGPT_OK && ((uintptr_t)a % 64) == 0);
  size_t nb = (size_t)9 << 20;
  CHECK(be->alloc(be, nb, &big) == AGPT_OK && ((uintptr_t)big % 64) == 0);
  memset(big, 0xAB, nb);
  be->zero(be, big, nb);
  const unsigned char *u = big;
  int zero = 1;
  for (size_t i = 0; i < nb; i++) zero &= u[i] == 0;
  CHECK_MSG(zero, "zero of a large buffer");
  float *src = frand(nb / 4, 1);
  be->copy_h2d(be, big, src, nb);
  CHECK(!memcmp(big, src, nb));
  be->copy_d2d(be, a, big, 100);
  CHECK(!memcmp(a, src, 100));
  be->sync(be);
  be->free_buf(be, a);
  be->free_buf(be, big);
  free(src);
}

int main(void) {
  test_rng_state = 0x9E3779B97F4A7C15ull;
  CHECK(agpt_backend_get("cpu", &be) == AGPT_OK && be && !strcmp(be->name, "cpu"));
  if (!be) return check_done("test_backend_cpu");
  test_memory();
  test_expf();
  test_matmul();
  test_embedding();
  test_norm(0);
  test_norm(1);
  test_swiglu();
  test_gelu();
  test_add_bias();
  test_xent();
  test_optim();
  test_thread_independence();
  return check_done("test_backend_cpu");
}
