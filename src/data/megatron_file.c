/* One file's GPTDataset arrays (megatron_file.h): the plan, Megatron's
 * arrays in reusable scratch, and the compact served form.
 *
 * Invariants:
 *   I1. The draws follow one RandomState(seed): the document shuffle(s)
 *       first, then the shuffle-index shuffle(s), as Megatron draws them.
 *   I2. Row r of the sample index is where token r * seq_len of the
 *       doc_idx stream lies: (position, offset) of the document holding it.
 *       Sample r reads tokens r * seq_len .. (r + 1) * seq_len, so rows r
 *       and r + 1 bound it (Megatron's helpers walk to the same place).
 *   I3. A served row points at docs so that the walk from it meets the
 *       same documents as the walk from Megatron's row over doc_idx. */
#include "data/megatron_file.h"

#include <stdlib.h>
#include <string.h>

#include "data/mt19937.h"

void agpt_mt_scratch_free(agpt_mt_scratch *s) {
  free(s->doc);
  free(s->rows);
  free(s->shuf);
  memset(s, 0, sizeof *s);
}

agpt_status agpt_mt_file_plan(const char *prefix, int seq_len, agpt_mt_file *f) {
  uint64_t nd = f->doc_end - f->doc_begin;
  if (nd == 0)
    return agpt_fail("%s: split: this file has no documents in the requested split (use a larger file or change --split)",
                     prefix);
  if (f->doc_end > (uint64_t)INT32_MAX + 1)
    return agpt_fail("%s: number of sequences: %llu exceeds Megatron's int32 document index (split the file)", prefix,
                     (unsigned long long)f->doc_end);
  uint64_t T = f->tokens_per_epoch, S = (uint64_t)seq_len, N = f->num_samples;
  if (T < 2)
    return agpt_fail("%s: sizes: the split holds %llu tokens; a sample index needs at least 2 (check the file)", prefix,
                     (unsigned long long)T);
  if (N > (UINT64_MAX / 2) / S)
    return agpt_fail("%s: num_samples: %llu samples overflow (ask for fewer)", prefix, (unsigned long long)N);
  /* Smallest E with (E*T - 1) // S >= N, i.e. E*T >= N*S + 1. */
  uint64_t need = N * S + 1;
  uint64_t E = (need + T - 1) / T;
  if (E < 1) E = 1;
  if (E > INT32_MAX || E > UINT64_MAX / T || E * nd >= ((uint64_t)1 << 32))
    return agpt_fail("%s: epochs: %llu epochs of %llu documents exceed the 2^32 entries of a 32-bit document index "
                     "(ask for fewer samples, add data or split the file)",
                     prefix, (unsigned long long)E, (unsigned long long)nd);
  uint64_t total = (E * T - 1) / S;
  if (total >= (uint64_t)UINT32_MAX - 1)
    return agpt_fail("%s: samples: %llu samples in %llu epochs exceed a 32-bit sample index (split the file)", prefix,
                     (unsigned long long)total, (unsigned long long)E);
  f->num_epochs = (int)E;
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
  f->n_shuffle = total;
  f->n_serve = N;
  f->n_head = f->separate_last_epoch ? (E - 1) * nd : E * nd;
  return AGPT_OK;
}

static size_t grow(void **p, size_t *cap, size_t bytes) {
  if (*cap >= bytes) return 0;
  free(*p);
  *p = malloc(bytes ? bytes : 1);
  *cap = *p ? bytes : 0;
  return *p ? 0 : bytes;
}

/* Rows of the sample index (I2): one pass over doc_idx positions, emitting
 * a row whenever the next multiple of seq_len falls in the document. The
 * sizes are gathered a block at a time first: those loads are random (the
 * documents are shuffled) but independent, and a loop without the emit
 * branch lets them all be in flight at once. */
