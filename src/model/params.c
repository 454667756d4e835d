/* The parameter table of a config and the deterministic initialization.
 *
 * Rows are in the order the forward pass reads them: embeddings, then layer
 * by layer, then the final norm and the output layer. Every offset is a
 * multiple of 16 elements; because the hidden size is a multiple of 16 (and
 * Llama biases are only allowed when head size and ffn are), q,k,v and
 * gate,up of a Llama layer follow each other without padding (model.h,
 * invariant 1). The initial value of each element depends only on (seed,
 * tensor index, element index), so any shard can be initialized alone. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "model/model.h"

enum { ALIGN = 16 };

typedef struct {
  agpt_param_table *t;
  int cap;
} builder;

static agpt_param *add(builder *b, int tp_split_dim, int ndim, int64_t d0, int64_t d1, const char *fmt, ...)
    AGPT_PRINTF(6, 7);

static agpt_param *add(builder *b, int tp_split_dim, int ndim, int64_t d0, int64_t d1, const char *fmt, ...) {
  agpt_param_table *t = b->t;
  if (t->n == b->cap) {
    b->cap = b->cap ? 2 * b->cap : 64;
    t->params = agpt_xrealloc(t->params, (size_t)b->cap * sizeof *t->params);
  }
  agpt_param *p = &t->params[t->n++];
  memset(p, 0, sizeof *p);
  va_list ap;
  va_start(ap, fmt);
  int len = vsnprintf(p->name, sizeof p->name, fmt, ap);
  va_end(ap);
  AGPT_ASSERT(len > 0 && len < (int)sizeof p->name);
  p->ndim = ndim;
  p->shape[0] = d0;
  p->shape[1] = ndim > 1 ? d1 : 0;
  p->numel = (size_t)d0 * (size_t)(ndim > 1 ? d1 : 1);
  p->offset = (t->total + ALIGN - 1) / ALIGN * ALIGN;
  t->total = p->offset + p->numel;
  p->tp_split_dim = tp_split_dim;
  p->decay = ndim >= 2;
  return p;
}

static void build_llama(builder *b, const agpt_model_config *c) {
  int64_t C = c->hidden, F = c->ffn, HS = c->hidden / c->n_head;
  int64_t Q = c->n_head * HS, KV = c->n_kv_head * HS, Vp = agpt_model_vocab_rows(c);
  add(b, 0, 2, Vp, C, "model.embed_tokens.weight");
  for (int l = 0; l < c->n_layer; l++) {
    const char *p = "model.layers";
    add(b, -1, 1, C, 0, "%s.%d.input_layernorm.weight", p, l);
    add(b, 0, 2, Q, C, "%s.%d.self_attn.q_proj.weight", p, l);
    add(b, 0, 2, KV, C, "%s.%d.self_attn.k_proj.weight", p, l);
    add(b, 0, 2, KV, C, "%s.%d.self_attn.v_proj.weight", p, l);
    if (c->bias) {
      add(b, 0, 1, Q, 0, "%s.%d.self_attn.q_proj.bias", p, l);
      add(b, 0, 1, KV, 0, "%s.%d.self_attn.k_proj.bias", p, l);
      add(b, 0, 1, KV, 0, "%s.%d.self_attn.v_proj.bias", p, l);
    }
    add(b, 1, 2, C, Q, "%s.%d.self_attn.o_proj.weight", p, l);
    if (c->bias) add(b, -1, 1, C, 0, "%s.%d.self_attn.o_proj.bias", p, l);
    add(b, -1, 1, C, 0, "%s.%d.post_attention_layernorm.weight", p, l);
    add(b, 0, 2, F, C, "%s.%d.mlp.gate_proj.weight", p, l);
    add(b, 0, 2, F, C, "%s.%d.mlp.up_proj.weight", p, l);
    if (c->bias) {
      add(b, 0, 1, F, 0, "%s.%d.mlp.gate_proj.bias", p, l);
      add(b, 0, 1, F, 0, "%s.%d.mlp.up_proj.bias", p, l);
    }
    add(b, 1, 2, C, F, "%s.%d.mlp.down_proj.weight", p, l);
    if (c->bias) add(b, -1, 1, C, 0, "%s.%d.mlp.down_proj.bias", p, l);
  }
  add(b, -1, 1, C, 0, "model.norm.weight");
  if (!c->tie_embeddings) add(b, 0, 2, Vp, C, "lm_head.weight");
}

/* GPT-2 stores linear weights as (in, out) (Conv1D): the output dimension,
 * split by column-parallel layers, is dimension 1. */
