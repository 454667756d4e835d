/* Megatron's greedy blend, exact and fast (see greedy_blend.h).
 *
 * Design note.
 * Megatron scans every dataset at every sample. Here most datasets are
 * ruled out a block of samples at a time, by a bound that needs no
 * assumption on the weights, and equal weights are merged, so a step scans a
 * handful of deficits whatever the number of datasets.
 *
 * Entries. Datasets of equal weight form one entry. Among them the deficit
 * fl(fl(w*x) - c) falls strictly as the count c grows (when w * size and size
 * stay below 2^50, so that a difference of one survives rounding), so the
 * member that can win is the one with the smallest count, and of those the
 * lowest index: the entry's front. Members then take turns in index order:
 *   E1. the members of entry v, by index, are m_0 < .. < m_{g-1}; m_0 ..
 *       m_{r-1} have count K + 1 and m_r .. m_{g-1} count K, with K the
 *       entry's count and r = r[v] < g its front;
 *   E2. entry v's deficit is its front's, fl(fl(w*x) - K), and a tie
 *       between entries goes to the lower front index.
 * Without the 2^50 bound every dataset is its own entry.
 *
 * Blocks. Level 0 holds every entry; level i+1 holds the candidates of
 * level i for one block of steps [s, s+k). Let L be a value that at least k
 * entries of level i reach at step s (any L at or below the k-th largest
 * deficit at s). At step s+j, j < k, at most j of those k entries have been
 * drawn, so one of them is undrawn, and an undrawn entry's deficit never
 * falls (fl is monotone and x grows): the maximum at s+j is at least L. An
 * entry whose deficit at the last step of the block, with its count at s, is
 * below L is therefore below the maximum at every step of the block, is never
 * drawn, and may be left out:
 *   B1. every entry left out of level i+1 has U = fl(fl(w*x_last) - c) < L
 *       <= (k-th largest deficit of level i at s), computed with Megatron's
 *       own expression, so the argument holds for the rounded values exactly;
 *   B2. the deepest level (the leaf) is scanned at every step with Megatron's
 *       expression and tie rule (E2), so it picks Megatron's dataset;
 *   B3. level arrays keep the order of level 0, which is the order of the
 *       entries' first members; without merged entries that is index order
 *       and the first maximal lane is the lowest index;
 *   B4. after a block the counts of level i+1 are written back to level i.
 * L is the maximum deficit at s less a margin, bisected until between k and
 * 1.25 k + 1 deficits reach it (B1 needs only >= k). Measured at log-uniform
 * weights, a leaf block of 16 steps keeps ~28 of 100 entries, ~34 of 1000
 * (through a middle level of 128 steps keeping ~250).
 *
 * The deficit is computed as a product, then a difference, never a fused
 * multiply-add: this file is built as ISO C (-std=c11), where GCC does not
 * contract, and the vector path uses separate multiply and subtract, which
 * round exactly as the scalar expression does. */
#include "data/greedy_blend.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

/* Steps per leaf block and the ratio between the blocks of two levels;
 * measured on AVX-512 (bench/kernels/bench_greedy_blend.c). */
#ifndef GB_LEAF_BLOCK
#define GB_LEAF_BLOCK 16
#endif
#ifndef GB_FANOUT
#define GB_FANOUT 8
#endif
/* Entries at or below which the leaf scans everything, without blocks. */
#ifndef GB_DIRECT
#define GB_DIRECT 16
#endif
#define GB_MAX_LEVELS 8
#define GB_LANES 8

typedef struct {
  int n;           /* entries at this level */
  double *w, *c;   /* (cap) weight and count; lanes past n hold 0 and +inf */
  int32_t *ent;    /* (cap) entry id */
  int32_t *pos;    /* (cap) lane in the level above */
  int32_t *fid;    /* (cap) front dataset of the entry (leaf only, E2) */
  double *e, *u;   /* (cap) scratch deficits */
  double delta;    /* margin below the maximum for L */
  uint64_t block;  /* steps per block (level 0: all) */
} gb_level;

