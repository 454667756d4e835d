/* Model creation: the activation table, the carving of every buffer into
 * named views, parameter initialization and the memory estimate.
 *
 * The activation layout is written by one function (plan) that both sizes
 * and carves, so the estimate printed by `agpt info` and the allocation of
 * agpt_model_create cannot disagree. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model_internal.h"

enum { ALIGN = 16 };

typedef struct {
  size_t total;
  agpt_act_tensor *tab; /* NULL: only count */
  int n, cap;
  float *base;          /* NULL: offsets only */
} carver;

static float *carve(carver *cv, size_t numel, const char *name, int layer) {
  size_t off = (cv->total + ALIGN - 1) / ALIGN * ALIGN;
  cv->total = off + numel;
  if (cv->tab) {
    if (cv->n == cv->cap) {
      cv->cap = cv->cap ? 2 * cv->cap : 64;
      cv->tab = agpt_xrealloc(cv->tab, (size_t)cv->cap * sizeof *cv->tab);
    }
    agpt_act_tensor *t = &cv->tab[cv->n++];
    if (layer >= 0)
      snprintf(t->name, sizeof t->name, "layers.%d.%s", layer, name);
    else
      snprintf(t->name, sizeof t->name, "%s", name);
    t->offset = off;
    t->numel = numel;
  }
  return cv->base ? cv->base + off : NULL;
}

