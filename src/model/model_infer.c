/* Cached inference for generation: keys and values of past positions stay in
 * a per-layer cache, so each new token costs one layer pass over one row.
 * The layer forward is the training one (agpt_mdl_layer_fwd) with attention
 * reading the cache; only the positions differ (pos0).
 *
 * Invariants of agpt_kv_cache:
 *  1. Positions 0..filled-1 of every layer hold the keys and values of the
 *     tokens given so far; agpt_model_infer(pos0) needs pos0 <= filled and
 *     leaves filled = pos0 + Tq (a smaller pos0 rewinds: later entries are
 *     overwritten before they are read).
 *  2. The workspace is sized for B x max_chunk tokens and nothing else is
 *     allocated after creation. */
#include <stdlib.h>
#include <string.h>

#include "model/model_internal.h"

struct agpt_kv_cache {
  const agpt_model *m;
  int B, Tmax, max_chunk, filled;
  float *buf; /* device: caches, then workspace; owned */
  float **k, **v; /* L pointers into buf, each (B,Tmax,KVH,HS); owned arrays */
  float *xa, *xb, *ln1, *ln1_mean, *ln1_rstd, *qkv, *att, *ln2, *ln2_mean, *ln2_rstd, *fc, *fca;
  float *last, *lnf, *lnf_mean, *lnf_rstd, *logits; /* logits (B*max_chunk, Vp) */
  int32_t *tokens; /* device (B*max_chunk) */
};

agpt_status agpt_kv_cache_create(const agpt_model *m, int B, int Tmax, int max_chunk, agpt_kv_cache **out) {
  *out = NULL;
  const agpt_model_config *c = &m->cfg;
  if (B < 1 || Tmax < 1 || max_chunk < 1 || max_chunk > Tmax)
    return agpt_fail("kv cache: batch %d, length %d, chunk %d: need all >= 1 and chunk <= length", B, Tmax,
                     max_chunk);
  if (Tmax > c->max_seq)
    return agpt_fail("kv cache: length %d exceeds the model's max-position-embeddings %d (shorten the prompt "
                     "plus --max-new-tokens)", Tmax, c->max_seq);
  size_t N = (size_t)B * max_chunk, C = (size_t)c->hidden, HS = (size_t)agpt_model_head_size(c);
  size_t KV = (size_t)c->n_kv_head * HS, QKV = (size_t)agpt_model_qkv_dim(c), A = (size_t)c->n_head * HS;
  size_t Vp = (size_t)agpt_model_vocab_rows(c), F = (size_t)c->ffn, FC = (size_t)agpt_mdl_fc_dim(c);
  size_t per = ((size_t)B * Tmax * KV + 15) / 16 * 16;
  int L = c->n_layer;
  /* sizes of the workspace tensors, in the order of the fields above */
  size_t sizes[] = {N * C, N * C, N * C, N, N, N * QKV, N * A, N * C, N, N, N * FC, N * F,
                    (size_t)B * C, N * C, N, N, N * Vp};
  enum { NW = sizeof sizes / sizeof sizes[0] };
  size_t total = 2 * (size_t)L * per;
  for (int i = 0; i < NW; i++) total += (sizes[i] + 15) / 16 * 16;
  total += (N + 15) / 16 * 16; /* token ids, as int32 in float-sized slots */
  if ((uint64_t)N * Vp >= (1ull << 31))
    return agpt_fail("kv cache: batch %d x chunk %d x vocab %zu exceeds 32-bit kernel indices (lower the chunk)",
                     B, max_chunk, Vp);
  agpt_kv_cache *kc = agpt_xcalloc(1, sizeof *kc);
  kc->m = m;
  kc->B = B;
  kc->Tmax = Tmax;
  kc->max_chunk = max_chunk;
  if (m->be->alloc(m->be, total * sizeof(float), (void **)&kc->buf) != AGPT_OK) {
    free(kc);
    return agpt_fail_prefix("kv cache: allocating %.1f MiB", (double)total * 4 / 1048576.0);
  }
  m->be->zero(m->be, kc->buf, total * sizeof(float));
  kc->k = agpt_xmalloc((size_t)L * sizeof *kc->k);
  kc->v = agpt_xmalloc((size_t)L * sizeof *kc->v);
  float *p = kc->buf;
  for (int l = 0; l < L; l++) {
    kc->k[l] = p;
    p += per;
    kc->v[l] = p;
    p += per;
  }
  float **fields[] = {&kc->xa, &kc->xb, &kc->ln1, &kc->ln1_mean, &kc->ln1_rstd, &kc->qkv, &kc->att, &kc->ln2,
                      &kc->ln2_mean, &kc->ln2_rstd, &kc->fc, &kc->fca, &kc->last, &kc->lnf, &kc->lnf_mean,
                      &kc->lnf_rstd, &kc->logits};
  for (int i = 0; i < NW; i++) {
    *fields[i] = p;
    p += (sizes[i] + 15) / 16 * 16;
  }
  kc->tokens = (int32_t *)p;
  *out = kc;
  return AGPT_OK;
}