typedef struct {
  int nd, ne, grouped;
  int32_t *gsize, *mbase, *r; /* (ne) members, first member slot, front (E1) */
  int32_t *members;           /* (nd) dataset ids, by entry, ascending */
  int nlev;
  gb_level lv[GB_MAX_LEVELS];
  void *di, *si;
  int di_bytes, si_bytes;
} gb_state;

static inline void gb_store(const gb_state *g, uint64_t n, int32_t d, double s) {
  switch (g->di_bytes) {
    case 1: ((uint8_t *)g->di)[n] = (uint8_t)d; break;
    case 2: ((uint16_t *)g->di)[n] = (uint16_t)d; break;
    default: ((int32_t *)g->di)[n] = d; break;
  }
  if (g->si_bytes == 4)
    ((uint32_t *)g->si)[n] = (uint32_t)s;
  else
    ((uint64_t *)g->si)[n] = (uint64_t)s;
}

static inline double gb_x(uint64_t n) { return n > 1 ? (double)n : 1.0; }

/* Lanes [n, round up to 8) can never win: 0 * x - inf = -inf. */
static void gb_pad(gb_level *L) {
  for (int j = L->n; j % GB_LANES; j++) {
    L->w[j] = 0.0;
    L->c[j] = INFINITY;
    L->ent[j] = -1;
    L->pos[j] = -1;
    L->fid[j] = INT32_MAX;
  }
}

static void gb_fronts(const gb_state *g, gb_level *L) {
  for (int j = 0; j < L->n; j++) {
    int v = L->ent[j];
    L->fid[j] = g->members[g->mbase[v] + g->r[v]];
  }
}

/* Lanes of the deficit maximum: the first, and whether there is another. */
static inline int gb_argmax(gb_level *L, double x, int *tied) {
  int nv = (L->n + GB_LANES - 1) / GB_LANES;
#if defined(__AVX512F__)
  __m512d vx = _mm512_set1_pd(x), top = _mm512_set1_pd(-INFINITY);
  for (int k = 0; k < nv; k++) {
    __m512d e = _mm512_sub_pd(_mm512_mul_pd(_mm512_loadu_pd(L->w + GB_LANES * k), vx),
                              _mm512_loadu_pd(L->c + GB_LANES * k));
    _mm512_storeu_pd(L->e + GB_LANES * k, e);
    top = _mm512_max_pd(top, e);
  }
  __m512d vm = _mm512_set1_pd(_mm512_reduce_max_pd(top));
  int first = -1, hits = 0;
  for (int k = 0; k < nv; k++) {
    unsigned m = _mm512_cmp_pd_mask(_mm512_loadu_pd(L->e + GB_LANES * k), vm, _CMP_EQ_OQ);
    if (m) {
      if (first < 0) first = GB_LANES * k + __builtin_ctz(m);
      hits += __builtin_popcount(m);
      if (hits > 1) break;
    }
  }
  *tied = hits > 1;
  return first;
#else
  int first = 0;
  double best = -INFINITY;
  *tied = 0;
  for (int j = 0; j < nv * GB_LANES; j++) {
    double e = L->w[j] * x - L->c[j];
    L->e[j] = e;
    if (e > best) best = e, first = j, *tied = 0;
    else if (e == best) *tied = 1;
  }
  return first;
#endif
}

/* c[j] = v. The next step reads c as whole vectors; a vector store forwards
 * to them where a scalar one would stall them until it retires. */
static inline void gb_bump(double *c, int j, double v) {
#if defined(__AVX512F__)
  double *p = c + (j & ~(GB_LANES - 1));
  _mm512_storeu_pd(p, _mm512_mask_mov_pd(_mm512_loadu_pd(p), (__mmask8)(1u << (j & (GB_LANES - 1))),
                                         _mm512_set1_pd(v)));
#else
  c[j] = v;
#endif
}