#define ROWS_BLOCK 2048
static void sample_rows(const agpt_i32_unaligned *sizes, const int32_t *doc, uint64_t n_doc, uint64_t S, uint64_t n_rows,
                        uint32_t *rows) {
  uint32_t g[ROWS_BLOCK];
  uint64_t r = 0, next = 0, c = 0; /* next row, its token, tokens before position p */
  for (uint64_t p0 = 0; p0 < n_doc && r < n_rows; p0 += ROWS_BLOCK) {
    uint64_t m = n_doc - p0 < ROWS_BLOCK ? n_doc - p0 : ROWS_BLOCK;
    const int32_t *d = doc + p0;
    for (uint64_t j = 0; j < m; j++) g[j] = (uint32_t)sizes[d[j]];
    for (uint64_t j = 0; j < m && r < n_rows; j++) {
      uint64_t end = c + g[j];
      while (next < end && r < n_rows) {
        rows[2 * r] = (uint32_t)(p0 + j);
        rows[2 * r + 1] = (uint32_t)(next - c);
        r++;
        next += S;
      }
      c = end;
    }
  }
  AGPT_ASSERT(r == n_rows);
}

size_t agpt_mt_file_arrays(const agpt_indexed *ds, int seq_len, uint32_t seed, const agpt_mt_file *f,
                           agpt_mt_scratch *s) {
  size_t bad;
  if ((bad = grow((void **)&s->doc, &s->doc_cap, (size_t)f->n_doc_idx * sizeof *s->doc))) return bad;
  if ((bad = grow((void **)&s->rows, &s->rows_cap, (size_t)(f->n_shuffle + 1) * 2 * sizeof *s->rows))) return bad;
  if ((bad = grow((void **)&s->shuf, &s->shuf_cap, (size_t)f->n_shuffle * sizeof *s->shuf))) return bad;
  uint64_t nd = f->doc_end - f->doc_begin;
  int32_t *doc = s->doc;
  for (uint64_t k = 0; k < nd; k++) doc[k] = (int32_t)(f->doc_begin + k);
  for (int e = 1; e < f->num_epochs; e++) memcpy(doc + (uint64_t)e * nd, doc, (size_t)nd * sizeof *doc);
  agpt_mt19937 rng;
  agpt_mt19937_seed(&rng, seed);
  if (!f->separate_last_epoch) {
    agpt_mt19937_shuffle_i32(&rng, doc, f->n_doc_idx);
  } else {
    agpt_mt19937_shuffle_i32(&rng, doc, f->n_head);
    agpt_mt19937_shuffle_i32(&rng, doc + f->n_head, nd);
  }
  sample_rows(ds->sizes, doc, f->n_doc_idx, (uint64_t)seq_len, f->n_shuffle + 1, s->rows);
  uint32_t *a = s->shuf;
  uint64_t n = f->n_shuffle, first = f->samples_first;
  for (uint64_t i = 0; i < n; i++) a[i] = (uint32_t)i;
  agpt_mt19937_shuffle_u32(&rng, a, first);
  if (first < n) agpt_mt19937_shuffle_u32(&rng, a + first, n - first);
  return 0;
}

/* A drawn sample k of the separate last epoch (k >= samples_first) is
 * served from a copy of its run: positions rows[k].pos .. rows[k+1].pos. */
static inline int served_from_run(const agpt_mt_file *f, uint64_t k) {
  return f->separate_last_epoch && k >= f->samples_first;
}

uint64_t agpt_mt_file_served_docs(const agpt_mt_file *f, const agpt_mt_scratch *s) {
  uint64_t n = f->n_head;
  for (uint64_t j = 0; j < f->n_serve; j++) {
    uint64_t k = s->shuf[j];
    if (served_from_run(f, k)) n += (uint64_t)s->rows[2 * k + 2] - s->rows[2 * k] + 1;
  }
  return n;
}

void agpt_mt_file_compose(const agpt_mt_file *f, const agpt_mt_scratch *s, int32_t *docs, uint32_t *samp) {
  memcpy(docs, s->doc, (size_t)f->n_head * sizeof *docs);
  uint64_t at = f->n_head;
  for (uint64_t j = 0; j < f->n_serve; j++) {
    uint64_t k = s->shuf[j];
    uint32_t pos = s->rows[2 * k], off = s->rows[2 * k + 1];
    if (served_from_run(f, k)) {
      uint64_t len = (uint64_t)s->rows[2 * k + 2] - pos + 1;
      memcpy(docs + at, s->doc + pos, (size_t)len * sizeof *docs);
      pos = (uint32_t)at;
      at += len;
    }
    samp[2 * j] = pos;
    samp[2 * j + 1] = off;
  }
}
