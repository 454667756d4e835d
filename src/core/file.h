/* Files: atomic writes, whole-file reads, read-only maps, checksums.
 *
 * Promise: a file written through agpt_wfile either appears complete under
 * its final name or not at all. Data goes to "<path>.tmp.<pid>", is fsynced,
 * renamed over <path>, and the directory is fsynced. A failure at any point
 * removes the temporary file and leaves whatever was at <path> untouched.
 *
 * Fault injection: AGPT_FAULT_WRITE=N in the environment (or
 * agpt_fault_set_write(N)) makes the Nth agpt_wfile_write() of the process
 * fail as if the disk were full; tests use it to prove nothing is lost. */
#ifndef AGPT_CORE_FILE_H
#define AGPT_CORE_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

typedef struct agpt_wfile agpt_wfile;

/* Opens a temporary file next to `path`; *out is owned by the caller until
 * agpt_wfile_commit() or agpt_wfile_abort(), which both free it. */
agpt_status agpt_wfile_open(const char *path, agpt_wfile **out);
agpt_status agpt_wfile_write(agpt_wfile *f, const void *data, size_t n);
agpt_status agpt_wfile_printf(agpt_wfile *f, const char *fmt, ...) AGPT_PRINTF(2, 3);
/* Bytes written so far. */
uint64_t agpt_wfile_size(const agpt_wfile *f);
/* fsync, rename over the final name, fsync the directory. Frees f. */
agpt_status agpt_wfile_commit(agpt_wfile *f);
/* Removes the temporary file. Frees f. Safe with NULL. */
void agpt_wfile_abort(agpt_wfile *f);

/* One-shot atomic write of a buffer. */
agpt_status agpt_file_write_atomic(const char *path, const void *data, size_t n);
/* Reads a whole file; *data (NUL-terminated for convenience, not counted in
 * *n) is owned by the caller and freed with free(). */
agpt_status agpt_file_read_all(const char *path, char **data, size_t *n);

/* A read-only memory map of a whole file. An empty file maps to data == NULL,
 * size == 0. */
typedef struct {
  const void *data;
  size_t size;
} agpt_mmap;
agpt_status agpt_mmap_open(const char *path, agpt_mmap *m);
void agpt_mmap_close(agpt_mmap *m);

int agpt_file_exists(const char *path);
/* Creates a directory and its parents (like mkdir -p). */
agpt_status agpt_mkdir_p(const char *path);
/* Creates the directories a file path names ("data/web" needs data/). */
agpt_status agpt_mkdir_parents(const char *path);
agpt_status agpt_fsync_dir(const char *dir);
/* Removes a directory tree (used to prune old checkpoints). */
agpt_status agpt_rm_rf(const char *path);

/* CRC-32C (Castagnoli), chainable: start with crc = 0. */
uint32_t agpt_crc32c(uint32_t crc, const void *data, size_t n);

void agpt_fault_set_write(long nth);

#endif
