/* Shared between the model's source files only: views of one layer's
 * activations and parameters, and the building blocks (linear, norm, layer
 * forward) that training, recomputation and inference all call, so that the
 * three run the very same kernel calls. Not for use outside src/model/. */
#ifndef AGPT_MODEL_MODEL_INTERNAL_H
#define AGPT_MODEL_MODEL_INTERNAL_H

#include "model/model.h"

#define AGPT_NO_PARAM ((size_t)-1)

/* One layer's activations (model.h design note); xout is the next layer's x. */
typedef struct {
  float *x, *ln1, *ln1_mean, *ln1_rstd, *qkv, *att, *lse, *xmid, *ln2, *ln2_mean, *ln2_rstd, *fc, *fca, *xout;
} agpt_layer_acts;

/* Element offsets of one layer's tensors in the flat buffers (AGPT_NO_PARAM
 * when absent). qkv and fc name the first of the adjacent q|k|v, gate|up. */
typedef struct {
  size_t ln1_w, ln1_b, qkv_w, qkv_b, o_w, o_b, ln2_w, ln2_b, fc_w, fc_b, down_w, down_b;
} agpt_layer_params;

/* Offsets of the tensors outside the layers. */
typedef struct {
  size_t wte, wpe, lnf_w, lnf_b, lm_head; /* lm_head == wte when tied */
} agpt_top_params;

struct agpt_model_views {
  agpt_layer_acts *la;    /* L: activations of each layer (shared ones alias) */
  agpt_layer_params *lp;  /* L */
  agpt_top_params top;
  float *lnf, *lnf_mean, *lnf_rstd, *logits, *losses;
  /* scratch: gradients of activations, one layer's worth */
  float *dx, *dln, *dqkv, *datt, *dfc, *dfca;
  int32_t *tokens, *targets; /* device, B*T each */
};

/* Width of fc and fca: Llama (2F, F), GPT-2 (F, F). */
static inline int agpt_mdl_fc_dim(const agpt_model_config *c) {
  return c->arch == AGPT_ARCH_LLAMA ? 2 * c->ffn : c->ffn;
}

void agpt_mdl_param_offsets(const agpt_model_config *c, const agpt_param_table *t, agpt_layer_params *layers,
                            agpt_top_params *top);

static inline const float *agpt_mdl_p(const agpt_model *m, size_t off) {
  return off == AGPT_NO_PARAM ? NULL : m->params + off;
}
static inline float *agpt_mdl_g(const agpt_model *m, size_t off) {
  return off == AGPT_NO_PARAM ? NULL : m->grads + off;
}

/* out(N,out) = inp(N,in) @ W^T (+ b); W is (out,in), or (in,out) for GPT-2 Conv1D. */
void agpt_mdl_linear_fwd(const agpt_model *m, float *out, const float *inp, const float *w, const float *b, int N,
                         int in, int out_dim);
/* dinp = dout @ W (overwrites; skipped when dinp is NULL), dw += , db += */
void agpt_mdl_linear_bwd(const agpt_model *m, float *dinp, float *dw, float *db, const float *dout,
                         const float *inp, const float *w, int N, int in, int out_dim);
void agpt_mdl_norm_fwd(const agpt_model *m, float *out, float *mean, float *rstd, const float *inp, const float *w,
                       const float *b, int N);
/* dinp += , dw += , db += */
void agpt_mdl_norm_bwd(const agpt_model *m, float *dinp, float *dw, float *db, const float *dout, const float *inp,
                       const float *w, const float *mean, const float *rstd, int N);

/* Forward of layer l over (B,T) tokens at positions pos0.. . With kc == NULL
 * it is causal self-attention over the T tokens (training; lse saved); else
 * the keys and values are appended to the cache kc, vc (B,Tmax,KVH,HS) and
 * attention reads the cache. */
void agpt_mdl_layer_fwd(const agpt_model *m, int l, const agpt_layer_acts *a, int B, int T, int pos0, float *kc,
                        float *vc, int Tmax);

/* Final norm and logits over N rows of x: logits(N,Vp). */
void agpt_mdl_head_fwd(const agpt_model *m, float *logits, float *lnf, float *mean, float *rstd, const float *x,
                       int N);

#endif
