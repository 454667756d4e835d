/* The `fast` sample index (see fast_index.h): a sample is found by
 * arithmetic on the .idx pointers, an exact blend tree and a keyed
 * permutation, so an index over trillions of tokens builds in O(files) time
 * and memory.
 *
 * Design note.
 *
 * A split of file f is a contiguous range of its documents (split.h), hence
 * a contiguous range of its sequences and of its tokens in .bin: the split's
 * token stream, n_tokens long, starting at token position tok_begin. Window
 * w of that stream is tokens [w*seq_len, w*seq_len + seq_len], seq_len + 1
 * tokens that run across document boundaries, consecutive windows sharing
 * their boundary token as in Megatron; an epoch is a_f =
 * (n_tokens - 1) / seq_len windows (the tail shorter than a window is left
 * out).
 *
 * Sample i of the split is resolved in four steps:
 *   1. corpus: the blend tree (blend_tree.c) deals sample i to corpus c
 *      as c's draw k, k being the number of earlier samples of c.
 *   2. shuffle: p = perm_c(k), a Feistel bijection of [0, S_c) keyed by
 *      (seed, split, corpus), where S_c is the number of draws of c among
 *      the index's num_samples.
 *   3. file: the corpus stream is the concatenation of its files' streams of
 *      s_f samples each (S_c apportioned by the files' weights within the
 *      corpus, largest remainder); a binary search over the files' starts
 *      finds f and j = p - start_f.
 *   4. window: epoch j / a_f, window j mod a_f, first token tok_begin +
 *      window*seq_len; a binary search over the split's sequence pointers
 *      finds the sequence to read from.
 *
 * Invariants.
 *   1. Corpus c's integer weight W_c is the sum over its usable files
 *      (positive weight, at least one window in the split) of the written
 *      weight times 2^(61 - e), rounded, where 2^e > the usable files'
 *      total. This is exact for every weight within a factor 2^8 of the
 *      total (a written weight is a double); smaller ones are rounded to
 *      2^-61 of the total (a corpus below that gets W_c = 1). The exact
 *      blend weight of c is W_c / sum W.
 *   2. (blend_tree.c, invariant 2) At every prefix of n samples,
 *      |draws of c - n W_c / sum W| <= beta_c, the bound the tree proves at
 *      build (agpt_fast_index_corpus_bound). beta_c < 1 is measured, not
 *      proved, for all weight sets: see blend_tree.c, invariant 3.
 *   3. Draw k of corpus c is < S_c = count(c, num_samples) for every
 *      sample < num_samples (the tree's ranks count earlier draws), and
 *      perm_c is a bijection, so each corpus stream position is used exactly
 *      once: file f supplies exactly s_f samples, epoch after epoch.
 *   4. A window never leaves its file's split: w < a_f implies w*seq_len +
 *      seq_len <= n_tokens - 1.
 *   5. Everything above is a pure function of (seed, split, seq_len,
 *      num_samples, the files and weights); nothing is mutated after build,
 *      so lookups are safe from any number of threads.
 *
 * Memory: O(files + corpora). The
 * build touches of each .idx only the document index at the split's two
 * boundaries and two pointers; lookups touch O(log sequences) pointers.
 *
 * What differs from Megatron's order, on purpose: documents keep their order
 * inside a window's neighbourhood (Megatron shuffles documents before
 * cutting windows), every epoch of a file uses the same windows, and the
 * blend tracks the exact weights within beta_c at every prefix, with no
 * 0.5% over-allocation. */
#include "data/fast_index.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/rng.h"
#include "data/blend_tree.h"
#include "data/split.h"

struct agpt_fast_index {
  const agpt_blend *b;
  int seq_len, split_index, n_corpora, n_files;
  uint64_t num_samples, seed;
  uint64_t *iweight;          /* (n_corpora) W_c, the blend tree's integer weights */
  uint64_t *csamples;         /* (n_corpora) S_c */
  agpt_blend_tree *tree;
  agpt_feistel *perm;         /* (n_corpora) */
  int *cbegin;                /* (n_corpora + 1) ranges of order[] per corpus */
  int *order;                 /* (n_files) file numbers grouped by corpus, list order inside */
  uint64_t *fstart;           /* (n_files) stream start of order[pos] within its corpus */
  agpt_fast_file_info *finfo; /* (n_files) by blend file number */
};

static uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

void agpt_feistel_init(agpt_feistel *p, uint64_t m, uint64_t seed, uint64_t stream) {
  int bits = 2;
  while (bits < 64 && ((uint64_t)1 << bits) < m) bits++;
  p->m = m;
  p->hi = bits / 2;
  p->lo = bits - p->hi;
  for (int r = 0; r < 6; r++) p->rk[r] = agpt_rng_u64(seed, AGPT_RNG_DATA, stream, (uint64_t)r);
}

/* One pass of the network over [0, 2^(hi+lo)). The halves swap widths every
 * round; six rounds bring them back to (hi, lo). */
static uint64_t feistel_once(const agpt_feistel *p, uint64_t x) {
  int wl = p->hi, wr = p->lo;
  uint64_t L = x >> wr, R = x & (((uint64_t)1 << wr) - 1);
  for (int r = 0; r < 6; r++) {
    uint64_t f = mix64(R ^ p->rk[r]) & (((uint64_t)1 << wl) - 1);
    uint64_t nl = R, nr = L ^ f;
    L = nl;
    R = nr;
    int t = wl;
    wl = wr;
    wr = t;
  }
  return (L << wr) | R;
}

uint64_t agpt_feistel_apply(const agpt_feistel *p, uint64_t x) {
  AGPT_ASSERT(x < p->m);
  if (p->m <= 1) return 0;
  /* Cycle walking: the domain is less than twice m, so under two passes on average. */
  do x = feistel_once(p, x);
  while (x >= p->m);
  return x;
}

/* Largest-remainder apportionment of total among shares (summing to 1 over
 * positive entries): out sums to total, each within 1 of share*total. Ties
 * go to the lower index so the result is deterministic. */
typedef struct {
  double frac;
  int i;
} rem_item;
static int rem_cmp(const void *a, const void *b) {
  const rem_item *x = a, *y = b;
  if (x->frac != y->frac) return x->frac > y->frac ? -1 : 1;
  return x->i - y->i;
}
static void apportion(uint64_t total, const double *share, int n, uint64_t *out) {
  uint64_t used = 0;
  rem_item *items = agpt_xmalloc((size_t)(n > 0 ? n : 1) * sizeof *items);
  int m = 0;
  for (int i = 0; i < n; i++) {
    out[i] = 0;
    if (!(share[i] > 0)) continue;
    double exact = share[i] * (double)total;
    uint64_t f = (uint64_t)exact;
    if (f > total) f = total;
    out[i] = f;
    used += f;
    items[m++] = (rem_item){exact - (double)f, i};
  }
  qsort(items, (size_t)m, sizeof *items, rem_cmp);
  /* Rounding of share*total can leave used a little off either way. */
  for (int t = 0; used < total && m > 0; t = (t + 1) % m) {
    out[items[t].i]++;
    used++;
  }
  while (used > total) {
    int big = -1;
    for (int i = 0; i < n; i++)
      if (out[i] > 0 && (big < 0 || out[i] > out[big])) big = i;
    out[big]--;
    used--;
  }
  free(items);
}

static const char *split_name(int s) { return s == 0 ? "train" : s == 1 ? "valid" : "test"; }

