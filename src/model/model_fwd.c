/* Forward pass: the building blocks shared with backward (recomputation) and
 * inference, and agpt_model_forward itself. Every kernel is a backend call;
 * nothing here allocates. */
#include <math.h>
#include <string.h>

#include "model/model_internal.h"

void agpt_mdl_linear_fwd(const agpt_model *m, float *out, const float *inp, const float *w, const float *b, int N,
                         int in, int out_dim) {
  agpt_backend *be = m->be;
  if (m->cfg.arch == AGPT_ARCH_GPT2) /* W (in,out) */
    be->matmul(be, 0, 0, N, out_dim, in, 1.0f, inp, in, w, out_dim, 0.0f, out, out_dim);
  else /* W (out,in) */
    be->matmul(be, 0, 1, N, out_dim, in, 1.0f, inp, in, w, in, 0.0f, out, out_dim);
  if (b) be->bias_fwd(be, out, b, N, out_dim);
}

void agpt_mdl_linear_bwd(const agpt_model *m, float *dinp, float *dw, float *db, const float *dout,
                         const float *inp, const float *w, int N, int in, int out_dim) {
  agpt_backend *be = m->be;
  if (m->cfg.arch == AGPT_ARCH_GPT2) {
    if (dinp) be->matmul(be, 0, 1, N, in, out_dim, 1.0f, dout, out_dim, w, out_dim, 0.0f, dinp, in);
    be->matmul(be, 1, 0, in, out_dim, N, 1.0f, inp, in, dout, out_dim, 1.0f, dw, out_dim);
  } else {
    if (dinp) be->matmul(be, 0, 0, N, in, out_dim, 1.0f, dout, out_dim, w, in, 0.0f, dinp, in);
    be->matmul(be, 1, 0, out_dim, in, N, 1.0f, dout, out_dim, inp, in, 1.0f, dw, in);
  }
  if (db) be->bias_bwd(be, db, dout, N, out_dim);
}

void agpt_mdl_norm_fwd(const agpt_model *m, float *out, float *mean, float *rstd, const float *inp, const float *w,
                       const float *b, int N) {
  agpt_backend *be = m->be;
  if (m->cfg.arch == AGPT_ARCH_GPT2)
    be->layernorm_fwd(be, out, mean, rstd, inp, w, b, N, m->cfg.hidden, m->cfg.norm_eps);
  else
    be->rmsnorm_fwd(be, out, rstd, inp, w, N, m->cfg.hidden, m->cfg.norm_eps);
}

void agpt_mdl_norm_bwd(const agpt_model *m, float *dinp, float *dw, float *db, const float *dout, const float *inp,
                       const float *w, const float *mean, const float *rstd, int N) {
  agpt_backend *be = m->be;
  if (m->cfg.arch == AGPT_ARCH_GPT2)
    be->layernorm_bwd(be, dinp, dw, db, dout, inp, w, mean, rstd, N, m->cfg.hidden);
  else
    be->rmsnorm_bwd(be, dinp, dw, dout, inp, w, rstd, N, m->cfg.hidden);
}

/* Writes the new tokens' keys and values (rows of qkv) into the cache at
 * positions pos0.. . One copy per token row: the cache is (B,Tmax,KVH,HS). */
static void cache_append(const agpt_model *m, float *kc, float *vc, const float *qkv, int B, int T, int pos0,
                         int Tmax) {
  agpt_backend *be = m->be;
  const agpt_model_config *c = &m->cfg;
  size_t HS = (size_t)agpt_model_head_size(c), KV = (size_t)c->n_kv_head * HS, Q = (size_t)c->n_head * HS;
  size_t QKV = (size_t)agpt_model_qkv_dim(c);
  for (int b = 0; b < B; b++)
    for (int t = 0; t < T; t++) {
      const float *row = qkv + ((size_t)b * T + t) * QKV;
      size_t dst = ((size_t)b * Tmax + pos0 + t) * KV;
      be->copy_d2d(be, kc + dst, row + Q, KV * sizeof(float));
      be->copy_d2d(be, vc + dst, row + Q + KV, KV * sizeof(float));
    }
}

