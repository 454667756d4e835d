/* Byte-level BPE: train on a built-in text, then check encode against a
 * naive reference BPE written here, the exact round trip on random bytes and
 * invalid UTF-8, special tokens, save -> load -> same ids, thread safety,
 * deterministic training, and the post_processor: templates applied by
 * agpt_tok_encode_ex only, kept through save -> load, bad ones refused. */
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/json.h"
#include "data/tokenizer.h"

static const char *kText =
    "the cat sat on the mat. the dog sat on the log. a cat and a dog met on the mat and sat there.\n"
    "Then they're off: it's the end of the story, isn't it? We'll see; numbers 12 123 1234 follow.\n"
    "    indented code(x) { return x * 2; }\n\tthe tab line\n\n"
    "caf\xc3\xa9 na\xc3\xafve \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e text and more text and more cats.\n";

static uint64_t rng_state = 88172645463325252ull;
static uint32_t rnd(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return (uint32_t)rng_state;
}

static agpt_tok *train(const char *text, size_t len, int threads, agpt_tok_pattern pat) {
  agpt_tok_counter *c;
  if (agpt_tok_counter_new(pat, &c) != AGPT_OK) return NULL;
  CHECK(agpt_tok_counter_add(c, text, len, threads) == AGPT_OK);
  static const char *special[] = {"<|begin_of_text|>", "<|end_of_text|>", "<|pad|>"};
  agpt_tok_train_opts o = {.vocab_size = 400, .pattern = pat, .threads = threads, .special = special,
                           .nspecial = 3, .eos = "<|end_of_text|>"};
  agpt_tok *t = NULL;
  CHECK(agpt_tok_train(c, &o, &t) == AGPT_OK);
  agpt_tok_counter_free(c);
  return t;
}

static int encode(const agpt_tok *t, const char *s, size_t len, int32_t **ids, size_t *n) {
  size_t cap = 0;
  *ids = NULL;
  *n = 0;
  return agpt_tok_encode(t, s, len, ids, n, &cap) == AGPT_OK;
}

static int round_trips(const agpt_tok *t, const char *s, size_t len) {
  int32_t *ids;
  size_t n;
  if (!encode(t, s, len, &ids, &n)) return 0;
  agpt_sb out = {0};
  int ok = agpt_tok_decode(t, ids, n, &out) == AGPT_OK && out.len == len && (len == 0 || !memcmp(out.data, s, len));
  agpt_sb_free(&out);
  free(ids);
  return ok;
}

/* Naive BPE from the saved JSON: raw bytes of one piece, repeatedly merge
 * the lowest-rank adjacent pair (all its occurrences, left to right). */
typedef struct {
  char **tok;   /* vocabulary text by id */
  size_t ntok;
  char **ma, **mb; /* merges by rank */
  size_t nm;
} ref_bpe;

static void ref_load(ref_bpe *r, const char *json, size_t len) {
  agpt_json *root;
  memset(r, 0, sizeof *r);
  if (agpt_json_parse(json, len, &root) != AGPT_OK) return;
  const agpt_json *model = agpt_json_get(root, "model");
  const agpt_json *vocab = agpt_json_get(model, "vocab"), *merges = agpt_json_get(model, "merges");
  r->ntok = agpt_json_len(vocab);
  r->tok = calloc(r->ntok + 1, sizeof *r->tok);
  for (size_t i = 0; i < r->ntok; i++) {
    int64_t id;
    agpt_json_int(agpt_json_at(vocab, i), &id);
    if (id >= 0 && (size_t)id < r->ntok) r->tok[id] = strdup(agpt_json_key_at(vocab, i, NULL));
  }
  r->nm = agpt_json_len(merges);
  r->ma = calloc(r->nm + 1, sizeof *r->ma);
  r->mb = calloc(r->nm + 1, sizeof *r->mb);
  for (size_t i = 0; i < r->nm; i++) {
    const char *s = agpt_json_str(agpt_json_at(merges, i), NULL);
    const char *sp = strchr(s, ' ');
    r->ma[i] = strndup(s, (size_t)(sp - s));
    r->mb[i] = strdup(sp + 1);
  }
  agpt_json_free(root);
}

static void ref_free(ref_bpe *r) {
  for (size_t i = 0; i < r->ntok; i++) free(r->tok[i]);
  for (size_t i = 0; i < r->nm; i++) free(r->ma[i]), free(r->mb[i]);
  free(r->tok);
  free(r->ma);
  free(r->mb);
}

