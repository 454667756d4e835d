/* tokenizer.json (Hugging Face `tokenizers` format) for byte-level BPE.
 *
 * Load accepts: model type BPE with vocab and merges (merges as "a b"
 * strings or as [a, b] pairs), unk_token, ignore_merges; added_tokens;
 * normalizer null; pre_tokenizer ByteLevel (use_regex, add_prefix_space) or
 * Sequence[Split(Regex|String, Isolated)..., ByteLevel]; decoder ByteLevel
 * or null. Anything that would change ids and that we do not implement
 * (a normalizer, byte_fallback, dropout, word prefixes/suffixes, other
 * pre-tokenizers or split behaviours) is refused with a message rather than
 * silently tokenized differently.
 *
 * post_processor: ByteLevel (adds nothing; its flags are kept for saving),
 * TemplateProcessing (special_tokens and the single and pair templates; the
 * pair form only matters where an earlier stage of a Sequence hands on two
 * pieces, since agpt never encodes pairs of texts), RobertaProcessing and
 * BertProcessing (cls $A sep), a Sequence of these (flattened: the same
 * stages in the same order), or null. They are all the types `tokenizers`
 * knows; any other type is refused with the file and field named, because
 * what it would add cannot be known and a guess would silently give other
 * ids under add_special_tokens. Template errors `tokenizers` only meets while
 * encoding (a special token missing from special_tokens, $B in the single
 * template) and ids outside the vocabulary are refused at load. The file's
 * post_processor is written back on save.
 *
 * Save writes what `tokenizers` 0.13 and later reads, merges as "a b"
 * strings (byte-level tokens never contain a space). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "data/tok_internal.h"

static int is_null(const agpt_json *j) { return !j || agpt_json_type(j) == AGPT_JSON_NULL; }

static const char *get_str(const agpt_json *obj, const char *key, size_t *len) {
  return agpt_json_str(agpt_json_get(obj, key), len);
}

static const char *get_str_at(const agpt_json *arr, size_t i, size_t *len) {
  return agpt_json_str(agpt_json_at(arr, i), len);
}

static int get_bool(const agpt_json *obj, const char *key, int def) {
  const agpt_json *j = agpt_json_get(obj, key);
  return agpt_json_type(j) == AGPT_JSON_BOOL ? agpt_json_bool(j) : def;
}

/* Escapes a literal for PCRE2 (Split with a String pattern). */
static char *regex_quote(const char *s, size_t n, size_t *out_len) {
  agpt_sb sb = {0};
  for (size_t i = 0; i < n; i++) {
    if (s[i] && strchr("\\^$.|?*+()[]{}-/#", s[i])) agpt_sb_put(&sb, "\\", 1);
    agpt_sb_put(&sb, s + i, 1);
  }
  *out_len = sb.len;
  agpt_sb_put(&sb, "", 1);
  return sb.data;
}

static agpt_status load_split(agpt_tok *t, const agpt_json *pt, const char *path) {
  const agpt_json *pat = agpt_json_get(pt, "pattern");
  const char *beh = get_str(pt, "behavior", NULL);
  if (!beh || strcmp(beh, "Isolated"))
    return agpt_fail("%s: pre_tokenizer.Split.behavior: '%s' is not supported (only Isolated)", path,
                     beh ? beh : "(missing)");
  if (get_bool(pt, "invert", 0))
    return agpt_fail("%s: pre_tokenizer.Split.invert: true is not supported (use false)", path);
  size_t n;
  const char *re = get_str(pat, "Regex", &n);
  if (re) return tok_pretok_add(&t->pre, re, n) == AGPT_OK ? AGPT_OK : agpt_fail_prefix("%s", path);
  const char *lit = get_str(pat, "String", &n);
  if (!lit) return agpt_fail("%s: pre_tokenizer.Split.pattern: needs a Regex or String member", path);
  size_t qn;
  char *q = regex_quote(lit, n, &qn);
  agpt_status st = tok_pretok_add(&t->pre, q, qn);
  free(q);
  if (st == AGPT_OK) t->pre.has_split = 2; /* a literal: saved back as String */
  return st == AGPT_OK ? AGPT_OK : agpt_fail_prefix("%s", path);
}

static agpt_status load_bytelevel(agpt_tok *t, const agpt_json *pt, const char *path) {
  t->pre.add_prefix_space = get_bool(pt, "add_prefix_space", 1);
  if (get_bool(pt, "use_regex", 1)) {
    if (tok_pretok_add(&t->pre, agpt_tok_gpt2_regex, strlen(agpt_tok_gpt2_regex)) != AGPT_OK)
      return agpt_fail_prefix("%s", path);
  }
  return AGPT_OK;
}

