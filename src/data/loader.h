/* The training data loader: a blend, the sample index of its train split,
 * and a background thread that reads the micro-batches this data-parallel
 * rank will ask for next into a small ring, so that a training step finds
 * its batch ready instead of waiting on the file system.
 *
 * Order: Megatron's pretraining sampler. Samples are taken sequentially
 * from `consumed_samples`; a window of micro_batch * dp_size samples feeds
 * one micro-batch on every rank, rank r taking [r*mb, (r+1)*mb) of it; a
 * global batch is grad_accum = global_batch / (mb * dp_size) windows. The
 * only resume state is the number of consumed samples.
 *
 * Shapes: B = micro_batch, T = seq_len. A sample is T + 1 tokens; tokens =
 * sample[:-1], labels = sample[1:].
 *
 * Threading: agpt_loader_next/seek/consumed/close are called from one
 * thread (the training loop); the prefetch thread is internal. */
#ifndef AGPT_DATA_LOADER_H
#define AGPT_DATA_LOADER_H

#include <stdint.h>

#include "core/status.h"
#include "data/blend.h"
#include "data/sample_index.h"

typedef struct {
  const char *data_file_list; /* --data-file-list path, or NULL */
  int n_data_path;            /* --data-path words, used when data_file_list is NULL */
  char **data_path;
  const char *split;          /* --split, NULL: "969,30,1" (Megatron's default) */
  agpt_index_mode index_mode; /* --index-mode fast|megatron */
  int seq_len;                /* T */
  int micro_batch;            /* B, per rank */
  int global_batch;           /* a multiple of micro_batch * dp_size */
  int dp_rank, dp_size;
  uint64_t num_samples;       /* train samples of the run: train_iters * global_batch */
  uint64_t seed;
  int prefetch;               /* micro-batches read ahead; 0: 4 */
  const char *cache_dir;      /* --data-cache-path (megatron mode), or NULL */
  int blend_sample_in_corpus, shuffle_sample_in_corpus; /* megatron mode options of the same names */
  uint64_t consumed_samples;  /* start here (resume) */
} agpt_loader_config;

typedef struct agpt_loader agpt_loader;

/* Parses and opens the blend, builds the train index, starts the prefetch
 * thread. Errors name the flag or file at fault. *out is owned by the
 * caller (agpt_loader_close). */
agpt_status agpt_loader_open(const agpt_loader_config *cfg, agpt_loader **out);
/* The next micro-batch of this rank: tokens and labels, each (B, T) int32,
 * row-major. Advances consumed samples by B * dp_size. A failure of the
 * prefetch thread (an unreadable file, the index running out of samples)
 * is returned here with its message, in order: batches read before the
 * failure are delivered first, and the failing call does not advance. */
agpt_status agpt_loader_next(agpt_loader *ld, int32_t *tokens, int32_t *labels);
/* Global samples consumed so far (every rank together). */
uint64_t agpt_loader_consumed(const agpt_loader *ld);
/* Restarts from consumed_samples (resume from a checkpoint, or rewind);
 * micro-batches already read ahead are dropped. */
agpt_status agpt_loader_seek(agpt_loader *ld, uint64_t consumed_samples);
/* Stops the thread, frees everything; safe with NULL. */
void agpt_loader_close(agpt_loader *ld);

/* Micro-batches per global batch (grad_accum). */
int agpt_loader_grad_accum(const agpt_loader *ld);
/* Seconds agpt_loader_next spent waiting for the prefetch thread, and the
 * number of calls that had to wait at all. */
double agpt_loader_wait_seconds(const agpt_loader *ld, uint64_t *waits);
/* The opened blend and the train index (owned by the loader). */
const agpt_blend *agpt_loader_blend(const agpt_loader *ld);
const agpt_sample_index *agpt_loader_index(const agpt_loader *ld);

/* Evaluation and direct reads. agpt_loader_split_index builds an index over
 * another split of the same blend (AGPT_SPLIT_VALID, AGPT_SPLIT_TEST from
 * data/split.h) with the loader's mode, seed and seq_len; *out is owned by
 * the caller (agpt_sample_index_free). agpt_loader_read reads, without the
 * thread, this rank's micro-batch of the window that starts at global sample
 * `consumed` of ix (the loader's own index when ix is NULL, and then the
 * whole window must lie below num_samples): exactly what agpt_loader_next
 * returns when agpt_loader_consumed() == consumed. */
agpt_status agpt_loader_split_index(const agpt_loader *ld, int split_index, uint64_t num_samples,
                                    agpt_sample_index **out);
agpt_status agpt_loader_read(const agpt_loader *ld, const agpt_sample_index *ix, uint64_t consumed, int32_t *tokens,
                             int32_t *labels);

#endif
