/* Megatron's GPT sample indices and blends, rebuilt exactly (see
 * megatron_index.h for the layouts and megatron_file.h for one file's
 * arrays and the compact form they are served from).
 *
 * Design note.
 * Building runs in three phases:
 *   1. plan (parallel over files, cannot fail): each file's split range and
 *      tokens per epoch;
 *   2. validate (sequential, on the caller's thread so messages survive):
 *      empty splits, epochs, sizes; per-file sample counts; blend weights.
 *      With a cache directory, a complete cache for the same description is
 *      mapped here and the build ends;
 *   3. build (OpenMP tasks): the blends, each a task, and one task per file
 *      (largest first) that builds Megatron's three arrays in its thread's
 *      scratch, then keeps only the served form: in memory, or streamed
 *      into the cache file at a reserved offset. Only allocation and cache
 *      writes can fail here; failures are recorded per file and reported
 *      after the join.
 * Invariants of a built index:
 *   I1. every file's served arrays come from Megatron's arrays for that
 *       file (megatron_file.c I1-I3);
 *   I2. every (dataset, sample) a blend yields is in range of what the
 *       dataset serves (checked once after the build; Megatron would raise
 *       where its own range ends, ours ends at n_serve, which covers it);
 *   I3. nothing is written after the build but the repair of a damaged
 *       cache section (below): readers share the index freely.
 * Reading. Every served array is a numbered section (sect_* below) and is
 * read through view[k]: the array in memory (built here, or rebuilt after
 * damage), or NULL while it is read from the mapped cache, where the bytes
 * a read touches are first checked against their chunk checksums
 * (megatron_cache.h). Values that serve as indices (dataset, sample,
 * shuffle position, document position, document, offset) are checked
 * against the ranges the plan gives before they are used.
 * Repair, the one transition after the build: when a checked chunk does
 * not match, or a value read from the cache is out of range, the part the
 * section belongs to (a file's two arrays, a blend's two, a corpus
 * shuffle) is rebuilt in memory from the data files under fix_lock, its
 * views are published (release; readers load them with acquire), the
 * damage is logged naming the cache file and the section, and the cache
 * file is removed so that the next run rebuilds it whole. The read that
 * found the damage is retried: each part is repaired at most once, and a
 * rebuilt part is ours, so a value out of range there is a bug (assert).
 * Readers that hold a pointer into the map keep using bytes that were
 * checked, which equal the rebuilt ones. Damage found while opening (the
 * counts, which the range check reads at once) rebuilds the whole cache.
 * Memory: the served arrays are about 4 bytes per document of the drawn
 * epochs and 8 bytes per drawn sample, plus the blends (1-4 + 4-8 bytes per
 * sample). With a cache directory they live in the page cache (the file is
 * mapped), and the build holds only per-thread scratch and the blend being
 * built. */
#include "data/megatron_index.h"

#include <limits.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/stat.h>

#include "core/bigmem.h"
#include "core/file.h"
#include "core/json.h"
#include "core/log.h"
#include "data/megatron_cache.h"
#include "data/greedy_blend.h"
#include "data/megatron_file.h"
#include "data/mt19937.h"
#include "data/split.h"

/* A BlendableDataset's two arrays in compact types. */
typedef struct {
  uint64_t size;
  int n_datasets;
  void *di; /* dataset index: 1, 2 or 4 bytes */
  int di_bytes;
  void *si; /* dataset sample index: 4 or 8 bytes */
  int si_bytes;
  uint64_t *counts; /* (n_datasets) picks per dataset */
  int owned;        /* di and si are ours to free (else written to the cache and freed, or not built) */
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
  mt_blend blend;         /* when blended */
  const int64_t *shuffle; /* (size) or NULL, while building */
  int shuffle_owned;
  int shuffled; /* the corpus has a shuffle (section sect_corpus(c, SECT_SHUFFLE)) */
  int failed;
} mt_corpus;