/* The byte-level spelling of one ASCII-printable or space byte. */
static void ref_char(unsigned char b, char *out) {
  if (b == ' ') strcpy(out, "\xc4\xa0"); /* U+0120 */
  else out[0] = (char)b, out[1] = 0;
}

/* Encodes one piece of ASCII letters (with an optional leading space). */
static size_t ref_encode_piece(const ref_bpe *r, const char *p, size_t n, int32_t *out) {
  char *sym[64];
  size_t m = 0;
  for (size_t i = 0; i < n; i++) {
    char c[3];
    ref_char((unsigned char)p[i], c);
    sym[m++] = strdup(c);
  }
  for (;;) {
    size_t best = (size_t)-1;
    for (size_t i = 0; i + 1 < m; i++)
      for (size_t k = 0; k < r->nm && k < best; k++)
        if (!strcmp(sym[i], r->ma[k]) && !strcmp(sym[i + 1], r->mb[k])) best = k;
    if (best == (size_t)-1) break;
    size_t o = 0;
    for (size_t i = 0; i < m;) {
      if (i + 1 < m && !strcmp(sym[i], r->ma[best]) && !strcmp(sym[i + 1], r->mb[best])) {
        char *j = malloc(strlen(sym[i]) + strlen(sym[i + 1]) + 1);
        strcpy(j, sym[i]);
        strcat(j, sym[i + 1]);
        free(sym[i]);
        free(sym[i + 1]);
        sym[o++] = j;
        i += 2;
      } else {
        sym[o++] = sym[i++];
      }
    }
    m = o;
  }
  for (size_t i = 0; i < m; i++) {
    out[i] = -1;
    for (size_t id = 0; id < r->ntok; id++)
      if (r->tok[id] && !strcmp(r->tok[id], sym[i])) out[i] = (int32_t)id;
    free(sym[i]);
  }
  return m;
}

/* The saved JSON of a trained tokenizer with its post_processor replaced by
 * pp (owned by the caller). */
static char *with_post(const char *json, const char *pp) {
  static const char def[] = "\"post_processor\": {\"type\": \"ByteLevel\", \"add_prefix_space\": true, "
                            "\"trim_offsets\": false, \"use_regex\": true}";
  const char *at = strstr(json, def);
  if (!at) return NULL;
  agpt_sb sb = {0};
  agpt_sb_put(&sb, json, (size_t)(at - json));
  agpt_sb_printf(&sb, "\"post_processor\": %s", pp);
  agpt_sb_puts(&sb, at + strlen(def));
  return sb.data;
}

/* Loads json with post_processor pp, checks that encode_ex with special
 * tokens gives want (AGPT_TOK_TEXT: the ids of `text`), that plain encode
 * is untouched, and that save -> load keeps the same template and that the
 * saved text holds `saved_has`. */
static void check_post(const char *json, const char *pp, const char *text, const int32_t *want, size_t nwant,
                       const char *saved_has) {
  char *j = with_post(json, pp);
  CHECK_MSG(j != NULL, "the default post_processor is not in the saved JSON");
  if (!j) return;
  agpt_tok *t = NULL;
  CHECK_MSG(agpt_tok_load_json(j, strlen(j), "pp.json", &t) == AGPT_OK, "%s: %s", pp, agpt_errmsg());
  free(j);
  if (!t) return;
  int32_t *plain;
  size_t np;
  CHECK(encode(t, text, strlen(text), &plain, &np));
  int32_t *ids = NULL, *exp = NULL;
  size_t n = 0, cap = 0, ntext = 99, ne = 0, ecap = 0;
  CHECK(agpt_tok_encode_ex(t, text, strlen(text), 1, &ids, &n, &cap, &ntext) == AGPT_OK);
  for (size_t i = 0; i < nwant; i++) {
    if (want[i] != AGPT_TOK_TEXT) {
      if (ne == ecap) exp = realloc(exp, (ecap = 2 * ecap + 16) * sizeof *exp);
      exp[ne++] = want[i];
      continue;
    }
    for (size_t k = 0; k < np; k++) {
      if (ne == ecap) exp = realloc(exp, (ecap = 2 * ecap + 16) * sizeof *exp);
      exp[ne++] = plain[k];
    }
  }
  CHECK_MSG(n == ne && (ne == 0 || !memcmp(ids, exp, n * sizeof *ids)), "%s: %zu ids, want %zu", pp, n, ne);
  CHECK(ntext == np);
  /* without special tokens: the plain ids */
  n = 0;
  CHECK(agpt_tok_encode_ex(t, text, strlen(text), 0, &ids, &n, &cap, NULL) == AGPT_OK);
  CHECK(n == np && (np == 0 || !memcmp(ids, plain, np * sizeof *ids)));
  /* the template survives save -> load */
  agpt_sb out = {0};
  agpt_tok_to_json(t, &out);
  CHECK_MSG(strstr(out.data, saved_has) != NULL, "saved JSON lacks %s", saved_has);
  agpt_tok *u = NULL;
  CHECK_MSG(agpt_tok_load_json(out.data, out.len, "saved.json", &u) == AGPT_OK, "%s", agpt_errmsg());
  if (u) {
    size_t na, nb;
    const int32_t *ta = agpt_tok_template(t, &na), *tb = agpt_tok_template(u, &nb);
    CHECK(na == nb && !memcmp(ta, tb, na * sizeof *ta));
    agpt_sb again = {0};
    agpt_tok_to_json(u, &again);
    CHECK(again.len == out.len && !memcmp(again.data, out.data, out.len)); /* a fixed point */
    agpt_sb_free(&again);
    agpt_tok_free(u);
  }
  agpt_sb_free(&out);
  free(ids);
  free(exp);
  free(plain);
  agpt_tok_free(t);
}

