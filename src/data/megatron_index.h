/* The `megatron` sample-index mode: the document, sample, shuffle and
 * blending indices that Megatron-DeepSpeed builds for the same files, split,
 * sequence length, sample count and seed, element for element, built in C
 * with one thread per file and numpy's exact MT19937 stream.
 *
 * Two layouts, as the field has them:
 *
 *   PLAIN   Megatron's `--data-path [w1] p1 [w2 p2 ...]`: one GPTDataset per
 *           file; with more than one file a BlendableDataset over the files
 *           (weights normalized, per-file samples ceil(N * w * 1.005), size
 *           the sum of those).
 *   CORPUS  The AuroraGPT `--data-file-list` (argonne-lcf fork): one
 *           GPTDataset per file with ceil(N * w * 1.005) samples; the files
 *           of a corpus form a corpus dataset (concatenated in list order, or
 *           blended by sample counts with blend_sample_in_corpus, then
 *           optionally shuffled with shuffle_sample_in_corpus); the corpora,
 *           sorted by name as Python's sorted() does, are blended with
 *           weights (corpus samples / total samples) into a dataset of the
 *           sum of all per-file sample counts.
 *
 * Sample i of the blend resolves as the Python code does: blend ->
 * (corpus dataset ->) file sample j -> shuffle_idx[j] -> rows k, k+1 of
 * sample_idx -> pieces of documents doc_idx[...] -> seq_len + 1 tokens.
 *
 * Promises: every sample equals Megatron's, and every array does (doc_idx
 * int32, sample_idx uint32 pairs and shuffle_idx uint32 as Megatron-
 * DeepSpeed's helpers store them; files beyond 32-bit indices are refused by
 * name; blend indices in the smallest type that holds them); the build is a
 * pure function of (blend, options); with o->cache_dir the served arrays
 * are written to a cache file there and mapped, and a later build with the
 * same description maps that file instead of building (without reading its
 * data: every byte is checked against the file's checksums when a read
 * first touches it); a damaged cache never serves a wrong sample: damage
 * found while opening rebuilds the file, damage found later rebuilds the
 * damaged part in memory from the data files, logs the file and section
 * and removes the file for the next run to rebuild; a built index is
 * read-only apart from those repairs and safe for concurrent readers. */
#ifndef AGPT_DATA_MEGATRON_INDEX_H
#define AGPT_DATA_MEGATRON_INDEX_H

#include <stdint.h>

#include "core/status.h"
#include "data/blend.h"
#include "data/sample_index.h"

typedef enum {
  AGPT_MEGATRON_AUTO = 0, /* PLAIN for a --data-path blend, CORPUS for a data-file-list (by agpt_blend.source;
                             without a source: PLAIN when every file is its own corpus named by its prefix) */
  AGPT_MEGATRON_PLAIN = 1,
  AGPT_MEGATRON_CORPUS = 2,
} agpt_megatron_layout;

typedef struct {
  agpt_megatron_layout layout;
  int blend_sample_in_corpus;   /* --blend-sample-in-corpus (CORPUS layout) */
  int shuffle_sample_in_corpus; /* --shuffle-sample-in-corpus (CORPUS layout) */
} agpt_megatron_opts;

typedef struct agpt_megatron_index agpt_megatron_index;

/* Builds with layout AUTO and both corpus flags off (Megatron's defaults).
 * b must be opened (meta_only is enough for building; reading tokens needs
 * the .bin). b must outlive *out. *out is owned by the caller. */
agpt_status agpt_megatron_index_build(const agpt_blend *b, const agpt_index_opts *o, agpt_megatron_index **out);
/* The same with explicit Megatron options (mo may be NULL for the defaults). */
agpt_status agpt_megatron_index_build_ex(const agpt_blend *b, const agpt_index_opts *o, const agpt_megatron_opts *mo,
                                         agpt_megatron_index **out);