static agpt_status load_pretok(agpt_tok *t, const agpt_json *pt, const char *path) {
  const char *type = get_str(pt, "type", NULL);
  if (!type) return agpt_fail("%s: pre_tokenizer: missing (byte-level BPE needs a ByteLevel pre-tokenizer)", path);
  if (!strcmp(type, "ByteLevel")) return load_bytelevel(t, pt, path);
  if (strcmp(type, "Sequence"))
    return agpt_fail("%s: pre_tokenizer.type: '%s' is not supported (use ByteLevel or Sequence[Split, ByteLevel])",
                     path, type);
  const agpt_json *list = agpt_json_get(pt, "pretokenizers");
  size_t n = agpt_json_len(list);
  if (agpt_json_type(list) != AGPT_JSON_ARRAY || n == 0)
    return agpt_fail("%s: pre_tokenizer.pretokenizers: must be a non-empty array", path);
  for (size_t i = 0; i < n; i++) {
    const agpt_json *p = agpt_json_at(list, i);
    const char *pty = get_str(p, "type", NULL);
    if (pty && !strcmp(pty, "Split") && i + 1 < n) {
      AGPT_TRY(load_split(t, p, path));
      if (!t->pre.has_split) t->pre.has_split = 1;
    } else if (pty && !strcmp(pty, "ByteLevel") && i + 1 == n) {
      AGPT_TRY(load_bytelevel(t, p, path));
    } else {
      return agpt_fail("%s: pre_tokenizer.pretokenizers[%zu]: '%s' is not supported here (the form is "
                       "Split(...), ..., ByteLevel)", path, i, pty ? pty : "(no type)");
    }
  }
  if (t->pre.has_split && t->pre.nstages > 2)
    return agpt_fail("%s: pre_tokenizer: only one Split before ByteLevel is supported", path);
  return AGPT_OK;
}

static agpt_status id_of(const agpt_json *vocab, const char *tok, const char *path, size_t r, int32_t *out) {
  const agpt_json *v = agpt_json_get(vocab, tok);
  int64_t id;
  if (!v || agpt_json_int(v, &id) != AGPT_OK)
    return agpt_fail("%s: model.merges[%zu]: token '%s' is not in model.vocab (fix the merges list)", path, r, tok);
  *out = (int32_t)id;
  return AGPT_OK;
}

/* Ids number the entries of model.vocab and added_tokens from 0, so none can
 * reach their count; checking that before anything is sized by an id keeps
 * a stray large id from costing gigabytes. */
static size_t id_limit(const agpt_json *root) {
  const agpt_json *added = agpt_json_get(root, "added_tokens");
  return agpt_json_len(agpt_json_get(agpt_json_get(root, "model"), "vocab")) +
         (agpt_json_type(added) == AGPT_JSON_ARRAY ? agpt_json_len(added) : 0);
}