void agpt_kv_cache_free(agpt_kv_cache *c) {
  if (!c) return;
  if (c->buf) c->m->be->free_buf(c->m->be, c->buf);
  free(c->k);
  free(c->v);
  free(c);
}

agpt_status agpt_model_infer(agpt_model *m, agpt_kv_cache *kc, const int32_t *tokens, int B, int Tq, int pos0,
                             int all_positions, float *logits) {
  agpt_backend *be = m->be;
  const agpt_model_config *c = &m->cfg;
  if (kc->m != m) return agpt_fail("model infer: the kv cache belongs to another model");
  if (B != kc->B || Tq < 1 || Tq > kc->max_chunk || pos0 < 0 || pos0 > kc->filled || pos0 + Tq > kc->Tmax)
    return agpt_fail("model infer: batch %d, %d tokens at position %d do not fit the cache (batch %d, chunk %d, "
                     "length %d, %d positions filled)", B, Tq, pos0, kc->B, kc->max_chunk, kc->Tmax, kc->filled);
  size_t N = (size_t)B * Tq;
  for (size_t i = 0; i < N; i++)
    if (tokens[i] < 0 || tokens[i] >= c->vocab)
      return agpt_fail("model infer: token %zu: id %d outside the vocabulary [0, %d)", i, (int)tokens[i], c->vocab);
  be->copy_h2d(be, kc->tokens, tokens, N * sizeof(int32_t));
  agpt_model_views *v = m->v;
  be->embedding_fwd(be, kc->xa, kc->tokens, agpt_mdl_p(m, v->top.wte), agpt_mdl_p(m, v->top.wpe), B, Tq,
                    c->hidden, pos0);
  /* x and xout share xa; xmid is xb (agpt_mdl_layer_fwd reads x before writing xout) */
  agpt_layer_acts a = {.x = kc->xa, .ln1 = kc->ln1, .ln1_mean = kc->ln1_mean, .ln1_rstd = kc->ln1_rstd,
                       .qkv = kc->qkv, .att = kc->att, .lse = NULL, .xmid = kc->xb, .ln2 = kc->ln2,
                       .ln2_mean = kc->ln2_mean, .ln2_rstd = kc->ln2_rstd, .fc = kc->fc, .fca = kc->fca,
                       .xout = kc->xa};
  for (int l = 0; l < c->n_layer; l++) agpt_mdl_layer_fwd(m, l, &a, B, Tq, pos0, kc->k[l], kc->v[l], kc->Tmax);
  kc->filled = pos0 + Tq;

  size_t C = (size_t)c->hidden, V = (size_t)c->vocab, Vp = (size_t)agpt_model_vocab_rows(c);
  const float *x = kc->xa;
  size_t rows = N;
  if (!all_positions) {
    for (int b = 0; b < B; b++)
      be->copy_d2d(be, kc->last + (size_t)b * C, kc->xa + ((size_t)b * Tq + Tq - 1) * C, C * sizeof(float));
    x = kc->last;
    rows = (size_t)B;
  }
  agpt_mdl_head_fwd(m, kc->logits, kc->lnf, kc->lnf_mean, kc->lnf_rstd, x, (int)rows);
  if (V == Vp) {
    be->copy_d2h(be, logits, kc->logits, rows * V * sizeof(float));
  } else {
    for (size_t r = 0; r < rows; r++) be->copy_d2h(be, logits + r * V, kc->logits + r * Vp, V * sizeof(float));
  }
  return AGPT_OK;
}
