/* Byte-level BPE: lookup tables, encode and decode (see tokenizer.h).
 *
 * Encode path, per call: added tokens are cut out of the text first
 * (leftmost, then longest, as `tokenizers` matches them); each stretch in
 * between goes through the regex pre-tokenizer; each piece is looked up in a
 * per-thread cache from piece bytes to ids, and on a miss split into bytes
 * and merged by rank with a linked list and a binary heap, O(n log n) in the
 * piece length. Equal ranks merge leftmost first, exactly like `tokenizers`.
 * With add_special_tokens, the post-processor's compiled single template
 * (tok_internal.h, invariant 6) is emitted around the text's ids.
 *
 * Per-thread state (design note). Each thread keeps up to TLS_SLOTS
 * contexts, one per tokenizer it used recently, found by the tokenizer's
 * serial. Invariants:
 *  1. A context holds no pointer into an agpt_tok, so freeing a tokenizer
 *     never leaves a context dangling; its slot is reused later.
 *  2. A cache entry maps piece bytes to the ids the tokenizer with that
 *     serial gives them; the cache is cleared wholesale when full.
 *  3. Contexts are freed when their thread exits (pthread key destructor). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "data/tok_internal.h"

/* ---- byte <-> unicode ------------------------------------------------- */

static uint32_t g_b2c[256];
static int16_t g_c2b[512]; /* every byte-level code point is below 0x144 */
static pthread_once_t g_map_once = PTHREAD_ONCE_INIT;

static void map_init(void) {
  /* Printable Latin-1 bytes stand for themselves; the others (controls,
   * space, NBSP, soft hyphen) are moved to U+0100 and up, in byte order. */
  int n = 0;
  for (int i = 0; i < 512; i++) g_c2b[i] = -1;
  for (int b = 0; b < 256; b++) {
    int keep = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
    g_b2c[b] = keep ? (uint32_t)b : (uint32_t)(256 + n++);
    g_c2b[g_b2c[b]] = (int16_t)b;
  }
}

uint32_t tok_byte_to_cp(unsigned b) {
  pthread_once(&g_map_once, map_init);
  return g_b2c[b & 255];
}

int tok_cp_to_byte(uint32_t cp) {
  pthread_once(&g_map_once, map_init);
  return cp < 512 ? g_c2b[cp] : -1;
}

void tok_bytes_to_text(const unsigned char *p, size_t n, agpt_sb *sb) {
  pthread_once(&g_map_once, map_init);
  for (size_t i = 0; i < n; i++) {
    uint32_t cp = g_b2c[p[i]];
    char u[2];
    if (cp < 0x80) {
      u[0] = (char)cp;
      agpt_sb_put(sb, u, 1);
    } else {
      u[0] = (char)(0xC0 | (cp >> 6));
      u[1] = (char)(0x80 | (cp & 0x3F));
      agpt_sb_put(sb, u, 2);
    }
  }
}

int tok_text_to_bytes(const char *s, size_t n, agpt_sb *sb) {
  pthread_once(&g_map_once, map_init);
  const unsigned char *p = (const unsigned char *)s;
  for (size_t i = 0; i < n;) {
    uint32_t cp;
    if (p[i] < 0x80) {
      cp = p[i++];
    } else if ((p[i] & 0xE0) == 0xC0 && i + 1 < n && (p[i + 1] & 0xC0) == 0x80) {
      cp = ((uint32_t)(p[i] & 0x1F) << 6) | (p[i + 1] & 0x3F);
      i += 2;
    } else {
      return 0;
    }
    if (cp >= 512 || g_c2b[cp] < 0) return 0;
    unsigned char b = (unsigned char)g_c2b[cp];
    agpt_sb_put(sb, &b, 1);
  }
  return 1;
}

/* ---- construction ----------------------------------------------------- */

static atomic_uint_fast64_t g_serial = 1;

agpt_tok *tok_alloc(void) {
  agpt_tok *t = agpt_xcalloc(1, sizeof *t);
  t->serial = atomic_fetch_add(&g_serial, 1);
  t->bos = t->eos = t->pad = t->unk = -1;
  for (int b = 0; b < 256; b++) t->byte_id[b] = -1;
  return t;
}

static void grow_vocab(agpt_tok *t, size_t n) {
  if (n <= t->nvocab) return;
  t->tokens = agpt_xrealloc(t->tokens, n * sizeof *t->tokens);
  t->token_len = agpt_xrealloc(t->token_len, n * sizeof *t->token_len);
  for (size_t i = t->nvocab; i < n; i++) {
    t->tokens[i] = NULL;
    t->token_len[i] = 0;
  }
  t->nvocab = n;
}

