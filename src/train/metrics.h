/* Training metrics: one console line every log interval, and the same figures
 * as one JSON object per line in <save>/metrics.jsonl (appended, so a resumed
 * run continues the file). */
#ifndef AGPT_TRAIN_METRICS_H
#define AGPT_TRAIN_METRICS_H

#include <stdint.h>
#include <stdio.h>

#include "core/status.h"

typedef struct {
  int64_t step, total;
  double loss, lr, grad_norm;
  double tok_s, mfu;      /* mfu as a fraction of the measured peak */
  double step_ms;
  double elapsed_s, eta_s;
  uint64_t consumed_samples;
  int64_t skipped;        /* non-finite steps skipped so far */
  double peak_mib;
} agpt_metrics_row;

typedef struct {
  FILE *jsonl; /* owned; NULL when not writing a file */
  char *path;  /* owned */
  int quiet;   /* 1: file only */
} agpt_metrics;

/* jsonl_path may be NULL (console only). */
agpt_status agpt_metrics_open(agpt_metrics *m, const char *jsonl_path);
void agpt_metrics_log(agpt_metrics *m, const agpt_metrics_row *r);
/* Writes an event such as {"event":"skip","step":12,"reason":"..."}. */
void agpt_metrics_event(agpt_metrics *m, const char *event, int64_t step, const char *detail);
void agpt_metrics_close(agpt_metrics *m);
/* "1h02m03s" style into buf. */
void agpt_format_duration(double seconds, char *buf, size_t cap);

#endif
