/* The transformer: parameter table, forward, backward, activation
 * recomputation and cached inference, all over the backend interface.
 *
 * Design note.
 *
 * Buffers. One device allocation per category, each carved into named
 * tensors by a table written once at creation: parameters and gradients
 * (the parameter table, same layout), activations (the activation table,
 * sized for the largest micro-batch B x T given at creation), scratch
 * (gradients of activations, one layer's worth) and the token/target ids.
 * Forward and backward allocate nothing.
 *
 * Activations of layer l (N = B*T rows), llm.c-style:
 *   x      (N,C)   the layer's input residual (x of layer l+1 is its output;
 *                  x of layer L is the input of the final norm)
 *   ln1    (N,C)   normalized x;   ln1_mean (N) [LayerNorm], ln1_rstd (N)
 *   qkv    (N,QKV) packed projections, QKV = (NH+2KVH)*HS, q and k after RoPE
 *   att    (N,NH*HS) attention output;  lse (B,NH,T) softmax log-sum-exp
 *   xmid   (N,C)   residual after attention
 *   ln2    (N,C);  ln2_mean, ln2_rstd
 *   fc     (N,2F) gate|up [Llama]  or (N,F) pre-GELU [GPT-2]
 *   fca    (N,F)   silu(gate)*up   or GELU(fc)
 * then lnf (N,C), lnf_mean, lnf_rstd, logits (N,Vp), losses (N).
 * Everything listed is what backward reads; nothing else is kept.
 *
 * Recomputation. With recompute on, only the residuals x of every layer
 * (L+1 tensors of (N,C)) are kept; ln1..fca exist once and are shared by all
 * layers. Backward of layer l first reruns layer l's forward from its saved
 * x with the very same calls, so losses and gradients are bitwise identical
 * to the run without recomputation, at the price of one more layer forward.
 *
 * Invariants.
 *  1. params and grads have the parameter table's layout; tensors of a
 *     Llama layer's q,k,v (and gate,up) are adjacent, so one GEMM with the
 *     (QKV, C) [(2F, C)] block computes the packed projection.
 *  2. After forward(B,T) the activations of that (B,T) are valid and
 *     backward may run once; backward overwrites logits with their gradient
 *     and accumulates (+=) into grads; only zero_grad clears grads.
 *  3. A forward without targets computes logits only; backward then fails.
 *  4. Inference never touches the training activations: a KV cache owns its
 *     own keys, values and workspace; params are read only. */
#ifndef AGPT_MODEL_MODEL_H
#define AGPT_MODEL_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "backend/backend.h"
#include "core/status.h"
#include "model/config.h"
#include "model/params.h"

/* ---- parameter table ---------------------------------------------------- */

/* Builds the table of Hugging Face-named tensors for the config (validated
 * by the caller). Weight decay: every weight matrix, embeddings included;
 * none on norms and biases. Tensor-parallel split: column-parallel
 * q/k/v/gate/up/c_attn/c_fc on their output dimension, row-parallel
 * o/down/c_proj on their input dimension, embeddings and lm_head on the
 * vocabulary, norms replicated. *out owns its rows; free with
 * agpt_param_table_free. */
agpt_status agpt_param_table_build(const agpt_model_config *c, agpt_param_table *out);
void agpt_param_table_free(agpt_param_table *t);
/* Row of the named tensor, or NULL. */
const agpt_param *agpt_param_find(const agpt_param_table *t, const char *name);
/* Initial value of every element into host memory `out` (t->total floats,
 * padding zeroed): normal(0, init_std) from the counter-based RNG at
 * (seed, AGPT_RNG_INIT, tensor index, element index), init_std/sqrt(2L) for
 * output projections (o_proj, down_proj, c_proj), norm weights 1, biases 0. */
void agpt_param_init_host(const agpt_model_config *c, const agpt_param_table *t, uint64_t seed, float *out);
/* The same for one tensor: n elements starting at element `first`. */
void agpt_param_init_tensor(const agpt_model_config *c, const agpt_param_table *t, int ti, uint64_t seed,
                            size_t first, size_t n, float *out);

/* ---- activation table ---------------------------------------------------- */

typedef struct {
  char name[48];  /* "layers.3.qkv", "logits"; shared tensors have no layer prefix */
  size_t offset;  /* floats from the start of the activation buffer */
  size_t numel;
} agpt_act_tensor;

