/* agpt generate: loads a checkpoint and continues a prompt with the KV cache,
 * printing the text as it is produced. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "ckpt/checkpoint.h"
#include "ckpt/model_json.h"
#include "cli/commands.h"
#include "cli/flags.h"
#include "core/log.h"
#include "core/rng.h"
#include "data/tokenizer.h"
#include "model/model.h"
#include "serve/sample.h"

typedef struct {
  const char *load, *tokenizer, *prompt, *device;
  int max_new, top_k, greedy, no_eos_stop, show_ids;
  double temperature, top_p;
  int64_t seed;
} gen_args;

static agpt_status load_model(const gen_args *g, agpt_backend *be, agpt_model **out, char *dir, size_t cap) {
  int64_t iter;
  AGPT_TRY(agpt_ckpt_resolve(g->load, dir, cap, &iter));
  char *text;
  size_t n;
  AGPT_TRY(agpt_ckpt_read_file(dir, "config.json", &text, &n));
  char path[4200];
  snprintf(path, sizeof path, "%s/config.json", dir);
  agpt_model_config cfg;
  agpt_status st = agpt_model_config_from_json(text, n, path, &cfg);
  free(text);
  AGPT_TRY(st);
  agpt_model_opts mo = {.batch = 1, .seq = 1, .recompute = 0, .training = 0};
  AGPT_TRY(agpt_model_create(&cfg, &mo, be, out));
  size_t bytes = (*out)->table.total * sizeof(float);
  float *host = malloc(bytes);
  if (!host) return agpt_fail("out of memory loading %zu bytes of weights", bytes);
  st = agpt_ckpt_read_table(dir, "model.safetensors", &(*out)->table, "", host);
  if (st == AGPT_OK) be->copy_h2d(be, (*out)->params, host, bytes);
  free(host);
  return st;
}

static agpt_status generate(const gen_args *g) {
  agpt_backend *be;
  AGPT_TRY(agpt_backend_get(g->device, &be));
  agpt_model *m = NULL;
  agpt_tok *tok = NULL;
  agpt_kv_cache *kv = NULL;
  int32_t *ids = NULL, *work_idx = NULL;
  float *logits = NULL, *work_p = NULL;
  agpt_sb text = {0};
  char dir[4096];
  agpt_status st = load_model(g, be, &m, dir, sizeof dir);
  if (st != AGPT_OK) goto done;
  if (g->tokenizer) {
    st = agpt_tok_load(g->tokenizer, &tok);
  } else {
    char *tj;
    size_t tn;
    st = agpt_ckpt_read_file(dir, "tokenizer.json", &tj, &tn);
    if (st != AGPT_OK) {
      agpt_fail_prefix("no --tokenizer given and the checkpoint has none");
      goto done;
    }
    st = agpt_tok_load_json(tj, tn, "tokenizer.json of the checkpoint", &tok);
    free(tj);
  }
  if (st != AGPT_OK) goto done;
  int V = m->cfg.vocab;
  if ((int)agpt_tok_vocab_size(tok) > V) {
    st = agpt_fail("the tokenizer has %zu tokens but the model only %d: use the tokenizer the model was trained with",
                   agpt_tok_vocab_size(tok), V);
    goto done;
  }
  size_t n = 0, cap = 0;
  int32_t bos = agpt_tok_bos(tok), eos = agpt_tok_eos(tok);
  /* The template's tokens before the text (BOS for Llama-3 files) start the
   * prompt as they started each training document preprocessed with
   * --add-special-tokens; tokens after the text (an EOS) would end it, so
   * they are left out. */
  size_t n_tmpl = 0, n_pre = 0;
  const int32_t *tmpl = agpt_tok_template(tok, &n_tmpl);
  while (tmpl && n_pre < n_tmpl && tmpl[n_pre] != AGPT_TOK_TEXT) n_pre++;
  if (n_pre == n_tmpl) n_pre = 0;
  if (n_pre) {
    cap = n_pre;
    ids = agpt_xcalloc(cap, sizeof *ids);
    memcpy(ids, tmpl, n_pre * sizeof *ids);
    n = n_pre;
  }
  st = agpt_tok_encode(tok, g->prompt, strlen(g->prompt), &ids, &n, &cap);
  if (st != AGPT_OK) goto done;
  if (n == 0) {
    if (bos < 0 && eos < 0) {
      st = agpt_fail("--prompt is empty and the tokenizer has no BOS/EOS token to start from");
      goto done;
    }
    ids = realloc(ids, sizeof *ids);
    ids[0] = bos >= 0 ? bos : eos;
    n = 1;
  }
  int Tmax = m->cfg.max_seq;
  if ((int)n >= Tmax) {
    agpt_log_warn("the prompt has %zu tokens, the model's context %d: keeping the last %d", n, Tmax, Tmax / 2);
    memmove(ids, ids + n - Tmax / 2, sizeof *ids * (size_t)(Tmax / 2));
    n = (size_t)(Tmax / 2);
  }
  int total = g->max_new > Tmax - (int)n ? Tmax + 1 : (int)n + g->max_new; /* no int overflow */
  if (total > Tmax) {
    agpt_log_warn("prompt + --max-new-tokens exceeds the model's context of %d tokens: stopping there", Tmax);
    total = Tmax;
  }
  ids = realloc(ids, sizeof *ids * (size_t)total);
  logits = malloc(sizeof *logits * (size_t)V);
  work_p = malloc(sizeof *work_p * (size_t)V);
  work_idx = malloc(sizeof *work_idx * (size_t)V);
  if (!ids || !logits || !work_p || !work_idx) {
    st = agpt_fail("out of memory");
    goto done;
  }
  st = agpt_kv_cache_create(m, 1, total, (int)n, &kv);
  if (st != AGPT_OK) goto done;
  agpt_sample_opts so = {g->greedy ? 0.0f : (float)g->temperature, g->top_k, (float)g->top_p};
  fwrite(g->prompt, 1, strlen(g->prompt), stdout);
  fflush(stdout);
  int pos = 0, chunk = (int)n;
  while (1) {
    st = agpt_model_infer(m, kv, ids + pos, 1, chunk, pos, 0, logits);
    if (st != AGPT_OK) goto done;
    pos += chunk;
    if ((int)n >= total) break;
    float u = agpt_rng_uniform((uint64_t)g->seed, AGPT_RNG_SAMPLE, (uint64_t)n, 0);
    int32_t next = agpt_sample_token(logits, V, &so, u, work_p, work_idx);
    ids[n++] = next;
    if (next == eos && !g->no_eos_stop) break;
    /* byte-level tokens decode independently: print each as it comes */
    text.len = 0;
    st = agpt_tok_decode(tok, &next, 1, &text);
    if (st != AGPT_OK) goto done;
    fwrite(text.data, 1, text.len, stdout);
    fflush(stdout);
    chunk = 1;
  }
  putchar('\n');
  if (g->show_ids) {
    for (size_t i = 0; i < n; i++) printf("%s%d", i ? " " : "", ids[i]);
    putchar('\n');
  }
