/* Byte-level BPE training: count pre-tokens, then learn merges.
 *
 * Counting runs on OpenMP threads, each into a private table merged into the
 * counter under a lock. A long text is cut into chunks only at places where
 * both patterns we train with (GPT-2, Llama-3) always end a pre-token: after
 * "X\n" followed by Y, with X and Y printable non-space ASCII. So the counts
 * equal those of pre-tokenizing the whole text, whatever the thread count.
 *
 * Merging (design note). State: every distinct word as a symbol sequence
 * with its count; for every adjacent pair of symbols its total count over
 * all words and a list of words that may contain it; a max-heap of
 * (count, pair) entries. Invariants:
 *  1. count[p] is the exact number of occurrences of p, weighted by word
 *     counts, in the current symbol sequences.
 *  2. Every word that contains p appears in where[p] (stale extra entries
 *     are allowed and skipped when seen).
 *  3. For every pair with count[p] > 0 the heap holds an entry with count
 *     >= count[p]; an entry whose count differs from count[p] is stale and
 *     is dropped, or re-pushed with count[p] when lower.
 * Each step pops the best pair, merges it in the words of where[p] only,
 * and applies the pair-count changes those words report (no recount).
 * Tie-breaking (the result is deterministic): highest count first; among
 * equal counts the pair whose left id is smallest, then whose right id is
 * smallest. Ids 0..255 are the bytes in the order of their byte-level code
 * points (the GPT-2 layout), then merged tokens in creation order. A merge
 * whose result string already exists reuses that id, as `tokenizers` does. */
#include <omp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "data/tok_internal.h"

/* ---- word counting ---------------------------------------------------- */

typedef struct {
  uint64_t hash, count;
  uint32_t off, len; /* into pool; len 0: empty slot (pieces are never empty) */
} wslot;

typedef struct {
  wslot *slots;
  size_t cap, used; /* cap: power of two */
  agpt_sb pool;
} wmap;

static void wmap_init(wmap *m) {
  memset(m, 0, sizeof *m);
  m->cap = 1024;
  m->slots = agpt_xcalloc(m->cap, sizeof *m->slots);
}

static void wmap_free(wmap *m) {
  free(m->slots);
  agpt_sb_free(&m->pool);
  memset(m, 0, sizeof *m);
}

static void wmap_add(wmap *m, const unsigned char *p, size_t n, uint64_t h, uint64_t count) {
  if (2 * (m->used + 1) > m->cap) {
    size_t cap = m->cap * 2;
    wslot *s = agpt_xcalloc(cap, sizeof *s);
    for (size_t i = 0; i < m->cap; i++) {
      if (!m->slots[i].len) continue;
      size_t j = m->slots[i].hash & (cap - 1);
      while (s[j].len) j = (j + 1) & (cap - 1);
      s[j] = m->slots[i];
    }
    free(m->slots);
    m->slots = s;
    m->cap = cap;
  }
  size_t mask = m->cap - 1;
  for (size_t i = h & mask;; i = (i + 1) & mask) {
    wslot *s = &m->slots[i];
    if (!s->len) {
      *s = (wslot){.hash = h, .count = count, .off = (uint32_t)m->pool.len, .len = (uint32_t)n};
      AGPT_ASSERT(m->pool.len + n < UINT32_MAX);
      agpt_sb_put(&m->pool, p, n);
      m->used++;
      return;
    }
    if (s->hash == h && s->len == n && !memcmp(m->pool.data + s->off, p, n)) {
      s->count += count;
      return;
    }
  }
}

/* The slot of p[0..n), added with count 0 when absent. */
static wslot *wmap_find(wmap *m, const unsigned char *p, size_t n, uint64_t h) {
  wmap_add(m, p, n, h, 0);
  size_t mask = m->cap - 1;
  for (size_t i = h & mask;; i = (i + 1) & mask) {
    wslot *s = &m->slots[i];
    if (s->hash == h && s->len == n && !memcmp(m->pool.data + s->off, p, n)) return s;
  }
}

struct agpt_tok_counter {
  tok_pretok pre;
  wmap words;
  pthread_mutex_t lock;
};

