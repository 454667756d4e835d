/* The trainer's part of a checkpoint, state.json: where the run stands
 * (iteration, samples consumed, optimizer step, skipped steps) and the
 * settings a resumed run is checked against (batch sizes, sequence length,
 * data order, learning-rate schedule).
 *
 * A state file passed the manifest's CRC before it gets here, so damage in
 * transit is already excluded; what remains is a file that is well formed
 * but wrong (edited by hand, written by a buggy tool). agpt_train_state_parse
 * therefore checks every field on its own and against the others, and
 * refuses the file naming the field:
 *   1. iteration >= 0 and equal to the manifest's iteration;
 *   2. 0 <= skipped_consecutive <= skipped_total <= iteration;
 *   3. adam_step == iteration - skipped_total (every step either updates the
 *      weights once or is skipped);
 *   4. iteration <= consumed_samples <= iteration * 2^31 (a step consumes
 *      at least one sample and at most a global batch);
 *   5. micro_batch_size >= 1; global_batch_size a multiple of it;
 *      1 <= seq_length <= the model's max_position_embeddings;
 *      train_iters >= 1; index_mode "fast" or "megatron"; split parses;
 *   6. the schedule (optional, absent in older files): lr finite and >= 0,
 *      0 <= min_lr <= lr, warmup >= 0, decay_iters >= 1, a known style. */
#ifndef AGPT_TRAIN_TRAIN_STATE_H
#define AGPT_TRAIN_TRAIN_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "core/json.h"
#include "core/status.h"
#include "optim/schedule.h"

typedef struct {
  int64_t iteration, adam_step, skipped_total, skipped_consecutive;
  uint64_t consumed_samples, seed;
  int64_t train_iters;
  int micro_batch, global_batch, seq_length;
  char index_mode[16];
  char split[128];
  int has_schedule; /* 0 for files written before the schedule was stored */
  agpt_lr_schedule sched;
} agpt_train_state;

void agpt_train_state_write(const agpt_train_state *s, agpt_sb *sb);
/* Parses and checks text (n bytes of path) as described above.
 * manifest_iteration is the iteration the checkpoint's manifest records;
 * max_positions the model's. */
agpt_status agpt_train_state_parse(const char *text, size_t n, const char *path, int64_t manifest_iteration,
                                   int max_positions, agpt_train_state *out);

#endif
