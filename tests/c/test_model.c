/* Model tests: exact parameter counts of the presets (derived by hand below),
 * parameter-table invariants, loss at initialization, recomputation giving
 * bitwise the same loss and gradients, gradient accumulation, ignored
 * targets, finite differences on a tiny model, and cached inference against
 * the full forward. Tiny shapes only: runs in about a second. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/rng.h"
#include "model/model.h"

static agpt_backend *be;

static agpt_model_config tiny(agpt_arch arch) {
  agpt_model_config c = {.arch = arch, .n_layer = 2, .hidden = 32, .n_head = 4, .n_kv_head = 2, .ffn = 48,
                         .vocab = 67, .max_seq = 16, .rope_theta = 10000.0f, .norm_eps = 1e-5f,
                         .tie_embeddings = 0, .bias = 0, .init_std = 0.02f};
  if (arch == AGPT_ARCH_GPT2) {
    c.n_kv_head = 4;
    c.ffn = 64;
    c.tie_embeddings = 1;
    c.bias = 1;
  }
  return c;
}

static void make_ids(int32_t *tok, int32_t *tgt, int n, int V, uint64_t seed) {
  for (int i = 0; i < n; i++) {
    tok[i] = (int32_t)(agpt_rng_u64(seed, 9, 0, (uint64_t)i) % (uint64_t)V);
    tgt[i] = (int32_t)(agpt_rng_u64(seed, 9, 1, (uint64_t)i) % (uint64_t)V);
  }
}

static float *grads_host(agpt_model *m) {
  float *g = malloc(m->table.total * sizeof *g);
  be->copy_d2h(be, g, m->grads, m->table.total * sizeof *g);
  return g;
}

/* Counts derived by hand from the shapes, independently of config.c:
 * per Llama layer 2C (norms) + C*(NH+2KVH)*HS (q,k,v) + C*C (o) + 3*C*F (mlp);
 * plus V*C embeddings, V*C lm_head (untied) and C for the final norm. */
static void test_param_counts(void) {
  static const struct {
    const char *name;
    uint64_t n;
  } want[] = {
      /* 32*(8192 + 4096*(32+16)*128 + 4096^2 + 3*4096*11008) + 2*32000*4096 + 4096 */
      {"agpt-7b", 5933109248ull},
      /* GPT-2 small, the published 124,439,808 (tied, V=50257, 1024 positions) */
      {"gpt2-124m", 124439808ull},
      /* 12*(1536 + 4*768^2 + 3*768*2048) + 2*32000*768 + 768 */
      {"llama-134m", 134105856ull},
      /* 4*(512 + 256*(4+4)*64 + 256^2 + 3*256*688) + 2*8192*256 + 256 */
      {"llama-demo", 7096576ull},
      /* Llama-2-70B's published 68,976,648,192 */
      {"agpt-70b", 68976648192ull},
  };
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
    agpt_model_config c;
    CHECK(agpt_model_preset(want[i].name, &c) == AGPT_OK);
    CHECK(agpt_model_config_validate(&c, want[i].name) == AGPT_OK);
    uint64_t n = agpt_model_param_count(&c);
    CHECK_MSG(n == want[i].n, "%s: %llu != %llu", want[i].name, (unsigned long long)n,
              (unsigned long long)want[i].n);
    agpt_param_table t;
    CHECK(agpt_param_table_build(&c, &t) == AGPT_OK);
    uint64_t sum = 0;
    for (int k = 0; k < t.n; k++) sum += t.params[k].numel;
    CHECK_MSG(sum == want[i].n, "%s: table sums to %llu", want[i].name, (unsigned long long)sum);
    agpt_param_table_free(&t);
  }
  /* Llama-2-7B shape (full multi-head attention) has the well-known 6,738,415,616. */
  agpt_model_config c;
  agpt_model_preset("agpt-7b", &c);
  c.n_kv_head = 32;
  CHECK(agpt_model_param_count(&c) == 6738415616ull);
  agpt_model_config bad;
  CHECK(agpt_model_preset("no-such-model", &bad) == AGPT_ERR);
  CHECK(strstr(agpt_errmsg(), "llama-demo") != NULL);
  bad = tiny(AGPT_ARCH_LLAMA);
  bad.n_kv_head = 3;
  CHECK(agpt_model_config_validate(&bad, "x") == AGPT_ERR);
}