agpt_status agpt_fast_index_build(const agpt_blend *b, const agpt_index_opts *o, agpt_fast_index **out) {
  *out = NULL;
  AGPT_ASSERT(b->opened);
  if (o->seq_len < 1) return agpt_fail("--seq-length: %d is not positive (give the tokens per sample)", o->seq_len);
  AGPT_ASSERT(o->split_index >= 0 && o->split_index <= 2);
  if (b->n_corpora > 65535)
    return agpt_fail("%s: %d corpora, the fast index supports at most 65535 (merge corpora)", b->source,
                     b->n_corpora);
  double ratios[3];
  AGPT_TRY(agpt_split_parse(o->split ? o->split : "969,30,1", ratios));

  agpt_fast_index *ix = agpt_xcalloc(1, sizeof *ix);
  ix->b = b;
  ix->seq_len = o->seq_len;
  ix->split_index = o->split_index;
  ix->num_samples = o->num_samples;
  ix->seed = o->seed;
  ix->n_corpora = b->n_corpora;
  ix->n_files = b->n_files;
  int C = b->n_corpora, F = b->n_files;
  ix->finfo = agpt_xcalloc((size_t)F, sizeof *ix->finfo);
  ix->iweight = agpt_xcalloc((size_t)C, sizeof *ix->iweight);
  ix->csamples = agpt_xcalloc((size_t)C, sizeof *ix->csamples);
  ix->perm = agpt_xcalloc((size_t)C, sizeof *ix->perm);
  ix->cbegin = agpt_xcalloc((size_t)C + 1, sizeof *ix->cbegin);
  ix->order = agpt_xcalloc((size_t)F, sizeof *ix->order);
  ix->fstart = agpt_xcalloc((size_t)F, sizeof *ix->fstart);

  /* The split's token range of every file: O(1) reads of each .idx. */
  double *cweight = agpt_xcalloc((size_t)C, sizeof *cweight);
  double wsum = 0;
  int skipped = 0;
  for (int f = 0; f < F; f++) {
    const agpt_indexed *ds = &b->files[f].ds;
    agpt_fast_file_info *fi = &ix->finfo[f];
    uint64_t ndocs = ds->n_docs ? ds->n_docs - 1 : 0;
    agpt_split_range(ndocs, ratios, o->split_index, &fi->doc_begin, &fi->doc_end);
    if (fi->doc_end > fi->doc_begin) {
      fi->seq_begin = (uint64_t)ds->doc_idx[fi->doc_begin];
      fi->seq_end = (uint64_t)ds->doc_idx[fi->doc_end];
    }
    if (fi->seq_end > fi->seq_begin) {
      uint64_t last = fi->seq_end - 1;
      fi->tok_begin = (uint64_t)ds->pointers[fi->seq_begin] / ds->itemsize;
      uint64_t tok_end = (uint64_t)ds->pointers[last] / ds->itemsize + (uint64_t)ds->sizes[last];
      fi->n_tokens = tok_end - fi->tok_begin;
    }
    fi->per_epoch = fi->n_tokens ? (fi->n_tokens - 1) / (uint64_t)o->seq_len : 0;
    if (fi->per_epoch > 0 && b->files[f].weight > 0) {
      cweight[b->files[f].corpus] += b->files[f].weight;
      wsum += b->files[f].weight;
    } else if (b->files[f].norm_weight > 0) {
      skipped++;
    }
  }
  if (skipped)
    agpt_log_warn("%s: %d file(s) have fewer than %d tokens in the %s split and supply no samples", b->source,
                  skipped, o->seq_len + 1, split_name(o->split_index));
  for (int c = 0; c < C; c++)
    if (!(cweight[c] > 0) && b->corpus_weight[c] > 0)
      agpt_log_warn("%s: corpus %s has no file with %d tokens in the %s split; it is left out of the blend",
                    b->source, b->corpora[c], o->seq_len + 1, split_name(o->split_index));
  free(cweight);
  if (!(wsum > 0)) {
    agpt_fast_index_free(ix);
    return agpt_fail("%s: no file has %d tokens in the %s split (lower --seq-length or change --split)", b->source,
                     o->seq_len + 1, split_name(o->split_index));
  }

  /* Invariant 1: integer weights, the written weights of usable files
   * scaled by one power of two so that their sum is below 2^61. */
  int e;
  frexp(wsum, &e); /* wsum < 2^e */
  for (int f = 0; f < F; f++)
    if (ix->finfo[f].per_epoch > 0 && b->files[f].weight > 0) {
      uint64_t wf = (uint64_t)nearbyint(ldexp(b->files[f].weight, 61 - e));
      ix->iweight[b->files[f].corpus] += wf ? wf : 1;
    }
  agpt_status st = agpt_blend_tree_build(ix->iweight, C, &ix->tree);
  if (st != AGPT_OK) {
    agpt_fast_index_free(ix);
    return st;
  }
  for (int c = 0; c < C; c++) ix->csamples[c] = agpt_blend_tree_count(ix->tree, c, o->num_samples);

  /* Files grouped by corpus; S_c apportioned by weight among usable files. */
  int pos = 0;
  double *share = agpt_xmalloc((size_t)(F > 0 ? F : 1) * sizeof *share);
  uint64_t *alloc = agpt_xmalloc((size_t)(F > 0 ? F : 1) * sizeof *alloc);
  for (int c = 0; c < C; c++) {
    ix->cbegin[c] = pos;
    double sum = 0;
    int n = 0;
    for (int f = 0; f < F; f++)
      if (b->files[f].corpus == c) {
        ix->order[pos + n] = f;
        share[n] = ix->finfo[f].per_epoch > 0 ? b->files[f].norm_weight : 0;
        sum += share[n];
        n++;
      }
    if (sum > 0)
      for (int t = 0; t < n; t++) share[t] /= sum;
    apportion(sum > 0 ? ix->csamples[c] : 0, share, n, alloc);
    uint64_t start = 0;
    for (int t = 0; t < n; t++) {
      ix->fstart[pos + t] = start;
      ix->finfo[ix->order[pos + t]].samples = alloc[t];
      start += alloc[t];
    }
    AGPT_ASSERT(start == ix->csamples[c]);
    agpt_feistel_init(&ix->perm[c], ix->csamples[c], o->seed, ((uint64_t)o->split_index << 32) | (uint64_t)c);
    pos += n;
  }
  ix->cbegin[C] = pos;
  free(share);
  free(alloc);
  *out = ix;
  return AGPT_OK;
}