/* Output of step n when lane j of L wins: Megatron's (dataset, count).
 * Returns whether the lane's count grows by one (always without merged
 * entries; for a merged entry when its last member was drawn, E1); the
 * caller stores the count. */
static inline int gb_take(gb_state *g, gb_level *L, uint64_t n, int j) {
  double s = L->c[j];
  if (!g->grouped) { /* B3: lanes in index order, the first maximal lane wins */
    gb_store(g, n, L->ent[j], s);
    return 1;
  }
  int v = L->ent[j], r = g->r[v] + 1, bumped = r == g->gsize[v];
  gb_store(g, n, L->fid[j], s);
  if (bumped) r = 0;
  g->r[v] = r;
  L->fid[j] = g->members[g->mbase[v] + r];
  return bumped;
}

#if defined(__AVX512F__)
/* E2: among maximal lanes (bits, past the first), the lowest front. */
static inline int gb_tie(const gb_level *L, int j, uint64_t bits) {
  for (bits &= bits - 1; bits; bits &= bits - 1) {
    int k = __builtin_ctzll(bits);
    if (L->fid[k] < L->fid[j]) j = k;
  }
  return j;
}

/* The leaf for up to 8 * NV lanes, weights and counts held in registers.
 * The chain from one step to the next is kept short: the deficits of step n
 * are computed twice from the counts before step n-1, as they are and with
 * one more, while step n-1 is still being decided; its winner's mask (h)
 * then only selects between the two, and the maximum's equality mask is the
 * next h. Where that mask has more than one lane (a tie) or the winner's
 * count does not grow (a merged entry, E1), h is corrected from the scalar
 * side, off the common path. L->c is kept current by scalar updates for the
 * reads of gb_take and the write-back. */
static inline __attribute__((always_inline)) void gb_leaf_reg(gb_state *g, gb_level *L, uint64_t n0, uint64_t n1,
                                                               const int NV) {
  __m512d w[4], c[4];
  __mmask8 h[4];
  const __m512d one = _mm512_set1_pd(1.0);
  for (int k = 0; k < NV; k++) { /* vectors past the padded lanes: 0 * x - inf */
    int in = GB_LANES * k < L->n;
    w[k] = in ? _mm512_loadu_pd(L->w + GB_LANES * k) : _mm512_setzero_pd();
    c[k] = in ? _mm512_loadu_pd(L->c + GB_LANES * k) : _mm512_set1_pd(INFINITY);
    h[k] = 0;
  }
  for (uint64_t n = n0; n < n1; n++) {
    __m512d vx = _mm512_set1_pd(gb_x(n)), e[4], t;
    for (int k = 0; k < NV; k++) {
      __m512d a = _mm512_mul_pd(w[k], vx);
      __m512d q0 = _mm512_sub_pd(a, c[k]), q1 = _mm512_sub_pd(a, _mm512_add_pd(c[k], one));
      e[k] = _mm512_mask_blend_pd(h[k], q0, q1);
      c[k] = _mm512_mask_add_pd(c[k], h[k], c[k], one); /* counts before step n */
    }
    t = e[0];
    if (NV == 2) t = _mm512_max_pd(e[0], e[1]);
    if (NV == 4) t = _mm512_max_pd(_mm512_max_pd(e[0], e[1]), _mm512_max_pd(e[2], e[3]));
    t = _mm512_max_pd(t, _mm512_permute_pd(t, 0x55));
    t = _mm512_max_pd(t, _mm512_shuffle_f64x2(t, t, 0xb1));
    t = _mm512_max_pd(t, _mm512_shuffle_f64x2(t, t, 0x4e));
    uint64_t bits = 0;
    for (int k = 0; k < NV; k++) {
      h[k] = _mm512_cmp_pd_mask(e[k], t, _CMP_EQ_OQ);
      bits |= (uint64_t)h[k] << (GB_LANES * k);
    }
    int j = __builtin_ctzll(bits);
    int fix = (bits & (bits - 1)) != 0;
    if (fix && g->grouped) {
      for (int k = 0; k < NV; k++) _mm512_storeu_pd(L->e + GB_LANES * k, e[k]);
      j = gb_tie(L, j, bits);
    }
    if (gb_take(g, L, n, j))
      L->c[j] += 1.0;
    else
      fix = 1, j = -1;
    if (fix) {
      uint64_t hot = j < 0 ? 0 : (uint64_t)1 << j;
      for (int k = 0; k < NV; k++) h[k] = (__mmask8)(hot >> (GB_LANES * k));
    }
  }
}
#endif

