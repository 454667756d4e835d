/* JSON parser (DOM in one arena) and string builder; see json.h.
 *
 * Promises beyond the header:
 * - Parsing is linear in the input: one pass of recursive descent, children
 *   collected on one shared scratch stack and copied into the arena once when
 *   their container closes, and line/column computed only on error.
 * - Nesting deeper than AGPT_JSON_MAX_DEPTH (512) fails instead of
 *   overflowing the C stack.
 * - Strict RFC 8259 grammar: no comments, no trailing commas, no leading
 *   zeros, no NaN/Infinity, only whitespace after the value. A UTF-8 byte
 *   order mark at the start is skipped.
 * - Strings must be valid UTF-8 (raw bytes) and control characters must be
 *   escaped. \uXXXX escapes decode to UTF-8 with surrogate pairs joined; a
 *   lone surrogate (high without low, or a stray low) decodes to U+FFFD, as
 *   Python's json writes such strings and we would rather read a tokenizer
 *   file than reject it over one unpaired escape.
 * - Integer literals (no fraction, no exponent) keep their exact int64 value
 *   next to the double; larger ones keep only the double.
 * - Objects with many members get a hash index built at close time, so
 *   agpt_json_get stays O(1) on 50k-entry vocabularies (first match wins, as
 *   with the linear search on small objects). */
#include "core/json.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { AGPT_JSON_MAX_DEPTH = 512, HASH_MIN_MEMBERS = 16 };

typedef struct {
  const char *s;
  size_t len;
} json_key;

struct agpt_json {
  unsigned char kind;   /* agpt_json_kind */
  unsigned char is_int; /* number written as an integer that fits int64 */
  unsigned char boolean;
  size_t len; /* string bytes, or element/member count */
  union {
    double num;
    const char *str;
    agpt_json **items;
  } u;
  int64_t ival;
  json_key *keys;    /* objects: member keys, parallel to u.items */
  uint32_t *hash;    /* objects with >= HASH_MIN_MEMBERS: index+1 per slot, 0 empty */
  uint32_t hash_cap; /* power of two */
};

/* Arena: a list of chunks, bump-allocated, freed together. */
typedef struct chunk {
  struct chunk *next;
  size_t cap, used;
  max_align_t data[];
} chunk;

typedef struct {
  agpt_json root; /* first member: agpt_json_free() casts the root back */
  chunk *chunks;
} json_doc;

typedef struct {
  const char *p, *start, *end;
  chunk *chunks;
  /* scratch stack of children (and keys for objects) of open containers */
  agpt_json **stk;
  json_key *kstk;
  size_t top, cap;
  int depth;
} parser;

static void *arena_alloc(chunk **head, size_t n) {
  n = (n + 15) & ~(size_t)15;
  chunk *c = *head;
  if (!c || c->cap - c->used < n) {
    size_t cap = 64 * 1024;
    if (c && c->cap < (size_t)16 << 20) cap = c->cap * 2;
    if (cap < n) cap = n;
    chunk *nc = agpt_xmalloc(sizeof(chunk) + cap);
    nc->cap = cap;
    nc->used = 0;
    nc->next = c;
    *head = nc;
    c = nc;
  }
  void *r = (char *)c->data + c->used;
  c->used += n;
  return r;
}

static void arena_free(chunk *c) {
  while (c) {
    chunk *next = c->next;
    free(c);
    c = next;
  }
}

static agpt_status perr(parser *ps, const char *at, const char *what) {
  if (at > ps->end) at = ps->end;
  long line = 1, col = 1;
  for (const char *q = ps->start; q < at; q++) {
    if (*q == '\n') {
      line++;
      col = 1;
    } else if (((unsigned char)*q & 0xC0) != 0x80) {
      col++; /* columns count characters, not UTF-8 continuation bytes */
    }
  }
  return agpt_fail("%s at line %ld, column %ld", what, line, col);
}

static void skip_ws(parser *ps) {
  const char *p = ps->p, *e = ps->end;
  while (p < e && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) p++;
  ps->p = p;
}