agpt_status tok_set_token(agpt_tok *t, int32_t id, const char *text, size_t len, const char *where) {
  if (id < 0 || id >= (1 << 30)) return agpt_fail("%s: id %d out of range (ids are 0 .. 2^30-1)", where, id);
  if ((size_t)id >= t->nvocab) {
    size_t n = t->nvocab ? t->nvocab : 256;
    while (n <= (size_t)id) n *= 2;
    grow_vocab(t, n);
  }
  if (t->tokens[id]) {
    if (t->token_len[id] == len && !memcmp(t->tokens[id], text, len)) return AGPT_OK;
    return agpt_fail("%s: id %d is given to two tokens (every id must be used once)", where, id);
  }
  t->tokens[id] = agpt_xmalloc(len + 1);
  memcpy(t->tokens[id], text, len);
  t->tokens[id][len] = 0;
  t->token_len[id] = (uint32_t)len;
  return AGPT_OK;
}

uint64_t tok_hash_bytes(const void *data, size_t n) {
  const unsigned char *p = data;
  uint64_t h = 0x9E3779B97F4A7C15ull ^ (n * 0xFF51AFD7ED558CCDull);
  while (n >= 8) {
    uint64_t w;
    memcpy(&w, p, 8);
    h = (h ^ w) * 0xC4CEB9FE1A85EC53ull;
    h ^= h >> 29;
    p += 8;
    n -= 8;
  }
  uint64_t w = 0;
  if (n) memcpy(&w, p, n); /* p may be NULL when n is 0 (an empty token) */
  h = (h ^ w ^ (uint64_t)n << 56) * 0xC4CEB9FE1A85EC53ull;
  h ^= h >> 32;
  return h;
}

static inline uint64_t pair_hash(uint64_t key) {
  key *= 0x9E3779B97F4A7C15ull;
  return key ^ (key >> 31);
}

static inline const tok_pair_slot *pair_find(const agpt_tok *t, int32_t a, int32_t b) {
  uint64_t key = (((uint64_t)(uint32_t)a << 32) | (uint32_t)b) + 1;
  size_t mask = t->pair_cap - 1;
  for (size_t i = pair_hash(key) & mask;; i = (i + 1) & mask) {
    const tok_pair_slot *s = &t->pairs[i];
    if (s->key == key) return s;
    if (!s->key) return NULL;
  }
}

int32_t tok_bytes_lookup(const agpt_tok *t, const unsigned char *p, size_t n) {
  if (!t->bslot_cap) return -1;
  uint64_t h = tok_hash_bytes(p, n);
  size_t mask = t->bslot_cap - 1;
  for (size_t i = h & mask;; i = (i + 1) & mask) {
    const tok_bytes_slot *s = &t->bslots[i];
    if (s->id < 0) return -1;
    if (s->hash == h && s->len == n && (n == 0 || !memcmp(t->bytes_pool + s->off, p, n))) return s->id;
  }
}

static int added_cmp(const void *a, const void *b) {
  const tok_added *x = a, *y = b;
  unsigned char fx = (unsigned char)x->content[0], fy = (unsigned char)y->content[0];
  if (fx != fy) return fx < fy ? -1 : 1;
  if (x->len != y->len) return x->len > y->len ? -1 : 1;
  return x->id < y->id ? -1 : x->id > y->id;
}