/* Steps [n0, n1) on the leaf (B2). */
static void gb_leaf(gb_state *g, gb_level *L, uint64_t n0, uint64_t n1) {
#if defined(__AVX512F__)
  if (L->n <= GB_LANES) {
    gb_leaf_reg(g, L, n0, n1, 1);
    return;
  }
  if (L->n <= 2 * GB_LANES) {
    gb_leaf_reg(g, L, n0, n1, 2);
    return;
  }
  if (L->n <= 4 * GB_LANES) {
    gb_leaf_reg(g, L, n0, n1, 4);
    return;
  }
#endif
  for (uint64_t n = n0; n < n1; n++) {
    int tied, j = gb_argmax(L, gb_x(n), &tied);
    if (tied && g->grouped) { /* E2: the lowest front among the maximal lanes */
      double top = L->e[j];
      for (int k = j + 1; k < L->n; k++)
        if (L->e[k] == top && L->fid[k] < L->fid[j]) j = k;
    }
    if (gb_take(g, L, n, j)) gb_bump(L->c, j, L->c[j] + 1.0);
  }
}

/* Deficits of P at the first (e) and last (u) step of a block; returns the
 * largest at the first. */
static double gb_deficits(gb_level *P, double xs, double xe) {
  int nv = (P->n + GB_LANES - 1) / GB_LANES;
#if defined(__AVX512F__)
  __m512d vs = _mm512_set1_pd(xs), ve = _mm512_set1_pd(xe), top = _mm512_set1_pd(-INFINITY);
  for (int k = 0; k < nv; k++) {
    __m512d w = _mm512_loadu_pd(P->w + GB_LANES * k), c = _mm512_loadu_pd(P->c + GB_LANES * k);
    __m512d e = _mm512_sub_pd(_mm512_mul_pd(w, vs), c);
    _mm512_storeu_pd(P->e + GB_LANES * k, e);
    _mm512_storeu_pd(P->u + GB_LANES * k, _mm512_sub_pd(_mm512_mul_pd(w, ve), c));
    top = _mm512_max_pd(top, e);
  }
  return _mm512_reduce_max_pd(top);
#else
  double top = -INFINITY;
  for (int j = 0; j < nv * GB_LANES; j++) {
    double e = P->w[j] * xs - P->c[j];
    P->e[j] = e;
    P->u[j] = P->w[j] * xe - P->c[j];
    top = e > top ? e : top;
  }
  return top;
#endif
}

/* How many of P's entries have e >= tau. */
static uint64_t gb_reach(const gb_level *P, double tau) {
  uint64_t reach = 0;
#if defined(__AVX512F__)
  int nv = (P->n + GB_LANES - 1) / GB_LANES;
  __m512d vt = _mm512_set1_pd(tau);
  for (int k = 0; k < nv; k++)
    reach += (uint64_t)__builtin_popcount(_mm512_cmp_pd_mask(_mm512_loadu_pd(P->e + GB_LANES * k), vt, _CMP_GE_OQ));
  /* pad lanes hold -inf: they count only when tau is -inf, which is never asked */
#else
  for (int j = 0; j < P->n; j++) reach += P->e[j] >= tau;
#endif
  return reach;
}