static agpt_status load_model(agpt_tok *t, const agpt_json *m, size_t limit, const char *path) {
  const char *type = get_str(m, "type", NULL);
  if (type && strcmp(type, "BPE"))
    return agpt_fail("%s: model.type: '%s' is not supported (only BPE)", path, type);
  if (get_bool(m, "byte_fallback", 0))
    return agpt_fail("%s: model.byte_fallback: true is not supported (byte-level BPE does not need it)", path);
  const agpt_json *dp = agpt_json_get(m, "dropout");
  if (!is_null(dp) && agpt_json_num(dp) != 0.0)
    return agpt_fail("%s: model.dropout: not supported (set it to null)", path);
  size_t n = 0;
  if (get_str(m, "continuing_subword_prefix", &n) && n)
    return agpt_fail("%s: model.continuing_subword_prefix: not supported (set it to null)", path);
  if (get_str(m, "end_of_word_suffix", &n) && n)
    return agpt_fail("%s: model.end_of_word_suffix: not supported (set it to null)", path);
  t->ignore_merges = get_bool(m, "ignore_merges", 0);

  const agpt_json *vocab = agpt_json_get(m, "vocab");
  if (agpt_json_type(vocab) != AGPT_JSON_OBJECT) return agpt_fail("%s: model.vocab: must be an object", path);
  size_t nv = agpt_json_len(vocab);
  for (size_t i = 0; i < nv; i++) {
    size_t klen;
    const char *k = agpt_json_key_at(vocab, i, &klen);
    int64_t id;
    if (agpt_json_int(agpt_json_at(vocab, i), &id) != AGPT_OK || id < 0 || id >= (1 << 30))
      return agpt_fail("%s: model.vocab['%s']: id must be an integer in 0 .. 2^30-1", path, k);
    /* A token listed twice would be written back once, and its id could
     * then reach the entry count: each token once, as `tokenizers` writes. */
    if (strlen(k) != klen) return agpt_fail("%s: model.vocab: a token contains a NUL character (remove it)", path);
    if (agpt_json_get(vocab, k) != agpt_json_at(vocab, i))
      return agpt_fail("%s: model.vocab['%s']: the token is listed twice (keep one entry per token)", path, k);
    if ((uint64_t)id >= limit)
      return agpt_fail("%s: model.vocab['%s']: id %lld is not below %zu, the number of entries of model.vocab and "
                       "added_tokens (ids number the entries from 0: renumber the vocabulary)",
                       path, k, (long long)id, limit);
    AGPT_TRY(tok_set_token(t, (int32_t)id, k, klen, path));
  }

  const agpt_json *merges = agpt_json_get(m, "merges");
  if (!is_null(merges) && agpt_json_type(merges) != AGPT_JSON_ARRAY)
    return agpt_fail("%s: model.merges: must be an array", path);
  t->nmerges = agpt_json_len(merges);
  t->merges = agpt_xmalloc((t->nmerges ? t->nmerges : 1) * sizeof *t->merges);
  char *buf = NULL;
  size_t bcap = 0;
  for (size_t r = 0; r < t->nmerges; r++) {
    const agpt_json *e = agpt_json_at(merges, r);
    if (agpt_json_type(e) == AGPT_JSON_STRING) {
      size_t len;
      const char *s = agpt_json_str(e, &len);
      const char *sp = memchr(s, ' ', len);
      if (!sp || memchr(sp + 1, ' ', len - (size_t)(sp + 1 - s))) {
        free(buf);
        return agpt_fail("%s: model.merges[%zu]: '%s' must be two tokens separated by one space", path, r, s);
      }
      if (bcap < len + 1) buf = agpt_xrealloc(buf, bcap = 2 * len + 16);
      memcpy(buf, s, len + 1);
      buf[sp - s] = 0;
      if (id_of(vocab, buf, path, r, &t->merges[r][0]) != AGPT_OK ||
          id_of(vocab, buf + (sp - s) + 1, path, r, &t->merges[r][1]) != AGPT_OK) {
        free(buf);
        return AGPT_ERR;
      }
    } else if (agpt_json_type(e) == AGPT_JSON_ARRAY && agpt_json_len(e) == 2 &&
               agpt_json_str(agpt_json_at(e, 0), NULL) && agpt_json_str(agpt_json_at(e, 1), NULL)) {
      for (int k = 0; k < 2; k++)
        if (id_of(vocab, agpt_json_str(agpt_json_at(e, (size_t)k), NULL), path, r, &t->merges[r][k]) != AGPT_OK) {
          free(buf);
          return AGPT_ERR;
        }
    } else {
      free(buf);
      return agpt_fail("%s: model.merges[%zu]: must be \"a b\" or [\"a\", \"b\"]", path, r);
    }
  }
  free(buf);
  return AGPT_OK;
}

static agpt_status load_added(agpt_tok *t, const agpt_json *arr, const agpt_json *vocab, size_t limit,
                              const char *path) {
  if (is_null(arr)) return AGPT_OK;
  if (agpt_json_type(arr) != AGPT_JSON_ARRAY) return agpt_fail("%s: added_tokens: must be an array", path);
  size_t n = agpt_json_len(arr);
  t->added = agpt_xcalloc(n ? n : 1, sizeof *t->added);
  for (size_t i = 0; i < n; i++) {
    const agpt_json *a = agpt_json_at(arr, i);
    size_t len;
    const char *c = get_str(a, "content", &len);
    int64_t id;
    if (!c || !len) return agpt_fail("%s: added_tokens[%zu].content: must be a non-empty string", path, i);
    if (agpt_json_int(agpt_json_get(a, "id"), &id) != AGPT_OK || id < 0 || id >= (1 << 30))
      return agpt_fail("%s: added_tokens[%zu].id: must be an integer in 0 .. 2^30-1", path, i);
    if ((uint64_t)id >= limit)
      return agpt_fail("%s: added_tokens[%zu].id: %lld is not below %zu, the number of entries of model.vocab and "
                       "added_tokens (ids number the entries from 0: renumber the added tokens)",
                       path, i, (long long)id, limit);
    tok_added *d = &t->added[t->nadded++];
    d->content = agpt_xmalloc(len + 1);
    memcpy(d->content, c, len + 1);
    d->len = len;
    d->id = (int32_t)id;
    d->special = (unsigned char)get_bool(a, "special", 0);
    d->single_word = (unsigned char)get_bool(a, "single_word", 0);
    d->lstrip = (unsigned char)get_bool(a, "lstrip", 0);
    d->rstrip = (unsigned char)get_bool(a, "rstrip", 0);
    d->normalized = (unsigned char)get_bool(a, "normalized", !d->special);
    int64_t vid;
    const agpt_json *v = agpt_json_get(vocab, d->content);
    d->in_vocab = v && agpt_json_int(v, &vid) == AGPT_OK && vid == id;
  }
  return AGPT_OK;
}

/* ---- post_processor ----------------------------------------------------- */

static char *dup_n(const char *s, size_t n) {
  char *d = agpt_xmalloc(n + 1);
  memcpy(d, s, n);
  d[n] = 0;
  return d;
}

