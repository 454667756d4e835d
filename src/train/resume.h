/* Where a run starts, and whether it may write into its save directory.
 *
 * Design note. A save directory S holds one run's history: iter_*
 * directories and `latest`, naming the newest committed one. A run writing
 * into S saves iter_N for its own N, replacing any directory of that name,
 * and prunes the others by highest iteration (--keep-last); so it may write
 * into S only when S's history is its own past. Given --save S, --load L and
 * --recover-latest, the plan is:
 *   1. S holds no iter_* directory and no `latest` (or does not exist): start
 *      from L when given (L == S then means "nothing to resume yet": start
 *      from scratch), else from scratch.
 *   2. S's `latest` is readable and L == S: resume from the checkpoint it
 *      names. iter_* directories newer than it (a save that was published
 *      but crashed before `latest` was rewritten) are reported; the run will
 *      replace them as it passes those iterations.
 *   3. S holds checkpoints and the run would not continue S's `latest` (no
 *      --load, L elsewhere, or L an older iter_* directory of S): refused,
 *      naming what S holds and the choices. Nothing has been written yet.
 *   4. S holds iter_* directories but `latest` is missing or unreadable:
 *      refused unless --recover-latest; with it (and also when `latest` is
 *      fine), the run resumes from the newest iter_* directory of S whose
 *      files all verify, and damaged newer ones are moved aside, never
 *      deleted (agpt_ckpt_recover).
 * Without --save nothing is written and only --load (and --recover-latest,
 * which then recovers in L) matters. */
#ifndef AGPT_TRAIN_RESUME_H
#define AGPT_TRAIN_RESUME_H

#include <stdint.h>

#include "core/status.h"
#include "model/config.h"
#include "train/train_state.h"

typedef struct {
  char dir[4096];    /* the checkpoint directory to load; "" to start from scratch */
  int64_t iteration; /* its iteration; -1 when starting from scratch */
  int from_latest;   /* dir is what S's `latest` names (rule 2) */
} agpt_resume_plan;

/* save and load may be NULL. Writes nothing, except that --recover-latest
 * moves damaged checkpoints aside (agpt_ckpt_recover). */
agpt_status agpt_resume_plan_make(const char *save, const char *load, int recover, agpt_resume_plan *out);

/* The model config stored in checkpoint dir (config.json, checked against
 * the manifest first). */
agpt_status agpt_resume_read_config(const char *dir, agpt_model_config *out);
/* The training state stored in checkpoint dir (state.json, checked against
 * the manifest, then field by field: see train_state.h). */
agpt_status agpt_resume_read_state(const char *dir, int64_t iteration, int max_positions, agpt_train_state *out);

#endif