static void build_gpt2(builder *b, const agpt_model_config *c) {
  int64_t C = c->hidden, F = c->ffn, Vp = agpt_model_vocab_rows(c);
  add(b, 0, 2, Vp, C, "transformer.wte.weight");
  add(b, -1, 2, c->max_seq, C, "transformer.wpe.weight");
  for (int l = 0; l < c->n_layer; l++) {
    const char *p = "transformer.h";
    add(b, -1, 1, C, 0, "%s.%d.ln_1.weight", p, l);
    add(b, -1, 1, C, 0, "%s.%d.ln_1.bias", p, l);
    add(b, 1, 2, C, 3 * C, "%s.%d.attn.c_attn.weight", p, l);
    if (c->bias) add(b, 0, 1, 3 * C, 0, "%s.%d.attn.c_attn.bias", p, l);
    add(b, 0, 2, C, C, "%s.%d.attn.c_proj.weight", p, l);
    if (c->bias) add(b, -1, 1, C, 0, "%s.%d.attn.c_proj.bias", p, l);
    add(b, -1, 1, C, 0, "%s.%d.ln_2.weight", p, l);
    add(b, -1, 1, C, 0, "%s.%d.ln_2.bias", p, l);
    add(b, 1, 2, C, F, "%s.%d.mlp.c_fc.weight", p, l);
    if (c->bias) add(b, 0, 1, F, 0, "%s.%d.mlp.c_fc.bias", p, l);
    add(b, 0, 2, F, C, "%s.%d.mlp.c_proj.weight", p, l);
    if (c->bias) add(b, -1, 1, C, 0, "%s.%d.mlp.c_proj.bias", p, l);
  }
  add(b, -1, 1, C, 0, "transformer.ln_f.weight");
  add(b, -1, 1, C, 0, "transformer.ln_f.bias");
  if (!c->tie_embeddings) add(b, 0, 2, Vp, C, "lm_head.weight");
}

/* Checks that the row named a, searched from row `from` on, is followed by
 * the row named b, stored right after it; returns a's row. Searching from
 * the current layer keeps the whole check linear in the number of rows. */
static int check_adjacent(const agpt_param_table *t, int from, const char *a, const char *b) {
  int i = from;
  while (i < t->n && strcmp(t->params[i].name, a)) i++;
  AGPT_ASSERT(i + 1 < t->n && !strcmp(t->params[i + 1].name, b));
  AGPT_ASSERT(t->params[i].offset + t->params[i].numel == t->params[i + 1].offset);
  return i;
}

agpt_status agpt_param_table_build(const agpt_model_config *c, agpt_param_table *out) {
  memset(out, 0, sizeof *out);
  AGPT_TRY(agpt_model_config_validate(c, "model config"));
  builder b = {.t = out, .cap = 0};
  if (c->arch == AGPT_ARCH_LLAMA)
    build_llama(&b, c);
  else
    build_gpt2(&b, c);
  out->total = (out->total + ALIGN - 1) / ALIGN * ALIGN;
  if (c->arch == AGPT_ARCH_LLAMA) {
    char x[AGPT_PARAM_NAME_MAX], y[AGPT_PARAM_NAME_MAX];
    int from = 0;
    for (int l = 0; l < c->n_layer; l++) {
      static const char *pairs[][2] = {{"self_attn.q_proj", "self_attn.k_proj"},
                                       {"self_attn.k_proj", "self_attn.v_proj"},
                                       {"mlp.gate_proj", "mlp.up_proj"}};
      for (int i = 0; i < 3; i++)
        for (int bias = 0; bias <= (c->bias != 0); bias++) {
          snprintf(x, sizeof x, "model.layers.%d.%s.%s", l, pairs[i][0], bias ? "bias" : "weight");
          snprintf(y, sizeof y, "model.layers.%d.%s.%s", l, pairs[i][1], bias ? "bias" : "weight");
          int at = check_adjacent(out, from, x, y);
          if (i == 0 && bias == 0) from = at; /* this layer's q_proj.weight */
        }
    }
  }
  return AGPT_OK;
}

void agpt_param_table_free(agpt_param_table *t) {
  free(t->params);
  memset(t, 0, sizeof *t);
}

const agpt_param *agpt_param_find(const agpt_param_table *t, const char *name) {
  for (int i = 0; i < t->n; i++)
    if (!strcmp(t->params[i].name, name)) return &t->params[i];
  return NULL;
}

static int ends_with(const char *s, const char *suffix) {
  size_t a = strlen(s), b = strlen(suffix);
  return a >= b && !strcmp(s + a - b, suffix);
}

/* Norm weights start at 1, biases at 0, output projections (the ones that
 * write into the residual stream) at std/sqrt(2L) as in Megatron, every
 * other matrix at std. */
void agpt_param_init_tensor(const agpt_model_config *c, const agpt_param_table *t, int ti, uint64_t seed,
                            size_t first, size_t n, float *out) {
  const agpt_param *p = &t->params[ti];
  AGPT_ASSERT(first + n <= p->numel);
  const char *nm = p->name;
  if (ends_with(nm, ".bias")) {
    memset(out, 0, n * sizeof *out);
    return;
  }
  if (strstr(nm, "norm") || strstr(nm, ".ln_")) {
    for (size_t i = 0; i < n; i++) out[i] = 1.0f;
    return;
  }
  double std = c->init_std;
  if (strstr(nm, "o_proj") || strstr(nm, "down_proj") || strstr(nm, "c_proj")) std /= sqrt(2.0 * c->n_layer);
  float s = (float)std;
#pragma omp parallel for schedule(static)
  for (size_t i = 0; i < n; i++) out[i] = s * agpt_rng_normal(seed, AGPT_RNG_INIT, (uint64_t)ti, first + i);
}

void agpt_param_init_host(const agpt_model_config *c, const agpt_param_table *t, uint64_t seed, float *out) {
  memset(out, 0, t->total * sizeof *out);
  for (int i = 0; i < t->n; i++)
    agpt_param_init_tensor(c, t, i, seed, 0, t->params[i].numel, out + t->params[i].offset);
}
