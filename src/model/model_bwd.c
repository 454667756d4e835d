/* Backward pass: gradients of dloss_scale * mean loss, accumulated into the
 * gradient buffer. The residual gradient dx runs from the loss back to the
 * embedding; each layer's residual adds need no kernel because dx already
 * is the gradient of both summands. With recomputation each layer's forward
 * is rerun (same calls, same inputs) right before its backward. */
#include "model/model_internal.h"

static void layer_bwd(agpt_model *m, int l, const agpt_layer_acts *a, int B, int T) {
  agpt_backend *be = m->be;
  const agpt_model_config *c = &m->cfg;
  const agpt_layer_params *p = &m->v->lp[l];
  agpt_model_views *v = m->v;
  int N = B * T, C = c->hidden, HS = agpt_model_head_size(c), NH = c->n_head, KVH = c->n_kv_head;
  int QKV = agpt_model_qkv_dim(c), F = c->ffn, FC = agpt_mdl_fc_dim(c);

  /* MLP: xout = xmid + down(act(fc(norm(xmid)))) */
  agpt_mdl_linear_bwd(m, v->dfca, agpt_mdl_g(m, p->down_w), agpt_mdl_g(m, p->down_b), v->dx, a->fca,
                      agpt_mdl_p(m, p->down_w), N, F, C);
  if (c->arch == AGPT_ARCH_LLAMA)
    be->swiglu_bwd(be, v->dfc, v->dfca, a->fc, N, F);
  else
    be->gelu_bwd(be, v->dfc, v->dfca, a->fc, (size_t)N * F);
  agpt_mdl_linear_bwd(m, v->dln, agpt_mdl_g(m, p->fc_w), agpt_mdl_g(m, p->fc_b), v->dfc, a->ln2,
                      agpt_mdl_p(m, p->fc_w), N, C, FC);
  agpt_mdl_norm_bwd(m, v->dx, agpt_mdl_g(m, p->ln2_w), agpt_mdl_g(m, p->ln2_b), v->dln, a->xmid,
                    agpt_mdl_p(m, p->ln2_w), a->ln2_mean, a->ln2_rstd, N);

  /* attention: xmid = x + o(attn(rope(qkv(norm(x))))) */
  agpt_mdl_linear_bwd(m, v->datt, agpt_mdl_g(m, p->o_w), agpt_mdl_g(m, p->o_b), v->dx, a->att,
                      agpt_mdl_p(m, p->o_w), N, NH * HS, C);
  be->attention_bwd(be, v->dqkv, v->datt, a->qkv, a->att, a->lse, B, T, NH, KVH, HS);
  if (c->arch == AGPT_ARCH_LLAMA) {
    be->rope_bwd(be, v->dqkv, B, T, NH, HS, QKV, 0, c->rope_theta);
    be->rope_bwd(be, v->dqkv + (size_t)NH * HS, B, T, KVH, HS, QKV, 0, c->rope_theta);
  }
  agpt_mdl_linear_bwd(m, v->dln, agpt_mdl_g(m, p->qkv_w), agpt_mdl_g(m, p->qkv_b), v->dqkv, a->ln1,
                      agpt_mdl_p(m, p->qkv_w), N, C, QKV);
  agpt_mdl_norm_bwd(m, v->dx, agpt_mdl_g(m, p->ln1_w), agpt_mdl_g(m, p->ln1_b), v->dln, a->x,
                    agpt_mdl_p(m, p->ln1_w), a->ln1_mean, a->ln1_rstd, N);
}

agpt_status agpt_model_backward(agpt_model *m, float dloss_scale) {
  AGPT_ASSERT(m->opts.training && m->grads);
  if (!m->can_backward)
    return agpt_fail("model backward: no forward with targets since the last backward (call agpt_model_forward "
                     "with targets first)");
  m->can_backward = 0;
  if (m->n_valid == 0 || dloss_scale == 0.0f) return AGPT_OK; /* the loss is a constant: zero gradient */
  agpt_backend *be = m->be;
  const agpt_model_config *c = &m->cfg;
  agpt_model_views *v = m->v;
  int B = m->cur_B, T = m->cur_T, N = B * T, C = c->hidden, Vp = agpt_model_vocab_rows(c), L = c->n_layer;

  /* logits become dlogits = dscale * (softmax - onehot) */
  be->xent_fwd_bwd(be, v->losses, v->logits, v->targets, N, Vp, dloss_scale / (float)m->n_valid);
  const float *wlm = agpt_mdl_p(m, v->top.lm_head);
  be->matmul(be, 0, 0, N, C, Vp, 1.0f, v->logits, Vp, wlm, C, 0.0f, v->dln, C);
  be->matmul(be, 1, 0, Vp, C, N, 1.0f, v->logits, Vp, v->lnf, C, 1.0f, agpt_mdl_g(m, v->top.lm_head), C);
  be->zero(be, v->dx, (size_t)N * C * sizeof(float));
  agpt_mdl_norm_bwd(m, v->dx, agpt_mdl_g(m, v->top.lnf_w), agpt_mdl_g(m, v->top.lnf_b), v->dln,
                    v->la[L - 1].xout, agpt_mdl_p(m, v->top.lnf_w), v->lnf_mean, v->lnf_rstd, N);

  int recompute = m->opts.recompute;
  for (int l = L - 1; l >= 0; l--) {
    if (recompute && l < L - 1) agpt_mdl_layer_fwd(m, l, &v->la[l], B, T, 0, NULL, NULL, 0);
    layer_bwd(m, l, &v->la[l], B, T);
  }
  be->embedding_bwd(be, agpt_mdl_g(m, v->top.wte), agpt_mdl_g(m, v->top.wpe), v->dx, v->tokens, B, T, C);
  return AGPT_OK;
}