static void push(parser *ps, agpt_json *v, const char *k, size_t klen) {
  if (ps->top == ps->cap) {
    ps->cap = ps->cap ? ps->cap * 2 : 256;
    ps->stk = agpt_xrealloc(ps->stk, ps->cap * sizeof *ps->stk);
    ps->kstk = agpt_xrealloc(ps->kstk, ps->cap * sizeof *ps->kstk);
  }
  ps->stk[ps->top] = v;
  ps->kstk[ps->top].s = k;
  ps->kstk[ps->top].len = klen;
  ps->top++;
}

static uint64_t key_hash(const char *s, size_t n) {
  uint64_t h = 1469598103934665603ull; /* FNV-1a */
  for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
  return h;
}

static void build_hash(parser *ps, agpt_json *o) {
  uint32_t cap = 32;
  while (cap < o->len * 2) cap *= 2;
  o->hash = arena_alloc(&ps->chunks, cap * sizeof *o->hash);
  memset(o->hash, 0, cap * sizeof *o->hash);
  o->hash_cap = cap;
  for (size_t i = 0; i < o->len; i++) {
    uint32_t slot = (uint32_t)key_hash(o->keys[i].s, o->keys[i].len) & (cap - 1);
    int dup = 0;
    while (o->hash[slot]) {
      json_key *k = &o->keys[o->hash[slot] - 1];
      if (k->len == o->keys[i].len && !memcmp(k->s, o->keys[i].s, k->len)) {
        dup = 1; /* keep the first occurrence */
        break;
      }
      slot = (slot + 1) & (cap - 1);
    }
    if (!dup) o->hash[slot] = (uint32_t)i + 1;
  }
}

static agpt_json *new_node(parser *ps, agpt_json_kind kind) {
  agpt_json *v = arena_alloc(&ps->chunks, sizeof *v);
  memset(v, 0, sizeof *v);
  v->kind = (unsigned char)kind;
  return v;
}

