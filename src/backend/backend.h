/* The device interface.
 *
 * One agpt_backend per device kind: memory, copies and every kernel the model
 * and optimizer need, forward and backward. Model, optimizer and training
 * code call these members only; they never test which device they run on.
 * The CPU backend is the reference every other backend is tested against.
 *
 * Conventions (dimension letters as in the model): all tensors are row-major
 * and contiguous unless a stride is given; N = B*T rows. "+=" in a comment
 * means the kernel accumulates into its output (gradients of parameters and
 * of tensors with several consumers); "=" means it overwrites. Pointers are
 * device pointers (host pointers on the CPU backend). Kernels do not fail:
 * shapes are validated by the caller once, memory is allocated up front. */
#ifndef AGPT_BACKEND_BACKEND_H
#define AGPT_BACKEND_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

typedef enum { AGPT_F32 = 0, AGPT_BF16 = 1 } agpt_dtype;

typedef struct agpt_backend agpt_backend;

struct agpt_backend {
  const char *name;
  void *ctx;

  /* memory: *out is owned by the caller, released with free_buf */
  agpt_status (*alloc)(agpt_backend *be, size_t bytes, void **out);
  void (*free_buf)(agpt_backend *be, void *p);
  void (*copy_h2d)(agpt_backend *be, void *dst, const void *src, size_t bytes);
  void (*copy_d2h)(agpt_backend *be, void *dst, const void *src, size_t bytes);
  void (*copy_d2d)(agpt_backend *be, void *dst, const void *src, size_t bytes);
  void (*zero)(agpt_backend *be, void *p, size_t bytes);
  void (*sync)(agpt_backend *be);

  /* C(M,N) = alpha * op(A)(M,K) @ op(B)(K,N) + beta * C.
   * op(A) = A (M,K) with row stride lda, or A^T when ta (A stored (K,M)).
   * op(B) = B (K,N) with row stride ldb, or B^T when tb (B stored (N,K)). */
  void (*matmul)(agpt_backend *be, int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                 const float *B, int ldb, float beta, float *C, int ldc);

  /* out(B,T,C) = wte[tokens] (+ wpe[pos0 + t] when wpe != NULL) */
  void (*embedding_fwd)(agpt_backend *be, float *out, const int32_t *tokens, const float *wte, const float *wpe,
                        int B, int T, int C, int pos0);
  /* dwte += scatter(dout), dwpe += sum over batch (when dwpe != NULL) */
  void (*embedding_bwd)(agpt_backend *be, float *dwte, float *dwpe, const float *dout, const int32_t *tokens,
                        int B, int T, int C);

  /* out(N,C) = inp * rstd * w;  rstd(N) saved */
  void (*rmsnorm_fwd)(agpt_backend *be, float *out, float *rstd, const float *inp, const float *w, int N, int C,
                      float eps);
  /* dinp += , dw += */
  void (*rmsnorm_bwd)(agpt_backend *be, float *dinp, float *dw, const float *dout, const float *inp,
                      const float *w, const float *rstd, int N, int C);
  /* out(N,C) = (inp - mean) * rstd * w + b;  mean(N), rstd(N) saved */
  void (*layernorm_fwd)(agpt_backend *be, float *out, float *mean, float *rstd, const float *inp, const float *w,
                        const float *b, int N, int C, float eps);
  /* dinp += , dw += , db += */
  void (*layernorm_bwd)(agpt_backend *be, float *dinp, float *dw, float *db, const float *dout, const float *inp,
                        const float *w, const float *mean, const float *rstd, int N, int C);

  /* Rotary embedding in place on H heads of size HS per token, Hugging Face
   * pairing (dimension j with j + HS/2), position of token t = pos0 + t.
   * Head h of token (b,t) starts at x + (b*T + t)*row_stride + h*HS.
   * rope_bwd applies the inverse rotation (the transpose) in place. */
  void (*rope_fwd)(agpt_backend *be, float *x, int B, int T, int H, int HS, int row_stride, int pos0, float theta);
  void (*rope_bwd)(agpt_backend *be, float *dx, int B, int T, int H, int HS, int row_stride, int pos0,
                   float theta);

