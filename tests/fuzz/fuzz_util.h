/* What the fuzz targets share: a private scratch directory (in $TMPDIR, else
 * /dev/shm, else /tmp) removed at exit, and writing the input there for
 * readers that take a path. Each target is one libFuzzer entry point,
 * LLVMFuzzerTestOneInput, built by `make fuzz-build`; a reader passes when
 * it returns a status for every input without a sanitizer report, an
 * allocation above -malloc_limit_mb, or a hang. */
#ifndef AGPT_FUZZ_UTIL_H
#define AGPT_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/status.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char fuzz_dir_path[512];

static inline void fuzz_rm_tree(const char *dir) {
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) fprintf(stderr, "fuzz: could not remove %s\n", dir);
}

static inline void fuzz_cleanup(void) {
  if (fuzz_dir_path[0]) fuzz_rm_tree(fuzz_dir_path);
}

/* The scratch directory, made on first use. */
static inline const char *fuzz_dir(void) {
  if (fuzz_dir_path[0]) return fuzz_dir_path;
  const char *base = getenv("TMPDIR");
  if (!base || access(base, W_OK) != 0) base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
  snprintf(fuzz_dir_path, sizeof fuzz_dir_path, "%s/agpt-fuzz-XXXXXX", base);
  if (!mkdtemp(fuzz_dir_path)) {
    perror("fuzz: mkdtemp");
    abort();
  }
  atexit(fuzz_cleanup);
  agpt_log_set_quiet(1);
  return fuzz_dir_path;
}

/* fuzz_dir()/name; the buffer is static to each call site's caller. */
static inline void fuzz_path(char *out, size_t cap, const char *name) { snprintf(out, cap, "%s/%s", fuzz_dir(), name); }

/* Writes data[0..n) to path, replacing it. A failing write is the
 * environment's fault, not the reader's: stop loudly. */
static inline void fuzz_write_file(const char *path, const void *data, size_t n) {
  FILE *f = fopen(path, "wb");
  if (!f || (n && fwrite(data, 1, n, f) != n) || fclose(f) != 0) {
    perror(path);
    abort();
  }
}

#endif
