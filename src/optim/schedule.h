/* Learning-rate schedules, Megatron's rule: linear warmup from 0 to the peak
 * over `warmup` iterations, then decay from the peak to `min_lr` over the
 * iterations up to `decay_iters` (cosine, linear or constant), and min_lr
 * after that. Iterations count from 1 (the first update uses step 1). */
#ifndef AGPT_OPTIM_SCHEDULE_H
#define AGPT_OPTIM_SCHEDULE_H

#include <stdint.h>

#include "core/status.h"

typedef enum { AGPT_LR_COSINE, AGPT_LR_LINEAR, AGPT_LR_CONSTANT } agpt_lr_style;

typedef struct {
  double lr, min_lr;
  int64_t warmup, decay_iters;
  agpt_lr_style style;
} agpt_lr_schedule;

/* Parses "cosine", "linear" or "constant"; fails naming the flag otherwise. */
agpt_status agpt_lr_style_parse(const char *s, agpt_lr_style *out);
const char *agpt_lr_style_name(agpt_lr_style s);
double agpt_lr_at(const agpt_lr_schedule *s, int64_t step);

#endif
