/* tokenizer.json (Hugging Face `tokenizers` format) for byte-level BPE.
 *
 * Load accepts: model type BPE with vocab and merges (merges as "a b"
 * strings or as [a, b] pairs), unk_token, ignore_merges; added_tokens;
 * normalizer null; pre_tokenizer ByteLevel (use_regex, add_prefix_space) or
 * Sequence[Split(Regex|String, Isolated)..., ByteLevel]; decoder ByteLevel
 * or null. Anything that would change ids and that we do not implement
 * (a normalizer, byte_fallback, dropout, word prefixes/suffixes, other
 * pre-tokenizers or split behaviours) is refused with a message rather than
 * silently tokenized differently. The post_processor is ignored: encode
 * never adds BOS/EOS by itself.
 *
 * Save writes what `tokenizers` 0.13 and later reads, merges as "a b"
 * strings (byte-level tokens never contain a space). */
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "data/tok_internal.h"

static int is_null(const agpt_json *j) { return !j || agpt_json_type(j) == AGPT_JSON_NULL; }

static const char *get_str(const agpt_json *obj, const char *key, size_t *len) {
  return agpt_json_str(agpt_json_get(obj, key), len);
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

static agpt_status load_model(agpt_tok *t, const agpt_json *m, const char *path) {
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

static agpt_status load_added(agpt_tok *t, const agpt_json *arr, const agpt_json *vocab, const char *path) {
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
  } else if (load_model(t, model, path) == AGPT_OK &&
             load_added(t, agpt_json_get(root, "added_tokens"), agpt_json_get(model, "vocab"), path) == AGPT_OK &&
             load_pretok(t, agpt_json_get(root, "pre_tokenizer"), path) == AGPT_OK) {
    const char *unk = get_str(model, "unk_token", NULL);
    int64_t uid;
    if (unk && agpt_json_int(agpt_json_get(agpt_json_get(model, "vocab"), unk), &uid) == AGPT_OK) t->unk = (int32_t)uid;
    agpt_err_clear();
    st = tok_finish(t, path);
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
  agpt_sb_puts(sb, ",\n  \"post_processor\": {\"type\": \"ByteLevel\", \"add_prefix_space\": true, "
                   "\"trim_offsets\": false, \"use_regex\": true},\n  \"decoder\": ");
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