/* Writes the seq_len + 1 tokens of sample i (i < agpt_megatron_index_size)
 * into out. Needs the blend opened with its .bin files. */
agpt_status agpt_megatron_index_get(const agpt_megatron_index *ix, uint64_t i, int32_t *out);
agpt_status agpt_megatron_index_origin(const agpt_megatron_index *ix, uint64_t i, agpt_sample_origin *out);
void agpt_megatron_index_free(agpt_megatron_index *ix);

/* Samples the index serves: o->num_samples for one file, else the sum of
 * the per-file sample counts (Megatron's blend size, >= o->num_samples). */
uint64_t agpt_megatron_index_size(const agpt_megatron_index *ix);
/* The layout actually built (PLAIN or CORPUS). */
agpt_megatron_layout agpt_megatron_index_layout(const agpt_megatron_index *ix);

/* Whether the arrays came from the cache: 0 built in memory, 1 mapped an
 * existing cache file, 2 built and written to the cache in this call. */
int agpt_megatron_index_from_cache(const agpt_megatron_index *ix);

/* Megatron's full arrays of one file's GPTDataset, rebuilt on demand (the
 * index itself keeps only the served form, megatron_file.h), for tests and
 * inspection. The arrays are owned by *out: free with
 * agpt_megatron_file_arrays_free. */
typedef struct {
  uint64_t doc_begin, doc_end; /* the split's documents (sequences) */
  uint64_t num_samples;        /* samples asked of this file */
  uint64_t tokens_per_epoch;
  int num_epochs;
  int separate_last_epoch;
  int32_t *doc_idx;      /* (n_doc_idx) */
  uint64_t n_doc_idx;    /* num_epochs * (doc_end - doc_begin) */
  uint32_t *sample_idx;  /* (n_sample_idx, 2): position in doc_idx, token offset */
  uint64_t n_sample_idx; /* rows: samples in all epochs + 1 */
  uint32_t *shuffle_idx; /* (n_shuffle) */
  uint64_t n_shuffle;    /* n_sample_idx - 1 */
  uint64_t n_serve;      /* the prefix of shuffle_idx the index serves */
  uint64_t n_served_docs;
} agpt_megatron_file_arrays;
agpt_status agpt_megatron_index_file_arrays(const agpt_megatron_index *ix, int file, agpt_megatron_file_arrays *out);
void agpt_megatron_file_arrays_free(agpt_megatron_file_arrays *a);

/* Levels of blending, as values (the stored types are compact):
 *   level 0, the top BlendableDataset: i < size -> (dataset, sample). Its
 *     datasets are files (PLAIN) or corpora in sorted-name order (CORPUS).
 *   level 1 (CORPUS only), corpus c's dataset: i < corpus size ->
 *     (file's position within the corpus, sample) after the corpus shuffle,
 *     i.e. (dataset_index[shuffle_index[i]], dataset_sample_index[shuffle_index[i]]).
 * Single-file PLAIN has no blend (level 0 fails). */
agpt_status agpt_megatron_index_blend_at(const agpt_megatron_index *ix, uint64_t i, int *dataset, uint64_t *sample);
int agpt_megatron_index_n_corpora(const agpt_megatron_index *ix);
/* Corpus c (0-based in sorted-name order): its name (owned by the blend),
 * its size, and its files (indices into the blend's files, list order). */
agpt_status agpt_megatron_index_corpus(const agpt_megatron_index *ix, int c, const char **name, uint64_t *size,
                                       const int **files, int *n_files);
agpt_status agpt_megatron_index_corpus_at(const agpt_megatron_index *ix, int c, uint64_t i, int *file_in_corpus,
                                          uint64_t *sample);
/* Raw corpus shuffle (np.arange(size) after the optional shuffle); NULL when
 * not shuffled (identity). */
const int64_t *agpt_megatron_index_corpus_shuffle(const agpt_megatron_index *ix, int c);

#endif