/* Longer pre-tokens are counted as they are but rarely matter; very long
 * ones (whitespace runs, base64) are cut to keep the training tables small. */
enum { MAX_WORD = 256 };

static agpt_status count_piece(void *ctx, const unsigned char *p, size_t n) {
  wmap *m = ctx;
  while (n) {
    size_t k = n > MAX_WORD ? MAX_WORD : n;
    wmap_add(m, p, k, tok_hash_bytes(p, k), 1);
    p += k;
    n -= k;
  }
  return AGPT_OK;
}

agpt_status agpt_tok_counter_new(agpt_tok_pattern pattern, agpt_tok_counter **out) {
  agpt_tok_counter *c = agpt_xcalloc(1, sizeof *c);
  const char *re = pattern == AGPT_TOK_PATTERN_LLAMA3 ? agpt_tok_llama3_regex : agpt_tok_gpt2_regex;
  if (tok_pretok_add(&c->pre, re, strlen(re)) != AGPT_OK) {
    free(c);
    return AGPT_ERR;
  }
  c->pre.has_split = pattern == AGPT_TOK_PATTERN_LLAMA3;
  wmap_init(&c->words);
  pthread_mutex_init(&c->lock, NULL);
  *out = c;
  return AGPT_OK;
}

void agpt_tok_counter_free(agpt_tok_counter *c) {
  if (!c) return;
  tok_pretok_free(&c->pre);
  wmap_free(&c->words);
  pthread_mutex_destroy(&c->lock);
  free(c);
}

size_t agpt_tok_counter_words(const agpt_tok_counter *c) { return c->words.used; }

agpt_status agpt_tok_counter_add_docs(agpt_tok_counter *c, const char *const *docs, const size_t *lens, size_t n,
                                      int threads) {
  if (threads <= 0) threads = omp_get_max_threads();
  volatile int failed = 0;
  char err[512] = "";
#pragma omp parallel num_threads(threads)
  {
    wmap local;
    wmap_init(&local);
    tok_scratch *s = tok_scratch_new();
#pragma omp for schedule(dynamic, 1)
    for (size_t i = 0; i < n; i++) {
      if (failed) continue;
      if (tok_pretok_run(&c->pre, s, docs[i], lens[i], count_piece, &local) != AGPT_OK) {
#pragma omp critical(tok_train_err)
        {
          failed = 1;
          snprintf(err, sizeof err, "%s", agpt_errmsg());
        }
      }
    }
    tok_scratch_free(s);
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < local.cap; i++) {
      const wslot *w = &local.slots[i];
      if (w->len) wmap_add(&c->words, (unsigned char *)local.pool.data + w->off, w->len, w->hash, w->count);
    }
    pthread_mutex_unlock(&c->lock);
    wmap_free(&local);
  }
  if (failed) return agpt_fail("%s", err);
  return AGPT_OK;
}

static int printable(unsigned char b) { return b >= 0x21 && b <= 0x7E; }

agpt_status agpt_tok_counter_add(agpt_tok_counter *c, const char *text, size_t len, int threads) {
  enum { CHUNK = 1 << 20 };
  const unsigned char *p = (const unsigned char *)text;
  size_t cap = len / CHUNK + 2, n = 0;
  const char **docs = agpt_xmalloc(cap * sizeof *docs);
  size_t *lens = agpt_xmalloc(cap * sizeof *lens);
  size_t start = 0;
  while (start < len) {
    size_t end = start + CHUNK;
    while (end < len && !(printable(p[end]) && p[end - 1] == '\n' && printable(p[end - 2]))) end++;
    if (end > len) end = len;
    if (n == cap) {
      cap *= 2;
      docs = agpt_xrealloc(docs, cap * sizeof *docs);
      lens = agpt_xrealloc(lens, cap * sizeof *lens);
    }
    docs[n] = text + start;
    lens[n++] = end - start;
    start = end;
  }
  agpt_status st = agpt_tok_counter_add_docs(c, docs, lens, n, threads);
  free(docs);
  free(lens);
  return st;
}

/* ---- merges ------------------------------------------------------------ */

typedef struct {
  int64_t count;
  int32_t a, b, pair;
} hent;