agpt_status tok_finish(agpt_tok *t, const char *where) {
  pthread_once(&g_map_once, map_init);
  for (size_t i = 0; i < t->nadded; i++) {
    if (!t->added[i].len) return agpt_fail("%s: added_tokens: token %d has empty content (remove it)", where,
                                           t->added[i].id);
    AGPT_TRY(tok_set_token(t, t->added[i].id, t->added[i].content, t->added[i].len, where));
  }
  /* trim unused ids at the end */
  size_t nv = t->nvocab;
  while (nv && !t->tokens[nv - 1]) nv--;
  t->nvocab = nv;

  /* raw bytes of every id */
  uint8_t *is_added = agpt_xcalloc(nv ? nv : 1, 1);
  for (size_t i = 0; i < t->nadded; i++) is_added[t->added[i].id] = 1;
  uint8_t *is_model = agpt_xcalloc(nv ? nv : 1, 1);
  agpt_sb pool = {0};
  uint32_t *off = agpt_xmalloc((nv ? nv : 1) * sizeof *off);
  t->bytes_len = agpt_xcalloc(nv ? nv : 1, sizeof *t->bytes_len);
  for (size_t id = 0; id < nv; id++) {
    off[id] = (uint32_t)pool.len;
    if (!t->tokens[id]) continue;
    size_t before = pool.len;
    if (!is_added[id] && tok_text_to_bytes(t->tokens[id], t->token_len[id], &pool)) {
      is_model[id] = 1;
    } else {
      /* added tokens, and tokens outside the alphabet, decode to their text
       * (what the ByteLevel decoder of `tokenizers` does) */
      pool.len = before;
      agpt_sb_put(&pool, t->tokens[id], t->token_len[id]);
    }
    t->bytes_len[id] = (uint32_t)(pool.len - before);
  }
  agpt_sb_put(&pool, "", 1);
  t->bytes_pool = pool.data;
  t->bytes = agpt_xmalloc((nv ? nv : 1) * sizeof *t->bytes);
  for (size_t id = 0; id < nv; id++) t->bytes[id] = (unsigned char *)t->bytes_pool + off[id];
  free(off);

  /* raw bytes -> model token id; the lowest id wins a collision */
  size_t nmodel = 0;
  for (size_t id = 0; id < nv; id++) nmodel += is_model[id];
  t->bslot_cap = 16;
  while (t->bslot_cap < 2 * nmodel + 2) t->bslot_cap *= 2;
  t->bslots = agpt_xmalloc(t->bslot_cap * sizeof *t->bslots);
  for (size_t i = 0; i < t->bslot_cap; i++) t->bslots[i].id = -1;
  for (size_t id = 0; id < nv; id++) {
    if (!is_model[id]) continue;
    const unsigned char *p = t->bytes[id];
    size_t n = t->bytes_len[id];
    if (tok_bytes_lookup(t, p, n) >= 0) continue;
    uint64_t h = tok_hash_bytes(p, n);
    size_t mask = t->bslot_cap - 1, i = h & mask;
    while (t->bslots[i].id >= 0) i = (i + 1) & mask;
    t->bslots[i] = (tok_bytes_slot){.hash = h, .off = (uint32_t)(p - (unsigned char *)t->bytes_pool),
                                    .len = (uint32_t)n, .id = (int32_t)id};
    if (n == 1 && t->byte_id[p[0]] < 0) t->byte_id[p[0]] = (int32_t)id;
  }

  /* merges: (a, b) -> (rank, id of a+b); a later duplicate overrides, as in
   * `tokenizers` */
  t->pair_cap = 16;
  while (t->pair_cap < 2 * t->nmerges + 2) t->pair_cap *= 2;
  t->pairs = agpt_xcalloc(t->pair_cap, sizeof *t->pairs);
  agpt_sb tmp = {0};
  agpt_status st = AGPT_OK;
  for (size_t r = 0; r < t->nmerges && st == AGPT_OK; r++) {
    int32_t a = t->merges[r][0], b = t->merges[r][1];
    if (a < 0 || b < 0 || (size_t)a >= nv || (size_t)b >= nv || !is_model[a] || !is_model[b]) {
      st = agpt_fail("%s: model.merges[%zu]: refers to a token that is not a byte-level vocabulary entry "
                     "(every merge part must be in model.vocab)", where, r);
      break;
    }
    tmp.len = 0;
    agpt_sb_put(&tmp, t->bytes[a], t->bytes_len[a]);
    agpt_sb_put(&tmp, t->bytes[b], t->bytes_len[b]);
    int32_t m = tok_bytes_lookup(t, (unsigned char *)tmp.data, tmp.len);
    if (m < 0) {
      st = agpt_fail("%s: model.merges[%zu]: '%s' + '%s' is not in model.vocab (add the merged token or drop "
                     "the merge)", where, r, t->tokens[a], t->tokens[b]);
      break;
    }
    uint64_t key = (((uint64_t)(uint32_t)a << 32) | (uint32_t)b) + 1;
    size_t mask = t->pair_cap - 1, i = pair_hash(key) & mask;
    while (t->pairs[i].key && t->pairs[i].key != key) i = (i + 1) & mask;
    t->pairs[i] = (tok_pair_slot){.key = key, .rank = (int32_t)r, .id = m};
  }
  agpt_sb_free(&tmp);
  free(is_added);
  free(is_model);
  if (st != AGPT_OK) return st;

  if (t->nadded) qsort(t->added, t->nadded, sizeof *t->added, added_cmp);
  memset(t->added_first, 0, sizeof t->added_first);
  for (size_t i = 0; i < t->nadded; i++) t->added_first[(unsigned char)t->added[i].content[0]] = 1;
  return AGPT_OK;
}

void tok_guess_specials(agpt_tok *t) {
  static const char *bos[] = {"<|begin_of_text|>", "<|startoftext|>", "<s>", "<bos>", "[BOS]", NULL};
  static const char *eos[] = {"<|end_of_text|>", "<|endoftext|>", "</s>", "<eos>", "[EOS]", NULL};
  static const char *pad[] = {"<|pad|>", "<pad>", "[PAD]", "<|finetune_right_pad_id|>", NULL};
  const char **lists[3] = {bos, eos, pad};
  int32_t *dst[3] = {&t->bos, &t->eos, &t->pad};
  for (int k = 0; k < 3; k++) {
    if (*dst[k] >= 0) continue;
    for (const char **name = lists[k]; *name && *dst[k] < 0; name++)
      for (size_t i = 0; i < t->nadded; i++)
        if (!strcmp(t->added[i].content, *name)) {
          *dst[k] = t->added[i].id;
          break;
        }
  }
}

void agpt_tok_free(agpt_tok *t) {
  if (!t) return;
  for (size_t i = 0; i < t->nvocab; i++) free(t->tokens[i]);
  for (size_t i = 0; i < t->nadded; i++) free(t->added[i].content);
  free(t->tokens);
  free(t->token_len);
  free(t->bytes);
  free(t->bytes_len);
  free(t->bytes_pool);
  free(t->merges);
  free(t->pairs);
  free(t->bslots);
  free(t->added);
  tok_pretok_free(&t->pre);
  tok_post_free(&t->post);
  free(t);
}