/* A tau that at least k deficits of P reach (B1), as high as a few rounds of
 * bisection on the margin below the maximum find; -inf when none found. */
static double gb_threshold(gb_level *P, double top, uint64_t k) {
  double d = P->delta, ok = -1.0, bad = 0.0;
  for (int it = 0; it < 16; it++) {
    double tau = top - d;
    if (!(tau > -INFINITY)) break;
    uint64_t reach = gb_reach(P, tau);
    if (reach >= k) {
      ok = d;
      if (reach <= k + k / 4 + 1 || d == 0.0) break;
      d = 0.5 * (bad + d);
    } else {
      bad = d;
      d = ok >= 0.0 ? 0.5 * (d + ok) : (d > 0.0 ? 4.0 * d : 1e-6);
    }
  }
  if (ok < 0.0) {
    P->delta = d;
    return -INFINITY;
  }
  P->delta = ok;
  return top - ok;
}

/* Level C := the entries of P that may be drawn in steps [s, s + k) (B1). */
static void gb_select(const gb_state *g, gb_level *P, gb_level *C, uint64_t s, uint64_t k, int leaf) {
  double tau = -INFINITY;
  if ((uint64_t)P->n > k) tau = gb_threshold(P, gb_deficits(P, gb_x(s), gb_x(s + k - 1)), k);
  int m = 0;
#if defined(__AVX512F__)
  int nv = (P->n + GB_LANES - 1) / GB_LANES;
  __m512d vt = _mm512_set1_pd(tau);
  __m256i pos = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), eight = _mm256_set1_epi32(GB_LANES);
  for (int q = 0; q < nv; q++, pos = _mm256_add_epi32(pos, eight)) {
    int left = P->n - GB_LANES * q;
    __mmask8 live = (__mmask8)(left >= GB_LANES ? 0xff : (1u << left) - 1);
    __mmask8 keep = tau == -INFINITY ? live
                                     : _mm512_mask_cmp_pd_mask(live, _mm512_loadu_pd(P->u + GB_LANES * q), vt, _CMP_GE_OQ);
    _mm512_storeu_pd(C->w + m, _mm512_maskz_compress_pd(keep, _mm512_loadu_pd(P->w + GB_LANES * q)));
    _mm512_storeu_pd(C->c + m, _mm512_maskz_compress_pd(keep, _mm512_loadu_pd(P->c + GB_LANES * q)));
    _mm256_storeu_si256((__m256i *)(C->ent + m),
                        _mm256_maskz_compress_epi32(keep, _mm256_loadu_si256((const __m256i *)(P->ent + GB_LANES * q))));
    _mm256_storeu_si256((__m256i *)(C->pos + m), _mm256_maskz_compress_epi32(keep, pos));
    m += __builtin_popcount(keep);
  }
#else
  for (int j = 0; j < P->n; j++)
    if (tau == -INFINITY || P->u[j] >= tau) {
      C->w[m] = P->w[j], C->c[m] = P->c[j], C->ent[m] = P->ent[j], C->pos[m] = j;
      m++;
    }
#endif
  C->n = m;
  if (leaf && g->grouped) gb_fronts(g, C);
  gb_pad(C);
}

static void gb_run(gb_state *g, int i, uint64_t n0, uint64_t n1) {
  gb_level *P = &g->lv[i];
  if (i == g->nlev - 1 || i + 1 >= GB_MAX_LEVELS) {
    gb_leaf(g, P, n0, n1);
    return;
  }
  gb_level *C = &g->lv[i + 1];
  for (uint64_t s = n0; s < n1;) {
    uint64_t k = n1 - s < C->block ? n1 - s : C->block;
    gb_select(g, P, C, s, k, i + 1 == g->nlev - 1);
    gb_run(g, i + 1, s, s + k);
    for (int j = 0; j < C->n; j++) P->c[C->pos[j]] = C->c[j]; /* B4 */
    s += k;
  }
}