typedef struct {
  int32_t a, b;
  int64_t count;
  int32_t *where; /* word indices */
  uint32_t nwhere, cwhere;
  uint32_t stamp; /* last step that queued this pair for a heap push */
} pair_rec;

typedef struct {
  /* words */
  int32_t *sym;        /* all words' symbols */
  size_t *woff;        /* (nwords) start in sym */
  uint32_t *wlen;      /* (nwords) current length */
  uint64_t *wcount;    /* (nwords) */
  uint32_t *wstamp;    /* (nwords) last step that merged in this word */
  size_t nwords;
  /* pairs */
  pair_rec *pairs;
  size_t npairs, cpairs;
  uint64_t *pkeys; /* hash of (a,b)+1 -> index+1 */
  int32_t *pvals;
  size_t pcap;
  /* heap */
  hent *heap;
  size_t nheap, cheap;
  /* pairs whose count rose in this step */
  int32_t *rose;
  size_t nrose, crose;
  uint32_t step;
} trainer;

static inline int hent_better(const hent *x, const hent *y) {
  if (x->count != y->count) return x->count > y->count;
  if (x->a != y->a) return x->a < y->a;
  return x->b < y->b;
}

static void hpush(trainer *tr, hent e) {
  if (tr->nheap == tr->cheap) {
    tr->cheap = tr->cheap ? 2 * tr->cheap : 1024;
    tr->heap = agpt_xrealloc(tr->heap, tr->cheap * sizeof *tr->heap);
  }
  size_t i = tr->nheap++;
  while (i) {
    size_t p = (i - 1) / 2;
    if (!hent_better(&e, &tr->heap[p])) break;
    tr->heap[i] = tr->heap[p];
    i = p;
  }
  tr->heap[i] = e;
}

static hent hpop(trainer *tr) {
  hent top = tr->heap[0], last = tr->heap[--tr->nheap];
  size_t i = 0, n = tr->nheap;
  for (;;) {
    size_t l = 2 * i + 1;
    if (l >= n) break;
    size_t s = (l + 1 < n && hent_better(&tr->heap[l + 1], &tr->heap[l])) ? l + 1 : l;
    if (!hent_better(&tr->heap[s], &last)) break;
    tr->heap[i] = tr->heap[s];
    i = s;
  }
  tr->heap[i] = last;
  return top;
}

static uint64_t mix64(uint64_t k) {
  k ^= k >> 33;
  k *= 0xFF51AFD7ED558CCDull;
  k ^= k >> 33;
  return k;
}

static int32_t pair_get(trainer *tr, int32_t a, int32_t b, int create) {
  uint64_t key = (((uint64_t)(uint32_t)a << 32) | (uint32_t)b) + 1;
  if (create && 2 * (tr->npairs + 1) > tr->pcap) {
    size_t cap = tr->pcap ? 2 * tr->pcap : 4096;
    uint64_t *k = agpt_xcalloc(cap, sizeof *k);
    int32_t *v = agpt_xmalloc(cap * sizeof *v);
    for (size_t i = 0; i < tr->pcap; i++) {
      if (!tr->pkeys[i]) continue;
      size_t j = mix64(tr->pkeys[i]) & (cap - 1);
      while (k[j]) j = (j + 1) & (cap - 1);
      k[j] = tr->pkeys[i];
      v[j] = tr->pvals[i];
    }
    free(tr->pkeys);
    free(tr->pvals);
    tr->pkeys = k;
    tr->pvals = v;
    tr->pcap = cap;
  }
  if (!tr->pcap) return -1;
  size_t mask = tr->pcap - 1;
  for (size_t i = mix64(key) & mask;; i = (i + 1) & mask) {
    if (tr->pkeys[i] == key) return tr->pvals[i];
    if (!tr->pkeys[i]) {
      if (!create) return -1;
      if (tr->npairs == tr->cpairs) {
        tr->cpairs = tr->cpairs ? 2 * tr->cpairs : 4096;
        tr->pairs = agpt_xrealloc(tr->pairs, tr->cpairs * sizeof *tr->pairs);
      }
      int32_t idx = (int32_t)tr->npairs++;
      tr->pairs[idx] = (pair_rec){.a = a, .b = b};
      tr->pkeys[i] = key;
      tr->pvals[i] = idx;
      return idx;
    }
  }
}

