/* See preprocess.h.
 *
 * Shape of the work: the main thread cuts a mapped input into a batch of
 * document spans (a memchr pass, with line numbers), the batch is parsed and
 * encoded by an OpenMP loop into one result slot per span, and the main
 * thread then walks the slots in order: it reports malformed lines and hands
 * the token ids to the writers. Results depend only on the input, never on
 * the thread count or the scheduling. */
#include "data/preprocess.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "core/json.h"
#include "core/log.h"
#include "data/indexed.h"
#include "data/jsonl.h"

enum {
  BATCH_DOCS = 4096,
  BATCH_BYTES = 32 << 20,
};

typedef struct {
  const char *p;
  size_t n;
  uint64_t line; /* 1-based line where the document starts */
} span;

typedef struct {
  int32_t **ids; /* (n_keys) growable arrays, reused across batches */
  size_t *n, *cap;
  char *msg; /* malformed: what is wrong (owned), NULL when fine */
} slot;

typedef struct {
  const agpt_preprocess_opts *o;
  char *const *keys;
  int n_keys;
  int text_input; /* the current file is plain text */
  int32_t eod;
  span *spans;
  slot *slots;
  agpt_indexed_writer **writers; /* (n_keys) */
  agpt_preprocess_stats st;
  agpt_jsonl_rule rule; /* what a malformed line does */
  uint64_t total_bytes, done_bytes, last_log_docs;
  double t0;
} run;

static int is_text_input(const char *path) {
  size_t n = strlen(path);
  return n >= 4 && !strcmp(path + n - 4, ".txt");
}

char *agpt_preprocess_output_name(const char *prefix, const char *key) {
  size_t n = strlen(prefix) + strlen(key) + 16;
  char *s = agpt_xmalloc(n);
  snprintf(s, n, "%s_%s_document", prefix, key);
  return s;
}

/* A cursor over one mapped input. */
typedef struct {
  const char *data;
  size_t size, pos;
  uint64_t line; /* line number of data[pos] */
} cursor;

/* The next line [*p, *p + *n) without its newline; 0 at the end. */
static int next_line(cursor *c, const char **p, size_t *n, uint64_t *line) {
  if (c->pos >= c->size) return 0;
  const char *s = c->data + c->pos;
  const char *nl = memchr(s, '\n', c->size - c->pos);
  size_t len = nl ? (size_t)(nl - s) : c->size - c->pos;
  *p = s;
  *n = len;
  *line = c->line;
  c->pos += len + (nl ? 1 : 0);
  c->line++;
  return 1;
}

/* Fills r->spans with up to BATCH_DOCS documents (about BATCH_BYTES of
 * input) from c; returns how many. */
static size_t cut_batch(run *r, cursor *c) {
  size_t k = 0, bytes = 0;
  agpt_txt_mode mode = r->text_input ? r->o->txt_mode : AGPT_TXT_LINE;
  while (k < BATCH_DOCS && bytes < BATCH_BYTES && c->pos < c->size) {
    if (mode == AGPT_TXT_FILE) {
      const char *p = c->data + c->pos;
      size_t n = c->size - c->pos;
      if (!agpt_jsonl_blank(p, n)) r->spans[k++] = (span){p, n, 1};
      c->pos = c->size;
      break;
    }
    const char *p;
    size_t n;
    uint64_t line;
    if (!next_line(c, &p, &n, &line)) break;
    if (agpt_jsonl_blank(p, n)) continue;
    if (mode == AGPT_TXT_BLANK) {
      /* Extend over the following non-blank lines. */
      const char *end = p + n;
      const char *q;
      size_t m;
      uint64_t l2;
      while (next_line(c, &q, &m, &l2) && !agpt_jsonl_blank(q, m)) end = q + m;
      n = (size_t)(end - p);
    }
    r->spans[k++] = (span){p, n, line};
    bytes += n;
  }
  return k;
}

static void slot_fail(slot *s, const char *fmt, ...) AGPT_PRINTF(2, 3);
static void slot_fail(slot *s, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  if (vasprintf(&s->msg, fmt, ap) < 0) s->msg = agpt_xstrdup("malformed line");
  va_end(ap);
}

/* Encodes text into key k of the slot, in the template when asked, with EOD
 * when asked; nothing at all when the text itself gives no ids. */
static agpt_status encode_into(const run *r, slot *s, int k, const char *text, size_t len) {
  size_t ntext;
  s->n[k] = 0;
  AGPT_TRY(agpt_tok_encode_ex(r->o->tok, text, len, r->o->add_special_tokens, &s->ids[k], &s->n[k], &s->cap[k],
                              &ntext));
  if (ntext == 0) s->n[k] = 0;
  if (r->o->append_eod && s->n[k] > 0) {
    if (s->n[k] == s->cap[k]) {
      s->cap[k] = s->cap[k] ? 2 * s->cap[k] : 16;
      s->ids[k] = agpt_xrealloc(s->ids[k], s->cap[k] * sizeof(int32_t));
    }
    s->ids[k][s->n[k]++] = r->eod;
  }
  return AGPT_OK;
}

