/* Regex pre-tokenizer: splits text into the pieces BPE runs on, the way the
 * `tokenizers` library's Split(Isolated) and ByteLevel(use_regex) do.
 *
 * Promises:
 * - Patterns are compiled with PCRE2 in UTF + UCP mode and JIT compiled
 *   when the platform allows. They are written in the dialect of Oniguruma
 *   (which `tokenizers` uses); the one difference that matters for the
 *   GPT-2 and Llama-3 patterns is `\s`: Oniguruma matches exactly the
 *   Unicode White_Space characters, PCRE2's UCP `\s` also matches U+180E.
 *   We rewrite `\s`/`\S` outside and inside classes to the White_Space list.
 * - Each stage splits every piece of the previous stage: matches and the
 *   gaps between them both become pieces (Isolated), empty pieces vanish.
 *   Lookahead sees only the piece being split, as in `tokenizers`.
 * - Input need not be UTF-8. Text is cut into maximal valid UTF-8 runs;
 *   each byte that is not part of a valid sequence becomes a piece of its
 *   own. On valid UTF-8 this is exactly `tokenizers`' behaviour (which
 *   cannot see invalid UTF-8 at all); on invalid input it keeps the round
 *   trip exact and the damage local. */
#include <stdlib.h>
#include <string.h>

#include "data/tok_internal.h"

#ifdef AGPT_HAVE_PCRE2
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#endif

const char agpt_tok_gpt2_regex[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
const char agpt_tok_llama3_regex[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/* Unicode White_Space, which is what Oniguruma's \s matches. */
#define WS_CHARS "\\t\\n\\x0B\\f\\r\\x20\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}"

size_t tok_utf8_valid_prefix(const unsigned char *p, size_t n) {
  size_t i = 0;
  while (i < n) {
    if (i + 8 <= n) {
      uint64_t w;
      memcpy(&w, p + i, 8);
      if (!(w & 0x8080808080808080ull)) {
        i += 8;
        continue;
      }
    }
    unsigned c = p[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    size_t k;
    uint32_t lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) {
      k = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
      k = 2;
      if (c == 0xE0) lo = 0xA0;      /* overlong */
      else if (c == 0xED) hi = 0x9F; /* surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
      k = 3;
      if (c == 0xF0) lo = 0x90;      /* overlong */
      else if (c == 0xF4) hi = 0x8F; /* above U+10FFFF */
    } else {
      return i;
    }
    if (i + k >= n) return i; /* truncated */
    if (p[i + 1] < lo || p[i + 1] > hi) return i;
    for (size_t j = 2; j <= k; j++)
      if ((p[i + j] & 0xC0) != 0x80) return i;
    i += k + 1;
  }
  return i;
}

#ifdef AGPT_HAVE_PCRE2

struct tok_scratch {
  pcre2_match_data *md;
  pcre2_match_context *mctx;
  pcre2_jit_stack *stack;
  char *buf; /* the segment with a prefix space */
  size_t cap;
};

tok_scratch *tok_scratch_new(void) {
  tok_scratch *s = agpt_xcalloc(1, sizeof *s);
  s->md = pcre2_match_data_create(1, NULL);
  s->mctx = pcre2_match_context_create(NULL);
  /* Long whitespace runs backtrack through \s+(?!\S); give the JIT room. */
  s->stack = pcre2_jit_stack_create(64 * 1024, 64 * 1024 * 1024, NULL);
  if (!s->md || !s->mctx || !s->stack) {
    agpt_assert_fail("PCRE2 scratch allocation", __FILE__, __LINE__);
  }
  pcre2_jit_stack_assign(s->mctx, NULL, s->stack);
  return s;
}

void tok_scratch_free(tok_scratch *s) {
  if (!s) return;
  pcre2_match_data_free(s->md);
  pcre2_match_context_free(s->mctx);
  pcre2_jit_stack_free(s->stack);
  free(s->buf);
  free(s);
}

/* Rewrites \s and \S to the White_Space class (see the file comment). */
static char *rewrite_pattern(const char *pat, size_t len) {
  agpt_sb sb = {0};
  int in_class = 0;
  for (size_t i = 0; i < len; i++) {
    char c = pat[i];
    if (c == '\\' && i + 1 < len) {
      char d = pat[i + 1];
      if (d == 's' || d == 'S') {
        if (d == 's') agpt_sb_puts(&sb, in_class ? WS_CHARS : "[" WS_CHARS "]");
        else if (!in_class) agpt_sb_puts(&sb, "[^" WS_CHARS "]");
        else agpt_sb_puts(&sb, "\\S"); /* a negated class inside a class: rare, keep PCRE2's */
      } else {
        agpt_sb_put(&sb, pat + i, 2);
      }
      i++;
      continue;
    }
    if (!in_class && c == '[') {
      in_class = 1;
      agpt_sb_put(&sb, &c, 1);
      /* a leading ^ and a leading ] belong to the class */
      if (i + 1 < len && pat[i + 1] == '^') agpt_sb_put(&sb, pat + ++i, 1);
      if (i + 1 < len && pat[i + 1] == ']') agpt_sb_put(&sb, pat + ++i, 1);
      continue;
    }
    if (in_class && c == '[' && i + 1 < len && pat[i + 1] == ':') {
      /* POSIX class [:alpha:] inside a class */
      const char *e = memchr(pat + i + 2, ']', len - i - 2);
      if (e) {
        agpt_sb_put(&sb, pat + i, (size_t)(e - (pat + i)) + 1);
        i = (size_t)(e - pat);
        continue;
      }
    }
    if (in_class && c == ']') in_class = 0;
    agpt_sb_put(&sb, &c, 1);
  }
  agpt_sb_put(&sb, "", 1);
  return sb.data;
}

agpt_status tok_pretok_add(tok_pretok *pt, const char *pattern, size_t len) {
  if (pt->nstages >= TOK_MAX_STAGES)
    return agpt_fail("pre_tokenizer: more than %d regex stages (use fewer Split pre-tokenizers)", TOK_MAX_STAGES);
  char *rw = rewrite_pattern(pattern, len);
  int err;
  PCRE2_SIZE erroff;
  pcre2_code *code = pcre2_compile((PCRE2_SPTR)rw, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &err, &erroff, NULL);
  free(rw);
  if (!code) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(err, msg, sizeof msg);
    return agpt_fail("pre_tokenizer: regex %.*s: %s at offset %zu (check the pattern)", (int)len, pattern,
                     (const char *)msg, (size_t)erroff);
  }
  int k = pt->nstages++;
  pt->code[k] = code;
  pt->jit[k] = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
  pt->pattern[k] = agpt_xmalloc(len + 1);
  memcpy(pt->pattern[k], pattern, len);
  pt->pattern[k][len] = 0;
  return AGPT_OK;
}

void tok_pretok_free(tok_pretok *pt) {
  for (int k = 0; k < pt->nstages; k++) {
    pcre2_code_free(pt->code[k]);
    free(pt->pattern[k]);
  }
  memset(pt, 0, sizeof *pt);
}

static agpt_status run_stage(const tok_pretok *pt, tok_scratch *s, int k, const unsigned char *subj, size_t n,
                             tok_piece_fn fn, void *ctx) {
  if (n == 0) return AGPT_OK;
  if (k >= pt->nstages || k >= TOK_MAX_STAGES) return fn(ctx, subj, n);
  pcre2_code *code = pt->code[k];
  int jit = pt->jit[k];
  PCRE2_SIZE *ov = pcre2_get_ovector_pointer(s->md);
  size_t prev = 0, start = 0;
  while (start < n) {
    int rc = jit ? pcre2_jit_match(code, subj, n, start, 0, s->md, s->mctx)
                 : pcre2_match(code, subj, n, start, PCRE2_NO_UTF_CHECK, s->md, s->mctx);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(rc, msg, sizeof msg);
      return agpt_fail("pre-tokenizer: regex match failed on a %zu-byte piece: %s", n, (const char *)msg);
    }
    size_t ms = ov[0], me = ov[1];
    if (ms > prev) AGPT_TRY(run_stage(pt, s, k + 1, subj + prev, ms - prev, fn, ctx));
    if (me > ms) {
      AGPT_TRY(run_stage(pt, s, k + 1, subj + ms, me - ms, fn, ctx));
      prev = me;
      start = me;
    } else {
      /* an empty match: step over one character, as find_iter does */
      prev = me > prev ? me : prev;
      start = me + 1;
      while (start < n && (subj[start] & 0xC0) == 0x80) start++;
    }
    /* matches and gaps must stay in order; PCRE2 guarantees ms >= start */
  }
  if (prev < n) AGPT_TRY(run_stage(pt, s, k + 1, subj + prev, n - prev, fn, ctx));
  return AGPT_OK;
}

