/* See sysinfo.h. */
#include "core/sysinfo.h"

#include <stdio.h>
#include <string.h>

static uint64_t status_kib(const char *key) {
  FILE *f = fopen("/proc/self/status", "r");
  if (!f) return 0;
  char line[256];
  uint64_t kib = 0;
  size_t n = strlen(key);
  while (fgets(line, sizeof line, f)) {
    if (!strncmp(line, key, n) && line[n] == ':') {
      unsigned long long v = 0;
      if (sscanf(line + n + 1, "%llu", &v) == 1) kib = v;
      break;
    }
  }
  fclose(f);
  return kib;
}

uint64_t agpt_rss_bytes(void) { return status_kib("VmRSS") * 1024; }
uint64_t agpt_peak_rss_bytes(void) { return status_kib("VmHWM") * 1024; }