void agpt_fast_index_free(agpt_fast_index *ix) {
  if (!ix) return;
  free(ix->iweight);
  agpt_blend_tree_free(ix->tree);
  free(ix->csamples);
  free(ix->perm);
  free(ix->cbegin);
  free(ix->order);
  free(ix->fstart);
  free(ix->finfo);
  free(ix);
}

agpt_status agpt_fast_index_locate(const agpt_fast_index *ix, uint64_t i, agpt_fast_loc *out) {
  if (i >= ix->num_samples)
    return agpt_fail("sample %llu: out of range (the index holds %llu samples; raise --num-samples)",
                     (unsigned long long)i, (unsigned long long)ix->num_samples);
  uint64_t k;
  int c = agpt_blend_tree_draw(ix->tree, i, &k);
  AGPT_ASSERT(k < ix->csamples[c]); /* invariant 3 */
  uint64_t p = agpt_feistel_apply(&ix->perm[c], k);
  int lo = ix->cbegin[c], hi = ix->cbegin[c + 1] - 1;
  while (lo < hi) { /* last position with fstart <= p */
    int mid = lo + (hi - lo + 1) / 2;
    if (ix->fstart[mid] <= p)
      lo = mid;
    else
      hi = mid - 1;
  }
  int f = ix->order[lo];
  const agpt_fast_file_info *fi = &ix->finfo[f];
  uint64_t j = p - ix->fstart[lo];
  AGPT_ASSERT(j < fi->samples && fi->per_epoch > 0);
  out->corpus = c;
  out->file = f;
  out->corpus_rank = k;
  out->file_sample = j;
  out->epoch = j / fi->per_epoch;
  out->window = j % fi->per_epoch;
  out->token = fi->tok_begin + out->window * (uint64_t)ix->seq_len;
  AGPT_ASSERT(out->window * (uint64_t)ix->seq_len + (uint64_t)ix->seq_len < fi->n_tokens); /* invariant 4 */
  return AGPT_OK;
}

