/* Megatron's GPT sample indices and blends, rebuilt exactly (see
 * megatron_index.h for the layouts).
 *
 * Design note.
 * Building runs in three phases:
 *   1. plan (parallel over files, cannot fail): each file's split range and
 *      tokens per epoch;
 *   2. validate (sequential, on the caller's thread so messages survive):
 *      empty splits, epochs, sizes, dtypes; per-file sample counts; blend
 *      weights;
 *   3. build (OpenMP tasks): per file, the document shuffle, then two tasks
 *      that need only the generator state and the document index, the sample
 *      index and the shuffle index; the blends run as further tasks beside
 *      them. Only allocation can fail here; failures are recorded per task and
 *      reported after the join.
 * Invariants of a built index:
 *   I1. files[f] follows the draws of one RandomState(seed): document
 *       shuffle(s) first, then shuffle-index shuffle(s), as Megatron draws.
 *   I2. every sample index row pair (k, k+1) with k < n_shuffle spans exactly
 *       seq_len + 1 tokens of doc_idx documents.
 *   I3. every (dataset, sample) a blend yields is in range of the dataset it
 *       names (checked once after the build; Megatron would raise there).
 *   I4. nothing is written after the build: readers share the index freely.
 *
 * The greedy blend (helpers.build_blending_indices) is O(size x datasets) as
 * written; here it is exact and O(size x log datasets): a dataset whose
 * deficit w*n - count is below -BLEND_DELTA cannot be the argmax (the
 * deficits sum to about zero, so the maximum is never below -1e-9 or so),
 * and it stays below until a step computable from its count and weight, so
 * it waits in a heap until then. Only the few datasets near the top are
 * compared, with Megatron's own floating-point expression and tie rule. */
#include "data/megatron_index.h"

#include <limits.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#if defined(__AVX__)
#include <immintrin.h>
#endif
#include <stdlib.h>
#include <string.h>

#include "data/mt19937.h"
#include "data/split.h"

typedef struct {
  uint64_t doc_begin, doc_end, num_samples, tokens_per_epoch;
  int num_epochs, separate_last_epoch;
  uint64_t samples_first; /* shuffle-index first part: all, or samples of the first E-1 epochs */
  int32_t *doc_idx;       /* (n_doc_idx) */
  uint64_t n_doc_idx;
  int64_t *sample_idx; /* (n_sample_idx, 2) */
  uint64_t n_sample_idx;
  uint32_t *shuf32; /* (n_shuffle) or NULL */
  int64_t *shuf64;  /* (n_shuffle) or NULL */
  uint64_t n_shuffle;
  int failed; /* allocation failure in phase 3: bytes asked */
  uint64_t failed_bytes;
} mt_file;

/* A BlendableDataset's two arrays in compact types. */
typedef struct {
  uint64_t size;
  int n_datasets;
  void *di; /* dataset index: 1, 2 or 4 bytes */
  int di_bytes;
  void *si; /* dataset sample index: 4 or 8 bytes */
  int si_bytes;
  uint64_t *counts; /* (n_datasets) picks per dataset */
  int failed;
  uint64_t failed_bytes;
} mt_blend;

typedef struct {
  const char *name;
  int *files; /* blend file indices, list order */
  int n_files;
  uint64_t size;
  uint64_t *start; /* (n_files + 1) concatenation offsets */
  int blended;
  mt_blend blend;  /* when blended */
  int64_t *shuffle; /* (size) or NULL */
  int failed;
} mt_corpus;

struct agpt_megatron_index {
  const agpt_blend *b;
  int seq_len;
  agpt_megatron_layout layout;
  uint64_t size;
  mt_file *files; /* (b->n_files) */
  int n_files;
  mt_corpus *corpora; /* CORPUS layout, sorted by name */
  int n_corpora;
  int has_top;
  mt_blend top;
};

/* ---------- numpy arithmetic that the weights depend on ---------- */

/* np.sum of a contiguous float64 vector (pairwise, blocks of 8; exact for
 * n below numpy's 8192-element buffer, far above any corpus count). */
static double np_pairwise_sum(const double *a, size_t n) {
  if (n < 8) {
    double r = 0.0;
    for (size_t i = 0; i < n; i++) r += a[i];
    return r;
  }
  if (n <= 128) {
    double r[8];
    size_t i;
    for (int j = 0; j < 8; j++) r[j] = a[j];
    for (i = 8; i < n - (n % 8); i += 8)
      for (int j = 0; j < 8; j++) r[j] += a[i + j];
    double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; i++) res += a[i];
    return res;
  }
  size_t n2 = n / 2;
  n2 -= n2 % 8;
  return np_pairwise_sum(a, n2) + np_pairwise_sum(a + n2, n - n2);
}

/* int(math.ceil(val * weight * 1.005)), evaluated left to right in double. */
static uint64_t megatron_count(uint64_t val, double weight) {
  double x = (double)val * weight * 1.005;
  return (uint64_t)ceil(x);
}

/* ---------- blending ---------- */

#define BLEND_DELTA 1e-2
#define BLEND_THETA 0.35