/* An id the post-processor adds must name a token of this vocabulary: ids
 * past it would index beyond the model's embedding. */
static agpt_status check_post_id(const agpt_tok *t, int64_t id, const char *path, const char *field) {
  if (id < 0 || (uint64_t)id >= t->nvocab || !t->tokens[id])
    return agpt_fail("%s: %s: id %lld is not in the vocabulary of %zu ids (use the id of an added token)", path,
                     field, (long long)id, t->nvocab);
  return AGPT_OK;
}

static agpt_status load_pieces(const agpt_json *arr, const char *path, const char *field, tok_tpl_piece **out,
                               size_t *nout) {
  if (agpt_json_type(arr) != AGPT_JSON_ARRAY)
    return agpt_fail("%s: %s: must be an array of {\"SpecialToken\": ...} and {\"Sequence\": ...} pieces", path,
                     field);
  size_t n = agpt_json_len(arr);
  *out = agpt_xcalloc(n ? n : 1, sizeof **out);
  for (size_t i = 0; i < n; i++) {
    const agpt_json *e = agpt_json_at(arr, i);
    const agpt_json *sp = agpt_json_get(e, "SpecialToken"), *sq = agpt_json_get(e, "Sequence");
    const agpt_json *body = sp ? sp : sq;
    size_t len;
    const char *id = get_str(body, "id", &len);
    int64_t type_id = 0;
    const agpt_json *tj = agpt_json_get(body, "type_id");
    if (agpt_json_type(e) != AGPT_JSON_OBJECT || agpt_json_len(e) != 1 || !body || !id ||
        (tj && (agpt_json_int(tj, &type_id) != AGPT_OK || type_id < 0 || type_id > UINT32_MAX)))
      return agpt_fail("%s: %s[%zu]: must be {\"SpecialToken\": {\"id\": NAME, \"type_id\": N}} or "
                       "{\"Sequence\": {\"id\": \"A\" or \"B\", \"type_id\": N}}", path, field, i);
    if (sq && strcmp(id, "A") && strcmp(id, "B"))
      return agpt_fail("%s: %s[%zu].Sequence.id: '%s' is not A or B", path, field, i, id);
    tok_tpl_piece *p = &(*out)[(*nout)++];
    p->id = dup_n(id, len);
    p->is_seq = sq != NULL;
    p->type_id = type_id;
  }
  return AGPT_OK;
}

static agpt_status load_template(const agpt_tok *t, tok_post_stage *s, const agpt_json *j, const char *path,
                                 const char *field) {
  char f[256];
  const agpt_json *sp = agpt_json_get(j, "special_tokens");
  snprintf(f, sizeof f, "%s.special_tokens", field);
  if (!is_null(sp) && agpt_json_type(sp) != AGPT_JSON_OBJECT)
    return agpt_fail("%s: %s: must be an object of {\"id\", \"ids\", \"tokens\"} entries", path, f);
  size_t ns = agpt_json_len(sp);
  s->specials = agpt_xcalloc(ns ? ns : 1, sizeof *s->specials);
  for (size_t i = 0; i < ns; i++) {
    size_t klen;
    const char *key = agpt_json_key_at(sp, i, &klen);
    const agpt_json *e = agpt_json_at(sp, i);
    const agpt_json *ids = agpt_json_get(e, "ids"), *toks = agpt_json_get(e, "tokens");
    snprintf(f, sizeof f, "%s.special_tokens['%s']", field, key);
    if (agpt_json_type(ids) != AGPT_JSON_ARRAY || (!is_null(toks) && agpt_json_type(toks) != AGPT_JSON_ARRAY))
      return agpt_fail("%s: %s: needs \"ids\" (an array of ids) and \"tokens\" (an array of strings)", path, f);
    tok_tpl_special *d = &s->specials[s->nspecials++];
    d->key = dup_n(key, klen);
    d->nids = agpt_json_len(ids);
    d->ids = agpt_xmalloc((d->nids ? d->nids : 1) * sizeof *d->ids);
    for (size_t k = 0; k < d->nids; k++) {
      int64_t id;
      char g[300];
      snprintf(g, sizeof g, "%s.ids[%zu]", f, k);
      if (agpt_json_int(agpt_json_at(ids, k), &id) != AGPT_OK)
        return agpt_fail("%s: %s: must be an integer id", path, g);
      AGPT_TRY(check_post_id(t, id, path, g));
      d->ids[k] = (int32_t)id;
    }
    /* the token texts only describe the ids; without them, the vocabulary's */
    d->ntokens = is_null(toks) ? d->nids : agpt_json_len(toks);
    d->tokens = agpt_xcalloc(d->ntokens ? d->ntokens : 1, sizeof *d->tokens);
    for (size_t k = 0; k < d->ntokens; k++) {
      size_t tl;
      const char *ts = is_null(toks) ? t->tokens[d->ids[k]] : get_str_at(toks, k, &tl);
      if (!ts) return agpt_fail("%s: %s.tokens[%zu]: must be a string", path, f, k);
      d->tokens[k] = is_null(toks) ? agpt_xstrdup(ts) : dup_n(ts, tl);
    }
  }
  snprintf(f, sizeof f, "%s.single", field);
  AGPT_TRY(load_pieces(agpt_json_get(j, "single"), path, f, &s->single, &s->nsingle));
  const agpt_json *pair = agpt_json_get(j, "pair");
  if (!is_null(pair)) {
    snprintf(f, sizeof f, "%s.pair", field);
    AGPT_TRY(load_pieces(pair, path, f, &s->pair, &s->npair));
    s->has_pair = 1;
  }
  /* what `tokenizers` would panic on while encoding is refused here */
  for (int which = 0; which < 2; which++) {
    const tok_tpl_piece *ps = which ? s->pair : s->single;
    size_t np = which ? s->npair : s->nsingle;
    for (size_t i = 0; i < np; i++) {
      if (ps[i].is_seq) {
        if (!which && strcmp(ps[i].id, "A"))
          return agpt_fail("%s: %s.single[%zu]: a single-sequence template can only hold $A, not $%s", path, field,
                           i, ps[i].id);
        continue;
      }
      size_t k = 0;
      while (k < s->nspecials && strcmp(s->specials[k].key, ps[i].id)) k++;
      if (k == s->nspecials)
        return agpt_fail("%s: %s.%s[%zu]: special token '%s' is not in %s.special_tokens (add it there)", path,
                         field, which ? "pair" : "single", i, ps[i].id, field);
    }
  }
  return AGPT_OK;
}