size_t agpt_tok_vocab_size(const agpt_tok *t) { return t->nvocab; }
int32_t agpt_tok_bos(const agpt_tok *t) { return t->bos; }
int32_t agpt_tok_eos(const agpt_tok *t) { return t->eos; }
int32_t agpt_tok_pad(const agpt_tok *t) { return t->pad; }

int32_t agpt_tok_token_id(const agpt_tok *t, const char *s, size_t len) {
  for (size_t i = 0; i < t->nadded; i++)
    if (t->added[i].len == len && !memcmp(t->added[i].content, s, len)) return t->added[i].id;
  agpt_sb b = {0};
  int32_t id = -1;
  if (tok_text_to_bytes(s, len, &b)) id = tok_bytes_lookup(t, (const unsigned char *)b.data, b.len);
  agpt_sb_free(&b);
  if (id >= 0 && t->token_len[id] == len && !memcmp(t->tokens[id], s, len)) return id;
  for (size_t i = 0; i < t->nvocab; i++) /* tokens outside the byte alphabet */
    if (t->tokens[i] && t->token_len[i] == len && !memcmp(t->tokens[i], s, len)) return (int32_t)i;
  return -1;
}

const char *agpt_tok_token_str(const agpt_tok *t, int32_t id, size_t *len) {
  if (id < 0 || (size_t)id >= t->nvocab || !t->tokens[id]) return NULL;
  if (len) *len = t->token_len[id];
  return t->tokens[id];
}

/* ---- per-thread context ----------------------------------------------- */

/* The cache holds up to CACHE_MAX_USED pieces of at most CACHE_MAX_KEY bytes
 * in pools sized for typical pieces (a few bytes, one or two ids); it is
 * cleared when the table or a pool fills, about 2.5 MB per context. */
enum {
  TLS_SLOTS = 4,
  CACHE_MAX_KEY = 48,
  CACHE_CAP = 1 << 16,
  CACHE_MAX_USED = CACHE_CAP / 2,
  CACHE_KPOOL = CACHE_MAX_USED * 16,
  CACHE_VPOOL = CACHE_MAX_USED * 4,
};

typedef struct {
  uint64_t hash;
  uint32_t koff, voff;
  uint16_t klen, vlen; /* klen == 0: empty slot */
} cache_slot;

typedef struct {
  int32_t rank, pos, left, right, id;
} heap_ent;

typedef struct {
  uint64_t serial, last_use;
  tok_scratch *scratch;
  cache_slot *slots; /* (CACHE_CAP) */
  size_t used;
  unsigned char *kpool; /* (CACHE_KPOOL) piece bytes */
  size_t kused;
  int32_t *vpool; /* (CACHE_VPOOL) ids */
  size_t vused;
  /* BPE work arrays, grown to the longest piece seen */
  int32_t *sym, *prev, *next, *out;
  heap_ent *heap;
  size_t wcap, hcap;
} tok_ctx;

typedef struct {
  tok_ctx ctx[TLS_SLOTS];
  uint64_t clock;
} tok_tls;

static pthread_key_t g_tls_key;
static pthread_once_t g_tls_once = PTHREAD_ONCE_INIT;
static _Thread_local tok_tls *g_tls;

static void ctx_release(tok_ctx *c) {
  tok_scratch_free(c->scratch);
  free(c->slots);
  free(c->kpool);
  free(c->vpool);
  free(c->sym);
  free(c->prev);
  free(c->next);
  free(c->out);
  free(c->heap);
  memset(c, 0, sizeof *c);
}

static void tls_destroy(void *p) {
  tok_tls *tls = p;
  for (int i = 0; i < TLS_SLOTS; i++) ctx_release(&tls->ctx[i]);
  free(tls);
}

static void tls_key_init(void) { AGPT_ASSERT(pthread_key_create(&g_tls_key, tls_destroy) == 0); }

static tok_ctx *ctx_get(const agpt_tok *t) {
  if (!g_tls) {
    pthread_once(&g_tls_once, tls_key_init);
    g_tls = agpt_xcalloc(1, sizeof *g_tls);
    AGPT_ASSERT(pthread_setspecific(g_tls_key, g_tls) == 0);
  }
  tok_tls *tls = g_tls;
  tls->clock++;
  tok_ctx *victim = &tls->ctx[0];
  for (int i = 0; i < TLS_SLOTS; i++) {
    tok_ctx *c = &tls->ctx[i];
    if (c->serial == t->serial) {
      c->last_use = tls->clock;
      return c;
    }
    if (c->last_use < victim->last_use) victim = c;
  }
  tok_ctx *c = victim;
  if (!c->scratch) {
    c->scratch = tok_scratch_new();
    c->slots = agpt_xmalloc(CACHE_CAP * sizeof *c->slots);
    c->kpool = agpt_xmalloc(CACHE_KPOOL);
    c->vpool = agpt_xmalloc(CACHE_VPOOL * sizeof *c->vpool);
  }
  memset(c->slots, 0, CACHE_CAP * sizeof *c->slots);
  c->used = c->kused = c->vused = 0;
  c->serial = t->serial;
  c->last_use = tls->clock;
  return c;
}