static void where_add(pair_rec *p, int32_t w) {
  if (p->nwhere && p->where[p->nwhere - 1] == w) return;
  if (p->nwhere == p->cwhere) {
    p->cwhere = p->cwhere ? 2 * p->cwhere : 4;
    p->where = agpt_xrealloc(p->where, p->cwhere * sizeof *p->where);
  }
  p->where[p->nwhere++] = w;
}

/* Adds delta occurrences of (a, b) found in word w (delta is weighted). */
static void pair_change(trainer *tr, int32_t a, int32_t b, int64_t delta, int32_t w, int32_t merged) {
  int32_t idx = pair_get(tr, a, b, delta > 0);
  if (idx < 0 || idx == merged) return;
  pair_rec *p = &tr->pairs[idx];
  p->count += delta;
  if (delta > 0) {
    where_add(p, w);
    if (p->stamp != tr->step) {
      p->stamp = tr->step;
      if (tr->nrose == tr->crose) {
        tr->crose = tr->crose ? 2 * tr->crose : 1024;
        tr->rose = agpt_xrealloc(tr->rose, tr->crose * sizeof *tr->rose);
      }
      tr->rose[tr->nrose++] = idx;
    }
  }
}

static void merge_word(trainer *tr, int32_t w, int32_t a, int32_t b, int32_t c, int32_t merged) {
  int32_t *s = tr->sym + tr->woff[w];
  uint32_t n = tr->wlen[w], o = 0;
  int64_t cnt = (int64_t)tr->wcount[w];
  for (uint32_t i = 0; i < n;) {
    if (i + 1 < n && s[i] == a && s[i + 1] == b) {
      if (o > 0) {
        pair_change(tr, s[o - 1], a, -cnt, w, merged);
        pair_change(tr, s[o - 1], c, cnt, w, merged);
      }
      if (i + 2 < n) {
        pair_change(tr, b, s[i + 2], -cnt, w, merged);
        pair_change(tr, c, s[i + 2], cnt, w, merged);
      }
      s[o++] = c;
      i += 2;
    } else {
      s[o++] = s[i++];
    }
  }
  tr->wlen[w] = o;
}

static void trainer_free(trainer *tr) {
  free(tr->sym);
  free(tr->woff);
  free(tr->wlen);
  free(tr->wcount);
  free(tr->wstamp);
  for (size_t i = 0; i < tr->npairs; i++) free(tr->pairs[i].where);
  free(tr->pairs);
  free(tr->pkeys);
  free(tr->pvals);
  free(tr->heap);
  free(tr->rose);
}

