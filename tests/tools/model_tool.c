/* model_tool: runs the agpt model once for the PyTorch reference test.
 *
 *   model_tool OUTDIR key=value...
 *
 * Builds a model from the keys (arch, layers, hidden, heads, kv_heads, ffn,
 * vocab, padded_vocab, seq, batch, tie, bias, theta, eps, std, seed,
 * recompute, ignore_every), initializes it from seed, draws tokens and
 * targets, runs forward and backward (scale 1) and cached inference one
 * token at a time, and writes into OUTDIR:
 *   table.json      config, loss and the parameter table (name, shape, offset, numel)
 *   params.bin      the flat parameter buffer (float32, table order and padding)
 *   grads.bin       the gradients, same layout
 *   logits.bin      (B, T, Vp) float32 of the forward
 *   cached.bin      (B, T, V) float32 from agpt_model_infer, position by position
 *   tokens.bin, targets.bin   (B, T) int32 (targets -1 are ignored) */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "model/model.h"

static int write_file(const char *dir, const char *name, const void *p, size_t bytes) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  if (!f) {
    fprintf(stderr, "model_tool: %s: %s\n", path, strerror(errno));
    return -1;
  }
  size_t w = fwrite(p, 1, bytes, f);
  if (fclose(f) != 0 || w != bytes) {
    fprintf(stderr, "model_tool: %s: short write\n", path);
    return -1;
  }
  return 0;
}