static void put_utf8(char **o, uint32_t cp) {
  unsigned char *q = (unsigned char *)*o;
  if (cp < 0x80) {
    *q++ = (unsigned char)cp;
  } else if (cp < 0x800) {
    *q++ = (unsigned char)(0xC0 | (cp >> 6));
    *q++ = (unsigned char)(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    *q++ = (unsigned char)(0xE0 | (cp >> 12));
    *q++ = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    *q++ = (unsigned char)(0x80 | (cp & 0x3F));
  } else {
    *q++ = (unsigned char)(0xF0 | (cp >> 18));
    *q++ = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    *q++ = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    *q++ = (unsigned char)(0x80 | (cp & 0x3F));
  }
  *o = (char *)q;
}

/* Length of the valid UTF-8 sequence at p (p < e, *p >= 0x80), 0 if invalid. */
static size_t utf8_seq(const unsigned char *p, const unsigned char *e) {
  unsigned c = p[0];
  size_t n;
  uint32_t cp, min;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2, cp = c & 0x1F, min = 0x80;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3, cp = c & 0x0F, min = 0x800;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4, cp = c & 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if ((size_t)(e - p) < n) return 0;
  for (size_t i = 1; i < n; i++) {
    if ((p[i] & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (p[i] & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}

static int hex4(const char *p, uint32_t *out) {
  uint32_t v = 0;
  for (int i = 0; i < 4; i++) {
    char c = p[i];
    v <<= 4;
    if (c >= '0' && c <= '9')
      v |= (uint32_t)(c - '0');
    else if (c >= 'a' && c <= 'f')
      v |= (uint32_t)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F')
      v |= (uint32_t)(c - 'A' + 10);
    else
      return 0;
  }
  *out = v;
  return 1;
}

/* ps->p at the opening quote. Decoded bytes go to the arena (NUL-terminated). */
static agpt_status parse_string(parser *ps, const char **out, size_t *out_len) {
  const char *open = ps->p;
  const char *p = open + 1, *e = ps->end;
  /* First pass: find the closing quote; the raw length bounds the decoded one
   * (every escape decodes to no more bytes than it occupies). */
  const char *q = p;
  int plain = 1;
  for (;;) {
    while (q < e && *q != '"' && *q != '\\') q++;
    if (q >= e) return perr(ps, open, "unterminated string");
    if (*q == '"') break;
    plain = 0;
    q += 2;
  }
  size_t raw = (size_t)(q - p);
  char *buf = arena_alloc(&ps->chunks, raw + 1);
  char *o = buf;
  if (plain) {
    /* Validate while copying: no control characters, valid UTF-8. */
    const unsigned char *u = (const unsigned char *)p, *ue = (const unsigned char *)q;
    while (u < ue) {
      unsigned c = *u;
      if (c < 0x20) return perr(ps, (const char *)u, "control character in string (escape it)");
      if (c < 0x80) {
        u++;
        continue;
      }
      size_t n = utf8_seq(u, ue);
      if (!n) return perr(ps, (const char *)u, "invalid UTF-8 in string");
      u += n;
    }
    memcpy(buf, p, raw);
    o = buf + raw;
  } else {
    while (p < q) {
      unsigned c = (unsigned char)*p;
      if (c == '\\') {
        const char *esc = p;
        p++;
        switch (*p) {
          case '"': *o++ = '"'; p++; break;
          case '\\': *o++ = '\\'; p++; break;
          case '/': *o++ = '/'; p++; break;
          case 'b': *o++ = '\b'; p++; break;
          case 'f': *o++ = '\f'; p++; break;
          case 'n': *o++ = '\n'; p++; break;
          case 'r': *o++ = '\r'; p++; break;
          case 't': *o++ = '\t'; p++; break;
          case 'u': {
            uint32_t cp;
            if (q - p < 5 || !hex4(p + 1, &cp)) return perr(ps, esc, "bad \\u escape (needs 4 hex digits)");
            p += 5;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
              uint32_t lo;
              if (q - p >= 6 && p[0] == '\\' && p[1] == 'u' && hex4(p + 2, &lo) && lo >= 0xDC00 && lo <= 0xDFFF) {
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                p += 6;
              } else {
                cp = 0xFFFD;
              }
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
              cp = 0xFFFD;
            }
            put_utf8(&o, cp);
            break;
          }
          default:
            return perr(ps, esc, "bad escape in string");
        }
      } else if (c < 0x20) {
        return perr(ps, p, "control character in string (escape it)");
      } else if (c < 0x80) {
        *o++ = (char)c;
        p++;
      } else {
        size_t n = utf8_seq((const unsigned char *)p, (const unsigned char *)q);
        if (!n) return perr(ps, p, "invalid UTF-8 in string");
        memcpy(o, p, n);
        o += n;
        p += n;
      }
    }
  }
  *o = '\0';
  *out = buf;
  *out_len = (size_t)(o - buf);
  ps->p = q + 1;
  return AGPT_OK;
}

static agpt_status parse_number(parser *ps, agpt_json *v) {
  const char *s = ps->p, *p = s, *e = ps->end;
  int neg = 0, integral = 1;
  if (p < e && *p == '-') {
    neg = 1;
    p++;
  }
  if (p >= e || *p < '0' || *p > '9') return perr(ps, s, "bad number");
  const char *digits = p;
  if (*p == '0') {
    p++;
    if (p < e && *p >= '0' && *p <= '9') return perr(ps, s, "bad number (leading zero)");
  } else {
    while (p < e && *p >= '0' && *p <= '9') p++;
  }
  size_t ndig = (size_t)(p - digits);
  if (p < e && *p == '.') {
    integral = 0;
    p++;
    if (p >= e || *p < '0' || *p > '9') return perr(ps, s, "bad number (digit expected after '.')");
    while (p < e && *p >= '0' && *p <= '9') p++;
  }
  if (p < e && (*p == 'e' || *p == 'E')) {
    integral = 0;
    p++;
    if (p < e && (*p == '+' || *p == '-')) p++;
    if (p >= e || *p < '0' || *p > '9') return perr(ps, s, "bad number (digit expected in exponent)");
    while (p < e && *p >= '0' && *p <= '9') p++;
  }
  ps->p = p;
  if (integral && ndig <= 19) {
    uint64_t m = 0;
    for (size_t i = 0; i < ndig; i++) m = m * 10 + (uint64_t)(digits[i] - '0');
    /* 19 digits may exceed the int64 range; anything up to 2^63 fits negated. */
    if (ndig < 19 || m <= (uint64_t)INT64_MAX + (neg ? 1u : 0u)) {
      v->is_int = 1;
      v->ival = neg ? (int64_t)(0 - m) : (int64_t)m;
      if (ndig <= 15) {
        v->u.num = neg ? -(double)m : (double)m; /* exact below 2^53 */
        if (neg && m == 0) v->u.num = -0.0;
        return AGPT_OK;
      }
    }
  }
  /* strtod needs a terminated copy: the input need not be NUL-terminated. */
  size_t len = (size_t)(p - s);
  char small[64];
  char *tmp = len < sizeof small ? small : agpt_xmalloc(len + 1);
  memcpy(tmp, s, len);
  tmp[len] = '\0';
  v->u.num = strtod(tmp, NULL);
  if (tmp != small) free(tmp);
  return AGPT_OK;
}

static agpt_status parse_value(parser *ps, agpt_json **out);

static agpt_status parse_container(parser *ps, agpt_json **out, int is_obj) {
  const char *open = ps->p;
  if (++ps->depth > AGPT_JSON_MAX_DEPTH) return perr(ps, open, "nesting too deep (more than 512 levels)");
  ps->p++;
  size_t base = ps->top;
  agpt_json *v = new_node(ps, is_obj ? AGPT_JSON_OBJECT : AGPT_JSON_ARRAY);
  skip_ws(ps);
  char close = is_obj ? '}' : ']';
  if (ps->p < ps->end && *ps->p == close) {
    ps->p++;
  } else {
    for (;;) {
      const char *k = NULL;
      size_t klen = 0;
      skip_ws(ps);
      if (is_obj) {
        if (ps->p >= ps->end) return perr(ps, ps->p, "unexpected end of input in object");
        if (*ps->p != '"') return perr(ps, ps->p, "expected a string key in object");
        AGPT_TRY(parse_string(ps, &k, &klen));
        skip_ws(ps);
        if (ps->p >= ps->end || *ps->p != ':') return perr(ps, ps->p, "expected ':' after object key");
        ps->p++;
      }
      agpt_json *child;
      AGPT_TRY(parse_value(ps, &child));
      push(ps, child, k, klen);
      skip_ws(ps);
      if (ps->p >= ps->end)
        return perr(ps, ps->p, is_obj ? "unexpected end of input in object" : "unexpected end of input in array");
      if (*ps->p == ',') {
        ps->p++;
        continue;
      }
      if (*ps->p == close) {
        ps->p++;
        break;
      }
      return perr(ps, ps->p, is_obj ? "expected ',' or '}' in object" : "expected ',' or ']' in array");
    }
  }
  size_t n = ps->top - base;
  v->len = n;
  if (n) {
    v->u.items = arena_alloc(&ps->chunks, n * sizeof *v->u.items);
    memcpy(v->u.items, ps->stk + base, n * sizeof *v->u.items);
    if (is_obj) {
      v->keys = arena_alloc(&ps->chunks, n * sizeof *v->keys);
      memcpy(v->keys, ps->kstk + base, n * sizeof *v->keys);
      if (n >= HASH_MIN_MEMBERS && n < UINT32_MAX / 4) build_hash(ps, v);
    }
  }
  ps->top = base;
  ps->depth--;
  *out = v;
  return AGPT_OK;
}

static int match_lit(parser *ps, const char *lit, size_t n) {
  if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, lit, n) != 0) return 0;
  ps->p += n;
  return 1;
}

static agpt_status parse_value(parser *ps, agpt_json **out) {
  skip_ws(ps);
  if (ps->p >= ps->end) return perr(ps, ps->p, "unexpected end of input (value expected)");
  agpt_json *v;
  switch (*ps->p) {
    case '{': return parse_container(ps, out, 1);
    case '[': return parse_container(ps, out, 0);
    case '"':
      v = new_node(ps, AGPT_JSON_STRING);
      AGPT_TRY(parse_string(ps, &v->u.str, &v->len));
      break;
    case 't':
    case 'f':
    case 'n':
      if (match_lit(ps, "true", 4)) {
        v = new_node(ps, AGPT_JSON_BOOL);
        v->boolean = 1;
      } else if (match_lit(ps, "false", 5)) {
        v = new_node(ps, AGPT_JSON_BOOL);
      } else if (match_lit(ps, "null", 4)) {
        v = new_node(ps, AGPT_JSON_NULL);
      } else {
        return perr(ps, ps->p, "unexpected token (true, false or null?)");
      }
      break;
    default:
      if (*ps->p == '-' || (*ps->p >= '0' && *ps->p <= '9')) {
        v = new_node(ps, AGPT_JSON_NUMBER);
        AGPT_TRY(parse_number(ps, v));
        break;
      }
      return perr(ps, ps->p, "unexpected character (value expected)");
  }
  *out = v;
  return AGPT_OK;
}

agpt_status agpt_json_parse(const char *text, size_t n, agpt_json **out) {
  *out = NULL;
  parser ps = {.p = text, .start = text, .end = text + n};
  json_doc *doc = arena_alloc(&ps.chunks, sizeof *doc);
  if (n >= 3 && !memcmp(text, "\xEF\xBB\xBF", 3)) ps.p += 3;
  agpt_json *v = NULL;
  agpt_status st = parse_value(&ps, &v);
  if (st == AGPT_OK) {
    skip_ws(&ps);
    if (ps.p != ps.end) st = perr(&ps, ps.p, "trailing characters after the JSON value");
  }
  free(ps.stk);
  free(ps.kstk);
  if (st != AGPT_OK) {
    arena_free(ps.chunks);
    return AGPT_ERR;
  }
  doc->root = *v; /* the root node moves into the document header */
  doc->chunks = ps.chunks;
  *out = &doc->root;
  return AGPT_OK;
}

void agpt_json_free(agpt_json *root) {
  if (!root) return;
  json_doc *doc = (json_doc *)root;
  arena_free(doc->chunks);
}

agpt_json_kind agpt_json_type(const agpt_json *j) { return j ? (agpt_json_kind)j->kind : AGPT_JSON_NULL; }

size_t agpt_json_len(const agpt_json *j) {
  if (!j || (j->kind != AGPT_JSON_ARRAY && j->kind != AGPT_JSON_OBJECT)) return 0;
  return j->len;
}

const agpt_json *agpt_json_at(const agpt_json *j, size_t i) {
  if (!j || (j->kind != AGPT_JSON_ARRAY && j->kind != AGPT_JSON_OBJECT) || i >= j->len) return NULL;
  return j->u.items[i];
}

const char *agpt_json_key_at(const agpt_json *j, size_t i, size_t *len) {
  if (!j || j->kind != AGPT_JSON_OBJECT || i >= j->len) return NULL;
  if (len) *len = j->keys[i].len;
  return j->keys[i].s;
}

const agpt_json *agpt_json_get(const agpt_json *j, const char *key) {
  if (!j || j->kind != AGPT_JSON_OBJECT) return NULL;
  size_t n = strlen(key);
  if (j->hash) {
    uint32_t slot = (uint32_t)key_hash(key, n) & (j->hash_cap - 1);
    while (j->hash[slot]) {
      uint32_t i = j->hash[slot] - 1;
      if (j->keys[i].len == n && !memcmp(j->keys[i].s, key, n)) return j->u.items[i];
      slot = (slot + 1) & (j->hash_cap - 1);
    }
    return NULL;
  }
  for (size_t i = 0; i < j->len; i++)
    if (j->keys[i].len == n && !memcmp(j->keys[i].s, key, n)) return j->u.items[i];
  return NULL;
}

double agpt_json_num(const agpt_json *j) { return j && j->kind == AGPT_JSON_NUMBER ? j->u.num : 0.0; }

agpt_status agpt_json_int(const agpt_json *j, int64_t *out) {
  *out = 0;
  if (!j || j->kind != AGPT_JSON_NUMBER) return agpt_fail("not a number (an integer is expected)");
  if (j->is_int) {
    *out = j->ival;
    return AGPT_OK;
  }
  double x = j->u.num;
  /* -2^63 is exact as a double; 2^63 is not an int64. */
  if (x != floor(x) || !(x >= -9223372036854775808.0 && x < 9223372036854775808.0))
    return agpt_fail("%.17g is not an integer within int64 (write a whole number)", x);
  *out = (int64_t)x;
  return AGPT_OK;
}

int agpt_json_bool(const agpt_json *j) { return j && j->kind == AGPT_JSON_BOOL ? j->boolean : 0; }

const char *agpt_json_str(const agpt_json *j, size_t *len) {
  if (!j || j->kind != AGPT_JSON_STRING) return NULL;
  if (len) *len = j->len;
  return j->u.str;
}

/* ---- string builder: data stays NUL-terminated (not counted in len) ---- */

static void sb_reserve(agpt_sb *sb, size_t extra) {
  size_t need = sb->len + extra + 1;
  if (need <= sb->cap) return;
  size_t cap = sb->cap ? sb->cap : 64;
  while (cap < need) cap *= 2;
  sb->data = agpt_xrealloc(sb->data, cap);
  sb->cap = cap;
}

void agpt_sb_put(agpt_sb *sb, const void *data, size_t n) {
  sb_reserve(sb, n);
  if (n) memcpy(sb->data + sb->len, data, n);
  sb->len += n;
  sb->data[sb->len] = '\0';
}

void agpt_sb_puts(agpt_sb *sb, const char *s) { agpt_sb_put(sb, s, strlen(s)); }

void agpt_sb_printf(agpt_sb *sb, const char *fmt, ...) {
  va_list ap, ap2;
  va_start(ap, fmt);
  va_copy(ap2, ap);
  sb_reserve(sb, 64);
  int n = vsnprintf(sb->data + sb->len, sb->cap - sb->len, fmt, ap);
  va_end(ap);
  AGPT_ASSERT(n >= 0);
  if ((size_t)n >= sb->cap - sb->len) {
    sb_reserve(sb, (size_t)n);
    vsnprintf(sb->data + sb->len, sb->cap - sb->len, fmt, ap2);
  }
  va_end(ap2);
  sb->len += (size_t)n;
}

void agpt_sb_json_str(agpt_sb *sb, const char *s, size_t n) {
  static const char hex[] = "0123456789abcdef";
  sb_reserve(sb, n + 2);
  agpt_sb_put(sb, "\"", 1);
  const unsigned char *p = (const unsigned char *)s, *e = p + n;
  while (p < e) {
    /* copy the longest run that needs no escaping in one go */
    const unsigned char *run = p;
    while (p < e && *p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\') p++;
    if (p > run) agpt_sb_put(sb, run, (size_t)(p - run));
    if (p >= e) break;
    unsigned c = *p;
    if (c >= 0x80) {
      size_t k = utf8_seq(p, e);
      if (k) {
        agpt_sb_put(sb, p, k);
        p += k;
      } else {
        agpt_sb_puts(sb, "\\ufffd"); /* keep the output valid UTF-8 */
        p++;
      }
      continue;
    }
    char esc[7] = {'\\', 0};
    switch (c) {
      case '"': esc[1] = '"'; break;
      case '\\': esc[1] = '\\'; break;
      case '\n': esc[1] = 'n'; break;
      case '\r': esc[1] = 'r'; break;
      case '\t': esc[1] = 't'; break;
      case '\b': esc[1] = 'b'; break;
      case '\f': esc[1] = 'f'; break;
      default:
        esc[1] = 'u', esc[2] = '0', esc[3] = '0', esc[4] = hex[c >> 4], esc[5] = hex[c & 15];
    }
    agpt_sb_puts(sb, esc);
    p++;
  }
  agpt_sb_put(sb, "\"", 1);
}

void agpt_sb_json_num(agpt_sb *sb, double x) {
  if (!isfinite(x)) {
    agpt_sb_puts(sb, "null");
    return;
  }
  /* The shortest of %.15g..%.17g that reads back exactly: 0.1 stays "0.1". */
  char buf[40];
  for (int prec = 15; prec <= 17; prec++) {
    snprintf(buf, sizeof buf, "%.*g", prec, x);
    if (strtod(buf, NULL) == x) break;
  }
  agpt_sb_puts(sb, buf);
}

void agpt_sb_free(agpt_sb *sb) {
  free(sb->data);
  sb->data = NULL;
  sb->len = sb->cap = 0;
}