static int cmp_off(const void *a, const void *b) {
  const agpt_param *x = a, *y = b;
  return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static void check_table(const agpt_model_config *c) {
  agpt_param_table t;
  CHECK(agpt_param_table_build(c, &t) == AGPT_OK);
  agpt_param *s = malloc((size_t)t.n * sizeof *s);
  memcpy(s, t.params, (size_t)t.n * sizeof *s);
  qsort(s, (size_t)t.n, sizeof *s, cmp_off);
  for (int i = 0; i < t.n; i++) {
    CHECK(s[i].offset % 16 == 0);
    CHECK(s[i].numel > 0);
    size_t prod = 1;
    for (int d = 0; d < s[i].ndim; d++) prod *= (size_t)s[i].shape[d];
    CHECK(prod == s[i].numel);
    CHECK(s[i].decay == (s[i].ndim == 2));
    if (i + 1 < t.n) CHECK(s[i].offset + s[i].numel <= s[i + 1].offset);
    for (int j = i + 1; j < t.n; j++) CHECK(strcmp(s[i].name, s[j].name) != 0);
  }
  CHECK(s[t.n - 1].offset + s[t.n - 1].numel <= t.total);
  free(s);
  agpt_param_table_free(&t);
}

static void test_tables(void) {
  agpt_model_config c = tiny(AGPT_ARCH_LLAMA);
  check_table(&c);
  c.bias = 1;
  c.ffn = 64;
  c.hidden = 64; /* head size 16 */
  check_table(&c);
  c = tiny(AGPT_ARCH_GPT2);
  check_table(&c);
  c.tie_embeddings = 0;
  c.padded_vocab = 80;
  check_table(&c);
  agpt_model_preset("agpt-7b", &c);
  check_table(&c);
  agpt_param_table t;
  agpt_param_table_build(&c, &t);
  const agpt_param *q = agpt_param_find(&t, "model.layers.31.self_attn.q_proj.weight");
  const agpt_param *k = agpt_param_find(&t, "model.layers.31.self_attn.k_proj.weight");
  const agpt_param *o = agpt_param_find(&t, "model.layers.31.self_attn.o_proj.weight");
  const agpt_param *n = agpt_param_find(&t, "model.norm.weight");
  CHECK(q && k && o && n && agpt_param_find(&t, "lm_head.weight"));
  if (q && k && o && n) {
    CHECK(q->shape[0] == 4096 && q->shape[1] == 4096 && k->shape[0] == 1024 && k->shape[1] == 4096);
    CHECK(q->offset + q->numel == k->offset);
    CHECK(q->tp_split_dim == 0 && o->tp_split_dim == 1 && n->tp_split_dim == -1 && n->decay == 0);
  }
  agpt_param_table_free(&t);
}

static agpt_model *make(const agpt_model_config *c, int B, int T, int recompute, uint64_t seed) {
  agpt_model_opts o = {.batch = B, .seq = T, .recompute = recompute, .training = 1};
  agpt_model *m = NULL;
  CHECK(agpt_model_create(c, &o, be, &m) == AGPT_OK);
  if (m) CHECK(agpt_model_init_params(m, seed) == AGPT_OK);
  return m;
}

/* Loss at init, recompute, accumulation, ignored targets: one architecture. */
static void test_training_paths(agpt_arch arch) {
  agpt_model_config c = tiny(arch);
  int B = 2, T = 8, N = B * T;
  int32_t tok[16], tgt[16], tgt2[16];
  make_ids(tok, tgt, N, c.vocab, 5);
  agpt_model *m = make(&c, B, T, 0, 42), *r = make(&c, B, T, 1, 42);
  if (!m || !r) return;
  CHECK(r->act_total < m->act_total);
  uint64_t full, rec;
  agpt_model_act_bytes(&c, B, T, 0, &full, NULL);
  agpt_model_act_bytes(&c, B, T, 1, &rec, NULL);
  CHECK(full == m->act_total * 4 && rec == r->act_total * 4);

  float lm, lr;
  CHECK(agpt_model_forward(m, tok, tgt, B, T, &lm) == AGPT_OK);
  CHECK(agpt_model_forward(r, tok, tgt, B, T, &lr) == AGPT_OK);
  CHECK_CLOSE(lm, log((double)c.vocab), 0.02, 0.0);
  CHECK(memcmp(&lm, &lr, sizeof lm) == 0);
  CHECK(agpt_model_backward(m, 1.0f) == AGPT_OK);
  CHECK(agpt_model_backward(r, 1.0f) == AGPT_OK);
  float *gm = grads_host(m), *gr = grads_host(r);
  CHECK_MSG(memcmp(gm, gr, m->table.total * sizeof(float)) == 0, "recompute changed the gradients");
  double sq = 0;
  for (size_t i = 0; i < m->table.total; i++) sq += (double)gm[i] * gm[i];
  CHECK(sq > 0 && isfinite(sq));
  CHECK(agpt_model_backward(m, 1.0f) == AGPT_ERR); /* one backward per forward */

  /* accumulation: two backwards at 1/2 equal one at 1, up to the rounding of
   * the sums where a tensor receives several contributions (tied embeddings) */
  agpt_model_zero_grad(r);
  for (int i = 0; i < 2; i++) {
    agpt_model_forward(r, tok, tgt, B, T, NULL);
    CHECK(agpt_model_backward(r, 0.5f) == AGPT_OK);
  }
  float *ga = grads_host(r);
  size_t bad = 0;
  float gmax = 0;
  for (size_t i = 0; i < m->table.total; i++) gmax = fmaxf(gmax, fabsf(gm[i]));
  for (size_t i = 0; i < m->table.total; i++) bad += fabsf(ga[i] - gm[i]) > 1e-5f * fabsf(gm[i]) + 1e-6f * gmax;
  CHECK_MSG(bad == 0, "%zu gradient entries differ after accumulation", bad);

  /* ignored targets: the loss is the mean over the rest */
  float per[16];
  memcpy(per, m->losses_host, sizeof per);
  double sum = 0;
  int nv = 0;
  for (int i = 0; i < N; i++) {
    tgt2[i] = i % 3 == 0 ? -1 : tgt[i];
    if (tgt2[i] >= 0) sum += per[i], nv++;
  }
  float li;
  CHECK(agpt_model_forward(m, tok, tgt2, B, T, &li) == AGPT_OK);
  CHECK_CLOSE(li, sum / nv, 1e-6, 0.0);
  for (int i = 0; i < N; i++) tgt2[i] = -1;
  agpt_model_zero_grad(m);
  CHECK(agpt_model_forward(m, tok, tgt2, B, T, &li) == AGPT_OK);
  CHECK(li == 0.0f);
  CHECK(agpt_model_backward(m, 1.0f) == AGPT_OK);
  float *gz = grads_host(m);
  int nonzero = 0;
  for (size_t i = 0; i < m->table.total; i++) nonzero += gz[i] != 0.0f;
  CHECK(nonzero == 0);

  /* bad ids are input errors */
  int32_t badtok[16];
  memcpy(badtok, tok, sizeof badtok);
  badtok[3] = c.vocab;
  CHECK(agpt_model_forward(m, badtok, tgt, B, T, NULL) == AGPT_ERR);
  CHECK(strstr(agpt_errmsg(), "token 3") != NULL);
  CHECK(agpt_model_forward(m, tok, tgt, B, T + 1, NULL) == AGPT_ERR);

  free(gm);
  free(gr);
  free(ga);
  free(gz);
  agpt_model_free(m);
  agpt_model_free(r);
}

/* Central differences on a few entries of every tensor kind, in float32:
 * the init is scaled up so the loss moves well above rounding. */
static void test_finite_differences(agpt_arch arch) {
  agpt_model_config c = tiny(arch);
  c.init_std = 0.3f;
  int B = 2, T = 5, N = B * T;
  int32_t tok[10], tgt[10];
  make_ids(tok, tgt, N, c.vocab, 7);
  agpt_model *m = make(&c, B, T, 0, 3);
  if (!m) return;
  agpt_model_forward(m, tok, tgt, B, T, NULL);
  agpt_model_backward(m, 1.0f);
  float *g = grads_host(m);
  float *p = malloc(m->table.total * sizeof *p);
  be->copy_d2h(be, p, m->params, m->table.total * sizeof *p);
  int tested = 0, failed = 0;
  for (int ti = 0; ti < m->table.n; ti++) {
    const agpt_param *pr = &m->table.params[ti];
    /* the entry with the largest gradient, where the relative error means most */
    size_t best = pr->offset;
    for (size_t i = pr->offset; i < pr->offset + pr->numel; i++)
      if (fabsf(g[i]) > fabsf(g[best])) best = i;
    const float eps = 1e-2f;
    float keep = p[best], lp, lm;
    p[best] = keep + eps;
    be->copy_h2d(be, m->params + best, &p[best], sizeof(float));
    agpt_model_forward(m, tok, tgt, B, T, &lp);
    p[best] = keep - eps;
    be->copy_h2d(be, m->params + best, &p[best], sizeof(float));
    agpt_model_forward(m, tok, tgt, B, T, &lm);
    p[best] = keep;
    be->copy_h2d(be, m->params + best, &p[best], sizeof(float));
    double fd = ((double)lp - lm) / (2.0 * eps);
    tested++;
    if (fabs(fd - g[best]) > 2e-3 + 0.03 * fabs(g[best])) {
      failed++;
      fprintf(stderr, "fd %s[%zu]: analytic %.6g, numeric %.6g\n", pr->name, best - pr->offset, g[best], fd);
    }
  }
  CHECK(tested == m->table.n);
  CHECK_MSG(failed == 0, "%d of %d finite-difference checks failed (%s)", failed, tested, agpt_arch_name(arch));
  free(g);
  free(p);
  agpt_model_free(m);
}

/* Cached inference, one token at a time and in chunks, against the logits of
 * the full forward. */
static void test_infer(agpt_arch arch, int padded) {
  agpt_model_config c = tiny(arch);
  if (padded) c.padded_vocab = 80;
  int B = 2, T = 7, V = c.vocab, Vp = agpt_model_vocab_rows(&c);
  int32_t tok[14], tgt[14];
  make_ids(tok, tgt, B * T, V, 11);
  agpt_model_opts o = {.batch = B, .seq = T, .recompute = 0, .training = 0};
  agpt_model *m = NULL;
  CHECK(agpt_model_create(&c, &o, be, &m) == AGPT_OK);
  if (!m) return;
  CHECK(m->grads == NULL);
  agpt_model_init_params(m, 9);
  CHECK(agpt_model_forward(m, tok, NULL, B, T, NULL) == AGPT_OK);
  float *full = malloc((size_t)B * T * Vp * sizeof *full);
  be->copy_d2h(be, full, agpt_model_logits(m), (size_t)B * T * Vp * sizeof *full);
  double maxref = 0;
  for (int i = 0; i < B * T * Vp; i++) maxref = fmax(maxref, fabs(full[i]));

  agpt_kv_cache *kc = NULL;
  CHECK(agpt_kv_cache_create(m, B, T, 4, &kc) == AGPT_OK);
  if (!kc) return;
  float *lg = malloc((size_t)B * 4 * V * sizeof *lg);
  double err = 0;
  /* token by token, last-position logits */
  for (int t = 0; t < T; t++) {
    int32_t step[2] = {tok[t], tok[T + t]};
    CHECK(agpt_model_infer(m, kc, step, B, 1, t, 0, lg) == AGPT_OK);
    for (int b = 0; b < B; b++)
      for (int v = 0; v < V; v++) err = fmax(err, fabs(lg[b * V + v] - full[((size_t)b * T + t) * Vp + v]));
  }
  /* restart at 0 in chunks of 4 then 3 with all positions */
  int pos = 0;
  for (int chunk = 4; pos < T; chunk = T - pos) {
    int32_t part[8];
    for (int b = 0; b < B; b++)
      for (int t = 0; t < chunk; t++) part[b * chunk + t] = tok[b * T + pos + t];
    CHECK(agpt_model_infer(m, kc, part, B, chunk, pos, 1, lg) == AGPT_OK);
    for (int b = 0; b < B; b++)
      for (int t = 0; t < chunk; t++)
        for (int v = 0; v < V; v++)
          err = fmax(err, fabs(lg[((size_t)b * chunk + t) * V + v] - full[((size_t)b * T + pos + t) * Vp + v]));
    pos += chunk;
  }
  CHECK_MSG(err <= 1e-5 * maxref + 1e-7, "%s: cached logits differ by %g (max %g)", agpt_arch_name(arch), err,
            maxref);
  int32_t one[2] = {1, 2};
  CHECK(agpt_model_infer(m, kc, one, B, 1, T, 0, lg) == AGPT_ERR); /* past the cache */
  free(full);
  free(lg);
  agpt_kv_cache_free(kc);
  agpt_model_free(m);
}

static void test_memory(void) {
  agpt_model_config c;
  agpt_model_preset("agpt-7b", &c);
  agpt_model_memory full, rec;
  CHECK(agpt_model_memory_estimate(&c, 1, 4096, 0, &full) == AGPT_OK);
  CHECK(agpt_model_memory_estimate(&c, 1, 4096, 1, &rec) == AGPT_OK);
  CHECK(full.params >= 4 * agpt_model_param_count(&c) && full.optim == 2 * full.params);
  CHECK(rec.acts < full.acts / 4 && rec.total < full.total);
  /* residuals are (L+1) x N x C floats and are kept in both modes */
  CHECK(rec.acts > 33ull * 4096 * 4096 * 4);
}

int main(void) {
  CHECK(agpt_backend_get("cpu", &be) == AGPT_OK);
  test_param_counts();
  test_tables();
  test_memory();
  test_training_paths(AGPT_ARCH_LLAMA);
  test_training_paths(AGPT_ARCH_GPT2);
  test_finite_differences(AGPT_ARCH_LLAMA);
  test_finite_differences(AGPT_ARCH_GPT2);
  test_infer(AGPT_ARCH_LLAMA, 0);
  test_infer(AGPT_ARCH_GPT2, 1);
  return check_done("test_model");
}