typedef struct {
  uint64_t step;
  uint64_t count; /* the dataset's count when pushed; stale entries are re-keyed on pop */
  int d;
} heap_ent;

static void heap_push(heap_ent *h, int *n, heap_ent e) {
  int i = (*n)++;
  while (i > 0) {
    int p = (i - 1) / 2;
    if (h[p].step <= e.step) break;
    h[i] = h[p];
    i = p;
  }
  h[i] = e;
}

static heap_ent heap_pop(heap_ent *h, int *n) {
  heap_ent top = h[0], last = h[--(*n)];
  int i = 0;
  for (;;) {
    int c = 2 * i + 1;
    if (c >= *n) break;
    if (c + 1 < *n && h[c + 1].step < h[c].step) c++;
    if (h[c].step >= last.step) break;
    h[i] = h[c];
    i = c;
  }
  if (*n > 0) h[i] = last;
  return top;
}

static inline void blend_store(mt_blend *m, uint64_t i, int d, uint64_t s) {
  switch (m->di_bytes) {
    case 1: ((uint8_t *)m->di)[i] = (uint8_t)d; break;
    case 2: ((uint16_t *)m->di)[i] = (uint16_t)d; break;
    default: ((int32_t *)m->di)[i] = d; break;
  }
  if (m->si_bytes == 4)
    ((uint32_t *)m->si)[i] = (uint32_t)s;
  else
    ((uint64_t *)m->si)[i] = s;
}

static inline void blend_load(const mt_blend *m, uint64_t i, int *d, uint64_t *s) {
  switch (m->di_bytes) {
    case 1: *d = ((const uint8_t *)m->di)[i]; break;
    case 2: *d = ((const uint16_t *)m->di)[i]; break;
    default: *d = ((const int32_t *)m->di)[i]; break;
  }
  *s = m->si_bytes == 4 ? ((const uint32_t *)m->si)[i] : ((const uint64_t *)m->si)[i];
}

/* Step from which dataset d (count c, weight w) may reach deficit
 * BLEND_THETA again: before it, w*n - c < BLEND_THETA - BLEND_DELTA in exact
 * arithmetic (two steps of margin cover the rounding of the division). */
static uint64_t blend_wake_step(double w, uint64_t c) {
  double t = ((double)c + BLEND_THETA - BLEND_DELTA) / w;
  if (!(t > 2.0)) return 0;
  if (t > 1.8e19) return UINT64_MAX;
  return (uint64_t)t - 2;
}

/* ev[k] = aw[k] * x - ac[k] for k < n, returning their maximum. The vector
 * path multiplies and subtracts separately, so each lane rounds exactly as
 * the scalar expression does; only the order of the max changes, which
 * cannot change its value. */
static double blend_deficits(const double *aw, const double *ac, double *ev, int n, double x) {
  double top = -INFINITY;
  int k = 0;
#if defined(__AVX__)
  __m256d vx = _mm256_set1_pd(x), vt = _mm256_set1_pd(-INFINITY);
  for (; k + 4 <= n; k += 4) {
    __m256d e = _mm256_sub_pd(_mm256_mul_pd(_mm256_loadu_pd(aw + k), vx), _mm256_loadu_pd(ac + k));
    _mm256_storeu_pd(ev + k, e);
    vt = _mm256_max_pd(vt, e);
  }
  double lanes[4];
  _mm256_storeu_pd(lanes, vt);
  for (int j = 0; j < 4; j++) top = lanes[j] > top ? lanes[j] : top;
#endif
  for (; k < n; k++) {
    double e = aw[k] * x - ac[k];
    ev[k] = e;
    top = e > top ? e : top;
  }
  return top;
}

/* helpers.build_blending_indices over weights w (n_datasets), exactly.
 * Runs on any thread; records allocation failure in m. */
