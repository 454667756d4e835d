/* See log.h. */
#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

static int quiet;

void agpt_log_set_quiet(int q) { quiet = q; }

static void emit(FILE *f, const char *tag, const char *fmt, va_list ap) {
  fprintf(f, "agpt: %s", tag);
  vfprintf(f, fmt, ap);
  fputc('\n', f);
  fflush(f);
}

void agpt_log_info(const char *fmt, ...) {
  if (quiet) return;
  va_list ap;
  va_start(ap, fmt);
  emit(stdout, "", fmt, ap);
  va_end(ap);
}

void agpt_log_warn(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  emit(stderr, "warning: ", fmt, ap);
  va_end(ap);
}

void agpt_log_error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  emit(stderr, "error: ", fmt, ap);
  va_end(ap);
}

double agpt_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
