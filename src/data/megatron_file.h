/* One file's GPTDataset in Megatron's `megatron` index mode: the plan
 * (_build_index_mappings' arithmetic), Megatron's three arrays (document,
 * sample and shuffle index) built exactly into reusable scratch, and the
 * compact form the index serves samples from.
 *
 * The served form keeps what the blend can reach and nothing else. The
 * blend draws a prefix s < n_serve of the file's shuffle index; sample
 * k = shuffle_idx[s] starts at row k of the sample index, a (document
 * position, token offset) pair, and reads seq_len + 1 tokens of the
 * documents doc_idx[pos], doc_idx[pos + 1], ... So the index stores
 *   samp[2s], samp[2s + 1]: the start row of the s-th drawn sample, and
 *   docs: the document index at every position such a walk can touch.
 * Without a separate last epoch that is doc_idx itself. With one, the
 * drawn samples of the last epoch are few (the last epoch is separate
 * exactly when it is less than 80% used) and scattered, so docs holds
 * doc_idx over the first epochs, then for each drawn last-epoch sample a
 * copy of the run of documents it spans, and that sample's row points into
 * its copy. Either way the walk from (docs[pos], off) reads the very tokens
 * Megatron's sample reads.
 *
 * Types: positions and offsets are uint32 (as Megatron-DeepSpeed's helpers
 * store them), so a file's doc_idx must stay below 2^32 entries and its
 * sample count below 2^32 - 1; the plan refuses larger ones by name. */
#ifndef AGPT_DATA_MEGATRON_FILE_H
#define AGPT_DATA_MEGATRON_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "data/indexed.h"

typedef struct {
  /* The plan. */
  uint64_t doc_begin, doc_end; /* the split's documents */
  uint64_t num_samples;        /* samples asked of this file */
  uint64_t tokens_per_epoch;
  int num_epochs, separate_last_epoch;
  uint64_t samples_first; /* shuffle index: first part (all samples, or those of the first E-1 epochs) */
  uint64_t n_doc_idx;     /* num_epochs * documents */
  uint64_t n_shuffle;     /* samples in all epochs; the sample index has n_shuffle + 1 rows */
  uint64_t n_serve;       /* drawn prefix of the shuffle index the index serves */
  uint64_t n_head;        /* doc_idx positions stored verbatim at the start of docs */
  uint64_t n_docs;        /* length of the served docs array (the arrays live in the index's storage) */
} agpt_mt_file;

/* Per-thread scratch, grown on demand and reused from file to file so a
 * build touches fresh pages only for what it keeps. */
typedef struct {
  uint32_t *rows; /* (n_shuffle + 1, 2) */
  uint32_t *shuf; /* (n_shuffle) */
  uint64_t *pair; /* (n_doc_idx) size << 32 | document, shuffled */
  size_t rows_cap, shuf_cap, pair_cap;
} agpt_mt_scratch;

void agpt_mt_scratch_free(agpt_mt_scratch *s);

/* Fills the plan of f from doc_begin, doc_end, num_samples and
 * tokens_per_epoch (set by the caller); fails naming the file. n_serve
 * is set to num_samples; the caller may widen it (to at most n_shuffle). */
agpt_status agpt_mt_file_plan(const char *prefix, int seq_len, agpt_mt_file *f);

/* Megatron's doc_idx (as the low halves of s->pair), sample_idx and
 * shuffle_idx of f into s, drawing from numpy's RandomState(seed) in
 * Megatron's order. Returns 0, or the bytes of a failed allocation
 * (callable from any thread; records no message). */
size_t agpt_mt_file_arrays(const agpt_indexed *ds, int seq_len, uint32_t seed, const agpt_mt_file *f,
                           agpt_mt_scratch *s);

/* doc_idx[from .. from + n) into out. */
void agpt_mt_file_docs(const agpt_mt_scratch *s, uint64_t from, uint64_t n, int32_t *out);

/* Length of the served docs array, from the arrays in s. */
uint64_t agpt_mt_file_served_docs(const agpt_mt_file *f, const agpt_mt_scratch *s);

/* The served arrays: docs is doc_idx[0..n_head) (agpt_mt_file_docs)
 * followed by the runs this writes (agpt_mt_file_served_docs - n_head
 * entries); samp gets 2 * n_serve entries. */
void agpt_mt_file_compose(const agpt_mt_file *f, const agpt_mt_scratch *s, int32_t *runs, uint32_t *samp);

#endif
