/* Kernel microbenchmarks of the CPU backend at GPT-2 124M shapes (and the
 * Llama-style kernels at a ~134M Llama's), B and T from the command line.
 *
 * Prints GFLOP/s of every matmul the model issues (forward, input gradient,
 * weight gradient) and the median time of each other kernel, then the time
 * one training step spends in each group, from the per-layer counts of the
 * GPT-2 forward and backward. Run through bench/kernels/run.sh, which builds
 * it with the project's flags and picks OpenBLAS's AVX-512 kernels. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "backend/cpu/cpu_backend.h"

static agpt_backend *be;

static float *buf(size_t n, float s) {
  void *p = NULL;
  if (be->alloc(be, n * sizeof(float), &p) != AGPT_OK) {
    fprintf(stderr, "bench: %s\n", agpt_errmsg());
    exit(1);
  }
  float *f = p;
  uint32_t st = 12345u + (uint32_t)n;
  for (size_t i = 0; i < n; i++) {
    st = st * 1664525u + 1013904223u;
    f[i] = s * ((float)(st >> 8) / 16777216.0f - 0.5f);
  }
  return f;
}

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* median seconds over reps runs of the statement, after one warm-up */
#define TIME(reps, stmt)                                    \
  ({                                                        \
    double ts_[64];                                         \
    int r_ = (reps) < 64 ? (reps) : 64;                     \
    stmt;                                                   \
    for (int i_ = 0; i_ < r_; i_++) {                       \
      double t0_ = omp_get_wtime();                         \
      stmt;                                                 \
      ts_[i_] = omp_get_wtime() - t0_;                      \
    }                                                       \
    qsort(ts_, (size_t)r_, sizeof ts_[0], cmp_d);           \
    ts_[r_ / 2];                                            \
  })

typedef struct {
  const char *name;
  int IC, OC, per_layer;
} mm_shape;

/* prints GFLOP/s of each shape's three products; returns seconds per step */
static double bench_matmuls(const mm_shape *mm, int n, int N, int L, int reps, float *W, float *dW, float *X,
                            float *Y, float *dX) {
  double step = 0;
  for (int k = 0; k < n; k++) {
    int IC = mm[k].IC, OC = mm[k].OC, r = mm[k].per_layer ? reps : (reps < 3 ? reps : 3);
    double fl = 2.0 * N * IC * OC;
    double tf = TIME(r, be->matmul(be, 0, 1, N, OC, IC, 1.f, X, IC, W, IC, 0.f, Y, OC));
    double tb = TIME(r, be->matmul(be, 0, 0, N, IC, OC, 1.f, Y, OC, W, IC, 0.f, dX, IC));
    double tw = TIME(r, be->matmul(be, 1, 0, OC, IC, N, 1.f, Y, OC, X, IC, 1.f, dW, IC));
    char shape[64];
    snprintf(shape, sizeof shape, "(%dx%d)@(%dx%d)", N, IC, IC, OC);
    printf("%-10s %-22s %9.1f %9.1f %9.1f   %.2f ms total\n", mm[k].name, shape, fl / tf * 1e-9, fl / tb * 1e-9,
           fl / tw * 1e-9, (tf + tb + tw) * 1e3);
    step += (tf + tb + tw) * (mm[k].per_layer ? L : 1);
  }
  return step;
}