typedef struct {
  double w;
  int32_t d;
} gb_wd;

static int gb_cmp_wd(const void *a, const void *b) {
  const gb_wd *x = a, *y = b;
  if (x->w != y->w) return x->w < y->w ? -1 : 1;
  return (x->d > y->d) - (x->d < y->d);
}

static void gb_free(gb_state *g) {
  free(g->gsize), free(g->mbase), free(g->r), free(g->members);
  for (int i = 0; i < GB_MAX_LEVELS; i++) {
    gb_level *L = &g->lv[i];
    free(L->w), free(L->c), free(L->ent), free(L->pos), free(L->fid), free(L->e), free(L->u);
  }
}

/* Entries of equal weight (E1), ordered by first member (B3). */
static agpt_status gb_entries(gb_state *g, const double *w, int nd, uint64_t size) {
  double wmax = 0;
  for (int d = 0; d < nd; d++) wmax = w[d] > wmax ? w[d] : wmax;
  int merge = wmax * (double)(size > 1 ? size : 1) < 0x1p50;
  gb_wd *wd = malloc((size_t)nd * sizeof *wd);
  int32_t *first = malloc((size_t)nd * sizeof *first); /* dataset -> its entry's first member */
  if (!wd || !first) {
    free(wd), free(first);
    return AGPT_ERR;
  }
  for (int d = 0; d < nd; d++) wd[d] = (gb_wd){w[d], d};
  if (merge) qsort(wd, (size_t)nd, sizeof *wd, gb_cmp_wd);
  /* first[d] for each dataset; an entry's members are ascending after the sort */
  for (int a = 0, b; a < nd; a = b) {
    for (b = a + 1; merge && b < nd && wd[b].w == wd[a].w;) b++;
    for (int k = a; k < b; k++) first[wd[k].d] = wd[a].d;
  }
  /* Entries numbered by first member: walk datasets in index order. */
  int ne = 0;
  int32_t *eid = malloc((size_t)nd * sizeof *eid); /* first member -> entry id */
  if (!eid) {
    free(wd), free(first);
    return AGPT_ERR;
  }
  for (int d = 0; d < nd; d++) eid[d] = first[d] == d ? ne++ : -1;
  g->ne = ne;
  g->gsize = calloc((size_t)ne, sizeof *g->gsize);
  g->mbase = malloc((size_t)ne * sizeof *g->mbase);
  g->r = calloc((size_t)ne, sizeof *g->r);
  g->members = malloc((size_t)nd * sizeof *g->members);
  if (!g->gsize || !g->mbase || !g->r || !g->members) {
    free(wd), free(first), free(eid);
    return AGPT_ERR;
  }
  for (int d = 0; d < nd; d++) g->gsize[eid[first[d]]]++;
  for (int v = 0, at = 0; v < ne; v++) g->mbase[v] = at, at += g->gsize[v];
  int32_t *fill = g->r; /* zero; used as a fill cursor, then reset */
  for (int d = 0; d < nd; d++) { /* index order keeps members ascending */
    int v = eid[first[d]];
    g->members[g->mbase[v] + fill[v]++] = d;
  }
  memset(g->r, 0, (size_t)ne * sizeof *g->r);
  g->grouped = ne < nd;
  free(wd), free(first), free(eid);
  return AGPT_OK;
}