/* Carves one layer's saved tensors (not x/xout); layer < 0 names them as shared. */
static void carve_layer(carver *cv, const agpt_model_config *c, size_t N, size_t B, size_t T, int layer,
                        agpt_layer_acts *a) {
  size_t C = (size_t)c->hidden, QKV = (size_t)agpt_model_qkv_dim(c), HS = (size_t)agpt_model_head_size(c);
  size_t FC = (size_t)agpt_mdl_fc_dim(c), F = (size_t)c->ffn, NH = (size_t)c->n_head;
  int ln = c->arch == AGPT_ARCH_GPT2;
  const char *pre = layer < 0 ? "layer." : "";
  char name[40];
#define CARVE(field, numel)                                     \
  do {                                                          \
    snprintf(name, sizeof name, "%s%s", pre, #field);           \
    a->field = carve(cv, (numel), name, layer);                 \
  } while (0)
  CARVE(ln1, N * C);
  if (ln) CARVE(ln1_mean, N);
  CARVE(ln1_rstd, N);
  CARVE(qkv, N * QKV);
  CARVE(att, N * NH * HS);
  CARVE(lse, B * NH * T);
  CARVE(xmid, N * C);
  CARVE(ln2, N * C);
  if (ln) CARVE(ln2_mean, N);
  CARVE(ln2_rstd, N);
  CARVE(fc, N * FC);
  CARVE(fca, N * F);
#undef CARVE
}

/* Activations for (B,T): per-layer tensors L times, or the residuals L+1
 * times plus one shared layer when recomputing (or not training). */
static void plan_acts(carver *cv, const agpt_model_config *c, int B, int T, int recompute, agpt_model_views *v) {
  size_t N = (size_t)B * T, C = (size_t)c->hidden, Vp = (size_t)agpt_model_vocab_rows(c);
  int L = c->n_layer;
  agpt_layer_acts shared, tmp = {0};
  agpt_layer_acts *la = v ? v->la : NULL;
  char name[40];
  for (int l = 0; l <= L; l++) {
    snprintf(name, sizeof name, "resid.%d", l);
    float *x = carve(cv, N * C, name, -1);
    if (la && l < L) la[l].x = x;
    if (la && l > 0) la[l - 1].xout = x;
  }
  if (recompute) {
    carve_layer(cv, c, N, (size_t)B, (size_t)T, -1, &shared);
    if (la)
      for (int l = 0; l < L; l++) {
        float *x = la[l].x, *xout = la[l].xout;
        la[l] = shared;
        la[l].x = x;
        la[l].xout = xout;
      }
  } else {
    for (int l = 0; l < L; l++) {
      agpt_layer_acts *a = la ? &la[l] : &tmp;
      float *x = a->x, *xout = a->xout;
      carve_layer(cv, c, N, (size_t)B, (size_t)T, l, a);
      a->x = x;
      a->xout = xout;
    }
  }
  float *f;
  f = carve(cv, N * C, "lnf", -1);
  if (v) v->lnf = f;
  if (c->arch == AGPT_ARCH_GPT2) {
    f = carve(cv, N, "lnf_mean", -1);
    if (v) v->lnf_mean = f;
  }
  f = carve(cv, N, "lnf_rstd", -1);
  if (v) v->lnf_rstd = f;
  f = carve(cv, N * Vp, "logits", -1);
  if (v) v->logits = f;
  f = carve(cv, N, "losses", -1);
  if (v) v->losses = f;
  cv->total = (cv->total + ALIGN - 1) / ALIGN * ALIGN;
}

/* Gradients of activations (one layer's worth, reused by every layer). */
static void plan_scratch(carver *cv, const agpt_model_config *c, int B, int T, agpt_model_views *v) {
  size_t N = (size_t)B * T, C = (size_t)c->hidden, QKV = (size_t)agpt_model_qkv_dim(c);
  size_t A = (size_t)c->n_head * agpt_model_head_size(c);
  float *dx = carve(cv, N * C, "dx", -1), *dln = carve(cv, N * C, "dln", -1);
  float *dqkv = carve(cv, N * QKV, "dqkv", -1), *datt = carve(cv, N * A, "datt", -1);
  float *dfc = carve(cv, N * (size_t)agpt_mdl_fc_dim(c), "dfc", -1), *dfca = carve(cv, N * (size_t)c->ffn, "dfca", -1);
  cv->total = (cv->total + ALIGN - 1) / ALIGN * ALIGN;
  if (v) {
    v->dx = dx;
    v->dln = dln;
    v->dqkv = dqkv;
    v->datt = datt;
    v->dfc = dfc;
    v->dfca = dfca;
  }
}

void agpt_model_act_bytes(const agpt_model_config *cfg, int B, int T, int recompute, uint64_t *act_bytes,
                          uint64_t *scratch_bytes) {
  carver a = {0}, s = {0};
  plan_acts(&a, cfg, B, T, recompute, NULL);
  plan_scratch(&s, cfg, B, T, NULL);
  if (act_bytes) *act_bytes = (uint64_t)a.total * sizeof(float);
  /* token and target ids live with the scratch */
  if (scratch_bytes) *scratch_bytes = (uint64_t)s.total * sizeof(float) + 2ull * B * T * sizeof(int32_t);
}

agpt_status agpt_model_memory_estimate(const agpt_model_config *c, int B, int T, int recompute,
                                       agpt_model_memory *out) {
  memset(out, 0, sizeof *out);
  AGPT_TRY(agpt_model_config_validate(c, "model config"));
  if (B < 1 || T < 1) return agpt_fail("memory estimate: micro-batch-size %d and seq-length %d must be >= 1", B, T);
  agpt_param_table t;
  AGPT_TRY(agpt_param_table_build(c, &t));
  uint64_t pbytes = (uint64_t)t.total * sizeof(float);
  agpt_param_table_free(&t);
  out->params = pbytes;
  out->grads = pbytes;
  out->optim = 2 * pbytes;
  agpt_model_act_bytes(c, B, T, 0, &out->acts_full, &out->scratch);
  agpt_model_act_bytes(c, B, T, 1, &out->acts_recompute, NULL);
  out->acts = recompute ? out->acts_recompute : out->acts_full;
  out->total = out->params + out->grads + out->optim + out->acts + out->scratch;
  return AGPT_OK;
}

static size_t find_off(const agpt_param_table *t, const char *name) {
  const agpt_param *p = agpt_param_find(t, name);
  return p ? p->offset : AGPT_NO_PARAM;
}

void agpt_mdl_param_offsets(const agpt_model_config *c, const agpt_param_table *t, agpt_layer_params *lp,
                            agpt_top_params *top) {
  char nm[AGPT_PARAM_NAME_MAX];
#define OFF(...) (snprintf(nm, sizeof nm, __VA_ARGS__), find_off(t, nm))
  int llama = c->arch == AGPT_ARCH_LLAMA;
  for (int l = 0; l < c->n_layer; l++) {
    agpt_layer_params *p = &lp[l];
    if (llama) {
      const char *q = "model.layers";
      p->ln1_w = OFF("%s.%d.input_layernorm.weight", q, l);
      p->ln1_b = AGPT_NO_PARAM;
      p->qkv_w = OFF("%s.%d.self_attn.q_proj.weight", q, l);
      p->qkv_b = OFF("%s.%d.self_attn.q_proj.bias", q, l);
      p->o_w = OFF("%s.%d.self_attn.o_proj.weight", q, l);
      p->o_b = OFF("%s.%d.self_attn.o_proj.bias", q, l);
      p->ln2_w = OFF("%s.%d.post_attention_layernorm.weight", q, l);
      p->ln2_b = AGPT_NO_PARAM;
      p->fc_w = OFF("%s.%d.mlp.gate_proj.weight", q, l);
      p->fc_b = OFF("%s.%d.mlp.gate_proj.bias", q, l);
      p->down_w = OFF("%s.%d.mlp.down_proj.weight", q, l);
      p->down_b = OFF("%s.%d.mlp.down_proj.bias", q, l);
    } else {
      const char *q = "transformer.h";
      p->ln1_w = OFF("%s.%d.ln_1.weight", q, l);
      p->ln1_b = OFF("%s.%d.ln_1.bias", q, l);
      p->qkv_w = OFF("%s.%d.attn.c_attn.weight", q, l);
      p->qkv_b = OFF("%s.%d.attn.c_attn.bias", q, l);
      p->o_w = OFF("%s.%d.attn.c_proj.weight", q, l);
      p->o_b = OFF("%s.%d.attn.c_proj.bias", q, l);
      p->ln2_w = OFF("%s.%d.ln_2.weight", q, l);
      p->ln2_b = OFF("%s.%d.ln_2.bias", q, l);
      p->fc_w = OFF("%s.%d.mlp.c_fc.weight", q, l);
      p->fc_b = OFF("%s.%d.mlp.c_fc.bias", q, l);
      p->down_w = OFF("%s.%d.mlp.c_proj.weight", q, l);
      p->down_b = OFF("%s.%d.mlp.c_proj.bias", q, l);
    }
  }
  if (llama) {
    top->wte = OFF("model.embed_tokens.weight");
    top->wpe = AGPT_NO_PARAM;
    top->lnf_w = OFF("model.norm.weight");
    top->lnf_b = AGPT_NO_PARAM;
  } else {
    top->wte = OFF("transformer.wte.weight");
    top->wpe = OFF("transformer.wpe.weight");
    top->lnf_w = OFF("transformer.ln_f.weight");
    top->lnf_b = OFF("transformer.ln_f.bias");
  }
  top->lm_head = c->tie_embeddings ? top->wte : OFF("lm_head.weight");
#undef OFF
}

agpt_status agpt_model_create(const agpt_model_config *cfg, const agpt_model_opts *opts, agpt_backend *be,
                              agpt_model **out) {
  *out = NULL;
  AGPT_TRY(agpt_model_config_validate(cfg, "model config"));
  if (opts->batch < 1) return agpt_fail("model: micro-batch-size: %d must be at least 1", opts->batch);
  if (opts->seq < 1 || opts->seq > cfg->max_seq)
    return agpt_fail("model: seq-length: %d must be in [1, %d] (raise max-position-embeddings)", opts->seq,
                     cfg->max_seq);
  if ((uint64_t)opts->batch * opts->seq * (uint64_t)agpt_model_vocab_rows(cfg) >= (1ull << 31))
    return agpt_fail("model: micro-batch-size %d x seq-length %d x vocab %d exceeds 32-bit kernel indices "
                     "(lower micro-batch-size)", opts->batch, opts->seq, agpt_model_vocab_rows(cfg));
  carver count = {0}, cv = {0}, sc = {0};
  agpt_model *m = agpt_xcalloc(1, sizeof *m);
  m->cfg = *cfg;
  m->opts = *opts;
  m->be = be;
  int recompute = opts->recompute || !opts->training;
  agpt_model_views *v = m->v = agpt_xcalloc(1, sizeof *m->v);
  v->la = agpt_xcalloc((size_t)cfg->n_layer, sizeof *v->la);
  v->lp = agpt_xcalloc((size_t)cfg->n_layer, sizeof *v->lp);
  if (agpt_param_table_build(cfg, &m->table) != AGPT_OK) goto fail;
  agpt_mdl_param_offsets(cfg, &m->table, v->lp, &v->top);

  size_t pbytes = m->table.total * sizeof(float);
  if (be->alloc(be, pbytes, (void **)&m->params) != AGPT_OK) goto fail_mem;
  if (opts->training) {
    if (be->alloc(be, pbytes, (void **)&m->grads) != AGPT_OK) goto fail_mem;
    be->zero(be, m->grads, pbytes);
  }
  /* carve once to size and to record the table, then again over the buffer */
  plan_acts(&count, cfg, opts->batch, opts->seq, recompute, NULL);
  m->act_total = count.total;
  if (be->alloc(be, m->act_total * sizeof(float), (void **)&m->acts) != AGPT_OK) goto fail_mem;
  cv.base = m->acts;
  cv.tab = agpt_xmalloc(sizeof *cv.tab);
  cv.cap = 1;
  plan_acts(&cv, cfg, opts->batch, opts->seq, recompute, v);
  AGPT_ASSERT(cv.total == m->act_total);
  m->act_table = cv.tab;
  m->n_act = cv.n;
  if (opts->training) {
    plan_scratch(&sc, cfg, opts->batch, opts->seq, NULL);
    m->scratch_total = sc.total;
    if (be->alloc(be, m->scratch_total * sizeof(float), (void **)&m->scratch) != AGPT_OK) goto fail_mem;
    sc = (carver){.base = m->scratch};
    plan_scratch(&sc, cfg, opts->batch, opts->seq, v);
  }
  size_t nids = 2 * (size_t)opts->batch * opts->seq;
  if (be->alloc(be, nids * sizeof(int32_t), (void **)&m->ids) != AGPT_OK) goto fail_mem;
  v->tokens = m->ids;
  v->targets = m->ids + nids / 2;
  m->losses_host = agpt_xmalloc((size_t)opts->batch * opts->seq * sizeof(float));
  *out = m;
  return AGPT_OK;
fail_mem:
  agpt_fail_prefix("model: allocating %.1f MiB of parameters and %.1f MiB of activations",
                   (double)m->table.total * 4 / 1048576.0, (double)count.total * 4 / 1048576.0);
fail:
  agpt_model_free(m);
  return AGPT_ERR;
}

void agpt_model_free(agpt_model *m) {
  if (!m) return;
  agpt_backend *be = m->be;
  if (m->params) be->free_buf(be, m->params);
  if (m->grads) be->free_buf(be, m->grads);
  if (m->acts) be->free_buf(be, m->acts);
  if (m->scratch) be->free_buf(be, m->scratch);
  if (m->ids) be->free_buf(be, m->ids);
  agpt_param_table_free(&m->table);
  free(m->act_table);
  free(m->losses_host);
  if (m->v) {
    free(m->v->la);
    free(m->v->lp);
    free(m->v);
  }
  free(m);
}

/* Staged one tensor (or 16M-element slice) at a time, so that a 7B model
 * does not need a second full copy in host memory. */
agpt_status agpt_model_init_params(agpt_model *m, uint64_t seed) {
  const size_t chunk = (size_t)1 << 24;
  float *host = malloc(chunk * sizeof *host);
  if (!host) return agpt_fail("model: init: out of host memory for a %zu-float staging buffer", chunk);
  m->be->zero(m->be, m->params, m->table.total * sizeof(float));
  for (int i = 0; i < m->table.n; i++) {
    const agpt_param *p = &m->table.params[i];
    for (size_t first = 0; first < p->numel; first += chunk) {
      size_t n = p->numel - first < chunk ? p->numel - first : chunk;
      agpt_param_init_tensor(&m->cfg, &m->table, i, seed, first, n, host);
      m->be->copy_h2d(m->be, m->params + p->offset + first, host, n * sizeof(float));
    }
  }
  free(host);
  return AGPT_OK;
}

void agpt_model_zero_grad(agpt_model *m) {
  AGPT_ASSERT(m->grads);
  m->be->zero(m->be, m->grads, m->table.total * sizeof(float));
}

const float *agpt_model_logits(const agpt_model *m) { return m->v->logits; }