static void blend_build(const double *w, int nd, uint64_t size, mt_blend *m) {
  memset(m, 0, sizeof *m);
  m->size = size;
  m->n_datasets = nd;
  m->di_bytes = nd <= 256 ? 1 : (nd <= 65536 ? 2 : 4);
  m->si_bytes = size <= UINT32_MAX ? 4 : 8;
  size_t bytes = (size_t)size * (size_t)(m->di_bytes + m->si_bytes);
  m->di = malloc(size ? (size_t)size * (size_t)m->di_bytes : 1);
  m->si = malloc(size ? (size_t)size * (size_t)m->si_bytes : 1);
  m->counts = calloc((size_t)nd, sizeof *m->counts);
  /* The active datasets, struct of arrays so the deficit loop vectorizes:
   * weight, count (as double; exact below 2^53), id, and the deficits. */
  double *aw = malloc((size_t)nd * sizeof *aw), *ac = malloc((size_t)nd * sizeof *ac);
  double *ev = malloc((size_t)nd * sizeof *ev);
  int *aid = malloc((size_t)nd * sizeof *aid);
  heap_ent *heap = malloc((size_t)nd * sizeof *heap);
  if (!m->di || !m->si || !m->counts || !aw || !ac || !ev || !aid || !heap) {
    m->failed = 1;
    m->failed_bytes = bytes;
    free(aw), free(ac), free(ev), free(aid), free(heap);
    return;
  }
  uint64_t *cnt = m->counts;
  int n_active = nd, n_heap = 0;
  for (int d = 0; d < nd; d++) {
    aw[d] = w[d];
    ac[d] = 0;
    aid[d] = d;
  }
  /* The pruning needs weights summing to 1 (as Megatron's normalized ones
   * do): the deficits sum to n * (wsum - 1), which must stay far above
   * -DELTA. Otherwise everything is compared, exactly as written. Zero
   * weights are never pruned. */
  double wsum = 0;
  for (int d = 0; d < nd; d++) wsum += w[d];
  int prune = (double)size * fabs(wsum - 1.0) < BLEND_DELTA / 16 && size < ((uint64_t)1 << 40);

  uint64_t full_scans = 0, active_sum = 0;
  for (uint64_t n = 0; n < size; n++) {
    while (n_heap > 0 && heap[0].step <= n) {
      heap_ent h = heap_pop(heap, &n_heap);
      int d = h.d;
      if (h.count != cnt[d]) { /* picked by a full scan since: re-key */
        uint64_t wake = blend_wake_step(w[d], cnt[d]);
        if (wake > n) {
          heap_push(heap, &n_heap, (heap_ent){wake, cnt[d], d});
          continue;
        }
      }
      aw[n_active] = w[d];
      ac[n_active] = (double)cnt[d];
      aid[n_active++] = d;
    }
    double x = n > 1 ? (double)n : 1.0;
    /* Megatron's expression, w * x - count, rounded twice: this file is
     * built as ISO C (-std=c11), where GCC does not contract it to an FMA. */
    double top = blend_deficits(aw, ac, ev, n_active, x);
    active_sum += (uint64_t)n_active;
    int best = -1, slot = -1, k = 0;
    if (!prune || top >= BLEND_THETA - BLEND_DELTA / 2) {
      /* Every waiting dataset is below BLEND_THETA - BLEND_DELTA / 2 (I: the
       * wake rule), so the top is among the active ones. */
#if defined(__AVX__)
      __m256d vt = _mm256_set1_pd(top);
      for (; k + 4 <= n_active; k += 4) {
        int hit = _mm256_movemask_pd(_mm256_cmp_pd(_mm256_loadu_pd(ev + k), vt, _CMP_EQ_OQ));
        for (; hit; hit &= hit - 1) {
          int j = k + __builtin_ctz((unsigned)hit);
          if (best < 0 || aid[j] < best) best = aid[j], slot = j;
        }
      }
#endif
      for (; k < n_active; k++)
        if (ev[k] == top && (best < 0 || aid[k] < best)) best = aid[k], slot = k;
    } else {
      /* Rare: the top is low, so compare everything as Megatron does. */
      full_scans++;
      double be = 0;
      for (int d = 0; d < nd; d++) {
        double e = w[d] * x - (double)cnt[d];
        if (best < 0 || e > be) best = d, be = e;
      }
      for (k = 0; k < n_active; k++)
        if (aid[k] == best) slot = k;
    }
    AGPT_ASSERT(best >= 0);
    blend_store(m, n, best, cnt[best]);
    cnt[best]++;
    if (slot < 0) continue; /* a waiting dataset: its heap entry is now stale */
    ac[slot] += 1.0;
    if (prune && w[best] > 0) {
      uint64_t wake = blend_wake_step(w[best], cnt[best]);
      if (wake > n + 1) {
        n_active--;
        aw[slot] = aw[n_active];
        ac[slot] = ac[n_active];
        aid[slot] = aid[n_active];
        heap_push(heap, &n_heap, (heap_ent){wake, cnt[best], best});
      }
    }
  }
  if (getenv("AGPT_MEGATRON_DEBUG"))
    fprintf(stderr, "blend: %d datasets, %llu samples, %llu full scans, %.1f active on average\n", nd,
            (unsigned long long)size, (unsigned long long)full_scans, size ? (double)active_sum / (double)size : 0.0);
  free(aw), free(ac), free(ev), free(aid), free(heap);
}

static void blend_free(mt_blend *m) {
  free(m->di);
  free(m->si);
  free(m->counts);
  memset(m, 0, sizeof *m);
}

/* ---------- one file's GPTDataset ---------- */

static void *xalloc_rec(size_t n, mt_file *f) {
  void *p = malloc(n ? n : 1);
  if (!p && !f->failed) {
    f->failed = 1;
    f->failed_bytes = n;
  }
  return p;
}