/* "sep"/"cls" of Bert and Roberta: ["text", id]. */
static agpt_status load_tok_pair(const agpt_tok *t, const agpt_json *j, const char *key, const char *path,
                                 const char *field, char **text, int32_t *id) {
  const agpt_json *a = agpt_json_get(j, key);
  size_t len;
  const char *s = get_str_at(a, 0, &len);
  int64_t v;
  char f[256];
  snprintf(f, sizeof f, "%s.%s", field, key);
  if (agpt_json_type(a) != AGPT_JSON_ARRAY || agpt_json_len(a) != 2 || !s ||
      agpt_json_int(agpt_json_at(a, 1), &v) != AGPT_OK)
    return agpt_fail("%s: %s: must be [\"token\", id]", path, f);
  AGPT_TRY(check_post_id(t, v, path, f));
  *text = dup_n(s, len);
  *id = (int32_t)v;
  return AGPT_OK;
}

/* Appends the stage(s) of j to t->post.stages; a Sequence is flattened,
 * which applies the same stages in the same order. */
static agpt_status load_post_stage(agpt_tok *t, const agpt_json *j, const char *path, const char *field, int depth) {
  const char *type = get_str(j, "type", NULL);
  if (agpt_json_type(j) != AGPT_JSON_OBJECT || !type)
    return agpt_fail("%s: %s.type: missing (use ByteLevel, TemplateProcessing, Sequence or null)", path, field);
  char f[256];
  if (!strcmp(type, "Sequence")) {
    const agpt_json *list = agpt_json_get(j, "processors");
    if (agpt_json_type(list) != AGPT_JSON_ARRAY || depth > 8)
      return agpt_fail("%s: %s.processors: must be an array of post-processors (nested at most 8 deep)", path,
                       field);
    for (size_t i = 0; i < agpt_json_len(list); i++) {
      snprintf(f, sizeof f, "%s.processors[%zu]", field, i);
      AGPT_TRY(load_post_stage(t, agpt_json_at(list, i), path, f, depth + 1));
    }
    return AGPT_OK;
  }
  tok_post *p = &t->post;
  p->stages = agpt_xrealloc(p->stages, (p->nstages + 1) * sizeof *p->stages);
  tok_post_stage *s = &p->stages[p->nstages++];
  memset(s, 0, sizeof *s);
  if (!strcmp(type, "ByteLevel")) {
    s->kind = TOK_POST_BYTELEVEL;
    s->add_prefix_space = (unsigned char)get_bool(j, "add_prefix_space", 1);
    s->trim_offsets = (unsigned char)get_bool(j, "trim_offsets", 1);
    s->use_regex = (unsigned char)get_bool(j, "use_regex", 1);
    return AGPT_OK;
  }
  if (!strcmp(type, "TemplateProcessing")) {
    s->kind = TOK_POST_TEMPLATE;
    return load_template(t, s, j, path, field);
  }
  if (!strcmp(type, "RobertaProcessing") || !strcmp(type, "BertProcessing")) {
    s->kind = type[0] == 'R' ? TOK_POST_ROBERTA : TOK_POST_BERT;
    s->add_prefix_space = (unsigned char)get_bool(j, "add_prefix_space", 1);
    s->trim_offsets = (unsigned char)get_bool(j, "trim_offsets", 1);
    AGPT_TRY(load_tok_pair(t, j, "sep", path, field, &s->sep, &s->sep_id));
    return load_tok_pair(t, j, "cls", path, field, &s->cls, &s->cls_id);
  }
  /* Every type `tokenizers` knows is handled above, and it refuses others;
   * what an unknown one would add cannot be known, so it is not guessed. */
  return agpt_fail("%s: %s.type: '%s' is not supported (use ByteLevel, TemplateProcessing, RobertaProcessing, "
                   "BertProcessing, a Sequence of these, or null)", path, field, type);
}