static void ctx_reserve(tok_ctx *c, size_t n) {
  if (n <= c->wcap) return;
  size_t cap = c->wcap ? c->wcap : 64;
  while (cap < n) cap *= 2;
  c->sym = agpt_xrealloc(c->sym, cap * sizeof *c->sym);
  c->prev = agpt_xrealloc(c->prev, cap * sizeof *c->prev);
  c->next = agpt_xrealloc(c->next, cap * sizeof *c->next);
  c->out = agpt_xrealloc(c->out, cap * sizeof *c->out);
  c->heap = agpt_xrealloc(c->heap, cap * sizeof *c->heap);
  c->wcap = cap;
}

/* ---- BPE on one piece ------------------------------------------------- */

static inline int heap_less(const heap_ent *a, const heap_ent *b) {
  return a->rank < b->rank || (a->rank == b->rank && a->pos < b->pos);
}

static void heap_push(heap_ent *h, size_t *n, heap_ent e) {
  size_t i = (*n)++;
  while (i) {
    size_t p = (i - 1) / 2;
    if (!heap_less(&e, &h[p])) break;
    h[i] = h[p];
    i = p;
  }
  h[i] = e;
}

static heap_ent heap_pop(heap_ent *h, size_t *n) {
  heap_ent top = h[0], last = h[--*n];
  size_t i = 0, m = *n;
  for (;;) {
    size_t l = 2 * i + 1;
    if (l >= m) break;
    size_t s = (l + 1 < m && heap_less(&h[l + 1], &h[l])) ? l + 1 : l;
    if (!heap_less(&h[s], &last)) break;
    h[i] = h[s];
    i = s;
  }
  h[i] = last;
  return top;
}

static inline void push_pair(const agpt_tok *t, tok_ctx *c, size_t *nh, int32_t pos) {
  int32_t nx = c->next[pos];
  if (nx < 0) return;
  const tok_pair_slot *s = pair_find(t, c->sym[pos], c->sym[nx]);
  if (s) heap_push(c->heap, nh, (heap_ent){s->rank, pos, c->sym[pos], c->sym[nx], s->id});
}

/* Writes the ids of one piece to c->out; returns their count. */
static size_t bpe_piece(const agpt_tok *t, tok_ctx *c, const unsigned char *p, size_t n) {
  ctx_reserve(c, n);
  if (t->ignore_merges) {
    int32_t id = tok_bytes_lookup(t, p, n);
    if (id >= 0) {
      c->out[0] = id;
      return 1;
    }
  }
  /* one symbol per byte; a byte missing from the vocabulary becomes unk or
   * is dropped, as `tokenizers` does */
  int32_t m = 0;
  for (size_t i = 0; i < n; i++) {
    int32_t id = t->byte_id[p[i]];
    if (id < 0) id = t->unk;
    if (id < 0) continue;
    c->sym[m] = id;
    c->prev[m] = m - 1;
    c->next[m] = m + 1;
    m++;
  }
  if (m == 0) return 0;
  c->next[m - 1] = -1;
  size_t nh = 0;
  for (int32_t i = 0; i + 1 < m; i++) push_pair(t, c, &nh, i);
  while (nh) {
    heap_ent e = heap_pop(c->heap, &nh);
    int32_t nx = c->next[e.pos];
    if (c->sym[e.pos] != e.left || nx < 0 || c->sym[nx] != e.right) continue; /* stale */
    c->sym[e.pos] = e.id;
    c->sym[nx] = -1;
    int32_t nn = c->next[nx];
    c->next[e.pos] = nn;
    if (nn >= 0) c->prev[nn] = e.pos;
    if (c->prev[e.pos] >= 0) push_pair(t, c, &nh, c->prev[e.pos]);
    push_pair(t, c, &nh, e.pos);
  }
  size_t k = 0;
  for (int32_t i = 0; i >= 0; i = c->next[i]) c->out[k++] = c->sym[i];
  return k;
}

/* ---- encode ------------------------------------------------------------ */

typedef struct {
  const agpt_tok *t;
  tok_ctx *c;
  int32_t **ids;
  size_t *n, *cap;
} enc_state;

static inline void ids_append(enc_state *e, const int32_t *v, size_t k) {
  if (!k) return; /* a piece with no ids: *e->ids may still be NULL */
  if (*e->n + k > *e->cap) {
    size_t cap = *e->cap ? *e->cap : 256;
    while (cap < *e->n + k) cap *= 2;
    *e->ids = agpt_xrealloc(*e->ids, cap * sizeof **e->ids);
    *e->cap = cap;
  }
  memcpy(*e->ids + *e->n, v, k * sizeof *v);
  *e->n += k;
}