  /* Causal grouped-query attention over packed projections.
   * qkv(B,T,(NH+2*KVH)*HS): per token NH query heads, then KVH key heads,
   * then KVH value heads; query head h reads kv head h / (NH/KVH).
   * out(B,T,NH*HS) = softmax(q k^T / sqrt(HS), causal) v;
   * lse(B,NH,T) = log-sum-exp of each softmax row, saved for backward. */
  void (*attention_fwd)(agpt_backend *be, float *out, float *lse, const float *qkv, int B, int T, int NH,
                        int KVH, int HS);
  /* dqkv = (overwrites all of it) */
  void (*attention_bwd)(agpt_backend *be, float *dqkv, const float *dout, const float *qkv, const float *out,
                        const float *lse, int B, int T, int NH, int KVH, int HS);
  /* Attention of Tq new query tokens at positions pos0..pos0+Tq-1 over a KV
   * cache holding positions 0..pos0+Tq-1 (generation).
   * q: rows of stride q_stride floats, NH heads each; kc, vc (B,Tmax,KVH,HS);
   * out(B,Tq,NH*HS). */
  void (*attention_cached)(agpt_backend *be, float *out, const float *q, int q_stride, const float *kc,
                           const float *vc, int B, int Tq, int pos0, int Tmax, int NH, int KVH, int HS);

  /* gu(N, 2F): per row F gate values then F up values.
   * out(N,F) = silu(gate) * up */
  void (*swiglu_fwd)(agpt_backend *be, float *out, const float *gu, int N, int F);
  /* dgu = (N, 2F) */
  void (*swiglu_bwd)(agpt_backend *be, float *dgu, const float *dout, const float *gu, int N, int F);
  /* GELU, tanh approximation (GPT-2). out = gelu(inp) */
  void (*gelu_fwd)(agpt_backend *be, float *out, const float *inp, size_t n);
  /* dinp = dout * gelu'(inp) */
  void (*gelu_bwd)(agpt_backend *be, float *dinp, const float *dout, const float *inp, size_t n);

  /* out = a + b (out may alias a or b) */
  void (*add)(agpt_backend *be, float *out, const float *a, const float *b, size_t n);
  /* out(N,C) += bias(C) */
  void (*bias_fwd)(agpt_backend *be, float *out, const float *bias, int N, int C);
  /* dbias += sum over rows of dout(N,C) */
  void (*bias_bwd)(agpt_backend *be, float *dbias, const float *dout, int N, int C);

  /* Fused softmax cross-entropy. losses(N) = -log softmax(logits)[target];
   * rows whose target is negative are ignored (loss 0, gradient 0).
   * When dscale != 0 the logits are overwritten by
   * dscale * (softmax - onehot(target)), the gradient of dscale * sum(losses). */
  void (*xent_fwd_bwd)(agpt_backend *be, float *losses, float *logits, const int32_t *targets, int N, int V,
                       float dscale);

  /* sum of squares with float64 accumulation, the same result for the same
   * input and thread count (fixed reduction order). */
  double (*sumsq)(agpt_backend *be, const float *x, size_t n);
  /* 1 if every element is finite */
  int (*all_finite)(agpt_backend *be, const float *x, size_t n);
  /* x *= s */
  void (*scale)(agpt_backend *be, float *x, size_t n, float s);
  /* AdamW on one contiguous range:
   * m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;
   * p -= lr * ( (m / bc1) / (sqrt(v / bc2) + eps) + wd * p )
   * with bc1 = 1 - b1^t, bc2 = 1 - b2^t (decoupled weight decay, PyTorch's
   * torch.optim.AdamW order: p *= 1 - lr*wd first, then the Adam step). */
  void (*adamw)(agpt_backend *be, float *p, const float *g, float *m, float *v, size_t n, float lr, float b1,
                float b2, float eps, float wd, float bc1, float bc2);
};

/* The backend of the given name ("cpu"); fails naming the choices when the
 * name is unknown or the device is absent. The instance is static; do not
 * free it. */
agpt_status agpt_backend_get(const char *name, agpt_backend **out);

#endif