/* ---- the model ----------------------------------------------------------- */

typedef struct {
  int batch;     /* largest B given to forward */
  int seq;       /* largest T given to forward (<= max_seq) */
  int recompute; /* keep only layer inputs; recompute each layer in backward */
  int training;  /* 0: no gradients, no backward (evaluation and generation) */
} agpt_model_opts;

typedef struct agpt_model_views agpt_model_views; /* internal: named pointers into the buffers */

typedef struct {
  agpt_model_config cfg;
  agpt_model_opts opts;
  agpt_backend *be; /* borrowed */
  agpt_param_table table;
  float *params; /* device, table.total floats; owned */
  float *grads;  /* device, same layout; NULL when !training; owned */

  float *acts;   /* device, act_total floats; owned */
  size_t act_total;
  agpt_act_tensor *act_table; /* owned */
  int n_act;
  float *scratch; /* device, scratch_total floats; owned */
  size_t scratch_total;
  int32_t *ids;   /* device: tokens then targets, 2*B*T; owned */

  agpt_model_views *v;      /* owned */
  float *losses_host;       /* B*T; owned */

  /* state of the last forward */
  int cur_B, cur_T, n_valid, have_targets, can_backward;
  float loss;
} agpt_model;

/* Creates a model for cfg on backend be (borrowed, must outlive the model):
 * allocates parameters (uninitialized: call agpt_model_init_params or load
 * them), gradients (zeroed) and activations for opts. *out is owned by the
 * caller; release with agpt_model_free. */
agpt_status agpt_model_create(const agpt_model_config *cfg, const agpt_model_opts *opts, agpt_backend *be,
                              agpt_model **out);
void agpt_model_free(agpt_model *m);
/* Deterministic initialization (see agpt_param_init_host). */
agpt_status agpt_model_init_params(agpt_model *m, uint64_t seed);

/* Forward over host ids tokens[B*T] (and targets[B*T], or NULL). With
 * targets, *loss (when non-NULL) receives the mean cross-entropy over the
 * targets that are >= 0; it is 0 when every target is ignored. Fails on ids
 * outside [0, V) (targets may be negative: ignored). B <= opts.batch,
 * T <= opts.seq. Logits stay valid (agpt_model_logits) until backward. */
agpt_status agpt_model_forward(agpt_model *m, const int32_t *tokens, const int32_t *targets, int B, int T,
                               float *loss);
/* Backward of dloss_scale * (mean loss of the last forward), accumulated
 * into grads (pass 1/accumulation_steps when accumulating micro-batches). */
agpt_status agpt_model_backward(agpt_model *m, float dloss_scale);
void agpt_model_zero_grad(agpt_model *m);
/* Device pointer to logits (cur_B*cur_T, Vp) of the last forward. */
const float *agpt_model_logits(const agpt_model *m);

/* Bytes of the activation buffer for (B, T) with or without recomputation,
 * and the scratch it needs (both exactly what agpt_model_create allocates
 * for training). */
void agpt_model_act_bytes(const agpt_model_config *cfg, int B, int T, int recompute, uint64_t *act_bytes,
                          uint64_t *scratch_bytes);

/* ---- cached inference ---------------------------------------------------- */

typedef struct agpt_kv_cache agpt_kv_cache;

/* A cache of keys and values (B, Tmax, KVH, HS) per layer, plus workspace for
 * up to max_chunk new tokens per call. Borrows m (must outlive the cache).
 * *out is owned by the caller; release with agpt_kv_cache_free. */
agpt_status agpt_kv_cache_create(const agpt_model *m, int B, int Tmax, int max_chunk, agpt_kv_cache **out);
void agpt_kv_cache_free(agpt_kv_cache *c);

/* Runs Tq new tokens per sequence (tokens (B, Tq), host) at positions
 * pos0..pos0+Tq-1, appending their keys and values to the cache (which must
 * hold positions 0..pos0-1 from earlier calls). Writes host logits over the V
 * real tokens: (B, V) of the last position, or (B, Tq, V) when all_positions.
 * B must equal the cache's B. */
agpt_status agpt_model_infer(agpt_model *m, agpt_kv_cache *c, const int32_t *tokens, int B, int Tq, int pos0,
                             int all_positions, float *logits);

#endif