static agpt_status on_piece(void *vctx, const unsigned char *p, size_t n) {
  enc_state *e = vctx;
  const agpt_tok *t = e->t;
  tok_ctx *c = e->c;
  if (n == 1) {
    int32_t id = t->byte_id[p[0]];
    if (id < 0) id = t->unk;
    if (id >= 0) ids_append(e, &id, 1);
    return AGPT_OK;
  }
  if (n > CACHE_MAX_KEY) {
    size_t k = bpe_piece(t, c, p, n);
    ids_append(e, c->out, k);
    return AGPT_OK;
  }
  uint64_t h = tok_hash_bytes(p, n);
  size_t mask = CACHE_CAP - 1, i = h & mask;
  for (;; i = (i + 1) & mask) {
    cache_slot *s = &c->slots[i];
    if (!s->klen) break;
    if (s->hash == h && s->klen == n && !memcmp(c->kpool + s->koff, p, n)) {
      ids_append(e, c->vpool + s->voff, s->vlen);
      return AGPT_OK;
    }
  }
  size_t k = bpe_piece(t, c, p, n);
  ids_append(e, c->out, k);
  if (c->used >= CACHE_MAX_USED || c->kused + n > CACHE_KPOOL || c->vused + k > CACHE_VPOOL) {
    memset(c->slots, 0, CACHE_CAP * sizeof *c->slots);
    c->used = c->kused = c->vused = 0;
    i = h & mask;
  }
  cache_slot *s = &c->slots[i];
  while (s->klen) {
    i = (i + 1) & mask;
    s = &c->slots[i];
  }
  memcpy(c->kpool + c->kused, p, n);
  memcpy(c->vpool + c->vused, c->out, k * sizeof *c->out);
  *s = (cache_slot){.hash = h, .koff = (uint32_t)c->kused, .voff = (uint32_t)c->vused, .klen = (uint16_t)n,
                    .vlen = (uint16_t)k};
  c->kused += n;
  c->vused += k;
  c->used++;
  return AGPT_OK;
}

/* The added token that starts at text[i], longest first; NULL if none. */
static const tok_added *added_at(const agpt_tok *t, const unsigned char *text, size_t len, size_t i) {
  for (size_t k = 0; k < t->nadded; k++) {
    const tok_added *a = &t->added[k];
    if ((unsigned char)a->content[0] != text[i]) continue;
    if (a->len <= len - i && !memcmp(a->content, text + i, a->len)) return a;
  }
  return NULL;
}

agpt_status agpt_tok_encode(const agpt_tok *t, const char *text, size_t len, int32_t **ids, size_t *n,
                            size_t *cap) {
  enc_state e = {t, ctx_get(t), ids, n, cap};
  const unsigned char *p = (const unsigned char *)text;
  size_t seg = 0;
  if (t->nadded) {
    /* the usual case: every added token starts with the same byte ('<') */
    int nfirst = 0, first = 0;
    for (int b = 0; b < 256; b++)
      if (t->added_first[b]) nfirst++, first = b;
    size_t i = 0;
    while (i < len) {
      if (nfirst == 1) {
        const unsigned char *q = memchr(p + i, first, len - i);
        if (!q) break;
        i = (size_t)(q - p);
      } else if (!t->added_first[p[i]]) {
        i++;
        continue;
      }
      const tok_added *a = added_at(t, p, len, i);
      if (!a) {
        i++;
        continue;
      }
      AGPT_TRY(tok_pretok_run(&t->pre, e.c->scratch, text + seg, i - seg, on_piece, &e));
      ids_append(&e, &a->id, 1);
      i += a->len;
      seg = i;
    }
  }
  return tok_pretok_run(&t->pre, e.c->scratch, text + seg, len - seg, on_piece, &e);
}

/* ---- post-processor ---------------------------------------------------- */

/* Room for k more ids after n in the growable array *a of *cap. */
static void arr_reserve(int32_t **a, size_t n, size_t *cap, size_t k) {
  if (n + k <= *cap) return;
  size_t c = *cap ? *cap : 16;
  while (c < n + k) c *= 2;
  *a = agpt_xrealloc(*a, c * sizeof **a);
  *cap = c;
}

static void arr_append(int32_t **a, size_t *n, size_t *cap, const int32_t *v, size_t k) {
  arr_reserve(a, *n, cap, k);
  if (k) memcpy(*a + *n, v, k * sizeof *v);
  *n += k;
}

void tok_post_free(tok_post *p) {
  for (size_t i = 0; i < p->nstages; i++) {
    tok_post_stage *s = &p->stages[i];
    for (size_t k = 0; k < s->nsingle; k++) free(s->single[k].id);
    for (size_t k = 0; k < s->npair; k++) free(s->pair[k].id);
    for (size_t k = 0; k < s->nspecials; k++) {
      tok_tpl_special *d = &s->specials[k];
      for (size_t j = 0; j < d->ntokens; j++) free(d->tokens[j]);
      free(d->tokens);
      free(d->ids);
      free(d->key);
    }
    free(s->single);
    free(s->pair);
    free(s->specials);
    free(s->sep);
    free(s->cls);
  }
  free(p->stages);
  free(p->single);
  free(p->plain);
  memset(p, 0, sizeof *p);
}

/* How `tokenizers` runs a post-processor: each stage takes a list of
 * encodings (one, the text, at the start) and returns a list; the result is
 * their concatenation. A template takes its single form for one encoding
 * and its pair form for two, and returns one encoding per piece (a special
 * piece only with add_special_tokens). Bert and Roberta keep the count:
 * cls e0 sep, then e_i sep (Bert) or sep e_i sep (Roberta). ByteLevel keeps
 * everything. Encodings are simulated here with AGPT_TOK_TEXT in place of
 * the text's ids, so encode only has to fill them in. */