struct agpt_megatron_index {
  const agpt_blend *b;
  int seq_len;
  uint32_t seed;
  agpt_megatron_layout layout;
  uint64_t size;
  agpt_mt_file *files; /* (b->n_files) */
  int n_files;
  void **file_mem;     /* (2 * n_files) served arrays (agpt_big_alloc) when not mapped */
  mt_corpus *corpora;  /* CORPUS layout, sorted by name */
  int n_corpora;
  int has_top;
  mt_blend top;
  double *topw;        /* (top_n) the top blend's weights, to rebuild it */
  int top_n;
  agpt_mt_cache cache; /* the mapped cache file, when there is one */
  int from_cache;      /* 1: mapped an existing cache; 2: wrote it in this build */
  uint64_t n_sect;
  _Atomic(const void *) *view; /* (n_sect) served arrays in memory; NULL: read from the cache */
  void **fixed;                /* (n_sect) arrays rebuilt after damage (agpt_big_alloc) */
  pthread_mutex_t *fix_lock;   /* held while a part is repaired */
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

/* Entry i of a blend's arrays di and si, as stored in m's types. The
 * dataset comes back unsigned (an int32 entry read from a damaged cache may
 * be negative), for the caller to check against its range. */
static inline void blend_value(const mt_blend *m, const void *di, const void *si, uint64_t i, uint64_t *d, uint64_t *s) {
  switch (m->di_bytes) {
    case 1: *d = ((const uint8_t *)di)[i]; break;
    case 2: *d = ((const uint16_t *)di)[i]; break;
    default: *d = (uint32_t)((const int32_t *)di)[i]; break;
  }
  *s = m->si_bytes == 4 ? ((const uint32_t *)si)[i] : ((const uint64_t *)si)[i];
}

/* helpers.build_blending_indices over weights w (n_datasets), exactly
 * (greedy_blend.h). Runs on any thread; records allocation failure in m,
 * whose shape blend_shape set. */
static void blend_build(const double *w, int nd, uint64_t size, mt_blend *m) {
  size_t bytes = (size_t)size * (size_t)(m->di_bytes + m->si_bytes);
  m->owned = 1;
  m->di = agpt_big_alloc((size_t)size * (size_t)m->di_bytes);
  m->si = agpt_big_alloc((size_t)size * (size_t)m->si_bytes);
  m->counts = calloc((size_t)nd, sizeof *m->counts);
  if (!m->di || !m->si || !m->counts ||
      agpt_greedy_blend(w, nd, size, m->di, m->di_bytes, m->si, m->si_bytes, m->counts) != AGPT_OK) {
    m->failed = 1;
    m->failed_bytes = bytes;
  }
}

static void blend_free(mt_blend *m) {
  if (m->owned) {
    agpt_big_free(m->di);
    agpt_big_free(m->si);
  }
  free(m->counts);
  memset(m, 0, sizeof *m);
}

/* ---------- corpora ---------- */

static int cmp_name(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The corpus blend of c (its files weighted by their sample counts) into
 * m, shaped by blend_shape; failure is recorded in m. */
static void corpus_blend_build(const mt_corpus *c, const agpt_mt_file *files, mt_blend *m) {
  double *w = malloc((size_t)c->n_files * sizeof *w);
  if (!w) {
    m->failed = 1;
    return;
  }
  for (int k = 0; k < c->n_files; k++) w[k] = (double)files[c->files[k]].num_samples / (double)c->size;
  blend_build(w, c->n_files, c->size, m);
  free(w);
}

/* np.arange(size) shuffled by RandomState(seed) (agpt_big_alloc'd), or NULL. */
static int64_t *corpus_shuffle_build(uint64_t size, uint32_t seed) {
  int64_t *a = agpt_big_alloc(size ? (size_t)size * sizeof *a : 1);
  if (!a) return NULL;
  for (uint64_t i = 0; i < size; i++) a[i] = (int64_t)i;
  agpt_mt19937 rng;
  agpt_mt19937_seed(&rng, seed);
  agpt_mt19937_shuffle_i64(&rng, a, size);
  return a;
}

static void corpus_build(mt_corpus *c, const agpt_mt_file *files, uint32_t seed, int shuffle) {
  if (c->blended) {
    corpus_blend_build(c, files, &c->blend);
    if (c->blend.failed) c->failed = 1;
  }
  if (shuffle) {
    int64_t *a = corpus_shuffle_build(c->size, seed);
    if (!a) {
      c->failed = 1;
      return;
    }
    c->shuffle = a;
    c->shuffle_owned = 1;
  }
}

/* Position j of an unblended corpus (files concatenated): its file and sample. */
static void corpus_concat_at(const mt_corpus *c, uint64_t j, int *k, uint64_t *s) {
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

/* ---------- planning ---------- */

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

/* Everything the arrays depend on, as text: the cache key. The .idx size
 * and modification time stand for the sizes array (a rewritten file gets
 * a new time), the token counts guard against clocks that do not move. */
static char *describe(const agpt_megatron_index *ix, const agpt_index_opts *o, const agpt_megatron_opts *mo,
                      const double ratios[3]) {
  agpt_sb sb = {0};
  agpt_sb_printf(&sb, "agpt megatron index v1\nlayout %d blend_in_corpus %d shuffle_in_corpus %d\n", (int)ix->layout,
                 mo->blend_sample_in_corpus != 0, mo->shuffle_sample_in_corpus != 0);
  agpt_sb_printf(&sb, "seq_len %d num_samples %llu seed %u split %a %a %a split_index %d\n", o->seq_len,
                 (unsigned long long)o->num_samples, ix->seed, ratios[0], ratios[1], ratios[2], o->split_index);
  const agpt_blend *b = ix->b;
  for (int i = 0; i < b->n_files; i++) {
    const agpt_blend_file *f = &b->files[i];
    char path[4200];
    snprintf(path, sizeof path, "%s.idx", f->prefix);
    struct stat st;
    long long size = -1, sec = 0, nsec = 0;
    if (stat(path, &st) == 0) {
      size = (long long)st.st_size;
      sec = (long long)st.st_mtim.tv_sec;
      nsec = (long long)st.st_mtim.tv_nsec;
    }
    agpt_sb_printf(&sb, "file %s weight %a corpus %s seqs %llu tokens %llu idx %lld %lld.%09lld\n", f->prefix,
                   f->weight, b->corpora[f->corpus], (unsigned long long)f->ds.n_seqs,
                   (unsigned long long)f->ds.n_tokens, size, sec, nsec);
  }
  return sb.data;
}

/* ---------- storage: memory or the cache file ---------- */

/* Sections of the cache, one per served array: per file (docs, samp), the
 * top blend (di, si, counts), per corpus (di, si, counts, shuffle). An
 * absent array (no top blend; a corpus neither blended nor shuffled) is an
 * empty section. The table holds per file (served documents, n_serve). */
enum { SECT_DOCS = 0, SECT_SAMP = 1, SECT_PER_FILE = 2 };
enum { SECT_DI = 0, SECT_SI = 1, SECT_COUNTS = 2, SECT_SHUFFLE = 3, SECT_TOP = 3, SECT_PER_CORPUS = 4 };
enum { TAB_FILE = 2 };

static uint64_t sect_file(int i, int which) { return (uint64_t)SECT_PER_FILE * (uint64_t)i + (uint64_t)which; }
static uint64_t sect_top(const agpt_megatron_index *ix, int which) { return sect_file(ix->n_files, which); }
static uint64_t sect_corpus(const agpt_megatron_index *ix, int c, int which) {
  return sect_top(ix, SECT_TOP) + (uint64_t)SECT_PER_CORPUS * (uint64_t)c + (uint64_t)which;
}
static uint64_t sect_count(const agpt_megatron_index *ix) { return sect_corpus(ix, ix->n_corpora, 0); }
static uint64_t table_len(const agpt_megatron_index *ix) { return (uint64_t)TAB_FILE * (uint64_t)ix->n_files; }

/* Section k as messages name it. */
static void sect_name(const agpt_megatron_index *ix, uint64_t k, char *buf, size_t n) {
  static const char *const part[] = {"dataset index", "sample index", "counts", "shuffle"};
  uint64_t top = sect_top(ix, 0);
  if (k < top) {
    int i = (int)(k / SECT_PER_FILE);
    snprintf(buf, n, "%llu (file %d, %s: %s)", (unsigned long long)k, i, ix->b->files[i].prefix,
             k % SECT_PER_FILE == SECT_DOCS ? "documents" : "sample starts");
  } else if (k < top + SECT_TOP) {
    snprintf(buf, n, "%llu (blend %s)", (unsigned long long)k, part[k - top]);
  } else {
    uint64_t r = k - top - SECT_TOP;
    snprintf(buf, n, "%llu (corpus '%s' %s)", (unsigned long long)k, ix->corpora[r / SECT_PER_CORPUS].name,
             part[r % SECT_PER_CORPUS]);
  }
}

typedef struct {
  agpt_mt_scratch s;
  int32_t *docs; /* cache mode: a file's served arrays before they are written */
  uint32_t *samp;
  size_t docs_cap, samp_cap;
} mt_thread;

typedef struct {
  int failed;        /* 1 allocation, 2 cache write, 3 too many served documents */
  uint64_t bytes;    /* allocation size, or errno */
} mt_fail;

/* One file: Megatron's arrays in the thread's scratch, then the served
 * form into memory (file_mem) or into the cache (table, sections). */
static void file_task(agpt_megatron_index *ix, int i, mt_thread *t, agpt_mt_cache_writer *w, uint64_t *table,
                      mt_fail *fail) {
  agpt_mt_file *f = &ix->files[i];
  size_t bad = agpt_mt_file_arrays(&ix->b->files[i].ds, ix->seq_len, ix->seed, f, &t->s);
  if (bad) {
    *fail = (mt_fail){1, bad};
    return;
  }
  uint64_t n_docs = agpt_mt_file_served_docs(f, &t->s);
  if (n_docs >= ((uint64_t)1 << 32)) {
    *fail = (mt_fail){3, n_docs};
    return;
  }
  size_t db = (size_t)n_docs * sizeof(int32_t), sb = (size_t)f->n_serve * 2 * sizeof(uint32_t);
  f->n_docs = n_docs;
  if (!w) {
    int32_t *docs = agpt_big_alloc(db);
    uint32_t *samp = agpt_big_alloc(sb);
    ix->file_mem[2 * i] = docs;
    ix->file_mem[2 * i + 1] = samp;
    if (!docs || !samp) {
      *fail = (mt_fail){1, db + sb};
      return;
    }
    agpt_mt_file_docs(&t->s, 0, f->n_head, docs);
    agpt_mt_file_compose(f, &t->s, docs + f->n_head, samp);
    return;
  }
  if ((bad = agpt_big_grow((void **)&t->docs, &t->docs_cap, db)) || (bad = agpt_big_grow((void **)&t->samp, &t->samp_cap, sb))) {
    *fail = (mt_fail){1, bad};
    return;
  }
  agpt_mt_file_docs(&t->s, 0, f->n_head, t->docs);
  agpt_mt_file_compose(f, &t->s, t->docs + f->n_head, t->samp);
  table[TAB_FILE * i] = n_docs;
  table[TAB_FILE * i + 1] = f->n_serve;
  int e = agpt_mt_cache_put(w, sect_file(i, SECT_DOCS), t->docs, db);
  if (!e) e = agpt_mt_cache_put(w, sect_file(i, SECT_SAMP), t->samp, sb);
  if (e) *fail = (mt_fail){2, (uint64_t)e};
}

/* Writes a blend's arrays to sections k .. k + 2 of the cache and returns
 * their memory (the counts stay: the range check needs them); returns 0
 * or an errno. */
static int blend_spill(agpt_mt_cache_writer *w, mt_blend *m, uint64_t k) {
  size_t dib = (size_t)m->size * (size_t)m->di_bytes, sib = (size_t)m->size * (size_t)m->si_bytes;
  size_t cb = (size_t)m->n_datasets * sizeof *m->counts;
  int e = agpt_mt_cache_put(w, k + SECT_DI, m->di, dib);
  if (!e) e = agpt_mt_cache_put(w, k + SECT_SI, m->si, sib);
  if (!e) e = agpt_mt_cache_put(w, k + SECT_COUNTS, m->counts, cb);
  if (e) return e;
  agpt_big_free(m->di);
  agpt_big_free(m->si);
  m->di = m->si = NULL;
  m->owned = 0;
  return 0;
}

static void blend_shape(mt_blend *m, int nd, uint64_t size) {
  m->size = size;
  m->n_datasets = nd;
  m->di_bytes = nd <= 256 ? 1 : (nd <= 65536 ? 2 : 4);
  m->si_bytes = size <= UINT32_MAX ? 4 : 8;
}

/* The length section k must have for this index's plan (table: the
 * cache's, for the served documents of each file). */
static uint64_t sect_expected(const agpt_megatron_index *ix, uint64_t k, const uint64_t *table) {
  uint64_t top = sect_top(ix, 0);
  if (k < top) {
    uint64_t i = k / SECT_PER_FILE;
    return k % SECT_PER_FILE == SECT_DOCS ? table[TAB_FILE * i] * 4 : ix->files[i].n_serve * 8;
  }
  const mt_blend *m = &ix->top;
  uint64_t which = k - top;
  int present = ix->has_top;
  if (which >= SECT_TOP) {
    const mt_corpus *cp = &ix->corpora[(which - SECT_TOP) / SECT_PER_CORPUS];
    which = (which - SECT_TOP) % SECT_PER_CORPUS;
    if (which == SECT_SHUFFLE) return cp->shuffled ? cp->size * 8 : 0;
    m = &cp->blend;
    present = cp->blended;
  }
  if (!present) return 0;
  return which == SECT_DI ? m->size * (uint64_t)m->di_bytes
                          : (which == SECT_SI ? m->size * (uint64_t)m->si_bytes : (uint64_t)m->n_datasets * 8);
}

/* Serves the index from the loaded cache (every view NULL) once the table
 * and the length of every section fit the plan, so that no position a
 * reader has checked against the plan falls outside its section; the
 * blend counts are checked and copied now (the range check reads them at
 * once). Changes nothing and returns 0 with why[] when the cache cannot
 * serve this index (the caller rebuilds it), else 1. */
static int attach_cache(agpt_megatron_index *ix, const uint64_t *table, char *why, size_t why_cap) {
  const agpt_mt_cache *c = &ix->cache;
  for (int i = 0; i < ix->n_files; i++) {
    const agpt_mt_file *f = &ix->files[i];
    uint64_t n_docs = table[TAB_FILE * i];
    if (table[TAB_FILE * i + 1] != f->n_serve || n_docs < f->n_head || n_docs == 0 || n_docs >= ((uint64_t)1 << 32)) {
      snprintf(why, why_cap, "its table does not fit file %d (%s)", i, ix->b->files[i].prefix);
      return 0;
    }
  }
  char name[4400];
  for (uint64_t k = 0; k < ix->n_sect; k++) {
    uint64_t have;
    agpt_mt_cache_section(c, k, &have);
    if (have != sect_expected(ix, k, table)) {
      sect_name(ix, k, name, sizeof name);
      snprintf(why, why_cap, "section %s holds %llu bytes, not %llu", name, (unsigned long long)have,
               (unsigned long long)sect_expected(ix, k, table));
      return 0;
    }
  }
  for (int c0 = -1; c0 < ix->n_corpora; c0++) {
    mt_blend *m = c0 < 0 ? (ix->has_top ? &ix->top : NULL) : (ix->corpora[c0].blended ? &ix->corpora[c0].blend : NULL);
    if (!m) continue;
    uint64_t k = c0 < 0 ? sect_top(ix, SECT_COUNTS) : sect_corpus(ix, c0, SECT_COUNTS);
    if (!agpt_mt_cache_check(c, k, 0, (uint64_t)m->n_datasets * 8)) {
      sect_name(ix, k, name, sizeof name);
      snprintf(why, why_cap, "the index cache is damaged: section %s: its checksum does not match", name);
      return 0;
    }
  }
  for (int i = 0; i < ix->n_files; i++) ix->files[i].n_docs = table[TAB_FILE * i];
  for (int c0 = -1; c0 < ix->n_corpora; c0++) {
    mt_blend *m = c0 < 0 ? (ix->has_top ? &ix->top : NULL) : (ix->corpora[c0].blended ? &ix->corpora[c0].blend : NULL);
    if (!m) continue;
    uint64_t k = c0 < 0 ? sect_top(ix, SECT_COUNTS) : sect_corpus(ix, c0, SECT_COUNTS);
    free(m->counts);
    m->counts = agpt_xcalloc((size_t)m->n_datasets, sizeof *m->counts);
    memcpy(m->counts, agpt_mt_cache_section(c, k, NULL), (size_t)m->n_datasets * sizeof *m->counts);
  }
  return 1;
}

/* Points the views at the arrays built in memory. */
static void view_memory(agpt_megatron_index *ix) {
  for (int i = 0; i < ix->n_files; i++) {
    atomic_store(&ix->view[sect_file(i, SECT_DOCS)], ix->file_mem[2 * i]);
    atomic_store(&ix->view[sect_file(i, SECT_SAMP)], ix->file_mem[2 * i + 1]);
  }
  if (ix->has_top) {
    atomic_store(&ix->view[sect_top(ix, SECT_DI)], ix->top.di);
    atomic_store(&ix->view[sect_top(ix, SECT_SI)], ix->top.si);
  }
  for (int c = 0; c < ix->n_corpora; c++) {
    const mt_corpus *cp = &ix->corpora[c];
    if (cp->blended) {
      atomic_store(&ix->view[sect_corpus(ix, c, SECT_DI)], cp->blend.di);
      atomic_store(&ix->view[sect_corpus(ix, c, SECT_SI)], cp->blend.si);
    }
    if (cp->shuffled) atomic_store(&ix->view[sect_corpus(ix, c, SECT_SHUFFLE)], cp->shuffle);
  }
}

/* ---------- build ---------- */

/* Slack of the served prefix over a file's sample count: a greedy blend's
 * count of a dataset runs at most about one past weight x n; a generous
 * margin costs a few rows, and the build checks the counts against it. */
static uint64_t serve_slack(int n_blended) { return (uint64_t)n_blended + 16; }

/* The I2 check: fails naming the file when a blend draws past what it serves. */
static agpt_status check_ranges(const agpt_megatron_index *ix) {
  const agpt_blend *b = ix->b;
  for (int c = 0; c < ix->n_corpora; c++) {
    const mt_corpus *cp = &ix->corpora[c];
    if (cp->blended)
      for (int k = 0; k < cp->n_files; k++) {
        const agpt_mt_file *f = &ix->files[cp->files[k]];
        if (cp->blend.counts[k] > f->n_serve)
          return agpt_fail("%s: the corpus blend draws %llu samples, more than the file's %llu (Megatron fails here "
                           "too; change the weights)",
                           b->files[cp->files[k]].prefix, (unsigned long long)cp->blend.counts[k],
                           (unsigned long long)f->n_serve);
      }
    if (ix->has_top && ix->top.counts[c] > cp->size)
      return agpt_fail("corpus '%s': the blend draws more samples than the corpus has (Megatron fails here too)",
                       cp->name);
  }
  if (ix->layout == AGPT_MEGATRON_PLAIN && ix->has_top)
    for (int i = 0; i < ix->n_files; i++)
      if (ix->top.counts[i] > ix->files[i].n_serve)
        return agpt_fail("%s: the blend draws %llu samples, more than the file's %llu (Megatron fails here too)",
                         b->files[i].prefix, (unsigned long long)ix->top.counts[i],
                         (unsigned long long)ix->files[i].n_serve);
  return AGPT_OK;
}

/* A blend (top level or a corpus's) goes to the cache as soon as it is
 * built, so its memory comes back while the files are still being built. */
static void blend_task(mt_blend *m, const double *w8, int nd, agpt_mt_cache_writer *w, uint64_t k, int *err) {
  blend_build(w8, nd, m->size, m);
  if (w && !m->failed) *err = blend_spill(w, m, k);
}

/* Corpus c's blend and shuffle, into sections k .. k + 3 with a writer. */
static void corpus_task(mt_corpus *c, const agpt_mt_file *files, uint32_t seed, int shuffle, agpt_mt_cache_writer *w,
                        uint64_t k, int *err) {
  corpus_build(c, files, seed, shuffle);
  if (!w || c->failed) return;
  if (c->blended && (*err = blend_spill(w, &c->blend, k))) return;
  if (c->shuffle) {
    *err = agpt_mt_cache_put(w, k + SECT_SHUFFLE, c->shuffle, (size_t)c->size * 8);
    if (*err) return;
    agpt_big_free((void *)c->shuffle);
    c->shuffle = NULL;
    c->shuffle_owned = 0;
  }
}

/* Phase 3: builds every array, into memory or into the cache writer w. */
static agpt_status build_arrays(agpt_megatron_index *ix, const agpt_megatron_opts *mo, const double *topw, int top_n,
                                int nthreads, agpt_mt_cache_writer *w, uint64_t *table) {
  int nf = ix->n_files;
  int *order = agpt_xcalloc((size_t)nf, sizeof *order);
  for (int i = 0; i < nf; i++) order[i] = i;
  for (int i = 1; i < nf; i++) { /* insertion sort by work, descending */
    int v = order[i], k = i;
    uint64_t key = ix->files[v].n_doc_idx + ix->files[v].n_shuffle;
    while (k > 0 && ix->files[order[k - 1]].n_doc_idx + ix->files[order[k - 1]].n_shuffle < key) {
      order[k] = order[k - 1];
      k--;
    }
    order[k] = v;
  }
  mt_thread *th = agpt_xcalloc((size_t)nthreads, sizeof *th);
  mt_fail *fails = agpt_xcalloc((size_t)nf, sizeof *fails);
  int *errs = agpt_xcalloc((size_t)ix->n_corpora + 1, sizeof *errs); /* cache write errno: top, then corpora */
#pragma omp parallel num_threads(nthreads)
#pragma omp single
  {
    if (ix->has_top) {
#pragma omp task
      blend_task(&ix->top, topw, top_n, w, sect_top(ix, 0), &errs[0]);
    }
    for (int c = 0; c < ix->n_corpora; c++) {
      mt_corpus *cp = &ix->corpora[c];
      if (cp->blended || mo->shuffle_sample_in_corpus) {
        uint64_t k = sect_corpus(ix, c, 0);
#pragma omp task firstprivate(cp, k)
        corpus_task(cp, ix->files, ix->seed, mo->shuffle_sample_in_corpus, w, k, &errs[1 + c]);
      }
    }
    for (int k = 0; k < nf; k++) {
      int i = order[k];
#pragma omp task firstprivate(i)
      file_task(ix, i, &th[omp_get_thread_num()], w, table, &fails[i]);
    }
  }
  for (int t = 0; t < nthreads; t++) {
    agpt_mt_scratch_free(&th[t].s);
    agpt_big_free(th[t].docs);
    agpt_big_free(th[t].samp);
  }
  free(th);
  free(order);
  agpt_status st = AGPT_OK;
  for (int i = 0; i < nf && st == AGPT_OK; i++) {
    const char *p = ix->b->files[i].prefix;
    switch (fails[i].failed) {
    case 1:
      st = agpt_fail("%s: megatron index: out of memory allocating %llu bytes (use fewer samples, more memory, or "
                     "--data-cache-path)",
                     p, (unsigned long long)fails[i].bytes);
      break;
    case 2:
      st = agpt_fail("%s: writing the index cache failed: %s (free space or choose another --data-cache-path)",
                     agpt_mt_cache_writer_path(w), strerror((int)fails[i].bytes));
      break;
    case 3:
      st = agpt_fail("%s: the drawn samples span %llu documents, more than a 32-bit index holds (split the file)", p,
                     (unsigned long long)fails[i].bytes);
      break;
    default: break;
    }
  }
  free(fails);
  if (st != AGPT_OK) {
    free(errs);
    return st;
  }
  if (ix->has_top && ix->top.failed) {
    free(errs);
    return agpt_fail("megatron index: out of memory allocating %llu bytes for the blend (use fewer samples)",
                     (unsigned long long)ix->top.failed_bytes);
  }
  for (int c = 0; c < ix->n_corpora; c++)
    if (ix->corpora[c].failed) {
      free(errs);
      return agpt_fail("megatron index: out of memory building corpus '%s'", ix->corpora[c].name);
    }
  if (check_ranges(ix) != AGPT_OK) {
    free(errs);
    return AGPT_ERR;
  }
  int e = 0;
  for (int k = 0; k <= ix->n_corpora && !e; k++) e = errs[k];
  free(errs);
  if (e)
    return agpt_fail("%s: writing the index cache failed: %s (free space or choose another --data-cache-path)",
                     agpt_mt_cache_writer_path(w), strerror(e));
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
  ix->seed = (uint32_t)o->seed;
  ix->layout = mo->layout == AGPT_MEGATRON_AUTO ? auto_layout(b) : mo->layout;
  ix->n_files = b->n_files;
  ix->files = agpt_xcalloc((size_t)b->n_files, sizeof *ix->files);
  ix->file_mem = agpt_xcalloc((size_t)b->n_files * 2, sizeof *ix->file_mem);
  int nf = b->n_files;
  int nthreads = o->threads > 0 ? o->threads : omp_get_max_threads();

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
#pragma omp parallel for schedule(dynamic, 1) num_threads(nthreads)
  for (int i = 0; i < nf; i++) {
    const agpt_indexed *ds = &b->files[i].ds;
    agpt_mt_file *f = &ix->files[i];
    agpt_split_range(ds->n_seqs, ratios, o->split_index, &f->doc_begin, &f->doc_end);
    uint64_t t = 0;
    for (uint64_t d = f->doc_begin; d < f->doc_end; d++) t += (uint64_t)(uint32_t)ds->sizes[d];
    f->tokens_per_epoch = t;
  }
  /* Phase 2: validation with messages. */
  agpt_status st = AGPT_OK;
  for (int i = 0; i < nf && st == AGPT_OK; i++) st = agpt_mt_file_plan(b->files[i].prefix, o->seq_len, &ix->files[i]);
  if (st != AGPT_OK) {
    free(normw);
    agpt_megatron_index_free(ix);
    return AGPT_ERR;
  }

  /* Blend weights, and how far each file's served prefix reaches. */
  double *topw = NULL;
  int top_n = 0;
  if (ix->layout == AGPT_MEGATRON_PLAIN && nf > 1) {
    top_n = nf;
    topw = agpt_xcalloc((size_t)nf, sizeof *topw);
    memcpy(topw, normw, (size_t)nf * sizeof *topw);
    for (int i = 0; i < nf; i++) ix->files[i].n_serve += serve_slack(nf);
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
      cp->shuffled = mo->shuffle_sample_in_corpus != 0;
      if (cp->blended) {
        blend_shape(&cp->blend, cp->n_files, cp->size);
        for (int k = 0; k < cp->n_files; k++) ix->files[cp->files[k]].n_serve += serve_slack(cp->n_files);
      }
      topw[c] = (double)cp->size / (double)total;
    }
    free(names);
  }
  for (int i = 0; i < nf; i++)
    if (ix->files[i].n_serve > ix->files[i].n_shuffle) ix->files[i].n_serve = ix->files[i].n_shuffle;
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
    blend_shape(&ix->top, top_n, ix->size);
  }
  free(normw);
  ix->topw = topw; /* kept to rebuild the blend if its cache section is damaged */
  ix->top_n = top_n;
  ix->n_sect = sect_count(ix);
  ix->view = agpt_xcalloc((size_t)ix->n_sect, sizeof *ix->view);
  ix->fixed = agpt_xcalloc((size_t)ix->n_sect, sizeof *ix->fixed);
  ix->fix_lock = agpt_xcalloc(1, sizeof *ix->fix_lock);
  int mrc = pthread_mutex_init(ix->fix_lock, NULL);
  AGPT_ASSERT(mrc == 0);

  /* A complete cache for the same description is mapped instead. */
  char *desc = NULL, *cpath = NULL;
  uint64_t *table = agpt_xcalloc((size_t)table_len(ix), sizeof *table);
  agpt_mt_cache_writer *w = NULL;
  if (o->cache_dir && *o->cache_dir) {
    desc = describe(ix, o, mo, ratios);
    cpath = agpt_mt_cache_path(o->cache_dir, desc);
    int found = 0;
    st = agpt_mt_cache_load(cpath, desc, table_len(ix), table, ix->n_sect, &ix->cache, &found);
    if (st == AGPT_OK && found) {
      char why[4600];
      if (attach_cache(ix, table, why, sizeof why)) {
        /* Counts of a cached blend come from the cache; the range check still holds them to the plan. */
        ix->from_cache = 1;
        st = check_ranges(ix);
        goto done;
      }
      agpt_log_warn("%s: %s; rebuilding it", cpath, why);
      agpt_mt_cache_close(&ix->cache);
    }
    if (st == AGPT_OK) st = agpt_mt_cache_begin(cpath, desc, table_len(ix), ix->n_sect, &w);
    if (st != AGPT_OK) goto done;
  }
  st = build_arrays(ix, mo, topw, top_n, nthreads, w, table);
  if (!w && st == AGPT_OK) view_memory(ix);
  if (w) {
    if (st == AGPT_OK) {
      st = agpt_mt_cache_commit(w, table);
    } else {
      agpt_mt_cache_abort(w);
    }
    if (st == AGPT_OK) {
      int found = 0;
      st = agpt_mt_cache_load(cpath, desc, table_len(ix), table, ix->n_sect, &ix->cache, &found);
      char why[4600] = "not found";
      if (st == AGPT_OK && (!found || !attach_cache(ix, table, why, sizeof why)))
        st = agpt_fail("%s: the index cache just written cannot be read back (%s)", cpath, why);
      ix->from_cache = 2;
    }
  }
done:
  free(table);
  free(desc);
  free(cpath);
  if (st != AGPT_OK) {
    agpt_megatron_index_free(ix);
    return AGPT_ERR;
  }
  *out = ix;
  return AGPT_OK;
}

void agpt_megatron_index_free(agpt_megatron_index *ix) {
  if (!ix) return;
  for (int i = 0; i < 2 * ix->n_files; i++) agpt_big_free(ix->file_mem[i]);
  free(ix->file_mem);
  free(ix->files);
  for (int c = 0; c < ix->n_corpora; c++) {
    mt_corpus *cp = &ix->corpora[c];
    free(cp->files);
    free(cp->start);
    blend_free(&cp->blend);
    if (cp->shuffle_owned) agpt_big_free((void *)cp->shuffle);
  }
  free(ix->corpora);
  blend_free(&ix->top);
  free(ix->topw);
  for (uint64_t k = 0; k < ix->n_sect; k++) agpt_big_free(ix->fixed[k]);
  free(ix->fixed);
  free((void *)ix->view);
  if (ix->fix_lock) pthread_mutex_destroy(ix->fix_lock);
  free(ix->fix_lock);
  agpt_mt_cache_close(&ix->cache);
  free(ix);
}

/* ---------- reading ---------- */

/* What a read of the served arrays comes to: done, retry (a damaged part
 * was just rebuilt), or failed with a message. */
enum { RD_OK = 0, RD_RETRY = 1, RD_ERR = -1 };

static int in_cache(const agpt_megatron_index *ix, const void *p) {
  const char *m = ix->cache.map.data;
  return m && (const char *)p >= m && (const char *)p < m + ix->cache.map.size;
}

static void publish(const agpt_megatron_index *ix, uint64_t k, void *p) {
  ix->fixed[k] = p;
  atomic_store_explicit(&ix->view[k], p, memory_order_release);
}

/* File i's two arrays, rebuilt in memory. */
static int repair_file(const agpt_megatron_index *ix, int i) {
  const agpt_mt_file *f = &ix->files[i];
  const char *prefix = ix->b->files[i].prefix;
  agpt_mt_scratch s = {0};
  int32_t *docs = NULL;
  uint32_t *samp = NULL;
  size_t bad = agpt_mt_file_arrays(&ix->b->files[i].ds, ix->seq_len, ix->seed, f, &s);
  uint64_t n_docs = bad ? 0 : agpt_mt_file_served_docs(f, &s);
  if (!bad && n_docs == f->n_docs) {
    docs = agpt_big_alloc((size_t)n_docs * sizeof *docs);
    samp = agpt_big_alloc((size_t)f->n_serve * 2 * sizeof *samp);
    if (docs && samp) {
      agpt_mt_file_docs(&s, 0, f->n_head, docs);
      agpt_mt_file_compose(f, &s, docs + f->n_head, samp);
    } else {
      bad = (size_t)n_docs * sizeof *docs + (size_t)f->n_serve * 2 * sizeof *samp;
    }
  }
  agpt_mt_scratch_free(&s);
  if (bad || n_docs != f->n_docs) {
    agpt_big_free(docs);
    agpt_big_free(samp);
    if (bad) agpt_fail("%s: out of memory allocating %llu bytes", prefix, (unsigned long long)bad);
    else
      agpt_fail("%s: the cache's table gives %llu served documents, the data files %llu", prefix,
                (unsigned long long)f->n_docs, (unsigned long long)n_docs);
    return RD_ERR;
  }
  publish(ix, sect_file(i, SECT_DOCS), docs);
  publish(ix, sect_file(i, SECT_SAMP), samp);
  return RD_RETRY;
}

/* Blend c's two arrays (c < 0: the top blend), rebuilt in memory. */
static int repair_blend(const agpt_megatron_index *ix, int c) {
  mt_blend m = {0};
  uint64_t k;
  if (c < 0) {
    blend_shape(&m, ix->top_n, ix->size);
    blend_build(ix->topw, ix->top_n, ix->size, &m);
    k = sect_top(ix, 0);
  } else {
    const mt_corpus *cp = &ix->corpora[c];
    blend_shape(&m, cp->n_files, cp->size);
    corpus_blend_build(cp, ix->files, &m);
    k = sect_corpus(ix, c, 0);
  }
  if (m.failed) {
    uint64_t bytes = m.failed_bytes;
    blend_free(&m);
    agpt_fail("out of memory allocating %llu bytes for the blend", (unsigned long long)bytes);
    return RD_ERR;
  }
  publish(ix, k + SECT_DI, m.di);
  publish(ix, k + SECT_SI, m.si);
  m.owned = 0;
  blend_free(&m);
  return RD_RETRY;
}

/* Rebuilds the part that section k belongs to (at most once: a part that
 * is in memory is not read from the cache again), logs the damage and
 * removes the cache file. Returns RD_RETRY, or RD_ERR with a message. */
static int repair(const agpt_megatron_index *ix, uint64_t k, const char *why) {
  pthread_mutex_lock(ix->fix_lock);
  int rc = RD_RETRY;
  if (!atomic_load_explicit(&ix->view[k], memory_order_acquire)) {
    char name[4400];
    sect_name(ix, k, name, sizeof name);
    uint64_t top = sect_top(ix, 0);
    if (k < top) {
      rc = repair_file(ix, (int)(k / SECT_PER_FILE));
    } else if (k < top + SECT_TOP) {
      rc = repair_blend(ix, -1);
    } else {
      int c = (int)((k - top - SECT_TOP) / SECT_PER_CORPUS);
      if ((k - top - SECT_TOP) % SECT_PER_CORPUS == SECT_SHUFFLE) {
        int64_t *a = corpus_shuffle_build(ix->corpora[c].size, ix->seed);
        if (a) publish(ix, k, a);
        else agpt_fail("out of memory for the corpus shuffle");
        rc = a ? RD_RETRY : RD_ERR;
      } else {
        rc = repair_blend(ix, c);
      }
    }
    int gone = agpt_mt_cache_discard(&ix->cache);
    if (rc == RD_RETRY)
      agpt_log_warn("%s: the index cache is damaged: section %s: %s; rebuilt that part from the data files%s",
                    ix->cache.path, name, why,
                    gone ? " and removed the cache file (the next run writes a new one)" : "");
    else
      agpt_fail_prefix("%s: the index cache is damaged: section %s: %s; %s; rebuilding that part failed: ",
                       ix->cache.path, name, why,
                       gone ? "the cache file has been removed, so the next run rebuilds it"
                            : "delete the cache file so that the next run rebuilds it");
  }
  pthread_mutex_unlock(ix->fix_lock);
  return rc;
}

/* Elements [i, i + n) of section k, esize bytes each: the section's first
 * element, once the bytes read are known good (checked against the cache's
 * sums the first time, or in memory); NULL with *rc when they were damaged
 * and the part has been rebuilt (retry) or could not be (error). */
static const void *sect_read(const agpt_megatron_index *ix, uint64_t k, size_t esize, uint64_t i, uint64_t n,
                             int *rc) {
  const void *p = atomic_load_explicit(&ix->view[k], memory_order_acquire);
  if (p) return p;
  if (agpt_mt_cache_check(&ix->cache, k, i * esize, (i + n) * esize)) return agpt_mt_cache_section(&ix->cache, k, NULL);
  *rc = repair(ix, k, "its checksum does not match");
  return NULL;
}

/* A value of section k, read at p, is out of range: damage when p lies in
 * the cache (its checksum matched a foreign value), a bug of ours when p is
 * an array built here. */
static int bad_value(const agpt_megatron_index *ix, uint64_t k, const void *p) {
  AGPT_ASSERT(in_cache(ix, p));
  return repair(ix, k, "it holds a value out of range");
}

/* Entry i of blend c (c < 0: the top blend): a dataset and a sample that
 * dataset serves. */
static int blend_read(const agpt_megatron_index *ix, int c, uint64_t i, int *dataset, uint64_t *sample) {
  const mt_blend *m = c < 0 ? &ix->top : &ix->corpora[c].blend;
  uint64_t kd = c < 0 ? sect_top(ix, SECT_DI) : sect_corpus(ix, c, SECT_DI), ks = kd + 1;
  int rc = RD_OK;
  const void *di = sect_read(ix, kd, (size_t)m->di_bytes, i, 1, &rc);
  if (!di) return rc;
  const void *si = sect_read(ix, ks, (size_t)m->si_bytes, i, 1, &rc);
  if (!si) return rc;
  uint64_t d, s;
  blend_value(m, di, si, i, &d, &s);
  if (d >= (uint64_t)m->n_datasets) return bad_value(ix, kd, di);
  uint64_t limit = c >= 0 ? ix->files[ix->corpora[c].files[d]].n_serve
                          : (ix->layout == AGPT_MEGATRON_PLAIN ? ix->files[d].n_serve : ix->corpora[d].size);
  if (s >= limit) return bad_value(ix, ks, si);
  *dataset = (int)d;
  *sample = s;
  return RD_OK;
}

/* Position j < size of corpus c -> (file's position in the corpus, sample). */
static int corpus_read(const agpt_megatron_index *ix, int c, uint64_t j, int *k, uint64_t *s) {
  const mt_corpus *cp = &ix->corpora[c];
  if (cp->shuffled) {
    uint64_t ksh = sect_corpus(ix, c, SECT_SHUFFLE);
    int rc = RD_OK;
    const int64_t *sh = sect_read(ix, ksh, sizeof *sh, j, 1, &rc);
    if (!sh) return rc;
    if (sh[j] < 0 || (uint64_t)sh[j] >= cp->size) return bad_value(ix, ksh, sh);
    j = (uint64_t)sh[j];
  }
  if (cp->blended) return blend_read(ix, c, j, k, s);
  corpus_concat_at(cp, j, k, s);
  return RD_OK;
}

/* Sample i < size of the blend -> (file, sample within the file's GPTDataset). */
static int locate(const agpt_megatron_index *ix, uint64_t i, int *file, uint64_t *s) {
  if (!ix->has_top) {
    *file = 0;
    *s = i;
    return RD_OK;
  }
  int d = 0;
  uint64_t j = 0;
  int rc = blend_read(ix, -1, i, &d, &j);
  if (rc != RD_OK) return rc;
  if (ix->layout == AGPT_MEGATRON_PLAIN) {
    *file = d;
    *s = j;
    return RD_OK;
  }
  int k = 0;
  rc = corpus_read(ix, d, j, &k, s);
  if (rc == RD_OK) *file = ix->corpora[d].files[k];
  return rc;
}

/* A file's two arrays disagree with each other or with the data files:
 * damage when either was read from the cache. */
static int bad_file(const agpt_megatron_index *ix, int fi, const void *samp, const void *docs) {
  AGPT_ASSERT(in_cache(ix, samp) || (docs && in_cache(ix, docs)));
  return repair(ix, sect_file(fi, SECT_DOCS), "it points outside the file's documents");
}

/* The start of sample s of file fi: position in docs, document, offset. */
static int sample_start(const agpt_megatron_index *ix, int fi, uint64_t s, uint64_t *pos, uint64_t *doc,
                        uint64_t *off, const uint32_t **samp_out, const int32_t **docs_out) {
  const agpt_mt_file *f = &ix->files[fi];
  uint64_t ks = sect_file(fi, SECT_SAMP), kd = sect_file(fi, SECT_DOCS);
  int rc = RD_OK;
  const uint32_t *samp = sect_read(ix, ks, sizeof *samp, 2 * s, 2, &rc);
  if (!samp) return rc;
  *pos = samp[2 * s];
  *off = samp[2 * s + 1];
  if (*pos >= f->n_docs) return bad_value(ix, ks, samp);
  const int32_t *docs = sect_read(ix, kd, sizeof *docs, *pos, 1, &rc);
  if (!docs) return rc;
  int64_t d = docs[*pos];
  if (d < (int64_t)f->doc_begin || d >= (int64_t)f->doc_end) return bad_value(ix, kd, docs);
  if (*off > (uint64_t)(uint32_t)ix->b->files[fi].ds.sizes[d]) return bad_file(ix, fi, samp, docs);
  *doc = (uint64_t)d;
  *samp_out = samp;
  *docs_out = docs;
  return RD_OK;
}

static int get_once(const agpt_megatron_index *ix, int fi, uint64_t s, int32_t *out) {
  const agpt_mt_file *f = &ix->files[fi];
  const agpt_indexed *ds = &ix->b->files[fi].ds;
  const uint32_t *samp = NULL;
  const int32_t *docs = NULL;
  uint64_t pos = 0, seq = 0, off = 0;
  int rc = sample_start(ix, fi, s, &pos, &seq, &off, &samp, &docs);
  if (rc != RD_OK) return rc;
  uint64_t want = (uint64_t)ix->seq_len + 1, got = 0;
  for (;;) {
    uint64_t len = (uint64_t)(uint32_t)ds->sizes[seq];
    if (off > len) return bad_file(ix, fi, samp, docs);
    uint64_t take = len - off < want - got ? len - off : want - got;
    agpt_indexed_read(ds, seq, off, take, out + got);
    got += take;
    if (got == want) return RD_OK;
    if (++pos >= f->n_docs) return bad_file(ix, fi, samp, docs);
    off = 0;
    docs = sect_read(ix, sect_file(fi, SECT_DOCS), sizeof *docs, pos, 1, &rc);
    if (!docs) return rc;
    int64_t d = docs[pos];
    if (d < (int64_t)f->doc_begin || d >= (int64_t)f->doc_end) return bad_value(ix, sect_file(fi, SECT_DOCS), docs);
    seq = (uint64_t)d;
  }
}

static agpt_status out_of_range(const agpt_megatron_index *ix, uint64_t i) {
  return agpt_fail("megatron index: sample %llu is out of range (the index holds %llu samples)", (unsigned long long)i,
                   (unsigned long long)ix->size);
}

agpt_status agpt_megatron_index_get(const agpt_megatron_index *ix, uint64_t i, int32_t *out) {
  if (i >= ix->size) return out_of_range(ix, i);
  for (;;) { /* each retry follows the repair of another part: there are finitely many */
    int fi = 0;
    uint64_t s = 0;
    int rc = locate(ix, i, &fi, &s);
    if (rc == RD_OK) {
      if (ix->b->files[fi].ds.meta_only)
        return agpt_fail("%s: megatron index: opened without its .bin, so tokens cannot be read (open the blend with "
                         "data)",
                         ix->b->files[fi].prefix);
      rc = get_once(ix, fi, s, out);
    }
    if (rc == RD_OK) return AGPT_OK;
    if (rc == RD_ERR) return AGPT_ERR;
  }
}

agpt_status agpt_megatron_index_origin(const agpt_megatron_index *ix, uint64_t i, agpt_sample_origin *out) {
  if (i >= ix->size) return out_of_range(ix, i);
  for (;;) {
    int fi = 0;
    uint64_t s = 0, pos = 0, doc = 0, off = 0;
    const uint32_t *samp = NULL;
    const int32_t *docs = NULL;
    int rc = locate(ix, i, &fi, &s);
    if (rc == RD_OK) rc = sample_start(ix, fi, s, &pos, &doc, &off, &samp, &docs);
    if (rc == RD_OK) {
      out->file = fi;
      out->corpus = ix->b->files[fi].corpus;
      out->doc = doc;
      out->offset = off;
      return AGPT_OK;
    }
    if (rc == RD_ERR) return AGPT_ERR;
  }
}

/* ---------- inspection ---------- */

uint64_t agpt_megatron_index_size(const agpt_megatron_index *ix) { return ix->size; }

agpt_megatron_layout agpt_megatron_index_layout(const agpt_megatron_index *ix) { return ix->layout; }

int agpt_megatron_index_from_cache(const agpt_megatron_index *ix) { return ix->from_cache; }

agpt_status agpt_megatron_index_file_arrays(const agpt_megatron_index *ix, int file, agpt_megatron_file_arrays *out) {
  memset(out, 0, sizeof *out);
  if (file < 0 || file >= ix->n_files)
    return agpt_fail("megatron index: file %d is out of range (the blend has %d files)", file, ix->n_files);
  const agpt_mt_file *f = &ix->files[file];
  agpt_mt_scratch s = {0};
  size_t bad = agpt_mt_file_arrays(&ix->b->files[file].ds, ix->seq_len, ix->seed, f, &s);
  if (bad) {
    agpt_mt_scratch_free(&s);
    return agpt_fail("%s: megatron index: out of memory allocating %llu bytes", ix->b->files[file].prefix,
                     (unsigned long long)bad);
  }
  out->doc_begin = f->doc_begin;
  out->doc_end = f->doc_end;
  out->num_samples = f->num_samples;
  out->tokens_per_epoch = f->tokens_per_epoch;
  out->num_epochs = f->num_epochs;
  out->separate_last_epoch = f->separate_last_epoch;
  out->doc_idx = agpt_big_alloc((size_t)f->n_doc_idx * sizeof *out->doc_idx);
  if (!out->doc_idx) {
    agpt_mt_scratch_free(&s);
    return agpt_fail("%s: megatron index: out of memory for doc_idx", ix->b->files[file].prefix);
  }
  agpt_mt_file_docs(&s, 0, f->n_doc_idx, out->doc_idx);
  agpt_big_free(s.pair);
  out->n_doc_idx = f->n_doc_idx;
  out->sample_idx = s.rows;
  out->n_sample_idx = f->n_shuffle + 1;
  out->shuffle_idx = s.shuf;
  out->n_shuffle = f->n_shuffle;
  out->n_serve = f->n_serve;
  out->n_served_docs = f->n_docs;
  return AGPT_OK;
}

void agpt_megatron_file_arrays_free(agpt_megatron_file_arrays *a) {
  agpt_big_free(a->doc_idx);
  agpt_big_free(a->sample_idx);
  agpt_big_free(a->shuffle_idx);
  memset(a, 0, sizeof *a);
}

agpt_status agpt_megatron_index_blend_at(const agpt_megatron_index *ix, uint64_t i, int *dataset, uint64_t *sample) {
  if (!ix->has_top) return agpt_fail("megatron index: a single file has no blend");
  if (i >= ix->top.size)
    return agpt_fail("megatron index: blend position %llu is out of range (%llu)", (unsigned long long)i,
                     (unsigned long long)ix->top.size);
  for (;;) {
    int rc = blend_read(ix, -1, i, dataset, sample);
    if (rc != RD_RETRY) return rc == RD_OK ? AGPT_OK : AGPT_ERR;
  }
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
  for (;;) {
    int rc = corpus_read(ix, c, i, file_in_corpus, sample);
    if (rc != RD_RETRY) return rc == RD_OK ? AGPT_OK : AGPT_ERR;
  }
}

const int64_t *agpt_megatron_index_corpus_shuffle(const agpt_megatron_index *ix, int c) {
  if (c < 0 || c >= ix->n_corpora || !ix->corpora[c].shuffled) return NULL;
  for (;;) {
    int rc = RD_OK;
    const int64_t *p = sect_read(ix, sect_corpus(ix, c, SECT_SHUFFLE), sizeof *p, 0, ix->corpora[c].size, &rc);
    if (p || rc == RD_ERR) return p;
  }
}
