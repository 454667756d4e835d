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

#include "core/bigmem.h"
#include "data/mt19937.h"

void agpt_mt_scratch_free(agpt_mt_scratch *s) {
  agpt_big_free(s->rows);
  agpt_big_free(s->shuf);
  agpt_big_free(s->pair);
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

/* Rows of the sample index (I2): one pass over doc_idx positions, emitting
 * a row whenever the next multiple of seq_len falls in the document. Each
 * position holds (size << 32 | document), shuffled together, so the sizes
 * are read in order: gathering them after the shuffle would be one random
 * load per position, which at 10^9 positions costs more than the wider
 * swaps do. */
static void sample_rows(const uint64_t *pair, uint64_t n_doc, uint64_t S, uint64_t n_rows, uint32_t *rows) {
  uint64_t r = 0, next = 0, c = 0; /* next row, its token, tokens before position p */
  /* The common case, a document holding at most one row start, runs
   * without a data-dependent branch: the row is written at r whether it is
   * due or not (a write that is not due is overwritten by the next one),
   * and r advances by the comparison. */
  for (uint64_t p = 0; p < n_doc; p++) {
    uint64_t end = c + (pair[p] >> 32);
    rows[2 * r] = (uint32_t)p;
    rows[2 * r + 1] = (uint32_t)(next - c);
    uint64_t due = next < end;
    r += due;
    next += due * S;
    if (__builtin_expect(r == n_rows, 0)) break;
    while (next < end) { /* a document longer than seq_len */
      rows[2 * r] = (uint32_t)p;
      rows[2 * r + 1] = (uint32_t)(next - c);
      next += S;
      if (++r == n_rows) break;
    }
    if (r == n_rows) break;
    c = end;
  }
  AGPT_ASSERT(r == n_rows);
}

size_t agpt_mt_file_arrays(const agpt_indexed *ds, int seq_len, uint32_t seed, const agpt_mt_file *f,
                           agpt_mt_scratch *s) {
  size_t bad;
  if ((bad = agpt_big_grow((void **)&s->pair, &s->pair_cap, (size_t)f->n_doc_idx * sizeof *s->pair))) return bad;
  if ((bad = agpt_big_grow((void **)&s->rows, &s->rows_cap, (size_t)(f->n_shuffle + 1) * 2 * sizeof *s->rows))) return bad;
  if ((bad = agpt_big_grow((void **)&s->shuf, &s->shuf_cap, (size_t)f->n_shuffle * sizeof *s->shuf))) return bad;
  uint64_t nd = f->doc_end - f->doc_begin;
  uint64_t *pair = s->pair;
  for (uint64_t k = 0; k < nd; k++)
    pair[k] = (uint64_t)(uint32_t)ds->sizes[f->doc_begin + k] << 32 | (uint32_t)(f->doc_begin + k);
  for (int e = 1; e < f->num_epochs; e++) memcpy(pair + (uint64_t)e * nd, pair, (size_t)nd * sizeof *pair);
  /* numpy's shuffle draws depend on the length alone, so shuffling the
   * pairs permutes the documents exactly as shuffling doc_idx would. */
  agpt_mt19937 rng;
  agpt_mt19937_seed(&rng, seed);
  if (!f->separate_last_epoch) {
    agpt_mt19937_shuffle_i64(&rng, (int64_t *)pair, f->n_doc_idx);
  } else {
    agpt_mt19937_shuffle_i64(&rng, (int64_t *)pair, f->n_head);
    agpt_mt19937_shuffle_i64(&rng, (int64_t *)pair + f->n_head, nd);
  }
  sample_rows(pair, f->n_doc_idx, (uint64_t)seq_len, f->n_shuffle + 1, s->rows);
  uint32_t *a = s->shuf;
  uint64_t n = f->n_shuffle, first = f->samples_first;
  for (uint64_t i = 0; i < n; i++) a[i] = (uint32_t)i;
  agpt_mt19937_shuffle_u32(&rng, a, first);
  if (first < n) agpt_mt19937_shuffle_u32(&rng, a + first, n - first);
  return 0;
}

void agpt_mt_file_docs(const agpt_mt_scratch *s, uint64_t from, uint64_t n, int32_t *out) {
  const uint64_t *pair = s->pair + from;
  for (uint64_t p = 0; p < n; p++) out[p] = (int32_t)(uint32_t)pair[p];
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

void agpt_mt_file_compose(const agpt_mt_file *f, const agpt_mt_scratch *s, int32_t *runs, uint32_t *samp) {
  uint64_t at = 0;
  for (uint64_t j = 0; j < f->n_serve; j++) {
    uint64_t k = s->shuf[j];
    uint32_t pos = s->rows[2 * k], off = s->rows[2 * k + 1];
    if (served_from_run(f, k)) {
      uint64_t len = (uint64_t)s->rows[2 * k + 2] - pos + 1;
      agpt_mt_file_docs(s, pos, len, runs + at);
      pos = (uint32_t)(f->n_head + at);
      at += len;
    }
    samp[2 * j] = pos;
    samp[2 * j + 1] = off;
  }
}