typedef struct {
  int32_t *v;
  size_t n, cap;
} seq_buf;

typedef struct {
  seq_buf *e;
  size_t n, cap;
} seq_list;

static seq_buf *list_push(seq_list *l) {
  if (l->n == l->cap) {
    l->cap = l->cap ? 2 * l->cap : 4;
    l->e = agpt_xrealloc(l->e, l->cap * sizeof *l->e);
  }
  l->e[l->n] = (seq_buf){0};
  return &l->e[l->n++];
}

static void list_free(seq_list *l) {
  for (size_t i = 0; i < l->n; i++) free(l->e[i].v);
  free(l->e);
  *l = (seq_list){0};
}

static void buf_add(seq_buf *b, const int32_t *v, size_t k) { arr_append(&b->v, &b->n, &b->cap, v, k); }

static agpt_status run_stage(const tok_post_stage *s, size_t si, int add, const seq_list *in, seq_list *out,
                             const char *where) {
  if (s->kind == TOK_POST_BYTELEVEL || (s->kind != TOK_POST_TEMPLATE && !add)) {
    for (size_t i = 0; i < in->n; i++) buf_add(list_push(out), in->e[i].v, in->e[i].n);
    return AGPT_OK;
  }
  if (s->kind != TOK_POST_TEMPLATE) {
    for (size_t i = 0; i < in->n; i++) {
      seq_buf *b = list_push(out);
      if (i == 0) buf_add(b, &s->cls_id, 1);
      else if (s->kind == TOK_POST_ROBERTA) buf_add(b, &s->sep_id, 1);
      buf_add(b, in->e[i].v, in->e[i].n);
      buf_add(b, &s->sep_id, 1);
    }
    return AGPT_OK;
  }
  static const tok_tpl_piece def_pair[2] = {{"A", 1, 0}, {"B", 1, 1}};
  if (in->n == 0 || in->n > 2)
    return agpt_fail("%s: post_processor: stage %zu (TemplateProcessing) gets %zu sequences from the stages before "
                     "it; `tokenizers` handles one or two (put it first, or give the earlier templates fewer pieces)",
                     where, si, in->n);
  const tok_tpl_piece *pcs = in->n == 1 ? s->single : s->has_pair ? s->pair : def_pair;
  size_t npc = in->n == 1 ? s->nsingle : s->has_pair ? s->npair : 2;
  for (size_t k = 0; k < npc; k++) {
    const tok_tpl_piece *pc = &pcs[k];
    if (pc->is_seq) {
      size_t idx = strcmp(pc->id, "A") ? 1 : 0;
      if (idx >= in->n)
        return agpt_fail("%s: post_processor: stage %zu (TemplateProcessing) uses $%s of a single sequence", where,
                         si, pc->id);
      buf_add(list_push(out), in->e[idx].v, in->e[idx].n);
      continue;
    }
    size_t j = 0;
    while (j < s->nspecials && strcmp(s->specials[j].key, pc->id)) j++;
    if (j == s->nspecials)
      return agpt_fail("%s: post_processor: special token '%s' of a template is not in its special_tokens", where,
                       pc->id);
    if (add) buf_add(list_push(out), s->specials[j].ids, s->specials[j].nids);
  }
  return AGPT_OK;
}

/* The flat template of all stages, with or without the special pieces.
 * *out is owned by the caller (never NULL on success). */
static agpt_status compile_one(const agpt_tok *t, int add, const char *where, int32_t **out, size_t *nout) {
  seq_list cur = {0}, nxt = {0};
  const int32_t text = AGPT_TOK_TEXT;
  buf_add(list_push(&cur), &text, 1);
  agpt_status st = AGPT_OK;
  for (size_t i = 0; i < t->post.nstages && st == AGPT_OK; i++) {
    st = run_stage(&t->post.stages[i], i, add, &cur, &nxt, where);
    size_t total = 0;
    for (size_t k = 0; k < nxt.n; k++) total += nxt.e[k].n;
    if (st == AGPT_OK && total > (1u << 20))
      st = agpt_fail("%s: post_processor: the template grows to %zu pieces (repeat $A less often)", where, total);
    list_free(&cur);
    cur = nxt;
    nxt = (seq_list){0};
  }
  int32_t *v = NULL;
  size_t n = 0, cap = 0;
  for (size_t k = 0; k < cur.n && st == AGPT_OK; k++) arr_append(&v, &n, &cap, cur.e[k].v, cur.e[k].n);
  list_free(&cur);
  for (size_t i = 0; i < n && st == AGPT_OK; i++)
    if (v[i] != AGPT_TOK_TEXT && (v[i] < 0 || (size_t)v[i] >= t->nvocab || !t->tokens[v[i]]))
      st = agpt_fail("%s: post_processor: id %d is not in the vocabulary of %zu ids (use the id of an added token)",
                     where, v[i], t->nvocab);
  if (st != AGPT_OK) {
    free(v);
    return st;
  }
  *out = v ? v : agpt_xmalloc(sizeof *v); /* a template of nothing at all */
  *nout = n;
  return AGPT_OK;
}