static agpt_status load_post(agpt_tok *t, const agpt_json *j, const char *path) {
  tok_post_free(&t->post);
  if (is_null(j)) {
    t->post.form = 1;
  } else {
    const char *type = get_str(j, "type", NULL);
    t->post.form = type && !strcmp(type, "Sequence") ? 3 : 2;
    AGPT_TRY(load_post_stage(t, j, path, "post_processor", 0));
  }
  return tok_post_compile(t, path);
}

agpt_status agpt_tok_load_json(const char *text, size_t len, const char *path, agpt_tok **out) {
  *out = NULL;
  agpt_json *root;
  if (agpt_json_parse(text, len, &root) != AGPT_OK) return agpt_fail_prefix("%s", path);
  agpt_tok *t = tok_alloc();
  agpt_status st = AGPT_ERR;
  const agpt_json *model = agpt_json_get(root, "model");
  const agpt_json *norm = agpt_json_get(root, "normalizer");
  const agpt_json *dec = agpt_json_get(root, "decoder");
  const char *dtype = get_str(dec, "type", NULL);
  if (agpt_json_type(root) != AGPT_JSON_OBJECT || agpt_json_type(model) != AGPT_JSON_OBJECT) {
    agpt_fail("%s: model: missing (not a tokenizer.json file?)", path);
  } else if (!is_null(norm) && !(get_str(norm, "type", NULL) && !strcmp(get_str(norm, "type", NULL), "Sequence") &&
                                  agpt_json_len(agpt_json_get(norm, "normalizers")) == 0)) {
    agpt_fail("%s: normalizer: not supported (byte-level BPE tokenizers use null)", path);
  } else if (!is_null(dec) && (!dtype || strcmp(dtype, "ByteLevel"))) {
    agpt_fail("%s: decoder.type: '%s' is not supported (use ByteLevel)", path, dtype ? dtype : "(missing)");
  } else if (load_model(t, model, id_limit(root), path) == AGPT_OK &&
             load_added(t, agpt_json_get(root, "added_tokens"), agpt_json_get(model, "vocab"), id_limit(root),
                        path) == AGPT_OK &&
             load_pretok(t, agpt_json_get(root, "pre_tokenizer"), path) == AGPT_OK) {
    const char *unk = get_str(model, "unk_token", NULL);
    int64_t uid;
    if (unk && agpt_json_int(agpt_json_get(agpt_json_get(model, "vocab"), unk), &uid) == AGPT_OK) t->unk = (int32_t)uid;
    agpt_err_clear();
    st = tok_finish(t, path);
    if (st == AGPT_OK) st = load_post(t, agpt_json_get(root, "post_processor"), path);
  }
  agpt_json_free(root);
  if (st != AGPT_OK) {
    agpt_tok_free(t);
    return AGPT_ERR;
  }
  tok_guess_specials(t);
  *out = t;
  return AGPT_OK;
}

agpt_status agpt_tok_load(const char *path, agpt_tok **out) {
  char *data;
  size_t n;
  *out = NULL;
  if (agpt_file_read_all(path, &data, &n) != AGPT_OK) return AGPT_ERR;
  agpt_status st = agpt_tok_load_json(data, n, path, out);
  free(data);
  return st;
}

/* ---- save ------------------------------------------------------------- */

static void put_bytelevel(agpt_sb *sb, int add_prefix_space, int use_regex) {
  agpt_sb_printf(sb, "{\"type\": \"ByteLevel\", \"add_prefix_space\": %s, \"trim_offsets\": true, \"use_regex\": %s}",
                 add_prefix_space ? "true" : "false", use_regex ? "true" : "false");
}

static void put_pieces(agpt_sb *sb, const tok_tpl_piece *p, size_t n) {
  agpt_sb_puts(sb, "[");
  for (size_t i = 0; i < n; i++) {
    agpt_sb_printf(sb, "%s{\"%s\": {\"id\": ", i ? ", " : "", p[i].is_seq ? "Sequence" : "SpecialToken");
    agpt_sb_json_str(sb, p[i].id, strlen(p[i].id));
    agpt_sb_printf(sb, ", \"type_id\": %lld}}", (long long)p[i].type_id);
  }
  agpt_sb_puts(sb, "]");
}