static void process_span(const run *r, const span *sp, slot *s) {
  free(s->msg);
  s->msg = NULL;
  if (r->text_input) {
    if (encode_into(r, s, 0, sp->p, sp->n) != AGPT_OK) slot_fail(s, "cannot encode: %s", agpt_errmsg());
    return;
  }
  agpt_json *doc;
  if (!agpt_jsonl_parse_line(sp->p, sp->n, r->keys, r->n_keys, "--json-keys", &doc, &s->msg)) return;
  for (int k = 0; k < r->n_keys && !s->msg; k++) {
    size_t len;
    const char *text = agpt_json_str(agpt_json_get(doc, r->keys[k]), &len);
    if (encode_into(r, s, k, text, len) != AGPT_OK) slot_fail(s, "cannot encode: %s", agpt_errmsg());
  }
  agpt_json_free(doc);
}

static void fmt_hms(char *out, size_t cap, double s) {
  if (s < 0 || s > 1e8) {
    snprintf(out, cap, "?");
    return;
  }
  long t = (long)(s + 0.5);
  snprintf(out, cap, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
}

static void progress(run *r, int final) {
  if (!r->o->log_interval) return;
  if (!final && r->st.docs - r->last_log_docs < r->o->log_interval) return;
  r->last_log_docs = r->st.docs;
  double dt = agpt_now() - r->t0;
  double mbs = dt > 0 ? (double)r->done_bytes / dt / 1e6 : 0;
  double frac = r->total_bytes ? (double)r->done_bytes / (double)r->total_bytes : 1;
  char eta[32];
  fmt_hms(eta, sizeof eta, frac > 0 ? dt * (1 - frac) / frac : -1);
  fprintf(stderr, "agpt preprocess: %llu documents, %llu tokens, %.1f MB/s, %.1f%% of %.1f MB, ETA %s\n",
          (unsigned long long)r->st.docs, (unsigned long long)r->st.tokens, mbs, 100 * frac,
          (double)r->total_bytes / 1e6, eta);
}

/* Hands the batch to the writers in order; reports malformed spans. */
static agpt_status emit_batch(run *r, const char *path, size_t k) {
  for (size_t i = 0; i < k; i++) {
    slot *s = &r->slots[i];
    if (s->msg) {
      AGPT_TRY(agpt_jsonl_malformed(&r->rule, path, r->spans[i].line, s->msg));
      continue;
    }
    int wrote = 0;
    for (int key = 0; key < r->n_keys; key++) {
      if (s->n[key] == 0) {
        r->st.empty++;
        continue;
      }
      AGPT_TRY(agpt_indexed_writer_add_doc(r->writers[key], s->ids[key], s->n[key]));
      r->st.tokens += s->n[key];
      wrote = 1;
    }
    r->st.docs += (uint64_t)wrote;
  }
  return AGPT_OK;
}

static agpt_status do_file(run *r, const char *path) {
  agpt_mmap m;
  AGPT_TRY(agpt_mmap_open(path, &m));
  r->text_input = is_text_input(path);
  cursor c = {m.data, m.size, 0, 1};
  if (c.size >= 3 && !memcmp(c.data, "\xEF\xBB\xBF", 3)) c.pos = 3; /* a UTF-8 byte-order mark is not text */
  agpt_status st = AGPT_OK;
  int workers = r->o->workers > 0 ? r->o->workers : 0;
  while (st == AGPT_OK && c.pos < c.size) {
    size_t before = c.pos;
    size_t k = cut_batch(r, &c);
#pragma omp parallel for schedule(dynamic, 1) num_threads(workers) if (workers != 1 && k > 1)
    for (size_t i = 0; i < k; i++) process_span(r, &r->spans[i], &r->slots[i]);
    st = emit_batch(r, path, k);
    r->done_bytes += c.pos - before;
    if (st == AGPT_OK) progress(r, 0);
  }
  r->st.bytes += m.size;
  agpt_mmap_close(&m);
  return st;
}

static agpt_status check_inputs(run *r) {
  const agpt_preprocess_opts *o = r->o;
  if (o->n_inputs <= 0) return agpt_fail("no input files (pass --input FILE...)");
  for (int i = 0; i < o->n_inputs; i++) {
    agpt_mmap m;
    AGPT_TRY(agpt_mmap_open(o->inputs[i], &m));
    r->total_bytes += m.size;
    agpt_mmap_close(&m);
    if (is_text_input(o->inputs[i]) && r->n_keys != 1)
      return agpt_fail("%s: plain-text input has one field, but %d --json-keys were given (give one key; it names "
                       "the output)",
                       o->inputs[i], r->n_keys);
  }
  return AGPT_OK;
}

static void free_run(run *r) {
  for (size_t i = 0; r->slots && i < BATCH_DOCS; i++) {
    for (int k = 0; k < r->n_keys; k++) free(r->slots[i].ids[k]);
    free(r->slots[i].ids);
    free(r->slots[i].n);
    free(r->slots[i].cap);
    free(r->slots[i].msg);
  }
  free(r->slots);
  free(r->spans);
  if (r->writers)
    for (int k = 0; k < r->n_keys; k++) agpt_indexed_writer_abort(r->writers[k]);
  free(r->writers);
}

/* An output without documents trains nothing and hides a wrong key or
 * input; it fails the run (so nothing is written) with the likely cause. */
static agpt_status no_documents(const run *r, const char *key) {
  char *name = agpt_preprocess_output_name(r->o->output_prefix, key);
  agpt_status st = agpt_fail("%s: no documents for key \"%s\" in %d input file(s): %llu lines were malformed and "
                             "skipped, %llu texts encoded to no tokens (check --json-keys against the fields of the "
                             "input, and --input)",
                             name, key, r->o->n_inputs, (unsigned long long)r->st.malformed,
                             (unsigned long long)r->st.empty);
  free(name);
  return st;
}

agpt_status agpt_preprocess_run(const agpt_preprocess_opts *o, agpt_preprocess_stats *stats) {
  static char *const default_keys[] = {"text"};
  run r = {0};
  r.o = o;
  r.keys = o->n_keys > 0 ? o->json_keys : default_keys;
  r.n_keys = o->n_keys > 0 ? o->n_keys : 1;
  r.rule = (agpt_jsonl_rule){.strict = o->strict, .max_warnings = o->max_warnings};
  r.t0 = agpt_now();
  AGPT_TRY(check_inputs(&r));
  size_t vocab = agpt_tok_vocab_size(o->tok);
  r.st.dtype = o->dtype ? o->dtype : agpt_indexed_dtype_for_vocab(vocab);
  r.eod = agpt_tok_eos(o->tok);
  if (o->append_eod && r.eod < 0)
    return agpt_fail("the tokenizer has no end-of-sequence token to append as EOD (add one such as <|endoftext|> to "
                     "its added_tokens, or pass --append-eod=false)");
  if (r.st.dtype == AGPT_IDX_U16 && vocab > 65536)
    return agpt_fail("a vocabulary of %zu ids does not fit uint16 outputs (use int32)", vocab);

  AGPT_TRY(agpt_mkdir_parents(o->output_prefix));

  r.spans = agpt_xcalloc(BATCH_DOCS, sizeof *r.spans);
  r.slots = agpt_xcalloc(BATCH_DOCS, sizeof *r.slots);
  for (size_t i = 0; i < BATCH_DOCS; i++) {
    r.slots[i].ids = agpt_xcalloc((size_t)r.n_keys, sizeof(int32_t *));
    r.slots[i].n = agpt_xcalloc((size_t)r.n_keys, sizeof(size_t));
    r.slots[i].cap = agpt_xcalloc((size_t)r.n_keys, sizeof(size_t));
  }
  r.writers = agpt_xcalloc((size_t)r.n_keys, sizeof *r.writers);
  agpt_status st = AGPT_OK;
  for (int k = 0; k < r.n_keys && st == AGPT_OK; k++) {
    char *name = agpt_preprocess_output_name(o->output_prefix, r.keys[k]);
    st = agpt_indexed_writer_open(name, r.st.dtype, &r.writers[k]);
    free(name);
  }
  for (int i = 0; i < o->n_inputs && st == AGPT_OK; i++) st = do_file(&r, o->inputs[i]);
  r.st.malformed = r.rule.malformed;
  if (st == AGPT_OK) progress(&r, 1);
  for (int k = 0; k < r.n_keys && st == AGPT_OK; k++)
    if (agpt_indexed_writer_docs(r.writers[k]) == 0) st = no_documents(&r, r.keys[k]);
  for (int k = 0; k < r.n_keys && st == AGPT_OK; k++) {
    agpt_indexed_writer *w = r.writers[k];
    r.writers[k] = NULL;
    st = agpt_indexed_writer_finish(w);
  }
  free_run(&r);
  r.st.seconds = agpt_now() - r.t0;
  if (stats) *stats = r.st;
  return st;
}