int main(int argc, char **argv) {
  int B = argc > 1 ? atoi(argv[1]) : 4, T = argc > 2 ? atoi(argv[2]) : 256, reps = argc > 3 ? atoi(argv[3]) : 7;
  if (agpt_backend_get("cpu", &be) != AGPT_OK) return 1;
  int C = 768, NH = 12, HS = 64, V = 50257, L = 12, N = B * T, F4 = 4 * C;
  printf("bench_kernels: B=%d T=%d threads=%d matmul: %s\n", B, T, omp_get_max_threads(), agpt_cpu_blas_describe());

  /* matmuls: out(N, OC) = x(N, IC) @ W(OC, IC)^T and its two gradients */
  size_t maxw = (size_t)V * C, maxa = (size_t)N * (V > F4 ? V : F4);
  float *W = buf(maxw, 0.1f), *dW = buf(maxw, 0.f), *X = buf((size_t)N * F4, 1.f), *Y = buf(maxa, 1.f);
  float *dX = buf((size_t)N * F4, 0.f);
  const mm_shape gpt2[] = {{"qkv", C, 3 * C, 1}, {"attn.proj", C, C, 1}, {"mlp.fc", C, F4, 1},
                           {"mlp.proj", F4, C, 1}, {"lm_head", C, V, 0}};
  const mm_shape llama[] = {{"qkv", C, 3 * C, 1}, {"o_proj", C, C, 1}, {"gate_up", C, 2 * 2048, 1},
                            {"down", 2048, C, 1}, {"lm_head", C, 32000, 0}};
  printf("\n%-10s %-22s %9s %9s %9s   (GFLOP/s, GPT-2 124M)\n", "matmul", "shape", "fwd", "dinp", "dW");
  double mm_step = bench_matmuls(gpt2, 5, N, L, reps, W, dW, X, Y, dX);
  printf("%-10s %-22s %9s %9s %9s   (GFLOP/s, Llama 134M)\n", "matmul", "shape", "fwd", "dinp", "dW");
  double mm_llama = bench_matmuls(llama, 5, N, L, reps, W, dW, X, Y, dX);

  /* other kernels */
  int32_t *tok = malloc((size_t)N * sizeof *tok);
  for (int i = 0; i < N; i++) tok[i] = (int32_t)((i * 7919u) % (unsigned)V);
  float *wpe = buf((size_t)1024 * C, 0.1f), *dwpe = buf((size_t)1024 * C, 0.f);
  float *a = buf((size_t)N * C, 1.f), *o = buf((size_t)N * C, 1.f), *da = buf((size_t)N * C, 0.f);
  float *w = buf(C, 1.f), *bb = buf(C, 0.1f), *dw = buf(C, 0.f), *db = buf(C, 0.f);
  float *mean = buf(N, 0.f), *rstd = buf(N, 0.f);
  float *qkv = buf((size_t)N * 3 * C, 1.f), *dqkv = buf((size_t)N * 3 * C, 0.f), *att = buf((size_t)N * C, 0.f);
  float *lse = buf((size_t)B * NH * T, 0.f), *datt = buf((size_t)N * C, 1.f);
  float *h = buf((size_t)N * F4, 1.f), *gh = buf((size_t)N * F4, 1.f), *dh = buf((size_t)N * F4, 0.f);
  float *logits = buf((size_t)N * V, 3.f), *losses = buf(N, 0.f);
  int32_t *tgt = malloc((size_t)N * sizeof *tgt);
  for (int i = 0; i < N; i++) tgt[i] = (int32_t)((i * 104729u) % (unsigned)V);

  printf("\n%-28s %10s\n", "kernel (GPT-2 124M shapes)", "ms");
  double t_emb_f = TIME(reps, be->embedding_fwd(be, a, tok, W, wpe, B, T, C, 0));
  double t_emb_b = TIME(reps, be->embedding_bwd(be, dW, dwpe, a, tok, B, T, C));
  double t_ln_f = TIME(reps, be->layernorm_fwd(be, o, mean, rstd, a, w, bb, N, C, 1e-5f));
  double t_ln_b = TIME(reps, be->layernorm_bwd(be, da, dw, db, o, a, w, mean, rstd, N, C));
  double t_at_f = TIME(reps, be->attention_fwd(be, att, lse, qkv, B, T, NH, NH, HS));
  double t_at_b = TIME(reps, be->attention_bwd(be, dqkv, datt, qkv, att, lse, B, T, NH, NH, HS));
  double t_ge_f = TIME(reps, be->gelu_fwd(be, gh, h, (size_t)N * F4));
  double t_ge_b = TIME(reps, be->gelu_bwd(be, dh, gh, h, (size_t)N * F4));
  double t_add = TIME(reps, be->add(be, o, o, a, (size_t)N * C));
  double t_bias_f = TIME(reps, be->bias_fwd(be, h, bb, N, C));
  double t_bias_b = TIME(reps, be->bias_bwd(be, db, h, N, F4));
  double t_xent = TIME(reps < 3 ? reps : 3, be->xent_fwd_bwd(be, losses, logits, tgt, N, V, 1.0f / N));
  printf("%-28s %10.3f\n%-28s %10.3f\n", "embedding_fwd", t_emb_f * 1e3, "embedding_bwd", t_emb_b * 1e3);
  printf("%-28s %10.3f\n%-28s %10.3f\n", "layernorm_fwd", t_ln_f * 1e3, "layernorm_bwd", t_ln_b * 1e3);
  printf("%-28s %10.3f   (%.1f GFLOP/s)\n", "attention_fwd", t_at_f * 1e3,
         4.0 * B * NH * (T * (T + 1) / 2.0) * HS / t_at_f * 1e-9);
  printf("%-28s %10.3f   (%.1f GFLOP/s)\n", "attention_bwd", t_at_b * 1e3,
         10.0 * B * NH * (T * (T + 1) / 2.0) * HS / t_at_b * 1e-9);
  printf("%-28s %10.3f\n%-28s %10.3f\n", "gelu_fwd (N x 4C)", t_ge_f * 1e3, "gelu_bwd", t_ge_b * 1e3);
  printf("%-28s %10.3f\n%-28s %10.3f\n", "add (N x C)", t_add * 1e3, "bias_fwd (N x C)", t_bias_f * 1e3);
  printf("%-28s %10.3f\n", "bias_bwd (N x 4C)", t_bias_b * 1e3);
  printf("%-28s %10.3f\n", "xent_fwd_bwd (N x V)", t_xent * 1e3);

  /* Llama-style kernels at the llama-134m preset: C=768, F=2048, NH=KVH=12 */
  int F = 2048, KVH = 12, R = (NH + 2 * KVH) * HS;
  float *lqkv = buf((size_t)N * R, 1.f), *dlqkv = buf((size_t)N * R, 0.f), *gu = buf((size_t)N * 2 * F, 1.f);
  double t_rms_f = TIME(reps, be->rmsnorm_fwd(be, o, rstd, a, w, N, C, 1e-5f));
  double t_rms_b = TIME(reps, be->rmsnorm_bwd(be, da, dw, o, a, w, rstd, N, C));
  double t_rope = TIME(reps, be->rope_fwd(be, lqkv, B, T, NH + KVH, HS, R, 0, 10000.f));
  double t_gq_f = TIME(reps, be->attention_fwd(be, att, lse, lqkv, B, T, NH, KVH, HS));
  double t_gq_b = TIME(reps, be->attention_bwd(be, dlqkv, datt, lqkv, att, lse, B, T, NH, KVH, HS));
  double t_sw_f = TIME(reps, be->swiglu_fwd(be, h, gu, N, F));
  double t_sw_b = TIME(reps, be->swiglu_bwd(be, gu, h, gu, N, F));
  double t_xent_l = TIME(reps < 3 ? reps : 3, be->xent_fwd_bwd(be, losses, logits, tgt, N, 32000, 1.0f / N));
  printf("\n%-28s %10s\n", "kernel (Llama 134M)", "ms");
  printf("%-28s %10.3f\n%-28s %10.3f\n", "rmsnorm_fwd", t_rms_f * 1e3, "rmsnorm_bwd", t_rms_b * 1e3);
  printf("%-28s %10.3f\n", "rope_fwd (q and k heads)", t_rope * 1e3);
  printf("%-28s %10.3f\n%-28s %10.3f\n", "attention_fwd", t_gq_f * 1e3, "attention_bwd", t_gq_b * 1e3);
  printf("%-28s %10.3f\n%-28s %10.3f\n", "swiglu_fwd", t_sw_f * 1e3, "swiglu_bwd", t_sw_b * 1e3);
  printf("%-28s %10.3f\n", "xent_fwd_bwd (N x 32000)", t_xent_l * 1e3);

  /* optimizer-side kernels on the whole 124M parameter vector */
  size_t P = 124439808;
  float *p = buf(P, 0.1f), *g = buf(P, 0.01f), *m = buf(P, 0.f), *v = buf(P, 0.f);
  double t_sumsq = TIME(3, be->sumsq(be, g, P));
  double t_fin = TIME(3, be->all_finite(be, g, P));
  double t_adam = TIME(3, be->adamw(be, p, g, m, v, P, 1e-4f, 0.9f, 0.95f, 1e-8f, 0.1f, 0.5f, 0.5f));
  double t_zero = TIME(3, be->zero(be, g, P * 4));
  printf("\n%-28s %10s\n", "optimizer (124.4M params)", "ms");
  printf("%-28s %10.3f\n%-28s %10.3f\n", "sumsq", t_sumsq * 1e3, "all_finite", t_fin * 1e3);
  printf("%-28s %10.3f   (%.1f GB/s)\n", "adamw", t_adam * 1e3, 28.0 * P / t_adam * 1e-9);
  printf("%-28s %10.3f\n", "zero (grads)", t_zero * 1e3);

  /* one GPT-2 step: per layer 2 LN fwd+bwd, attention, GELU, 2 residual adds
   * fwd (+2 in bwd), 4 bias fwd+bwd; then final LN, embeddings, xent */
  double layer = 2 * (t_ln_f + t_ln_b) + t_at_f + t_at_b + t_ge_f + t_ge_b + 4 * t_add + 4 * (t_bias_f + t_bias_b);
  double other = L * layer + t_ln_f + t_ln_b + t_emb_f + t_emb_b + t_xent;
  double opt = t_sumsq + t_fin + t_adam + t_zero;
  double total = mm_step + other + opt;
  printf("\nGPT-2 124M step estimate at B=%d T=%d: %.0f ms = matmul %.0f ms (%.0f%%), attention %.0f ms (%.0f%%),"
         " other kernels %.0f ms (%.0f%%), optimizer %.0f ms (%.0f%%); %.0f tokens/s\n",
         B, T, total * 1e3, mm_step * 1e3, 100 * mm_step / total, L * (t_at_f + t_at_b) * 1e3,
         100 * L * (t_at_f + t_at_b) / total, (other - L * (t_at_f + t_at_b)) * 1e3,
         100 * (other - L * (t_at_f + t_at_b)) / total, opt * 1e3, 100 * opt / total, N / total);
  /* one Llama step: per layer 2 RMSNorm fwd+bwd, RoPE on q and k fwd+bwd,
   * attention, SwiGLU, 2 residual adds fwd (+2 in bwd); final norm, xent */
  double llayer = 2 * (t_rms_f + t_rms_b) + 2 * t_rope + t_gq_f + t_gq_b + t_sw_f + t_sw_b + 4 * t_add;
  double lother = L * llayer + t_rms_f + t_rms_b + t_emb_f + t_emb_b + t_xent_l;
  double ltotal = mm_llama + lother + opt;
  printf("Llama 134M step estimate at B=%d T=%d: %.0f ms = matmul %.0f ms (%.0f%%), attention %.0f ms (%.0f%%),"
         " other kernels %.0f ms (%.0f%%), optimizer %.0f ms (%.0f%%); %.0f tokens/s\n",
         B, T, ltotal * 1e3, mm_llama * 1e3, 100 * mm_llama / ltotal, L * (t_gq_f + t_gq_b) * 1e3,
         100 * L * (t_gq_f + t_gq_b) / ltotal, (lother - L * (t_gq_f + t_gq_b)) * 1e3,
         100 * (lother - L * (t_gq_f + t_gq_b)) / ltotal, opt * 1e3, 100 * opt / ltotal, N / ltotal);
  return 0;
}
