/* The megatron index's cache file (megatron_cache.h).
 *
 * Invariants:
 *   I1. The final name only ever refers to a complete file on disk:
 *       sections are written into NAME.tmp.PID, the header (with its CRC)
 *       after them, the file is synced, then renamed and the directory
 *       synced.
 *   I2. A loaded file's header CRC, magic, version, description and table
 *       size match, and every section the table names lies inside the
 *       file (the caller checks the last; it knows the table's meaning). */
#include "data/megatron_cache.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"

#define MIX_MAGIC "AGPTMIX1"
#define MIX_VERSION 1u
#define MIX_ALIGN 4096u

struct agpt_mt_cache_writer {
  char *path, *tmp;
  int fd;
  char *desc;
  uint64_t n_table;
  _Atomic uint64_t end;
};

static uint64_t header_bytes(uint64_t desc_len, uint64_t n_table) {
  uint64_t h = 8 + 4 + 4 + 8 + 8 + desc_len + 8 * n_table;
  return (h + MIX_ALIGN - 1) / MIX_ALIGN * MIX_ALIGN;
}

char *agpt_mt_cache_path(const char *dir, const char *desc) {
  size_t n = strlen(desc);
  uint32_t a = agpt_crc32c(0, desc, n), b = agpt_crc32c(0x9e3779b9u, desc, n);
  size_t len = strlen(dir) + 64;
  char *p = agpt_xcalloc(len, 1);
  snprintf(p, len, "%s/megatron_index_%08x%08x.agix", dir, a, b);
  return p;
}