#else /* no PCRE2 */

struct tok_scratch {
  char *buf;
  size_t cap;
};
tok_scratch *tok_scratch_new(void) { return agpt_xcalloc(1, sizeof(tok_scratch)); }
void tok_scratch_free(tok_scratch *s) {
  if (s) free(s->buf);
  free(s);
}

agpt_status tok_pretok_add(tok_pretok *pt, const char *pattern, size_t len) {
  (void)pt;
  (void)pattern;
  (void)len;
  return agpt_fail("pre_tokenizer: this agpt was built without PCRE2 (install libpcre2-dev and rebuild)");
}

void tok_pretok_free(tok_pretok *pt) {
  for (int k = 0; k < pt->nstages; k++) free(pt->pattern[k]);
  memset(pt, 0, sizeof *pt);
}

static agpt_status run_stage(const tok_pretok *pt, tok_scratch *s, int k, const unsigned char *subj, size_t n,
                             tok_piece_fn fn, void *ctx) {
  (void)s;
  if (n == 0) return AGPT_OK;
  if (k == pt->nstages) return fn(ctx, subj, n);
  return agpt_fail("pre-tokenizer: built without PCRE2 (install libpcre2-dev and rebuild)");
}

#endif

agpt_status tok_pretok_run(const tok_pretok *pt, tok_scratch *s, const char *text, size_t len, tok_piece_fn fn,
                           void *ctx) {
  if (len == 0) return AGPT_OK;
  const unsigned char *p = (const unsigned char *)text;
  if (pt->add_prefix_space && p[0] != ' ') {
    if (s->cap < len + 1) {
      free(s->buf);
      s->cap = len + 1 > 2 * s->cap ? len + 1 : 2 * s->cap;
      s->buf = agpt_xmalloc(s->cap);
    }
    s->buf[0] = ' ';
    memcpy(s->buf + 1, p, len);
    p = (const unsigned char *)s->buf;
    len++;
  }
  size_t pos = 0;
  while (pos < len) {
    size_t v = tok_utf8_valid_prefix(p + pos, len - pos);
    if (v) AGPT_TRY(run_stage(pt, s, 0, p + pos, v, fn, ctx));
    pos += v;
    if (pos < len) {
      AGPT_TRY(fn(ctx, p + pos, 1));
      pos++;
    }
  }
  return AGPT_OK;
}
