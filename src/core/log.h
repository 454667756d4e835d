/* Console logging: info to stdout, warnings and errors to stderr, each line
 * prefixed with "agpt: ". Quiet mode (AGPT_LOG_QUIET) keeps only warnings and
 * errors, for tests and scripted use. */
#ifndef AGPT_CORE_LOG_H
#define AGPT_CORE_LOG_H

#include "core/status.h"

void agpt_log_info(const char *fmt, ...) AGPT_PRINTF(1, 2);
void agpt_log_warn(const char *fmt, ...) AGPT_PRINTF(1, 2);
void agpt_log_error(const char *fmt, ...) AGPT_PRINTF(1, 2);
void agpt_log_set_quiet(int quiet);
/* Wall-clock seconds from a monotonic clock. */
double agpt_now(void);

#endif