static void put_u32(unsigned char *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static void put_u64(unsigned char *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static uint32_t get_u32(const unsigned char *p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; i++) v |= (uint32_t)p[i] << (8 * i);
  return v;
}
static uint64_t get_u64(const unsigned char *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
  return v;
}

agpt_status agpt_mt_cache_load(const char *path, const char *desc, uint64_t n_table, uint64_t *table, agpt_mmap *map,
                               int *found) {
  *found = 0;
  memset(map, 0, sizeof *map);
  if (!agpt_file_exists(path)) return AGPT_OK;
  if (agpt_mmap_open(path, map) != AGPT_OK) {
    agpt_log_warn("%s: cannot map the index cache (%s); rebuilding it", path, agpt_errmsg());
    agpt_err_clear();
    return AGPT_OK;
  }
  const unsigned char *p = map->data;
  uint64_t desc_len = strlen(desc);
  const char *why = NULL;
  if (map->size < 32 || memcmp(p, MIX_MAGIC, 8) != 0) {
    why = "not an agpt index cache";
  } else if (get_u32(p + 8) != MIX_VERSION) {
    why = "written by another version";
  } else if (get_u64(p + 16) != desc_len || get_u64(p + 24) != n_table ||
             map->size < header_bytes(desc_len, n_table)) {
    why = "header sizes do not match this index";
  } else if (agpt_crc32c(0, p + 16, 16 + desc_len + 8 * n_table) != get_u32(p + 12)) {
    why = "header checksum mismatch";
  } else if (memcmp(p + 32, desc, desc_len) != 0) {
    why = "built for other inputs (hash collision)";
  }
  if (why) {
    agpt_log_warn("%s: %s; rebuilding it", path, why);
    agpt_mmap_close(map);
    return AGPT_OK;
  }
  for (uint64_t i = 0; i < n_table; i++) table[i] = get_u64(p + 32 + desc_len + 8 * i);
  *found = 1;
  return AGPT_OK;
}

agpt_status agpt_mt_cache_begin(const char *path, const char *desc, uint64_t n_table, agpt_mt_cache_writer **out) {
  *out = NULL;
  char *dir = agpt_xstrdup(path);
  char *slash = strrchr(dir, '/');
  if (slash) {
    *slash = 0;
    if (agpt_mkdir_p(dir) != AGPT_OK) {
      free(dir);
      return agpt_fail_prefix("--data-cache-path: ");
    }
  }
  free(dir);
  agpt_mt_cache_writer *w = agpt_xcalloc(1, sizeof *w);
  w->path = agpt_xstrdup(path);
  size_t n = strlen(path) + 32;
  w->tmp = agpt_xcalloc(n, 1);
  snprintf(w->tmp, n, "%s.tmp.%ld", path, (long)getpid());
  w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (w->fd < 0) {
    int e = errno;
    free(w->path), free(w->tmp), free(w);
    return agpt_fail("%s: cannot create the index cache: %s (check --data-cache-path)", path, strerror(e));
  }
  w->desc = agpt_xstrdup(desc);
  w->n_table = n_table;
  atomic_init(&w->end, header_bytes(strlen(desc), n_table));
  *out = w;
  return AGPT_OK;
}

uint64_t agpt_mt_cache_reserve(agpt_mt_cache_writer *w, uint64_t bytes) {
  uint64_t b = (bytes + 63) / 64 * 64;
  return atomic_fetch_add(&w->end, b);
}

int agpt_mt_cache_write(agpt_mt_cache_writer *w, uint64_t off, const void *data, size_t n) {
  const char *p = data;
  uint64_t start = off;
  size_t len = n;
  while (n > 0) {
    ssize_t k = pwrite(w->fd, p, n, (off_t)off);
    if (k < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (k == 0) return EIO;
    p += k;
    n -= (size_t)k;
    off += (uint64_t)k;
  }
  /* Queue the write-back now rather than at the final sync, so the disk
   * works while the build does (advice: errors surface at the sync). */
  (void)sync_file_range(w->fd, (off_t)start, (off_t)len, SYNC_FILE_RANGE_WRITE);
  return 0;
}

const char *agpt_mt_cache_writer_path(const agpt_mt_cache_writer *w) { return w->path; }

static void writer_free(agpt_mt_cache_writer *w) {
  free(w->path);
  free(w->tmp);
  free(w->desc);
  free(w);
}

void agpt_mt_cache_abort(agpt_mt_cache_writer *w) {
  if (!w) return;
  if (w->fd >= 0) close(w->fd);
  unlink(w->tmp);
  writer_free(w);
}

agpt_status agpt_mt_cache_commit(agpt_mt_cache_writer *w, const uint64_t *table) {
  uint64_t desc_len = strlen(w->desc);
  size_t hb = (size_t)(32 + desc_len + 8 * w->n_table);
  unsigned char *h = agpt_xcalloc(hb, 1);
  memcpy(h, MIX_MAGIC, 8);
  put_u32(h + 8, MIX_VERSION);
  put_u64(h + 16, desc_len);
  put_u64(h + 24, w->n_table);
  memcpy(h + 32, w->desc, desc_len);
  for (uint64_t i = 0; i < w->n_table; i++) put_u64(h + 32 + desc_len + 8 * i, table[i]);
  put_u32(h + 12, agpt_crc32c(0, h + 16, hb - 16));
  /* The file ends at the last section: extend it so trailing padding exists. */
  uint64_t end = atomic_load(&w->end);
  int e = 0;
  if (ftruncate(w->fd, (off_t)end) != 0) e = errno;
  if (!e) e = agpt_mt_cache_write(w, 0, h, hb);
  /* Durable before it is named: a power loss must not leave good-looking
   * headers over data that never reached the disk. Most of the data has
   * been written back while the build ran, so this waits for the tail. */
  if (!e && fdatasync(w->fd) != 0) e = errno;
  free(h);
  if (!e && close(w->fd) != 0) e = errno;
  else if (e) close(w->fd);
  w->fd = -1;
  if (!e && rename(w->tmp, w->path) != 0) e = errno;
  if (!e) {
    char *dir = agpt_xstrdup(w->path);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = 0;
    if (agpt_fsync_dir(slash ? dir : ".") != AGPT_OK) agpt_err_clear(); /* the file is complete either way */
    free(dir);
  }
  if (e) {
    agpt_status st = agpt_fail("%s: writing the index cache failed: %s (free space or choose another --data-cache-path)",
                               w->path, strerror(e));
    unlink(w->tmp);
    writer_free(w);
    return st;
  }
  writer_free(w);
  return AGPT_OK;
}