static void put_post_stage(agpt_sb *sb, const tok_post_stage *s) {
  switch (s->kind) {
  case TOK_POST_BYTELEVEL:
    agpt_sb_printf(sb, "{\"type\": \"ByteLevel\", \"add_prefix_space\": %s, \"trim_offsets\": %s, \"use_regex\": %s}",
                   s->add_prefix_space ? "true" : "false", s->trim_offsets ? "true" : "false",
                   s->use_regex ? "true" : "false");
    return;
  case TOK_POST_TEMPLATE:
    agpt_sb_puts(sb, "{\"type\": \"TemplateProcessing\", \"single\": ");
    put_pieces(sb, s->single, s->nsingle);
    agpt_sb_puts(sb, ", \"pair\": ");
    if (s->has_pair) {
      put_pieces(sb, s->pair, s->npair);
    } else {
      /* `tokenizers` needs a pair template; this is its default */
      const tok_tpl_piece def[2] = {{"A", 1, 0}, {"B", 1, 1}};
      put_pieces(sb, def, 2);
    }
    agpt_sb_puts(sb, ", \"special_tokens\": {");
    for (size_t i = 0; i < s->nspecials; i++) {
      const tok_tpl_special *d = &s->specials[i];
      agpt_sb_puts(sb, i ? ", " : "");
      agpt_sb_json_str(sb, d->key, strlen(d->key));
      agpt_sb_puts(sb, ": {\"id\": ");
      agpt_sb_json_str(sb, d->key, strlen(d->key));
      agpt_sb_puts(sb, ", \"ids\": [");
      for (size_t k = 0; k < d->nids; k++) agpt_sb_printf(sb, "%s%d", k ? ", " : "", d->ids[k]);
      agpt_sb_puts(sb, "], \"tokens\": [");
      for (size_t k = 0; k < d->ntokens; k++) {
        agpt_sb_puts(sb, k ? ", " : "");
        agpt_sb_json_str(sb, d->tokens[k], strlen(d->tokens[k]));
      }
      agpt_sb_puts(sb, "]}");
    }
    agpt_sb_puts(sb, "}}");
    return;
  case TOK_POST_ROBERTA:
  case TOK_POST_BERT:
    agpt_sb_printf(sb, "{\"type\": \"%s\", \"sep\": [", s->kind == TOK_POST_ROBERTA ? "RobertaProcessing"
                                                                                     : "BertProcessing");
    agpt_sb_json_str(sb, s->sep, strlen(s->sep));
    agpt_sb_printf(sb, ", %d], \"cls\": [", s->sep_id);
    agpt_sb_json_str(sb, s->cls, strlen(s->cls));
    agpt_sb_printf(sb, ", %d]", s->cls_id);
    if (s->kind == TOK_POST_ROBERTA)
      agpt_sb_printf(sb, ", \"trim_offsets\": %s, \"add_prefix_space\": %s", s->trim_offsets ? "true" : "false",
                     s->add_prefix_space ? "true" : "false");
    agpt_sb_puts(sb, "}");
    return;
  }
  AGPT_ASSERT(!"unknown post-processor stage");
}

static void put_post(agpt_sb *sb, const tok_post *p) {
  if (p->form == 0) {
    /* nothing was read or set: the ByteLevel that adds nothing */
    agpt_sb_puts(sb, "{\"type\": \"ByteLevel\", \"add_prefix_space\": true, \"trim_offsets\": false, "
                     "\"use_regex\": true}");
  } else if (p->form == 1) {
    agpt_sb_puts(sb, "null");
  } else if (p->form == 2 && p->nstages == 1) {
    put_post_stage(sb, &p->stages[0]);
  } else {
    agpt_sb_puts(sb, "{\"type\": \"Sequence\", \"processors\": [");
    for (size_t i = 0; i < p->nstages; i++) {
      agpt_sb_puts(sb, i ? ", " : "");
      put_post_stage(sb, &p->stages[i]);
    }
    agpt_sb_puts(sb, "]}");
  }
}