agpt_status tok_post_compile(agpt_tok *t, const char *where) {
  int32_t *single, *plain;
  size_t ns, np;
  AGPT_TRY(compile_one(t, 1, where, &single, &ns));
  if (compile_one(t, 0, where, &plain, &np) != AGPT_OK) {
    free(single);
    return AGPT_ERR;
  }
  tok_post *p = &t->post;
  free(p->single);
  free(p->plain);
  p->single = single;
  p->nsingle = ns;
  p->plain = plain;
  p->nplain = np;
  return AGPT_OK;
}

static tok_tpl_piece piece(const char *id, int is_seq, int64_t type_id) {
  return (tok_tpl_piece){.id = agpt_xstrdup(id), .is_seq = is_seq, .type_id = type_id};
}

agpt_status agpt_tok_set_bos_template(agpt_tok *t, int32_t bos) {
  if (bos >= 0 && ((size_t)bos >= t->nvocab || !t->tokens[bos]))
    return agpt_fail("post_processor: BOS id %d is not in the vocabulary of %zu ids", bos, t->nvocab);
  tok_post *p = &t->post;
  tok_post_free(p);
  /* Meta's Llama-3 tokenizer.json spells it this way: ByteLevel first */
  p->stages = agpt_xcalloc(2, sizeof *p->stages);
  p->stages[0] = (tok_post_stage){.kind = TOK_POST_BYTELEVEL, .add_prefix_space = 1, .use_regex = 1};
  p->nstages = 1;
  p->form = 2;
  if (bos >= 0) {
    const char *b = t->tokens[bos];
    tok_post_stage *s = &p->stages[p->nstages++];
    s->kind = TOK_POST_TEMPLATE;
    s->single = agpt_xmalloc(2 * sizeof *s->single);
    s->single[s->nsingle++] = piece(b, 0, 0);
    s->single[s->nsingle++] = piece("A", 1, 0);
    s->pair = agpt_xmalloc(4 * sizeof *s->pair);
    s->pair[s->npair++] = piece(b, 0, 0);
    s->pair[s->npair++] = piece("A", 1, 0);
    s->pair[s->npair++] = piece(b, 0, 1);
    s->pair[s->npair++] = piece("B", 1, 1);
    s->has_pair = 1;
    s->specials = agpt_xcalloc(1, sizeof *s->specials);
    tok_tpl_special *d = &s->specials[s->nspecials++];
    d->key = agpt_xstrdup(b);
    d->ids = agpt_xmalloc(sizeof *d->ids);
    d->ids[d->nids++] = bos;
    d->tokens = agpt_xmalloc(sizeof *d->tokens);
    d->tokens[d->ntokens++] = agpt_xstrdup(b);
    p->form = 3;
  }
  return tok_post_compile(t, "post_processor");
}

static const int32_t g_text_only[1] = {AGPT_TOK_TEXT};

const int32_t *agpt_tok_template(const agpt_tok *t, size_t *n) {
  if (!t->post.single) {
    *n = 1;
    return g_text_only;
  }
  *n = t->post.nsingle;
  return t->post.single;
}

agpt_status agpt_tok_encode_ex(const agpt_tok *t, const char *text, size_t len, int add_special_tokens,
                               int32_t **ids, size_t *n, size_t *cap, size_t *n_text) {
  size_t ntpl, start = SIZE_MAX, cnt = 0;
  const int32_t *tpl = agpt_tok_template(t, &ntpl);
  if (!add_special_tokens) {
    /* without special tokens only a template that repeats $A differs */
    tpl = t->post.plain ? t->post.plain : g_text_only;
    ntpl = t->post.plain ? t->post.nplain : 1;
  }
  for (size_t i = 0; i < ntpl; i++) {
    if (tpl[i] != AGPT_TOK_TEXT) {
      arr_append(ids, n, cap, &tpl[i], 1);
    } else if (start == SIZE_MAX) {
      start = *n;
      AGPT_TRY(agpt_tok_encode(t, text, len, ids, n, cap));
      cnt = *n - start;
    } else {
      /* the text again: copy its ids (room first, as the array may move) */
      arr_reserve(ids, *n, cap, cnt);
      if (cnt) memcpy(*ids + *n, *ids + start, cnt * sizeof **ids);
      *n += cnt;
    }
  }
  if (n_text) *n_text = cnt;
  return AGPT_OK;
}

agpt_status agpt_tok_decode(const agpt_tok *t, const int32_t *ids, size_t n, agpt_sb *out) {
  for (size_t i = 0; i < n; i++) {
    int32_t id = ids[i];
    if (id < 0 || (size_t)id >= t->nvocab || !t->tokens[id])
      return agpt_fail("decode: id %d at position %zu is not in the vocabulary (ids are 0 .. %zu)", id, i,
                       t->nvocab ? t->nvocab - 1 : 0);
    agpt_sb_put(out, t->bytes[id], t->bytes_len[id]);
  }
  return AGPT_OK;
}