static int die(const char *what) {
  fprintf(stderr, "model_tool: %s: %s\n", what, agpt_errmsg());
  return 1;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: model_tool OUTDIR key=value...\n");
    return 2;
  }
  const char *dir = argv[1];
  agpt_model_config c = {.arch = AGPT_ARCH_LLAMA, .n_layer = 2, .hidden = 32, .n_head = 4, .n_kv_head = 2,
                         .ffn = 48, .vocab = 67, .max_seq = 16, .rope_theta = 10000.0f, .norm_eps = 1e-5f,
                         .init_std = 0.02f};
  int B = 2, T = 8, recompute = 0, ignore_every = 0;
  long seed = 1;
  for (int i = 2; i < argc; i++) {
    char *eq = strchr(argv[i], '=');
    if (!eq) {
      fprintf(stderr, "model_tool: argument '%s' is not key=value\n", argv[i]);
      return 2;
    }
    *eq = 0;
    const char *k = argv[i], *v = eq + 1;
    if (!strcmp(k, "arch")) c.arch = !strcmp(v, "gpt2") ? AGPT_ARCH_GPT2 : AGPT_ARCH_LLAMA;
    else if (!strcmp(k, "layers")) c.n_layer = atoi(v);
    else if (!strcmp(k, "hidden")) c.hidden = atoi(v);
    else if (!strcmp(k, "heads")) c.n_head = atoi(v);
    else if (!strcmp(k, "kv_heads")) c.n_kv_head = atoi(v);
    else if (!strcmp(k, "ffn")) c.ffn = atoi(v);
    else if (!strcmp(k, "vocab")) c.vocab = atoi(v);
    else if (!strcmp(k, "padded_vocab")) c.padded_vocab = atoi(v);
    else if (!strcmp(k, "seq")) T = atoi(v);
    else if (!strcmp(k, "batch")) B = atoi(v);
    else if (!strcmp(k, "tie")) c.tie_embeddings = atoi(v);
    else if (!strcmp(k, "bias")) c.bias = atoi(v);
    else if (!strcmp(k, "theta")) c.rope_theta = strtof(v, NULL);
    else if (!strcmp(k, "eps")) c.norm_eps = strtof(v, NULL);
    else if (!strcmp(k, "std")) c.init_std = strtof(v, NULL);
    else if (!strcmp(k, "seed")) seed = atol(v);
    else if (!strcmp(k, "recompute")) recompute = atoi(v);
    else if (!strcmp(k, "ignore_every")) ignore_every = atoi(v);
    else {
      fprintf(stderr, "model_tool: unknown key '%s'\n", k);
      return 2;
    }
  }
  c.max_seq = T;
  agpt_backend *be;
  if (agpt_backend_get("cpu", &be) != AGPT_OK) return die("backend");
  agpt_model_opts o = {.batch = B, .seq = T, .recompute = recompute, .training = 1};
  agpt_model *m;
  if (agpt_model_create(&c, &o, be, &m) != AGPT_OK) return die("create");
  if (agpt_model_init_params(m, (uint64_t)seed) != AGPT_OK) return die("init");

  size_t N = (size_t)B * T, V = (size_t)c.vocab, Vp = (size_t)agpt_model_vocab_rows(&c);
  int32_t *tok = malloc(N * sizeof *tok), *tgt = malloc(N * sizeof *tgt);
  for (size_t i = 0; i < N; i++) {
    tok[i] = (int32_t)(agpt_rng_u64((uint64_t)seed, 77, 0, i) % V);
    tgt[i] = (int32_t)(agpt_rng_u64((uint64_t)seed, 77, 1, i) % V);
    if (ignore_every > 0 && i % (size_t)ignore_every == 0) tgt[i] = -1;
  }
  float loss;
  if (agpt_model_forward(m, tok, tgt, B, T, &loss) != AGPT_OK) return die("forward");
  float *logits = malloc(N * Vp * sizeof *logits);
  be->copy_d2h(be, logits, agpt_model_logits(m), N * Vp * sizeof *logits);
  if (agpt_model_backward(m, 1.0f) != AGPT_OK) return die("backward");
  size_t total = m->table.total;
  float *params = malloc(total * sizeof *params), *grads = malloc(total * sizeof *grads);
  be->copy_d2h(be, params, m->params, total * sizeof *params);
  be->copy_d2h(be, grads, m->grads, total * sizeof *grads);

  agpt_kv_cache *kc;
  if (agpt_kv_cache_create(m, B, T, 1, &kc) != AGPT_OK) return die("kv cache");
  float *cached = malloc(N * V * sizeof *cached), *row = malloc((size_t)B * V * sizeof *row);
  int32_t *step = malloc((size_t)B * sizeof *step);
  for (int t = 0; t < T; t++) {
    for (int b = 0; b < B; b++) step[b] = tok[(size_t)b * T + t];
    if (agpt_model_infer(m, kc, step, B, 1, t, 0, row) != AGPT_OK) return die("infer");
    for (int b = 0; b < B; b++) memcpy(cached + ((size_t)b * T + t) * V, row + (size_t)b * V, V * sizeof *row);
  }

  if (write_file(dir, "params.bin", params, total * 4) || write_file(dir, "grads.bin", grads, total * 4) ||
      write_file(dir, "logits.bin", logits, N * Vp * 4) || write_file(dir, "cached.bin", cached, N * V * 4) ||
      write_file(dir, "tokens.bin", tok, N * 4) || write_file(dir, "targets.bin", tgt, N * 4))
    return 1;
  char path[4096];
  snprintf(path, sizeof path, "%s/table.json", dir);
  FILE *f = fopen(path, "w");
  if (!f) {
    fprintf(stderr, "model_tool: %s: %s\n", path, strerror(errno));
    return 1;
  }
  fprintf(f,
          "{\"config\": {\"arch\": \"%s\", \"layers\": %d, \"hidden\": %d, \"heads\": %d, \"kv_heads\": %d, "
          "\"ffn\": %d, \"vocab\": %d, \"padded_vocab\": %d, \"seq\": %d, \"batch\": %d, \"tie\": %d, \"bias\": %d, "
          "\"theta\": %.9g, \"eps\": %.9g},\n \"loss\": %.9g, \"total\": %zu,\n \"params\": [\n",
          agpt_arch_name(c.arch), c.n_layer, c.hidden, c.n_head, c.n_kv_head, c.ffn, c.vocab, (int)Vp, T, B,
          c.tie_embeddings, c.bias, (double)c.rope_theta, (double)c.norm_eps, (double)loss, total);
  for (int i = 0; i < m->table.n; i++) {
    const agpt_param *p = &m->table.params[i];
    fprintf(f, "  {\"name\": \"%s\", \"shape\": [", p->name);
    for (int d = 0; d < p->ndim; d++) fprintf(f, "%s%lld", d ? ", " : "", (long long)p->shape[d]);
    fprintf(f, "], \"offset\": %zu, \"numel\": %zu, \"decay\": %d, \"tp_split_dim\": %d}%s\n", p->offset, p->numel,
            p->decay, p->tp_split_dim, i + 1 < m->table.n ? "," : "");
  }
  fprintf(f, " ]}\n");
  if (fclose(f) != 0) {
    fprintf(stderr, "model_tool: %s: write failed\n", path);
    return 1;
  }
  agpt_kv_cache_free(kc);
  agpt_model_free(m);
  free(tok);
  free(tgt);
  free(logits);
  free(params);
  free(grads);
  free(cached);
  free(row);
  free(step);
  return 0;
}