void agpt_tok_to_json(const agpt_tok *t, agpt_sb *sb) {
  agpt_sb_puts(sb, "{\n  \"version\": \"1.0\",\n  \"truncation\": null,\n  \"padding\": null,\n  \"added_tokens\": [");
  /* added tokens in id order */
  int32_t *order = agpt_xmalloc((t->nadded ? t->nadded : 1) * sizeof *order);
  for (size_t i = 0; i < t->nadded; i++) order[i] = (int32_t)i;
  for (size_t i = 1; i < t->nadded; i++)
    for (size_t j = i; j > 0 && t->added[order[j]].id < t->added[order[j - 1]].id; j--) {
      int32_t x = order[j];
      order[j] = order[j - 1];
      order[j - 1] = x;
    }
  uint8_t *skip = agpt_xcalloc(t->nvocab ? t->nvocab : 1, 1);
  for (size_t k = 0; k < t->nadded; k++) {
    const tok_added *a = &t->added[order[k]];
    if (!a->in_vocab) skip[a->id] = 1;
    agpt_sb_printf(sb, "%s\n    {\"id\": %d, \"content\": ", k ? "," : "", a->id);
    agpt_sb_json_str(sb, a->content, a->len);
    agpt_sb_printf(sb, ", \"single_word\": %s, \"lstrip\": %s, \"rstrip\": %s, \"normalized\": %s, \"special\": %s}",
                   a->single_word ? "true" : "false", a->lstrip ? "true" : "false", a->rstrip ? "true" : "false",
                   a->normalized ? "true" : "false", a->special ? "true" : "false");
  }
  free(order);
  agpt_sb_puts(sb, t->nadded ? "\n  ],\n" : "],\n");
  agpt_sb_puts(sb, "  \"normalizer\": null,\n  \"pre_tokenizer\": ");
  const tok_pretok *p = &t->pre;
  if (!p->has_split) {
    put_bytelevel(sb, p->add_prefix_space, p->nstages > 0);
  } else {
    agpt_sb_puts(sb, "{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Split\", \"pattern\": {");
    if (p->has_split == 2) {
      /* the literal: undo regex_quote */
      agpt_sb lit = {0};
      for (const char *c = p->pattern[0]; *c; c++) {
        if (*c == '\\' && c[1]) c++;
        agpt_sb_put(&lit, c, 1);
      }
      agpt_sb_puts(sb, "\"String\": ");
      agpt_sb_json_str(sb, lit.data ? lit.data : "", lit.len);
      agpt_sb_free(&lit);
    } else {
      agpt_sb_puts(sb, "\"Regex\": ");
      agpt_sb_json_str(sb, p->pattern[0], strlen(p->pattern[0]));
    }
    agpt_sb_puts(sb, "}, \"behavior\": \"Isolated\", \"invert\": false}, ");
    put_bytelevel(sb, p->add_prefix_space, p->nstages > 1);
    agpt_sb_puts(sb, "]}");
  }
  agpt_sb_puts(sb, ",\n  \"post_processor\": ");
  put_post(sb, &t->post);
  agpt_sb_puts(sb, ",\n  \"decoder\": ");
  put_bytelevel(sb, 1, 1);
  agpt_sb_puts(sb, ",\n  \"model\": {\n    \"type\": \"BPE\",\n    \"dropout\": null,\n    \"unk_token\": ");
  if (t->unk >= 0) agpt_sb_json_str(sb, t->tokens[t->unk], t->token_len[t->unk]);
  else agpt_sb_puts(sb, "null");
  agpt_sb_printf(sb, ",\n    \"continuing_subword_prefix\": null,\n    \"end_of_word_suffix\": null,\n"
                     "    \"fuse_unk\": false,\n    \"byte_fallback\": false,\n    \"ignore_merges\": %s,\n"
                     "    \"vocab\": {", t->ignore_merges ? "true" : "false");
  int first = 1;
  for (size_t id = 0; id < t->nvocab; id++) {
    if (!t->tokens[id] || skip[id]) continue;
    agpt_sb_puts(sb, first ? "\n      " : ",\n      ");
    first = 0;
    agpt_sb_json_str(sb, t->tokens[id], t->token_len[id]);
    agpt_sb_printf(sb, ": %zu", id);
  }
  free(skip);
  agpt_sb_puts(sb, "\n    },\n    \"merges\": [");
  int spaces = 0;
  for (size_t r = 0; r < t->nmerges && !spaces; r++)
    for (int k = 0; k < 2; k++) spaces |= memchr(t->tokens[t->merges[r][k]], ' ', t->token_len[t->merges[r][k]]) != 0;
  for (size_t r = 0; r < t->nmerges; r++) {
    const int32_t a = t->merges[r][0], b = t->merges[r][1];
    agpt_sb_puts(sb, r ? ",\n      " : "\n      ");
    if (spaces) {
      agpt_sb_puts(sb, "[");
      agpt_sb_json_str(sb, t->tokens[a], t->token_len[a]);
      agpt_sb_puts(sb, ", ");
      agpt_sb_json_str(sb, t->tokens[b], t->token_len[b]);
      agpt_sb_puts(sb, "]");
    } else {
      agpt_sb joined = {0};
      agpt_sb_put(&joined, t->tokens[a], t->token_len[a]);
      agpt_sb_put(&joined, " ", 1);
      agpt_sb_put(&joined, t->tokens[b], t->token_len[b]);
      agpt_sb_json_str(sb, joined.data, joined.len);
      agpt_sb_free(&joined);
    }
  }
  agpt_sb_puts(sb, t->nmerges ? "\n    ]\n  }\n}\n" : "]\n  }\n}\n");
}

agpt_status agpt_tok_save(const agpt_tok *t, const char *path) {
  agpt_sb sb = {0};
  agpt_tok_to_json(t, &sb);
  agpt_status st = agpt_file_write_atomic(path, sb.data, sb.len);
  agpt_sb_free(&sb);
  return st;
}
