/* The CPU backend's internals: its context and the kernels each file
 * provides, gathered into the vtable by cpu_backend.c.
 *
 * Design note (the context is the only state the CPU backend keeps).
 *  1. One static instance serves the whole process; it is used by one host
 *     thread at a time (kernels parallelize inside with OpenMP).
 *  2. The scratch arena only grows: agpt_cpu_scratch() returns at least the
 *     floats asked for, reallocating only when a larger size is first asked
 *     for, so steady-state training never allocates inside a kernel.
 *  3. The RoPE table holds cos/sin for positions [0, rope_npos) of one
 *     (HS, theta); it is rebuilt only when a call needs more positions or a
 *     different (HS, theta).
 *  4. Results never depend on timing: every reduction has a fixed order for a
 *     given thread count (static schedules, no atomics on floats). */
#ifndef AGPT_BACKEND_CPU_BACKEND_H
#define AGPT_BACKEND_CPU_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "backend/backend.h"

typedef struct {
  float *scratch; /* owned, 64-byte aligned */
  size_t scratch_cap;
  float *rope_cos, *rope_sin; /* owned, (rope_npos, rope_hs/2) each */
  int rope_npos, rope_hs;
  float rope_theta;
} agpt_cpu_ctx;

/* The process-wide CPU backend (static; never freed). */
agpt_backend *agpt_cpu_backend(void);

/* At least n floats of scratch, valid until the next call; aborts with a
 * message when the memory is not there (kernels cannot return a status). */
float *agpt_cpu_scratch(agpt_backend *be, size_t n);
/* Cos/sin rows for positions [0, npos) (see invariant 3). */
void agpt_cpu_rope_table(agpt_backend *be, int npos, int HS, float theta, const float **cosp, const float **sinp);

/* cpu_matmul.c */
void agpt_cpu_matmul(agpt_backend *be, int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                     const float *B, int ldb, float beta, float *C, int ldc);
/* The blocked OpenMP matmul used when OpenBLAS is absent; exposed so that the
 * tests check it in a build with OpenBLAS too. */
void agpt_cpu_matmul_blocked(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                             const float *B, int ldb, float beta, float *C, int ldc);

/* Which matmul runs ("OpenBLAS (SkylakeX kernels, OpenMP)"); the first call
 * warns when OpenBLAS runs slow kernels on an AVX-512 CPU. Static string. */
const char *agpt_cpu_blas_describe(void);

/* cpu_embed.c */
void agpt_cpu_embedding_fwd(agpt_backend *be, float *out, const int32_t *tokens, const float *wte, const float *wpe,
                            int B, int T, int C, int pos0);
void agpt_cpu_embedding_bwd(agpt_backend *be, float *dwte, float *dwpe, const float *dout, const int32_t *tokens,
                            int B, int T, int C);

/* cpu_norm.c */
void agpt_cpu_rmsnorm_fwd(agpt_backend *be, float *out, float *rstd, const float *inp, const float *w, int N, int C,
                          float eps);
void agpt_cpu_rmsnorm_bwd(agpt_backend *be, float *dinp, float *dw, const float *dout, const float *inp,
                          const float *w, const float *rstd, int N, int C);
void agpt_cpu_layernorm_fwd(agpt_backend *be, float *out, float *mean, float *rstd, const float *inp, const float *w,
                            const float *b, int N, int C, float eps);
void agpt_cpu_layernorm_bwd(agpt_backend *be, float *dinp, float *dw, float *db, const float *dout,
                            const float *inp, const float *w, const float *mean, const float *rstd, int N, int C);

/* cpu_rope.c */
void agpt_cpu_rope_fwd(agpt_backend *be, float *x, int B, int T, int H, int HS, int row_stride, int pos0,
                       float theta);
void agpt_cpu_rope_bwd(agpt_backend *be, float *dx, int B, int T, int H, int HS, int row_stride, int pos0,
                       float theta);

/* cpu_attention.c */
void agpt_cpu_attention_fwd(agpt_backend *be, float *out, float *lse, const float *qkv, int B, int T, int NH,
                            int KVH, int HS);
void agpt_cpu_attention_bwd(agpt_backend *be, float *dqkv, const float *dout, const float *qkv, const float *out,
                            const float *lse, int B, int T, int NH, int KVH, int HS);
void agpt_cpu_attention_cached(agpt_backend *be, float *out, const float *q, int q_stride, const float *kc,
                               const float *vc, int B, int Tq, int pos0, int Tmax, int NH, int KVH, int HS);

/* cpu_act.c */
void agpt_cpu_swiglu_fwd(agpt_backend *be, float *out, const float *gu, int N, int F);
void agpt_cpu_swiglu_bwd(agpt_backend *be, float *dgu, const float *dout, const float *gu, int N, int F);
void agpt_cpu_gelu_fwd(agpt_backend *be, float *out, const float *inp, size_t n);
void agpt_cpu_gelu_bwd(agpt_backend *be, float *dinp, const float *dout, const float *inp, size_t n);
void agpt_cpu_add(agpt_backend *be, float *out, const float *a, const float *b, size_t n);
void agpt_cpu_bias_fwd(agpt_backend *be, float *out, const float *bias, int N, int C);
void agpt_cpu_bias_bwd(agpt_backend *be, float *dbias, const float *dout, int N, int C);

/* cpu_xent.c */
void agpt_cpu_xent_fwd_bwd(agpt_backend *be, float *losses, float *logits, const int32_t *targets, int N, int V,
                           float dscale);

/* cpu_optim.c */
double agpt_cpu_sumsq(agpt_backend *be, const float *x, size_t n);
int agpt_cpu_all_finite(agpt_backend *be, const float *x, size_t n);
void agpt_cpu_scale(agpt_backend *be, float *x, size_t n, float s);
void agpt_cpu_adamw(agpt_backend *be, float *p, const float *g, float *m, float *v, size_t n, float lr, float b1,
                    float b2, float eps, float wd, float bc1, float bc2);

#endif