/* Phase 2 arithmetic of _build_index_mappings; fails naming the file. */
static agpt_status file_plan(const agpt_indexed *ds, const char *prefix, int seq_len, mt_file *f) {
  uint64_t nd = f->doc_end - f->doc_begin;
  if (nd == 0)
    return agpt_fail("%s: split: this file has no documents in the requested split (use a larger file or change --split)",
                     prefix);
  if (f->doc_end > (uint64_t)INT32_MAX + 1)
    return agpt_fail("%s: number of sequences: %llu exceeds Megatron's int32 document index (split the file)", prefix,
                     (unsigned long long)ds->n_seqs);
  uint64_t T = f->tokens_per_epoch, S = (uint64_t)seq_len, N = f->num_samples;
  if (T < 2)
    return agpt_fail("%s: sizes: the split holds %llu tokens; a sample index needs at least 2 (check the file)", prefix,
                     (unsigned long long)T);
  /* Smallest E with (E*T - 1) // S >= N, i.e. E*T >= N*S + 1. */
  if (N > (UINT64_MAX / 2) / S) return agpt_fail("%s: num_samples: %llu samples overflow (ask for fewer)", prefix, (unsigned long long)N);
  uint64_t need = N * S + 1;
  uint64_t E = (need + T - 1) / T;
  if (E < 1) E = 1;
  if (E > INT32_MAX || E > UINT64_MAX / T || E * nd > ((uint64_t)1 << 40))
    return agpt_fail("%s: epochs: %llu epochs of %llu tokens needed for %llu samples (ask for fewer samples or add data)",
                     prefix, (unsigned long long)E, (unsigned long long)T, (unsigned long long)N);
  f->num_epochs = (int)E;
  uint64_t total = (E * T - 1) / S;
  f->separate_last_epoch = 0;
  f->samples_first = total;
  if (E > 1) {
    uint64_t first = ((E - 1) * T - 1) / S;
    uint64_t last = N - first; /* >= 0 since E is minimal */
    uint64_t per_epoch = (T - 1) / S;
    AGPT_ASSERT(N >= first && last <= per_epoch + 1);
    if ((int64_t)last < (int64_t)(0.80 * (double)per_epoch)) {
      f->separate_last_epoch = 1;
      f->samples_first = first;
    }
  }
  f->n_doc_idx = E * nd;
  f->n_sample_idx = total + 1;
  f->n_shuffle = total;
  return AGPT_OK;
}

static void file_build_sample_idx(const agpt_indexed *ds, int seq_len, mt_file *f) {
  int64_t *si = xalloc_rec((size_t)f->n_sample_idx * 2 * sizeof(int64_t), f);
  if (!si) return;
  const int32_t *sizes = ds->sizes;
  const int32_t *doc = f->doc_idx;
  uint64_t n = f->n_sample_idx - 1, pos = 0;
  int64_t off = 0;
  si[0] = 0;
  si[1] = 0;
  for (uint64_t s = 1; s <= n; s++) {
    int64_t remaining = (int64_t)seq_len + 1;
    while (remaining != 0) {
      AGPT_ASSERT(pos < f->n_doc_idx);
      if (pos + 16 < f->n_doc_idx) __builtin_prefetch(&sizes[doc[pos + 16]], 0, 0);
      int64_t len = (int64_t)sizes[doc[pos]] - off;
      remaining -= len;
      if (remaining <= 0) {
        off += remaining + len - 1;
        remaining = 0;
      } else {
        pos++;
        off = 0;
      }
    }
    si[2 * s] = (int64_t)pos;
    si[2 * s + 1] = off;
  }
  f->sample_idx = si;
}

static void file_build_shuffle(mt_file *f, agpt_mt19937 *rng) {
  uint64_t n = f->n_shuffle, first = f->samples_first;
  if (n < (uint64_t)UINT32_MAX - 1) {
    uint32_t *a = xalloc_rec((size_t)n * sizeof *a, f);
    if (!a) return;
    for (uint64_t i = 0; i < n; i++) a[i] = (uint32_t)i;
    agpt_mt19937_shuffle_u32(rng, a, first);
    if (first < n) agpt_mt19937_shuffle_u32(rng, a + first, n - first);
    f->shuf32 = a;
  } else {
    int64_t *a = xalloc_rec((size_t)n * sizeof *a, f);
    if (!a) return;
    for (uint64_t i = 0; i < n; i++) a[i] = (int64_t)i;
    agpt_mt19937_shuffle_i64(rng, a, first);
    if (first < n) agpt_mt19937_shuffle_i64(rng, a + first, n - first);
    f->shuf64 = a;
  }
}

/* Called inside a parallel region; spawns the two tasks that follow the
 * document shuffle. rng_out must stay valid until the tasks finish. */
static void file_build(const agpt_indexed *ds, int seq_len, uint32_t seed, mt_file *f, agpt_mt19937 *rng) {
  uint64_t nd = f->doc_end - f->doc_begin;
  int32_t *doc = xalloc_rec((size_t)f->n_doc_idx * sizeof *doc, f);
  if (!doc) return;
  for (int e = 0; e < f->num_epochs; e++)
    for (uint64_t k = 0; k < nd; k++) doc[(uint64_t)e * nd + k] = (int32_t)(f->doc_begin + k);
  agpt_mt19937_seed(rng, seed);
  if (!f->separate_last_epoch) {
    agpt_mt19937_shuffle_i32(rng, doc, f->n_doc_idx);
  } else {
    uint64_t head = (uint64_t)(f->num_epochs - 1) * nd;
    agpt_mt19937_shuffle_i32(rng, doc, head);
    agpt_mt19937_shuffle_i32(rng, doc + head, nd);
  }
  f->doc_idx = doc;
#pragma omp task firstprivate(f, rng)
  file_build_shuffle(f, rng);
  file_build_sample_idx(ds, seq_len, f);
}

