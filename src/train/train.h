/* The training loop.
 *
 * Design note: what a step is, and what resume restores.
 *  1. A step (iteration) is grad_accum micro-batches of micro_batch samples
 *     per data-parallel rank, global_batch samples in all, followed by one
 *     optimizer update. Steps count from 1.
 *  2. Everything a step depends on is a pure function of (seed, step,
 *     consumed samples, weights, optimizer moments): initialization and
 *     data order draw from the counter-based RNG, kernels reduce in a fixed
 *     order for a fixed thread count. So a checkpoint holds exactly the
 *     weights, both moments, the optimizer step count, consumed samples and
 *     the skipped-step counters, and a run resumed from it is bitwise the run
 *     that never stopped.
 *  3. A step whose loss or gradient norm is not finite changes nothing: the
 *     update is skipped (consumed samples still advance, so the bad batch is
 *     not retried), reported on the console and in metrics.jsonl;
 *     max_skipped consecutive skips stop the run with an error.
 *  4. Checkpoints are written after the update of steps that are multiples
 *     of save_interval, at exit_interval, at the last step, and after the
 *     step during which SIGINT or SIGTERM arrived.
 *  5. A resumed run continues the checkpoint's learning-rate schedule: the
 *     schedule (lr, min_lr, warmup, decay iterations and style) is stored in
 *     state.json and a run whose flags give another one is refused unless
 *     override_scheduler (this run's) or use_checkpoint_scheduler (the
 *     checkpoint's) says which to follow. */
#ifndef AGPT_TRAIN_TRAIN_H
#define AGPT_TRAIN_TRAIN_H

#include <stdint.h>

#include "cli/flags.h"
#include "core/status.h"
#include "model/config.h"
#include "train/resume.h"

typedef struct {
  agpt_model_config model;
  int seq_len; /* tokens per sample, <= model.max_seq */
  int micro_batch, global_batch;
  int64_t train_iters;
  double lr, min_lr;
  int64_t warmup_iters, decay_iters;
  const char *decay_style;
  double weight_decay, beta1, beta2, adam_eps, clip_grad;
  uint64_t seed;
  int recompute;
  int max_skipped;
  /* data */
  agpt_strlist data_path;
  const char *data_file_list;
  const char *split;
  const char *index_mode;
  const char *data_cache_path;
  int blend_sample_in_corpus, shuffle_sample_in_corpus;
  /* checkpoints and logs */
  const char *save, *load;
  agpt_resume_plan start; /* where the run starts: agpt_resume_plan_make(save, load, ...) */
  int override_scheduler;       /* on resume: take this run's lr schedule over the checkpoint's */
  int use_checkpoint_scheduler; /* on resume: take the checkpoint's lr schedule over this run's */
  int64_t save_interval, exit_interval;
  int keep_last;
  int log_interval;
  const char *log_batches;  /* append every micro-batch's tokens and labels (int32) here */
  const char *metrics_file; /* JSONL of the metrics (default <save>/metrics.jsonl) */
  const char *device;
  const char *tokenizer; /* copied into checkpoints for generation */
  int quiet;
} agpt_train_args;

/* How a run that returned AGPT_OK ended. */
typedef struct {
  int stop_signal; /* SIGINT or SIGTERM that stopped the run (after its save); 0 when it ran to the end */
} agpt_train_result;

/* Runs the whole training; returns AGPT_ERR with a message on failure.
 * The first SIGINT or SIGTERM ends the run after the current step and its
 * save (res->stop_signal tells which); a second one during that time ends
 * the process at once by the signal's default action, leaving the previous
 * checkpoint as `latest`. */
agpt_status agpt_train_run(const agpt_train_args *a, agpt_train_result *res);

#endif