/* The sequence of the split holding token position t: the last sequence s
 * with start(s) <= t. Document lengths vary but token positions grow about
 * linearly with the sequence number, so a few interpolation steps shrink
 * the bracket to a handful of entries before the binary search; each probe
 * is a likely cache miss in a map of up to gigabytes. */
static uint64_t seq_at(const agpt_indexed *ds, const agpt_fast_file_info *fi, uint64_t t) {
  uint64_t lo = fi->seq_begin, hi = fi->seq_end - 1; /* answer in [lo, hi] */
  const uint64_t isz = ds->itemsize;
  for (int step = 0; step < 4 && hi - lo > 8; step++) {
    uint64_t plo = (uint64_t)ds->pointers[lo] / isz, phi = (uint64_t)ds->pointers[hi] / isz;
    if (phi <= t) return hi; /* start(hi) <= t: hi is the last such */
    /* start(lo) <= t < start(hi): guess proportionally, keep the bracket. */
    uint64_t g = lo + (uint64_t)((double)(t - plo) / (double)(phi - plo) * (double)(hi - lo));
    if (g <= lo) g = lo + 1;
    if (g >= hi) g = hi - 1;
    if ((uint64_t)ds->pointers[g] / isz <= t)
      lo = g;
    else
      hi = g - 1;
  }
  while (lo < hi) {
    uint64_t mid = lo + (hi - lo + 1) / 2;
    if ((uint64_t)ds->pointers[mid] / isz <= t)
      lo = mid;
    else
      hi = mid - 1;
  }
  return lo;
}

agpt_status agpt_fast_index_origin(const agpt_fast_index *ix, uint64_t i, agpt_sample_origin *out) {
  agpt_fast_loc loc;
  AGPT_TRY(agpt_fast_index_locate(ix, i, &loc));
  const agpt_indexed *ds = &ix->b->files[loc.file].ds;
  uint64_t s = seq_at(ds, &ix->finfo[loc.file], loc.token);
  out->file = loc.file;
  out->corpus = loc.corpus;
  out->doc = s;
  out->offset = loc.token - (uint64_t)ds->pointers[s] / ds->itemsize;
  return AGPT_OK;
}

agpt_status agpt_fast_index_get(const agpt_fast_index *ix, uint64_t i, int32_t *out) {
  agpt_fast_loc loc;
  AGPT_TRY(agpt_fast_index_locate(ix, i, &loc));
  const agpt_indexed *ds = &ix->b->files[loc.file].ds;
  if (ds->meta_only)
    return agpt_fail("%s: opened without its .bin, tokens cannot be read (open the blend with meta_only = 0)",
                     ds->prefix);
  const agpt_fast_file_info *fi = &ix->finfo[loc.file];
  uint64_t s = seq_at(ds, fi, loc.token);
  uint64_t off = loc.token - (uint64_t)ds->pointers[s] / ds->itemsize;
  uint64_t need = (uint64_t)ix->seq_len + 1, got = 0;
  while (got < need) {
    AGPT_ASSERT(s < fi->seq_end);
    uint64_t size = (uint64_t)ds->sizes[s];
    uint64_t take = size > off ? size - off : 0;
    if (take > need - got) take = need - got;
    if (take) agpt_indexed_read(ds, s, off, take, out + got);
    got += take;
    s++;
    off = 0;
  }
  return AGPT_OK;
}

uint64_t agpt_fast_index_num_samples(const agpt_fast_index *ix) { return ix->num_samples; }
uint64_t agpt_fast_index_corpus_weight(const agpt_fast_index *ix, int c) { return ix->iweight[c]; }
double agpt_fast_index_corpus_bound(const agpt_fast_index *ix, int c) { return agpt_blend_tree_bound(ix->tree, c); }
double agpt_fast_index_blend_bound(const agpt_fast_index *ix) { return agpt_blend_tree_max_bound(ix->tree); }
uint64_t agpt_fast_index_corpus_samples(const agpt_fast_index *ix, int c) { return ix->csamples[c]; }
void agpt_fast_index_file_info(const agpt_fast_index *ix, int f, agpt_fast_file_info *out) { *out = ix->finfo[f]; }