static void file_free(mt_file *f) {
  free(f->doc_idx);
  free(f->sample_idx);
  free(f->shuf32);
  free(f->shuf64);
}

static inline uint64_t file_shuffle_at(const mt_file *f, uint64_t j) {
  return f->shuf32 ? f->shuf32[j] : (uint64_t)f->shuf64[j];
}

/* ---------- corpora ---------- */

static int cmp_name(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void corpus_build(mt_corpus *c, const mt_file *files, uint32_t seed, int shuffle) {
  if (c->blended) {
    double *w = malloc((size_t)c->n_files * sizeof *w);
    if (!w) {
      c->failed = 1;
      return;
    }
    for (int k = 0; k < c->n_files; k++) w[k] = (double)files[c->files[k]].num_samples / (double)c->size;
    blend_build(w, c->n_files, c->size, &c->blend);
    free(w);
    if (c->blend.failed) c->failed = 1;
  }
  if (shuffle) {
    c->shuffle = malloc(c->size ? (size_t)c->size * sizeof *c->shuffle : 1);
    if (!c->shuffle) {
      c->failed = 1;
      return;
    }
    for (uint64_t i = 0; i < c->size; i++) c->shuffle[i] = (int64_t)i;
    agpt_mt19937 rng;
    agpt_mt19937_seed(&rng, seed);
    agpt_mt19937_shuffle_i64(&rng, c->shuffle, c->size);
  }
}

static void corpus_at(const mt_corpus *c, uint64_t i, int *k, uint64_t *s) {
  uint64_t j = c->shuffle ? (uint64_t)c->shuffle[i] : i;
  if (c->blended) {
    blend_load(&c->blend, j, k, s);
    return;
  }
  int lo = 0, hi = c->n_files - 1; /* last k with start[k] <= j */
  while (lo < hi) {
    int mid = (lo + hi + 1) / 2;
    if (c->start[mid] <= j)
      lo = mid;
    else
      hi = mid - 1;
  }
  *k = lo;
  *s = j - c->start[lo];
}

/* ---------- build ---------- */

/* The blend records where it came from; a blend assembled without a
 * source is PLAIN when it looks like a --data-path one. */
static agpt_megatron_layout auto_layout(const agpt_blend *b) {
  if (b->source) return strcmp(b->source, "--data-path") == 0 ? AGPT_MEGATRON_PLAIN : AGPT_MEGATRON_CORPUS;
  if (b->n_corpora != b->n_files) return AGPT_MEGATRON_CORPUS;
  for (int i = 0; i < b->n_files; i++) {
    const agpt_blend_file *f = &b->files[i];
    if (f->corpus != i || strcmp(b->corpora[i], f->prefix) != 0) return AGPT_MEGATRON_CORPUS;
  }
  return AGPT_MEGATRON_PLAIN;
}

agpt_status agpt_megatron_index_build(const agpt_blend *b, const agpt_index_opts *o, agpt_megatron_index **out) {
  return agpt_megatron_index_build_ex(b, o, NULL, out);
}

static agpt_status validate(const agpt_blend *b, const agpt_index_opts *o) {
  if (!b->opened || b->n_files < 1) return agpt_fail("megatron index: the blend has no opened files (open the blend first)");
  if (o->seq_len < 1) return agpt_fail("--seq-length: %d: must be at least 1", o->seq_len);
  if (o->seed > UINT32_MAX)
    return agpt_fail("--seed: %llu: numpy's RandomState takes seeds in [0, 2^32) (choose a smaller seed)",
                     (unsigned long long)o->seed);
  if (o->split_index < 0 || o->split_index > 2) return agpt_fail("megatron index: split index %d is not 0, 1 or 2", o->split_index);
  double wsum = 0;
  for (int i = 0; i < b->n_files; i++) {
    double w = b->files[i].weight;
    if (!(w >= 0) || !isfinite(w))
      return agpt_fail("%s: weight: %g is not a finite non-negative number (fix the data list)", b->files[i].prefix, w);
    wsum += w;
  }
  if (!(wsum > 0)) return agpt_fail("data list: weights sum to 0 (give at least one positive weight)");
  return AGPT_OK;
}

agpt_status agpt_megatron_index_build_ex(const agpt_blend *b, const agpt_index_opts *o, const agpt_megatron_opts *mo,
                                         agpt_megatron_index **out) {
  *out = NULL;
  agpt_megatron_opts dflt = {0};
  if (!mo) mo = &dflt;
  AGPT_TRY(validate(b, o));
  double ratios[3];
  AGPT_TRY(agpt_split_parse(o->split ? o->split : "1", ratios));

  agpt_megatron_index *ix = agpt_xcalloc(1, sizeof *ix);
  ix->b = b;
  ix->seq_len = o->seq_len;
  ix->layout = mo->layout == AGPT_MEGATRON_AUTO ? auto_layout(b) : mo->layout;
  ix->n_files = b->n_files;
  ix->files = agpt_xcalloc((size_t)b->n_files, sizeof *ix->files);
  uint32_t seed = (uint32_t)o->seed;
  int nf = b->n_files;

  /* Per-file sample counts: get_datasets_weights_and_num_samples. */
  double wsum = 0;
  for (int i = 0; i < nf; i++) wsum += b->files[i].weight;
  double *normw = agpt_xcalloc((size_t)nf, sizeof *normw);
  for (int i = 0; i < nf; i++) normw[i] = b->files[i].weight / wsum;
  int single = ix->layout == AGPT_MEGATRON_PLAIN && nf == 1;
  uint64_t total = 0;
  for (int i = 0; i < nf; i++) {
    ix->files[i].num_samples = single ? o->num_samples : megatron_count(o->num_samples, normw[i]);
    total += ix->files[i].num_samples;
  }
  ix->size = single ? o->num_samples : total;

  /* Phase 1: ranges and tokens per epoch. */
#pragma omp parallel for schedule(dynamic, 1) num_threads(o->threads > 0 ? o->threads : omp_get_max_threads())
  for (int i = 0; i < nf; i++) {
    const agpt_indexed *ds = &b->files[i].ds;
    mt_file *f = &ix->files[i];
    agpt_split_range(ds->n_seqs, ratios, o->split_index, &f->doc_begin, &f->doc_end);
    uint64_t t = 0;
    for (uint64_t d = f->doc_begin; d < f->doc_end; d++) t += (uint64_t)(uint32_t)ds->sizes[d];
    f->tokens_per_epoch = t;
  }
  /* Phase 2: validation with messages. */
  agpt_status st = AGPT_OK;
  for (int i = 0; i < nf && st == AGPT_OK; i++) {
    st = file_plan(&b->files[i].ds, b->files[i].prefix, o->seq_len, &ix->files[i]);
  }
  if (st != AGPT_OK) {
    free(normw);
    agpt_megatron_index_free(ix);
    return AGPT_ERR;
  }

  /* Blend weights. */
  double *topw = NULL;
  int top_n = 0;
  if (ix->layout == AGPT_MEGATRON_PLAIN && nf > 1) {
    top_n = nf;
    topw = agpt_xcalloc((size_t)nf, sizeof *topw);
    memcpy(topw, normw, (size_t)nf * sizeof *topw);
  } else if (ix->layout == AGPT_MEGATRON_CORPUS) {
    /* corpus_list = sorted(set(corpuses)) */
    const char **names = agpt_xcalloc((size_t)b->n_corpora, sizeof *names);
    for (int c = 0; c < b->n_corpora; c++) names[c] = b->corpora[c];
    qsort(names, (size_t)b->n_corpora, sizeof *names, cmp_name);
    ix->n_corpora = b->n_corpora;
    ix->corpora = agpt_xcalloc((size_t)b->n_corpora, sizeof *ix->corpora);
    top_n = b->n_corpora;
    topw = agpt_xcalloc((size_t)top_n, sizeof *topw);
    for (int c = 0; c < b->n_corpora; c++) {
      mt_corpus *cp = &ix->corpora[c];
      cp->name = names[c];
      cp->files = agpt_xcalloc((size_t)nf, sizeof *cp->files);
      for (int i = 0; i < nf; i++)
        if (strcmp(b->corpora[b->files[i].corpus], names[c]) == 0) cp->files[cp->n_files++] = i;
      cp->start = agpt_xcalloc((size_t)cp->n_files + 1, sizeof *cp->start);
      for (int k = 0; k < cp->n_files; k++) cp->start[k + 1] = cp->start[k] + ix->files[cp->files[k]].num_samples;
      cp->size = cp->start[cp->n_files];
      cp->blended = mo->blend_sample_in_corpus != 0;
      topw[c] = (double)cp->size / (double)total;
    }
    free(names);
  }
  if (topw) {
    double s = np_pairwise_sum(topw, (size_t)top_n);
    if (!(s > 0)) {
      free(topw);
      free(normw);
      agpt_megatron_index_free(ix);
      return agpt_fail("data list: every dataset gets 0 samples (give positive weights or more samples)");
    }
    for (int k = 0; k < top_n; k++) topw[k] /= s;
    ix->has_top = 1;
  }
  free(normw);

  /* Phase 3: the arrays. Big files first so the tail of the schedule is short. */
  int *order = agpt_xcalloc((size_t)nf, sizeof *order);
  for (int i = 0; i < nf; i++) order[i] = i;
  for (int i = 1; i < nf; i++) { /* insertion sort by n_doc_idx + n_shuffle, descending */
    int v = order[i], k = i;
    uint64_t key = ix->files[v].n_doc_idx + ix->files[v].n_shuffle;
    while (k > 0 && ix->files[order[k - 1]].n_doc_idx + ix->files[order[k - 1]].n_shuffle < key) {
      order[k] = order[k - 1];
      k--;
    }
    order[k] = v;
  }
  agpt_mt19937 *rngs = malloc((size_t)nf * sizeof *rngs);
  if (!rngs) {
    free(order);
    free(topw);
    agpt_megatron_index_free(ix);
    return agpt_fail("megatron index: out of memory for %d generator states", nf);
  }
  int nthreads = o->threads > 0 ? o->threads : omp_get_max_threads();
#pragma omp parallel num_threads(nthreads)
#pragma omp single
  {
    if (ix->has_top) {
#pragma omp task
      blend_build(topw, top_n, ix->size, &ix->top);
    }
    for (int c = 0; c < ix->n_corpora; c++) {
      mt_corpus *cp = &ix->corpora[c];
      if (cp->blended || mo->shuffle_sample_in_corpus) {
#pragma omp task firstprivate(cp)
        corpus_build(cp, ix->files, seed, mo->shuffle_sample_in_corpus);
      }
    }
    for (int k = 0; k < nf; k++) {
      int i = order[k];
#pragma omp task firstprivate(i)
      file_build(&b->files[i].ds, o->seq_len, seed, &ix->files[i], &rngs[i]);
    }
  }
  free(rngs);
  free(order);
  free(topw);

  /* Report failures and check I3. */
  for (int i = 0; i < nf; i++)
    if (ix->files[i].failed) {
      uint64_t bytes = ix->files[i].failed_bytes;
      agpt_megatron_index_free(ix);
      return agpt_fail("%s: megatron index: out of memory allocating %llu bytes (use fewer samples or more memory)",
                       b->files[i].prefix, (unsigned long long)bytes);
    }
  if (ix->has_top && ix->top.failed) {
    uint64_t bytes = ix->top.failed_bytes;
    agpt_megatron_index_free(ix);
    return agpt_fail("megatron index: out of memory allocating %llu bytes for the blend", (unsigned long long)bytes);
  }
  for (int c = 0; c < ix->n_corpora; c++) {
    mt_corpus *cp = &ix->corpora[c];
    if (cp->failed) {
      agpt_megatron_index_free(ix);
      return agpt_fail("megatron index: out of memory building corpus '%s'", cp->name);
    }
    if (cp->blended)
      for (int k = 0; k < cp->n_files; k++) {
        const mt_file *f = &ix->files[cp->files[k]];
        if (cp->blend.counts[k] > f->n_shuffle) {
          const char *p = b->files[cp->files[k]].prefix;
          agpt_megatron_index_free(ix);
          return agpt_fail("%s: corpus blend draws more samples than the file has (Megatron fails here too; change weights)", p);
        }
      }
    if (ix->has_top && ix->top.counts[c] > cp->size) {
      const char *name = cp->name;
      agpt_megatron_index_free(ix);
      return agpt_fail("corpus '%s': the blend draws more samples than the corpus has (Megatron fails here too)", name);
    }
  }
  if (ix->layout == AGPT_MEGATRON_PLAIN && ix->has_top)
    for (int i = 0; i < nf; i++)
      if (ix->top.counts[i] > ix->files[i].n_shuffle) {
        const char *p = b->files[i].prefix;
        agpt_megatron_index_free(ix);
        return agpt_fail("%s: the blend draws more samples than the file has (Megatron fails here too)", p);
      }
  *out = ix;
  return AGPT_OK;
}

void agpt_megatron_index_free(agpt_megatron_index *ix) {
  if (!ix) return;
  for (int i = 0; i < ix->n_files; i++) file_free(&ix->files[i]);
  free(ix->files);
  for (int c = 0; c < ix->n_corpora; c++) {
    mt_corpus *cp = &ix->corpora[c];
    free(cp->files);
    free(cp->start);
    blend_free(&cp->blend);
    free(cp->shuffle);
  }
  free(ix->corpora);
  blend_free(&ix->top);
  free(ix);
}

/* ---------- reading ---------- */

/* Sample i of the blend -> (file, sample within the file's GPTDataset). */
static agpt_status locate(const agpt_megatron_index *ix, uint64_t i, int *file, uint64_t *s) {
  if (i >= ix->size)
    return agpt_fail("megatron index: sample %llu is out of range (the index holds %llu samples)", (unsigned long long)i,
                     (unsigned long long)ix->size);
  if (!ix->has_top) {
    *file = 0;
    *s = i;
    return AGPT_OK;
  }
  int d;
  uint64_t j;
  blend_load(&ix->top, i, &d, &j);
  if (ix->layout == AGPT_MEGATRON_PLAIN) {
    *file = d;
    *s = j;
    return AGPT_OK;
  }
  const mt_corpus *cp = &ix->corpora[d];
  int k;
  corpus_at(cp, j, &k, s);
  *file = cp->files[k];
  return AGPT_OK;
}

agpt_status agpt_megatron_index_get(const agpt_megatron_index *ix, uint64_t i, int32_t *out) {
  int fi = 0;
  uint64_t s = 0;
  AGPT_TRY(locate(ix, i, &fi, &s));
  const mt_file *f = &ix->files[fi];
  const agpt_indexed *ds = &ix->b->files[fi].ds;
  if (ds->meta_only)
    return agpt_fail("%s: megatron index: opened without its .bin, so tokens cannot be read (open the blend with data)",
                     ix->b->files[fi].prefix);
  AGPT_ASSERT(s < f->n_shuffle);
  uint64_t k = file_shuffle_at(f, s);
  uint64_t d0 = (uint64_t)f->sample_idx[2 * k], d1 = (uint64_t)f->sample_idx[2 * k + 2];
  uint64_t o0 = (uint64_t)f->sample_idx[2 * k + 1], o1 = (uint64_t)f->sample_idx[2 * k + 3];
  uint64_t want = (uint64_t)ix->seq_len + 1, got = 0;
  if (d0 == d1) {
    AGPT_ASSERT(o1 - o0 + 1 == want);
    agpt_indexed_read(ds, (uint64_t)f->doc_idx[d0], o0, want, out);
    return AGPT_OK;
  }
  for (uint64_t d = d0; d <= d1; d++) {
    uint64_t seq = (uint64_t)f->doc_idx[d];
    uint64_t len = (uint64_t)(uint32_t)ds->sizes[seq];
    uint64_t from = d == d0 ? o0 : 0;
    uint64_t to = d == d1 ? o1 + 1 : len;
    AGPT_ASSERT(from <= to && to <= len && got + (to - from) <= want);
    agpt_indexed_read(ds, seq, from, to - from, out + got);
    got += to - from;
  }
  AGPT_ASSERT(got == want);
  return AGPT_OK;
}

agpt_status agpt_megatron_index_origin(const agpt_megatron_index *ix, uint64_t i, agpt_sample_origin *out) {
  int fi = 0;
  uint64_t s = 0;
  AGPT_TRY(locate(ix, i, &fi, &s));
  const mt_file *f = &ix->files[fi];
  uint64_t k = file_shuffle_at(f, s);
  out->file = fi;
  out->corpus = ix->b->files[fi].corpus;
  out->doc = (uint64_t)f->doc_idx[f->sample_idx[2 * k]];
  out->offset = (uint64_t)f->sample_idx[2 * k + 1];
  return AGPT_OK;
}

/* ---------- inspection ---------- */

uint64_t agpt_megatron_index_size(const agpt_megatron_index *ix) { return ix->size; }

agpt_megatron_layout agpt_megatron_index_layout(const agpt_megatron_index *ix) { return ix->layout; }

agpt_status agpt_megatron_index_file_arrays(const agpt_megatron_index *ix, int file, agpt_megatron_file_arrays *out) {
  if (file < 0 || file >= ix->n_files)
    return agpt_fail("megatron index: file %d is out of range (the blend has %d files)", file, ix->n_files);
  const mt_file *f = &ix->files[file];
  out->doc_begin = f->doc_begin;
  out->doc_end = f->doc_end;
  out->num_samples = f->num_samples;
  out->tokens_per_epoch = f->tokens_per_epoch;
  out->num_epochs = f->num_epochs;
  out->separate_last_epoch = f->separate_last_epoch;
  out->doc_idx = f->doc_idx;
  out->n_doc_idx = f->n_doc_idx;
  out->sample_idx = f->sample_idx;
  out->n_sample_idx = f->n_sample_idx;
  out->shuffle_idx32 = f->shuf32;
  out->shuffle_idx64 = f->shuf64;
  out->n_shuffle = f->n_shuffle;
  return AGPT_OK;
}

agpt_status agpt_megatron_index_blend_at(const agpt_megatron_index *ix, uint64_t i, int *dataset, uint64_t *sample) {
  if (!ix->has_top) return agpt_fail("megatron index: a single file has no blend");
  if (i >= ix->top.size)
    return agpt_fail("megatron index: blend position %llu is out of range (%llu)", (unsigned long long)i,
                     (unsigned long long)ix->top.size);
  blend_load(&ix->top, i, dataset, sample);
  return AGPT_OK;
}

int agpt_megatron_index_n_corpora(const agpt_megatron_index *ix) { return ix->n_corpora; }

agpt_status agpt_megatron_index_corpus(const agpt_megatron_index *ix, int c, const char **name, uint64_t *size,
                                       const int **files, int *n_files) {
  if (c < 0 || c >= ix->n_corpora)
    return agpt_fail("megatron index: corpus %d is out of range (%d corpora)", c, ix->n_corpora);
  const mt_corpus *cp = &ix->corpora[c];
  if (name) *name = cp->name;
  if (size) *size = cp->size;
  if (files) *files = cp->files;
  if (n_files) *n_files = cp->n_files;
  return AGPT_OK;
}

agpt_status agpt_megatron_index_corpus_at(const agpt_megatron_index *ix, int c, uint64_t i, int *file_in_corpus,
                                          uint64_t *sample) {
  if (c < 0 || c >= ix->n_corpora)
    return agpt_fail("megatron index: corpus %d is out of range (%d corpora)", c, ix->n_corpora);
  const mt_corpus *cp = &ix->corpora[c];
  if (i >= cp->size)
    return agpt_fail("megatron index: corpus '%s': position %llu is out of range (%llu)", cp->name,
                     (unsigned long long)i, (unsigned long long)cp->size);
  corpus_at(cp, i, file_in_corpus, sample);
  return AGPT_OK;
}

const int64_t *agpt_megatron_index_corpus_shuffle(const agpt_megatron_index *ix, int c) {
  if (c < 0 || c >= ix->n_corpora) return NULL;
  return ix->corpora[c].shuffle;
}
