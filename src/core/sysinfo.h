/* Process facts read from the kernel: resident memory now and at peak. */
#ifndef AGPT_CORE_SYSINFO_H
#define AGPT_CORE_SYSINFO_H

#include <stdint.h>

/* VmRSS and VmHWM of this process in bytes (0 when /proc is unavailable). */
uint64_t agpt_rss_bytes(void);
uint64_t agpt_peak_rss_bytes(void);

#endif
