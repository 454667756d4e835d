/* Sample indices: global sample number -> seq_length+1 tokens of one split.
 *
 * Two modes share this interface. `fast` (default) builds nothing large: a
 * sample is located by arithmetic on the .idx pointers, a bijective
 * permutation and a small blend pattern. `megatron` builds the document,
 * sample, shuffle and blending indices exactly as Megatron-DeepSpeed does for
 * the same files, split, sequence length, sample count and seed. Either way
 * the data order is a pure function of (files, options, sample number). */
#ifndef AGPT_DATA_SAMPLE_INDEX_H
#define AGPT_DATA_SAMPLE_INDEX_H

#include <stdint.h>

#include "core/status.h"
#include "data/blend.h"

typedef enum { AGPT_INDEX_FAST = 0, AGPT_INDEX_MEGATRON = 1 } agpt_index_mode;

typedef struct {
  agpt_index_mode mode;
  const char *split;    /* "990,10,0" style ratios over documents */
  int split_index;      /* 0 train, 1 valid, 2 test */
  int seq_len;          /* tokens per sample; a sample reads seq_len + 1 */
  uint64_t num_samples; /* samples the run will draw from this split */
  uint64_t seed;
  const char *cache_dir; /* megatron mode: where built arrays may be cached (NULL: none) */
  int blend_sample_in_corpus;   /* megatron mode, data-file-list: blend a corpus's files by their sample counts */
  int shuffle_sample_in_corpus; /* megatron mode, data-file-list: shuffle each corpus's samples */
  int threads;           /* building threads (0: OpenMP default) */
} agpt_index_opts;

typedef struct agpt_sample_index agpt_sample_index;

/* Builds the index for an opened blend. *out is owned by the caller. */
agpt_status agpt_sample_index_build(const agpt_blend *b, const agpt_index_opts *o, agpt_sample_index **out);
/* Writes the seq_len + 1 tokens of sample i (0 <= i < num_samples) into out.
 * Thread-safe for concurrent readers. */
agpt_status agpt_sample_index_get(const agpt_sample_index *ix, uint64_t i, int32_t *out);
/* Where sample i comes from, for inspection and tests. */
typedef struct {
  int file;        /* index into the blend's files */
  int corpus;
  uint64_t doc;    /* first document (sequence) the sample touches */
  uint64_t offset; /* token offset within that document */
} agpt_sample_origin;
agpt_status agpt_sample_index_origin(const agpt_sample_index *ix, uint64_t i, agpt_sample_origin *out);
void agpt_sample_index_free(agpt_sample_index *ix);

#endif