/* Loading json with post_processor pp fails naming the file and `field`. */
static void check_post_refused(const char *json, const char *pp, const char *field) {
  char *j = with_post(json, pp);
  if (!j) return;
  agpt_tok *t = NULL;
  CHECK_MSG(agpt_tok_load_json(j, strlen(j), "pp.json", &t) == AGPT_ERR && !t, "accepted: %s", pp);
  CHECK_MSG(strstr(agpt_errmsg(), "pp.json") && strstr(agpt_errmsg(), field), "'%s' lacks %s", agpt_errmsg(),
            field);
  agpt_tok_free(t);
  free(j);
}

int main(void) {
  /* a training text: the built-in text many times with varied words */
  agpt_sb corpus = {0};
  const char *words[] = {"alpha", "beta", "gamma", "delta", "cats", "dogs", "mats", "logs", "there", "then"};
  for (int rep = 0; rep < 60; rep++) {
    agpt_sb_puts(&corpus, kText);
    for (int k = 0; k < 30; k++) agpt_sb_printf(&corpus, "%s%s", words[rnd() % 10], k % 7 == 6 ? ".\n" : " ");
  }
  agpt_tok *t = train(corpus.data, corpus.len, 2, AGPT_TOK_PATTERN_GPT2);
  CHECK(t != NULL);
  if (!t) return check_done("test_tokenizer");
  CHECK(agpt_tok_vocab_size(t) == 400);
  CHECK(agpt_tok_bos(t) == 397);
  CHECK(agpt_tok_eos(t) == 398);
  CHECK(agpt_tok_pad(t) == 399);

  /* deterministic: same tokenizer with one thread and with four */
  agpt_tok *t1 = train(corpus.data, corpus.len, 1, AGPT_TOK_PATTERN_GPT2);
  agpt_tok *t4 = train(corpus.data, corpus.len, 4, AGPT_TOK_PATTERN_GPT2);
  agpt_sb j0 = {0}, j1 = {0}, j4 = {0};
  agpt_tok_to_json(t, &j0);
  agpt_tok_to_json(t1, &j1);
  agpt_tok_to_json(t4, &j4);
  CHECK(j0.len == j1.len && !memcmp(j0.data, j1.data, j0.len));
  CHECK(j0.len == j4.len && !memcmp(j0.data, j4.data, j0.len));
  agpt_tok_free(t1);
  agpt_tok_free(t4);

  /* encode equals a naive reference BPE on plain words */
  ref_bpe ref;
  ref_load(&ref, j0.data, j0.len);
  CHECK(ref.nm == 400 - 256 - 3);
  const char *plain = "the cat sat on the mat and the dogs met alpha beta gamma then there cats";
  int32_t *ids;
  size_t n;
  CHECK(encode(t, plain, strlen(plain), &ids, &n));
  int32_t expect[256];
  size_t ne = 0;
  for (const char *p = plain; *p;) {
    const char *e = p + (*p == ' ');
    while (*e && *e != ' ') e++;
    ne += ref_encode_piece(&ref, p, (size_t)(e - p), expect + ne);
    p = e;
  }
  CHECK_MSG(n == ne && !memcmp(ids, expect, n * sizeof *ids), "agpt %zu ids, reference %zu ids", n, ne);
  CHECK(n < strlen(plain) / 2); /* the merges compress common words */
  free(ids);
  ref_free(&ref);

  /* special tokens are matched in the text */
  const char *sp = "hello<|end_of_text|><|pad|>x<|begin_of_text|";
  CHECK(encode(t, sp, strlen(sp), &ids, &n));
  int found_eos = 0, found_pad = 0, found_bos = 0;
  for (size_t i = 0; i < n; i++) {
    found_eos += ids[i] == 398;
    found_pad += ids[i] == 399;
    found_bos += ids[i] == 397;
  }
  CHECK(found_eos == 1 && found_pad == 1 && found_bos == 0);
  free(ids);
  CHECK(round_trips(t, sp, strlen(sp)));

  /* round trip: the text, invalid UTF-8, random bytes */
  CHECK(round_trips(t, kText, strlen(kText)));
  CHECK(round_trips(t, "", 0));
  const char bad[] = "ok \xff\xfe \xc0\xaf \xed\xa0\x80 \xf4\x90\x80\x80 \xe6\x97 trunc\xe6";
  CHECK(round_trips(t, bad, sizeof bad - 1));
  char buf[4096];
  for (int trial = 0; trial < 50; trial++) {
    size_t len = rnd() % sizeof buf;
    for (size_t i = 0; i < len; i++) buf[i] = trial % 2 ? (char)rnd() : " \t\nab\x80\xc3\xa9'1"[rnd() % 11];
    CHECK_MSG(round_trips(t, buf, len), "trial %d", trial);
  }
  /* a long whitespace run through \s+(?!\S) */
  size_t big = 200000;
  char *spaces = malloc(big);
  memset(spaces, ' ', big);
  spaces[big - 1] = 'x';
  CHECK(round_trips(t, spaces, big));
  free(spaces);

  /* decode rejects ids out of range */
  int32_t badid = 400;
  agpt_sb out = {0};
  CHECK(agpt_tok_decode(t, &badid, 1, &out) == AGPT_ERR);
  agpt_sb_free(&out);

  /* save -> load -> same ids, also for the Llama-3 pattern */
  for (int pat = 0; pat < 2; pat++) {
    agpt_tok *a = pat ? train(corpus.data, corpus.len, 2, AGPT_TOK_PATTERN_LLAMA3) : t;
    CHECK(a != NULL);
    if (!a) break;
    const char *path = "/tmp/agpt_test_tokenizer.json";
    CHECK(agpt_tok_save(a, path) == AGPT_OK);
    agpt_tok *b = NULL;
    CHECK(agpt_tok_load(path, &b) == AGPT_OK);
    remove(path);
    if (!b) break;
    int32_t *ia, *ib;
    size_t na, nb;
    CHECK(encode(a, corpus.data, corpus.len, &ia, &na));
    CHECK(encode(b, corpus.data, corpus.len, &ib, &nb));
    CHECK(na == nb && !memcmp(ia, ib, na * sizeof *ia));
    CHECK(agpt_tok_vocab_size(b) == 400 && agpt_tok_eos(b) == 398);
    /* thread-safe: many threads on one tokenizer give the same ids */
    int mismatch = 0;
#pragma omp parallel for num_threads(4) reduction(+ : mismatch)
    for (int k = 0; k < 16; k++) {
      int32_t *ic = NULL;
      size_t nc = 0, cap = 0;
      if (agpt_tok_encode(b, corpus.data, corpus.len, &ic, &nc, &cap) != AGPT_OK || nc != na ||
          memcmp(ic, ia, na * sizeof *ia))
        mismatch++;
      free(ic);
    }
    CHECK(mismatch == 0);
    free(ia);
    free(ib);
    agpt_tok_free(b);
    if (pat) agpt_tok_free(a);
  }

  /* bad tokenizer.json: a clear error, no crash */
  const char *badjson = "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1}, \"merges\": [\"a b\"]},"
                        " \"pre_tokenizer\": {\"type\": \"ByteLevel\"}}";
  agpt_tok *bt = NULL;
  CHECK(agpt_tok_load_json(badjson, strlen(badjson), "bad.json", &bt) == AGPT_ERR && bt == NULL);
  CHECK(strstr(agpt_errmsg(), "bad.json") && strstr(agpt_errmsg(), "merges[0]"));

  /* post_processor: 397 <|begin_of_text|>, 398 <|end_of_text|>, 399 <|pad|> */
  {
    const char *txt = "the cat sat";
    const int32_t T = AGPT_TOK_TEXT;
    const char *tpl_be =
        "{\"type\": \"TemplateProcessing\", \"single\": [{\"SpecialToken\": {\"id\": \"<s>\", \"type_id\": 0}}, "
        "{\"Sequence\": {\"id\": \"A\", \"type_id\": 0}}, {\"SpecialToken\": {\"id\": \"</s>\", \"type_id\": 0}}], "
        "\"pair\": [{\"Sequence\": {\"id\": \"A\", \"type_id\": 0}}, {\"Sequence\": {\"id\": \"B\", \"type_id\": 1}}], "
        "\"special_tokens\": {\"<s>\": {\"id\": \"<s>\", \"ids\": [397], \"tokens\": [\"<|begin_of_text|>\"]}, "
        "\"</s>\": {\"id\": \"</s>\", \"ids\": [398], \"tokens\": [\"<|end_of_text|>\"]}}}";
    const int32_t be[] = {397, T, 398};
    check_post(j0.data, tpl_be, txt, be, 3, "\"TemplateProcessing\"");
    check_post(j0.data, tpl_be, "", be, 3, "\"ids\": [398]"); /* an empty text still gets both */
    const int32_t plain[] = {T};
    check_post(j0.data, "null", txt, plain, 1, "\"post_processor\": null");
    check_post(j0.data, "{\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"trim_offsets\": true, "
                        "\"use_regex\": false}", txt, plain, 1, "\"add_prefix_space\": false, \"trim_offsets\": true");
    const int32_t rob[] = {397, T, 398};
    check_post(j0.data, "{\"type\": \"RobertaProcessing\", \"sep\": [\"<|end_of_text|>\", 398], "
                        "\"cls\": [\"<|begin_of_text|>\", 397], \"trim_offsets\": false, \"add_prefix_space\": true}",
               txt, rob, 3, "\"RobertaProcessing\"");
    /* nested Sequences flatten; a template after a two-piece template takes its pair form */
    const char *nested =
        "{\"type\": \"Sequence\", \"processors\": [{\"type\": \"ByteLevel\"}, {\"type\": \"Sequence\", "
        "\"processors\": [{\"type\": \"TemplateProcessing\", \"single\": [{\"SpecialToken\": {\"id\": \"b\", "
        "\"type_id\": 0}}, {\"Sequence\": {\"id\": \"A\", \"type_id\": 0}}], \"pair\": [], \"special_tokens\": "
        "{\"b\": {\"id\": \"b\", \"ids\": [397], \"tokens\": [\"<|begin_of_text|>\"]}}}]}, {\"type\": "
        "\"BertProcessing\", \"sep\": [\"<|pad|>\", 399], \"cls\": [\"<|end_of_text|>\", 398]}]}";
    const int32_t nest[] = {398, 397, 399, T, 399};
    check_post(j0.data, nested, txt, nest, 5, "\"BertProcessing\"");
    /* one name for two ids, and $A twice (then the text comes twice even without special tokens) */
    const char *twice =
        "{\"type\": \"TemplateProcessing\", \"single\": [{\"Sequence\": {\"id\": \"A\", \"type_id\": 0}}, "
        "{\"SpecialToken\": {\"id\": \"x\", \"type_id\": 0}}, {\"Sequence\": {\"id\": \"A\", \"type_id\": 0}}], "
        "\"special_tokens\": {\"x\": {\"id\": \"x\", \"ids\": [399, 397]}}}";
    char *j = with_post(j0.data, twice);
    agpt_tok *tw = NULL;
    CHECK(j && agpt_tok_load_json(j, strlen(j), "pp.json", &tw) == AGPT_OK);
    free(j);
    if (tw) {
      int32_t *a = NULL, *p1;
      size_t na = 0, cap = 0, np1, nt;
      CHECK(encode(tw, txt, strlen(txt), &p1, &np1));
      CHECK(agpt_tok_encode_ex(tw, txt, strlen(txt), 1, &a, &na, &cap, &nt) == AGPT_OK);
      CHECK(na == 2 * np1 + 2 && nt == np1 && a[np1] == 399 && a[np1 + 1] == 397 &&
            !memcmp(a + np1 + 2, p1, np1 * sizeof *a));
      na = 0;
      CHECK(agpt_tok_encode_ex(tw, txt, strlen(txt), 0, &a, &na, &cap, &nt) == AGPT_OK);
      CHECK(na == 2 * np1 && nt == np1);
      agpt_sb sv = {0};
      agpt_tok_to_json(tw, &sv); /* a missing pair is written as `tokenizers`' default, tokens from the vocab */
      CHECK(strstr(sv.data, "\"pair\": [{\"Sequence\": {\"id\": \"A\", \"type_id\": 0}}, "
                            "{\"Sequence\": {\"id\": \"B\", \"type_id\": 1}}]") != NULL);
      CHECK(strstr(sv.data, "\"tokens\": [\"<|pad|>\", \"<|begin_of_text|>\"]") != NULL);
      agpt_sb_free(&sv);
      free(a);
      free(p1);
      agpt_tok_free(tw);
    }
    /* refused, with the file and the field named */
    check_post_refused(j0.data, "{\"type\": \"Mystery\"}", "post_processor.type");
    check_post_refused(j0.data, "{\"type\": \"Sequence\", \"processors\": [{\"type\": \"ByteLevel\"}, {}]}",
                       "post_processor.processors[1].type");
    check_post_refused(j0.data, "{\"type\": \"TemplateProcessing\", \"single\": [{\"SpecialToken\": {\"id\": "
                                "\"q\", \"type_id\": 0}}], \"pair\": [], \"special_tokens\": {}}",
                       "post_processor.single[0]");
    check_post_refused(j0.data, "{\"type\": \"TemplateProcessing\", \"single\": [{\"Sequence\": {\"id\": "
                                "\"B\", \"type_id\": 0}}], \"pair\": [], \"special_tokens\": {}}",
                       "post_processor.single[0]");
    check_post_refused(j0.data, "{\"type\": \"TemplateProcessing\", \"single\": [], \"pair\": [], "
                                "\"special_tokens\": {\"q\": {\"id\": \"q\", \"ids\": [400], \"tokens\": [\"q\"]}}}",
                       "post_processor.special_tokens['q'].ids[0]");
    check_post_refused(j0.data, "{\"type\": \"BertProcessing\", \"sep\": [\"x\", -1], \"cls\": [\"y\", 0]}",
                       "post_processor.sep");
    check_post_refused(j0.data, "{\"type\": \"Sequence\", \"processors\": [" /* three pieces into a template */
                                "{\"type\": \"RobertaProcessing\", \"sep\": [\"a\", 398], \"cls\": [\"b\", 397]}, "
                                "{\"type\": \"TemplateProcessing\", \"single\": [{\"Sequence\": {\"id\": \"A\", "
                                "\"type_id\": 0}}, {\"Sequence\": {\"id\": \"A\", \"type_id\": 0}}, "
                                "{\"Sequence\": {\"id\": \"A\", \"type_id\": 0}}], \"pair\": [], \"special_tokens\": {}}, "
                                "{\"type\": \"TemplateProcessing\", \"single\": [], \"pair\": [], "
                                "\"special_tokens\": {}}]}",
                       "stage 2");

    /* the post-processor a trained tokenizer is saved with */
    size_t nt;
    const int32_t *tp = agpt_tok_template(t, &nt);
    CHECK(nt == 1 && tp[0] == AGPT_TOK_TEXT); /* nothing until set */
    CHECK(agpt_tok_set_bos_template(t, 397) == AGPT_OK);
    tp = agpt_tok_template(t, &nt);
    CHECK(nt == 2 && tp[0] == 397 && tp[1] == AGPT_TOK_TEXT);
    int32_t *a = NULL;
    size_t na = 0, cap = 0, ntx;
    CHECK(agpt_tok_encode_ex(t, "", 0, 1, &a, &na, &cap, &ntx) == AGPT_OK && na == 1 && a[0] == 397 && ntx == 0);
    free(a);
    agpt_sb sv = {0};
    agpt_tok_to_json(t, &sv);
    CHECK(strstr(sv.data, "\"post_processor\": {\"type\": \"Sequence\", \"processors\": [{\"type\": \"ByteLevel\"") &&
          strstr(sv.data, "{\"SpecialToken\": {\"id\": \"<|begin_of_text|>\", \"type_id\": 1}}"));
    agpt_sb_free(&sv);
    CHECK(agpt_tok_set_bos_template(t, 400) == AGPT_ERR);
    CHECK(agpt_tok_set_bos_template(t, -1) == AGPT_OK);
    tp = agpt_tok_template(t, &nt);
    CHECK(nt == 1 && tp[0] == AGPT_TOK_TEXT);
  }

  agpt_sb_free(&j0);
  agpt_sb_free(&j1);
  agpt_sb_free(&j4);
  agpt_sb_free(&corpus);
  agpt_tok_free(t);
  return check_done("test_tokenizer");
}