done:
  agpt_sb_free(&text);
  if (kv) agpt_kv_cache_free(kv);
  if (m) agpt_model_free(m);
  if (tok) agpt_tok_free(tok);
  free(ids);
  free(logits);
  free(work_p);
  free(work_idx);
  return st;
}

int agpt_cmd_generate(int argc, char **argv) {
  gen_args g;
  memset(&g, 0, sizeof g);
  const agpt_flag flags[] = {
      {"load", AGPT_FLAG_STR, &g.load, NULL, "checkpoint directory (follows `latest`) or an iter_ directory", NULL, NULL},
      {"tokenizer", AGPT_FLAG_STR, &g.tokenizer, NULL, "tokenizer.json (default: the one stored in the checkpoint)", NULL, NULL},
      {"prompt", AGPT_FLAG_STR, &g.prompt, "", "text to continue", NULL, NULL},
      {"max-new-tokens", AGPT_FLAG_INT, &g.max_new, "64", "tokens to generate", NULL, "[0, inf)"},
      {"temperature", AGPT_FLAG_FLOAT, &g.temperature, "1.0", "softmax temperature (0: greedy)", NULL, "[0, inf)"},
      {"top-k", AGPT_FLAG_INT, &g.top_k, "0", "sample among the k most likely tokens (0: all)", NULL, "[0, inf)"},
      {"top-p", AGPT_FLAG_FLOAT, &g.top_p, "1.0", "sample from the smallest set with this probability mass (1: off)", NULL, "(0, 1]"},
      {"greedy", AGPT_FLAG_BOOL, &g.greedy, NULL, "always take the most likely token", NULL, NULL},
      {"seed", AGPT_FLAG_I64, &g.seed, "1234", "seed of the sampling draws (same seed, same text)", NULL, "[0, inf)"},
      {"ignore-eos", AGPT_FLAG_BOOL, &g.no_eos_stop, NULL, "keep going after the end-of-text token", NULL, NULL},
      {"show-ids", AGPT_FLAG_BOOL, &g.show_ids, NULL, "also print the token ids", NULL, NULL},
      {"device", AGPT_FLAG_STR, &g.device, "cpu", "backend", NULL, NULL},
  };
  int n = AGPT_NFLAGS(flags), help;
  agpt_status st = agpt_flags_parse(flags, n, argc, argv, NULL, &help);
  if (help) {
    agpt_flags_usage(stdout, "agpt generate --load DIR --prompt TEXT [flags]",
                     "Continue a prompt with a trained checkpoint (KV cache; greedy, temperature, top-k, top-p).",
                     flags, n);
    return 0;
  }
  if (st == AGPT_OK && !g.load) st = agpt_fail("--load is required (a checkpoint directory written by agpt train)");
  if (st != AGPT_OK) {
    fprintf(stderr, "agpt generate: %s\n(see agpt generate --help)\n", agpt_errmsg());
    return 2;
  }
  if (generate(&g) != AGPT_OK) {
    fprintf(stderr, "agpt generate: error: %s\n", agpt_errmsg());
    return 1;
  }
  return 0;
}