static agpt_status gb_levels(gb_state *g, const double *w) {
  int ne = g->ne;
  uint64_t blocks[GB_MAX_LEVELS];
  int nb = 0;
  if (ne > GB_DIRECT) {
    uint64_t b = GB_LEAF_BLOCK;
    blocks[nb++] = b;
    while (nb < GB_MAX_LEVELS - 1 && b * GB_FANOUT * 2 < (uint64_t)ne) blocks[nb++] = b *= GB_FANOUT;
  }
  g->nlev = nb + 1;
  size_t cap = (size_t)ne + 2 * GB_LANES;
  for (int i = 0; i < g->nlev; i++) {
    gb_level *L = &g->lv[i];
    L->w = malloc(cap * sizeof *L->w);
    L->c = malloc(cap * sizeof *L->c);
    L->ent = malloc(cap * sizeof *L->ent);
    L->pos = malloc(cap * sizeof *L->pos);
    L->fid = malloc(cap * sizeof *L->fid);
    L->e = malloc(cap * sizeof *L->e);
    L->u = malloc(cap * sizeof *L->u);
    if (!L->w || !L->c || !L->ent || !L->pos || !L->fid || !L->e || !L->u) return AGPT_ERR;
    L->delta = 1.0;
    L->block = i == 0 ? UINT64_MAX : blocks[nb - i];
  }
  gb_level *R = &g->lv[0];
  R->n = ne;
  for (int v = 0; v < ne; v++) {
    R->w[v] = w[g->members[g->mbase[v]]];
    R->c[v] = 0.0;
    R->ent[v] = v;
    R->pos[v] = v;
  }
  gb_fronts(g, R);
  gb_pad(R);
  return AGPT_OK;
}

agpt_status agpt_greedy_blend(const double *w, int nd, uint64_t size, void *di, int di_bytes, void *si,
                              int si_bytes, uint64_t *counts) {
  if (!w || nd < 1)
    return agpt_fail("greedy blend: weights: %s (pass at least one dataset weight)", !w ? "NULL" : "no datasets");
  if (!counts) return agpt_fail("greedy blend: counts: NULL (pass an array of %d counts)", nd);
  for (int d = 0; d < nd; d++)
    if (!(w[d] >= 0.0) || !isfinite(w[d]))
      return agpt_fail("greedy blend: weights[%d] = %g: not a finite number >= 0 (fix the blend weights)", d, w[d]);
  if (size > ((uint64_t)1 << 50))
    return agpt_fail("greedy blend: size %llu: above 2^50 samples (ask for fewer samples)",
                     (unsigned long long)size);
  if (di_bytes != 1 && di_bytes != 2 && di_bytes != 4)
    return agpt_fail("greedy blend: di_bytes %d: not 1, 2 or 4", di_bytes);
  if ((di_bytes == 1 && nd > 256) || (di_bytes == 2 && nd > 65536))
    return agpt_fail("greedy blend: di_bytes %d: too narrow for %d datasets (use %d)", di_bytes, nd,
                     nd > 65536 ? 4 : 2);
  if (si_bytes != 4 && si_bytes != 8) return agpt_fail("greedy blend: si_bytes %d: not 4 or 8", si_bytes);
  if (si_bytes == 4 && size > ((uint64_t)1 << 32))
    return agpt_fail("greedy blend: si_bytes 4: too narrow for %llu samples (use 8)", (unsigned long long)size);
  if (size > 0 && (!di || !si)) return agpt_fail("greedy blend: %s: NULL for %llu samples", !di ? "di" : "si",
                                                 (unsigned long long)size);

  gb_state g;
  memset(&g, 0, sizeof g);
  g.nd = nd, g.di = di, g.si = si, g.di_bytes = di_bytes, g.si_bytes = si_bytes;
  if (gb_entries(&g, w, nd, size) != AGPT_OK || gb_levels(&g, w) != AGPT_OK) {
    gb_free(&g);
    return agpt_fail("greedy blend: out of memory for the working arrays of %d datasets", nd);
  }
  if (size > 0) gb_run(&g, 0, 0, size);
  /* E1: the root holds each entry's K after the last write-back (B4). */
  const gb_level *R = &g.lv[0];
  for (int v = 0; v < g.ne; v++)
    for (int k = 0; k < g.gsize[v]; k++)
      counts[g.members[g.mbase[v] + k]] = (uint64_t)R->c[v] + (k < g.r[v] ? 1u : 0u);
  gb_free(&g);
  return AGPT_OK;
}