agpt_status agpt_tok_train(const agpt_tok_counter *c, const agpt_tok_train_opts *o, agpt_tok **out) {
  *out = NULL;
  for (size_t i = 0; i < o->nspecial; i++) {
    if (!o->special[i] || !o->special[i][0]) return agpt_fail("train: special token %zu is empty (give its text)", i);
    for (size_t j = 0; j < i; j++)
      if (!strcmp(o->special[i], o->special[j]))
        return agpt_fail("train: special token '%s' is given twice (list each once)", o->special[i]);
  }
  const char *roles[3] = {o->bos, o->eos, o->pad};
  for (int r = 0; r < 3; r++) {
    if (!roles[r]) continue;
    size_t i = 0;
    while (i < o->nspecial && strcmp(o->special[i], roles[r])) i++;
    if (i == o->nspecial)
      return agpt_fail("train: %s token '%s' is not among the special tokens (add it to --special-tokens)",
                       r == 0 ? "BOS" : r == 1 ? "EOS" : "PAD", roles[r]);
  }
  if (o->vocab_size < 256 + o->nspecial)
    return agpt_fail("train: vocab size %zu is below 256 bytes + %zu special tokens (raise --vocab-size)",
                     o->vocab_size, o->nspecial);
  size_t target = o->vocab_size - o->nspecial; /* model tokens */

  /* byte ids in byte-level code point order */
  int32_t byte_id[256];
  {
    int k = 0;
    for (uint32_t cp = 0; cp < 512; cp++) {
      int b = tok_cp_to_byte(cp);
      if (b >= 0) byte_id[b] = k++;
    }
  }
  /* token bytes, grown as merges are made */
  agpt_sb tb = {0};
  size_t ctok = target, ntok = 256;
  uint32_t *toff = agpt_xmalloc((ctok + 1) * sizeof *toff), *tlen = agpt_xmalloc((ctok + 1) * sizeof *tlen);
  for (int b = 0; b < 256; b++) {
    unsigned char ch = (unsigned char)b;
    toff[byte_id[b]] = (uint32_t)tb.len;
    tlen[byte_id[b]] = 1;
    agpt_sb_put(&tb, &ch, 1);
  }
  /* merged token bytes -> id, to reuse an id when a string is made twice */
  wmap tokmap;
  wmap_init(&tokmap);

  trainer tr = {0};
  const wmap *wm = &c->words;
  tr.nwords = wm->used;
  size_t nsym = wm->pool.len;
  tr.sym = agpt_xmalloc((nsym ? nsym : 1) * sizeof *tr.sym);
  tr.woff = agpt_xmalloc((tr.nwords ? tr.nwords : 1) * sizeof *tr.woff);
  tr.wlen = agpt_xmalloc((tr.nwords ? tr.nwords : 1) * sizeof *tr.wlen);
  tr.wcount = agpt_xmalloc((tr.nwords ? tr.nwords : 1) * sizeof *tr.wcount);
  tr.wstamp = agpt_xcalloc(tr.nwords ? tr.nwords : 1, sizeof *tr.wstamp);
  {
    size_t w = 0, off = 0;
    for (size_t i = 0; i < wm->cap; i++) {
      const wslot *s = &wm->slots[i];
      if (!s->len) continue;
      const unsigned char *p = (const unsigned char *)wm->pool.data + s->off;
      tr.woff[w] = off;
      tr.wlen[w] = s->len;
      tr.wcount[w] = s->count;
      for (uint32_t k = 0; k < s->len; k++) tr.sym[off + k] = byte_id[p[k]];
      off += s->len;
      w++;
    }
  }
  for (size_t w = 0; w < tr.nwords; w++) {
    const int32_t *s = tr.sym + tr.woff[w];
    for (uint32_t k = 0; k + 1 < tr.wlen[w]; k++) {
      int32_t idx = pair_get(&tr, s[k], s[k + 1], 1); /* may move tr.pairs */
      pair_rec *p = &tr.pairs[idx];
      p->count += (int64_t)tr.wcount[w];
      where_add(p, (int32_t)w);
    }
  }
  for (size_t i = 0; i < tr.npairs; i++)
    if (tr.pairs[i].count > 0) hpush(&tr, (hent){tr.pairs[i].count, tr.pairs[i].a, tr.pairs[i].b, (int32_t)i});

  int32_t (*merges)[2] = agpt_xmalloc((target + 1) * sizeof *merges);
  size_t nmerges = 0;
  int64_t minf = o->min_frequency > 1 ? (int64_t)o->min_frequency : 1;
  size_t report = target > 256 ? (target - 256) / 20 + 1 : 1;
  double t0 = agpt_now();
  while (ntok < target && tr.nheap) {
    hent e = hpop(&tr);
    pair_rec *p = &tr.pairs[e.pair];
    if (p->count != e.count) {
      if (p->count > 0 && p->count < e.count) hpush(&tr, (hent){p->count, p->a, p->b, e.pair});
      continue;
    }
    if (e.count < minf) break;
    tr.step++;
    /* the new token */
    size_t before = tb.len;
    /* through a copy: tb may move while it grows; tokens are parts of words,
     * so never longer than MAX_WORD */
    char joined[2 * MAX_WORD];
    AGPT_ASSERT(tlen[e.a] + tlen[e.b] <= sizeof joined);
    memcpy(joined, tb.data + toff[e.a], tlen[e.a]);
    memcpy(joined + tlen[e.a], tb.data + toff[e.b], tlen[e.b]);
    agpt_sb_put(&tb, joined, tlen[e.a] + tlen[e.b]);
    const unsigned char *nb = (const unsigned char *)tb.data + before;
    size_t nlen = tb.len - before;
    wslot *ts = wmap_find(&tokmap, nb, nlen, tok_hash_bytes(nb, nlen));
    int32_t cid;
    if (ts->count == 0) {
      cid = (int32_t)ntok++;
      toff[cid] = (uint32_t)before;
      tlen[cid] = (uint32_t)nlen;
      ts->count = (uint64_t)cid + 1; /* the count field holds id + 1 */
    } else {
      tb.len = before;
      nb = (const unsigned char *)tokmap.pool.data + ts->off;
      cid = (int32_t)(ts->count - 1);
    }
    merges[nmerges][0] = e.a;
    merges[nmerges][1] = e.b;
    nmerges++;
    /* merge in every word that may hold the pair; the list is detached
     * first because pair_change() may grow the pair table under us */
    int32_t *where = p->where;
    uint32_t nwhere = p->nwhere;
    p->where = NULL;
    p->nwhere = p->cwhere = 0;
    for (uint32_t k = 0; k < nwhere; k++) {
      int32_t w = where[k];
      if (tr.wstamp[w] == tr.step) continue;
      tr.wstamp[w] = tr.step;
      merge_word(&tr, w, e.a, e.b, cid, e.pair);
    }
    free(where);
    tr.pairs[e.pair].count = 0;
    for (size_t k = 0; k < tr.nrose; k++) {
      pair_rec *q = &tr.pairs[tr.rose[k]];
      if (q->count > 0) hpush(&tr, (hent){q->count, q->a, q->b, tr.rose[k]});
    }
    tr.nrose = 0;
    if (o->progress && (nmerges % report == 0 || ntok == target)) {
      agpt_sb txt = {0};
      tok_bytes_to_text(nb, nlen, &txt);
      agpt_sb_put(&txt, "", 1);
      fprintf(stderr, "agpt: tokenizer train: %zu/%zu tokens, merge %zu '%s' (count %lld), %.1f s\n", ntok, target,
              nmerges, txt.data, (long long)e.count, agpt_now() - t0);
      agpt_sb_free(&txt);
    }
  }
  trainer_free(&tr);
  wmap_free(&tokmap);

  /* the tokenizer */
  agpt_tok *t = tok_alloc();
  agpt_status st = AGPT_OK;
  agpt_sb txt = {0};
  for (size_t id = 0; id < ntok && st == AGPT_OK; id++) {
    txt.len = 0;
    tok_bytes_to_text((const unsigned char *)tb.data + toff[id], tlen[id], &txt);
    st = tok_set_token(t, (int32_t)id, txt.data, txt.len, "train");
  }
  agpt_sb_free(&txt);
  agpt_sb_free(&tb);
  free(toff);
  free(tlen);
  t->merges = merges;
  t->nmerges = nmerges;
  t->added = agpt_xcalloc(o->nspecial ? o->nspecial : 1, sizeof *t->added);
  for (size_t i = 0; i < o->nspecial; i++) {
    tok_added *a = &t->added[t->nadded++];
    a->len = strlen(o->special[i]);
    a->content = agpt_xstrdup(o->special[i]);
    a->id = (int32_t)(ntok + i);
    a->special = 1;
    a->in_vocab = 1;
  }
  if (st == AGPT_OK) {
    const char *re = o->pattern == AGPT_TOK_PATTERN_LLAMA3 ? agpt_tok_llama3_regex : agpt_tok_gpt2_regex;
    st = tok_pretok_add(&t->pre, re, strlen(re));
    t->pre.has_split = o->pattern == AGPT_TOK_PATTERN_LLAMA3;
  }
  if (st == AGPT_OK) st = tok_finish(t, "train");
  if (st != AGPT_OK) {
    agpt_tok_free(t);
    return AGPT_ERR;
  }
  const char *names[3] = {o->bos, o->eos, o->pad};
  int32_t *dst[3] = {&t->bos, &t->eos, &t->pad};
  for (int r = 0; r < 3; r++)
    if (names[r]) *dst[r] = agpt_tok_token_id(t, names[r], strlen(names[r]));
  tok_guess_specials(t);
  *out = t;
  return AGPT_OK;
}