void agpt_mdl_layer_fwd(const agpt_model *m, int l, const agpt_layer_acts *a, int B, int T, int pos0, float *kc,
                        float *vc, int Tmax) {
  agpt_backend *be = m->be;
  const agpt_model_config *c = &m->cfg;
  const agpt_layer_params *p = &m->v->lp[l];
  int N = B * T, C = c->hidden, HS = agpt_model_head_size(c), NH = c->n_head, KVH = c->n_kv_head;
  int QKV = agpt_model_qkv_dim(c), F = c->ffn;

  agpt_mdl_norm_fwd(m, a->ln1, a->ln1_mean, a->ln1_rstd, a->x, agpt_mdl_p(m, p->ln1_w), agpt_mdl_p(m, p->ln1_b), N);
  agpt_mdl_linear_fwd(m, a->qkv, a->ln1, agpt_mdl_p(m, p->qkv_w), agpt_mdl_p(m, p->qkv_b), N, C, QKV);
  if (c->arch == AGPT_ARCH_LLAMA) {
    be->rope_fwd(be, a->qkv, B, T, NH, HS, QKV, pos0, c->rope_theta);
    be->rope_fwd(be, a->qkv + (size_t)NH * HS, B, T, KVH, HS, QKV, pos0, c->rope_theta);
  }
  if (kc) {
    cache_append(m, kc, vc, a->qkv, B, T, pos0, Tmax);
    be->attention_cached(be, a->att, a->qkv, QKV, kc, vc, B, T, pos0, Tmax, NH, KVH, HS);
  } else {
    be->attention_fwd(be, a->att, a->lse, a->qkv, B, T, NH, KVH, HS);
  }
  agpt_mdl_linear_fwd(m, a->xmid, a->att, agpt_mdl_p(m, p->o_w), agpt_mdl_p(m, p->o_b), N, NH * HS, C);
  be->add(be, a->xmid, a->xmid, a->x, (size_t)N * C);

  agpt_mdl_norm_fwd(m, a->ln2, a->ln2_mean, a->ln2_rstd, a->xmid, agpt_mdl_p(m, p->ln2_w), agpt_mdl_p(m, p->ln2_b),
                    N);
  agpt_mdl_linear_fwd(m, a->fc, a->ln2, agpt_mdl_p(m, p->fc_w), agpt_mdl_p(m, p->fc_b), N, C,
                      agpt_mdl_fc_dim(c));
  if (c->arch == AGPT_ARCH_LLAMA)
    be->swiglu_fwd(be, a->fca, a->fc, N, F);
  else
    be->gelu_fwd(be, a->fca, a->fc, (size_t)N * F);
  agpt_mdl_linear_fwd(m, a->xout, a->fca, agpt_mdl_p(m, p->down_w), agpt_mdl_p(m, p->down_b), N, F, C);
  be->add(be, a->xout, a->xout, a->xmid, (size_t)N * C);
}

void agpt_mdl_head_fwd(const agpt_model *m, float *logits, float *lnf, float *mean, float *rstd, const float *x,
                       int N) {
  const agpt_top_params *t = &m->v->top;
  agpt_mdl_norm_fwd(m, lnf, mean, rstd, x, agpt_mdl_p(m, t->lnf_w), agpt_mdl_p(m, t->lnf_b), N);
  /* lm_head (and the tied token embedding) is (Vp, C) for both families */
  m->be->matmul(m->be, 0, 1, N, agpt_model_vocab_rows(&m->cfg), m->cfg.hidden, 1.0f, lnf, m->cfg.hidden,
                agpt_mdl_p(m, t->lm_head), m->cfg.hidden, 0.0f, logits, agpt_model_vocab_rows(&m->cfg));
}

agpt_status agpt_model_forward(agpt_model *m, const int32_t *tokens, const int32_t *targets, int B, int T,
                               float *loss) {
  agpt_backend *be = m->be;
  const agpt_model_config *c = &m->cfg;
  agpt_model_views *v = m->v;
  m->can_backward = 0;
  if (B < 1 || B > m->opts.batch || T < 1 || T > m->opts.seq)
    return agpt_fail("model forward: batch %d x seq %d outside the %d x %d the model was created for", B, T,
                     m->opts.batch, m->opts.seq);
  size_t N = (size_t)B * T;
  int n_valid = 0;
  for (size_t i = 0; i < N; i++) {
    if (tokens[i] < 0 || tokens[i] >= c->vocab)
      return agpt_fail("model forward: token %zu: id %d outside the vocabulary [0, %d) (check the tokenizer and "
                       "--vocab-size)", i, (int)tokens[i], c->vocab);
    if (targets) {
      if (targets[i] >= c->vocab)
        return agpt_fail("model forward: target %zu: id %d outside the vocabulary [0, %d) (check the tokenizer "
                         "and --vocab-size)", i, (int)targets[i], c->vocab);
      n_valid += targets[i] >= 0;
    }
  }
  be->copy_h2d(be, v->tokens, tokens, N * sizeof(int32_t));
  if (targets) be->copy_h2d(be, v->targets, targets, N * sizeof(int32_t));

  be->embedding_fwd(be, v->la[0].x, v->tokens, agpt_mdl_p(m, v->top.wte), agpt_mdl_p(m, v->top.wpe), B, T,
                    c->hidden, 0);
  for (int l = 0; l < c->n_layer; l++) agpt_mdl_layer_fwd(m, l, &v->la[l], B, T, 0, NULL, NULL, 0);
  agpt_mdl_head_fwd(m, v->logits, v->lnf, v->lnf_mean, v->lnf_rstd, v->la[c->n_layer - 1].xout, (int)N);

  m->cur_B = B;
  m->cur_T = T;
  m->have_targets = targets != NULL;
  m->n_valid = n_valid;
  m->loss = 0.0f;
  if (targets) {
    be->xent_fwd_bwd(be, v->losses, v->logits, v->targets, (int)N, agpt_model_vocab_rows(c), 0.0f);
    be->copy_d2h(be, m->losses_host, v->losses, N * sizeof(float));
    double sum = 0.0;
    for (size_t i = 0; i < N; i++) sum += m->losses_host[i];
    m->loss = n_valid ? (float)(sum / n_valid) : 0.0f;
    m->can_backward = m->opts.training;
  }
  if (loss) *loss = m->loss;
  return AGPT_OK;
}
