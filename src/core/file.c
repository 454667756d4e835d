/* See file.h. */

#include "core/file.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

struct agpt_wfile {
  int fd;
  uint64_t size;
  char *path;
  char *tmp;
};

static long fault_write_nth = -1; /* -1: read the environment once */
static long fault_write_count;

void agpt_fault_set_write(long nth) {
  fault_write_nth = nth;
  fault_write_count = 0;
}

static int fault_write_now(void) {
  if (fault_write_nth == -1) {
    const char *e = getenv("AGPT_FAULT_WRITE");
    fault_write_nth = e ? atol(e) : 0;
  }
  if (fault_write_nth <= 0) return 0;
  return ++fault_write_count == fault_write_nth;
}

agpt_status agpt_wfile_open(const char *path, agpt_wfile **out) {
  agpt_wfile *f = agpt_xcalloc(1, sizeof *f);
  f->path = agpt_xstrdup(path);
  size_t n = strlen(path) + 32;
  f->tmp = agpt_xmalloc(n);
  snprintf(f->tmp, n, "%s.tmp.%ld", path, (long)getpid());
  f->fd = open(f->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (f->fd < 0) {
    int e = errno;
    free(f->tmp);
    free(f->path);
    free(f);
    return agpt_fail("%s: cannot create file: %s (check that the directory exists and is writable)", path,
                     strerror(e));
  }
  *out = f;
  return AGPT_OK;
}

agpt_status agpt_wfile_write(agpt_wfile *f, const void *data, size_t n) {
  if (fault_write_now())
    return agpt_fail("%s: write failed: %s (injected by AGPT_FAULT_WRITE)", f->path, strerror(ENOSPC));
  const char *p = data;
  while (n > 0) {
    ssize_t w = write(f->fd, p, n > (1u << 30) ? (1u << 30) : n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return agpt_fail("%s: write failed: %s (free space on the device and retry)", f->path, strerror(errno));
    }
    p += w;
    n -= (size_t)w;
    f->size += (uint64_t)w;
  }
  return AGPT_OK;
}

agpt_status agpt_wfile_printf(agpt_wfile *f, const char *fmt, ...) {
  va_list ap, ap2;
  va_start(ap, fmt);
  va_copy(ap2, ap);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0) {
    va_end(ap2);
    return agpt_fail("%s: cannot format text to write: %s (a bug in the caller's format)", f->path, strerror(errno));
  }
  size_t len = (size_t)n;
  char *buf = agpt_xmalloc(len + 1);
  int m = vsnprintf(buf, len + 1, fmt, ap2);
  va_end(ap2);
  if (m != n) {
    free(buf);
    return agpt_fail("%s: formatted text changed length between two passes (%d, then %d bytes)", f->path, n, m);
  }
  agpt_status st = agpt_wfile_write(f, buf, len);
  free(buf);
  return st;
}

uint64_t agpt_wfile_size(const agpt_wfile *f) { return f->size; }

static void wfile_free(agpt_wfile *f) {
  free(f->tmp);
  free(f->path);
  free(f);
}

static void dir_of(const char *path, char *dir, size_t cap) {
  snprintf(dir, cap, "%s", path);
  char *slash = strrchr(dir, '/');
  if (!slash)
    snprintf(dir, cap, ".");
  else if (slash == dir)
    dir[1] = '\0';
  else
    *slash = '\0';
}

agpt_status agpt_wfile_commit(agpt_wfile *f) {
  if (fsync(f->fd) != 0) {
    agpt_fail("%s: fsync failed: %s", f->path, strerror(errno));
    agpt_wfile_abort(f);
    return AGPT_ERR;
  }
  if (close(f->fd) != 0) {
    f->fd = -1;
    agpt_fail("%s: close failed: %s", f->path, strerror(errno));
    agpt_wfile_abort(f);
    return AGPT_ERR;
  }
  f->fd = -1;
  if (rename(f->tmp, f->path) != 0) {
    agpt_fail("%s: rename from %s failed: %s", f->path, f->tmp, strerror(errno));
    agpt_wfile_abort(f);
    return AGPT_ERR;
  }
  char dir[4096];
  dir_of(f->path, dir, sizeof dir);
  agpt_status st = agpt_fsync_dir(dir);
  wfile_free(f);
  return st;
}

void agpt_wfile_abort(agpt_wfile *f) {
  if (!f) return;
  if (f->fd >= 0) close(f->fd);
  unlink(f->tmp);
  wfile_free(f);
}

agpt_status agpt_file_write_atomic(const char *path, const void *data, size_t n) {
  agpt_wfile *f;
  AGPT_TRY(agpt_wfile_open(path, &f));
  if (agpt_wfile_write(f, data, n) != AGPT_OK) {
    agpt_wfile_abort(f);
    return AGPT_ERR;
  }
  return agpt_wfile_commit(f);
}

agpt_status agpt_file_read_all(const char *path, char **data, size_t *n) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return agpt_fail("%s: cannot open: %s", path, strerror(errno));
  struct stat sb;
  if (fstat(fd, &sb) != 0) {
    close(fd);
    return agpt_fail("%s: cannot stat: %s", path, strerror(errno));
  }
  size_t size = (size_t)sb.st_size;
  char *buf = malloc(size + 1);
  if (!buf) {
    close(fd);
    return agpt_fail("%s: out of memory reading %zu bytes", path, size);
  }
  size_t got = 0;
  while (got < size) {
    ssize_t r = read(fd, buf + got, size - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      free(buf);
      close(fd);
      return agpt_fail("%s: read failed after %zu of %zu bytes: %s", path, got, size,
                       r < 0 ? strerror(errno) : "unexpected end of file");
    }
    got += (size_t)r;
  }
  close(fd);
  buf[size] = '\0';
  *data = buf;
  *n = size;
  return AGPT_OK;
}

agpt_status agpt_mmap_open(const char *path, agpt_mmap *m) {
  m->data = NULL;
  m->size = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return agpt_fail("%s: cannot open: %s", path, strerror(errno));
  struct stat sb;
  if (fstat(fd, &sb) != 0) {
    close(fd);
    return agpt_fail("%s: cannot stat: %s", path, strerror(errno));
  }
  if (sb.st_size == 0) {
    close(fd);
    return AGPT_OK;
  }
  void *p = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_SHARED, fd, 0);
  close(fd);
  if (p == MAP_FAILED) return agpt_fail("%s: mmap failed: %s", path, strerror(errno));
  m->data = p;
  m->size = (size_t)sb.st_size;
  return AGPT_OK;
}

void agpt_mmap_close(agpt_mmap *m) {
  if (m->data) munmap((void *)m->data, m->size);
  m->data = NULL;
  m->size = 0;
}

int agpt_file_exists(const char *path) { return access(path, F_OK) == 0; }

agpt_status agpt_mkdir_p(const char *path) {
  char buf[4096];
  if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) return agpt_fail("%s: path too long", path);
  for (char *p = buf + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    if (mkdir(buf, 0755) != 0 && errno != EEXIST)
      return agpt_fail("%s: cannot create directory %s: %s", path, buf, strerror(errno));
    *p = '/';
  }
  if (mkdir(buf, 0755) != 0 && errno != EEXIST)
    return agpt_fail("%s: cannot create directory: %s", path, strerror(errno));
  return AGPT_OK;
}

agpt_status agpt_fsync_dir(const char *dir) {
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return agpt_fail("%s: cannot open directory: %s", dir, strerror(errno));
  int rc = fsync(fd);
  int e = errno;
  close(fd);
  if (rc != 0 && e != EINVAL) return agpt_fail("%s: fsync of directory failed: %s", dir, strerror(e));
  return AGPT_OK;
}

agpt_status agpt_rm_rf(const char *path) {
  struct stat sb;
  if (lstat(path, &sb) != 0) return errno == ENOENT ? AGPT_OK : agpt_fail("%s: %s", path, strerror(errno));
  if (S_ISDIR(sb.st_mode)) {
    DIR *d = opendir(path);
    if (!d) return agpt_fail("%s: cannot open directory: %s", path, strerror(errno));
    struct dirent *e;
    while ((e = readdir(d))) {
      if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
      char child[4096];
      snprintf(child, sizeof child, "%s/%s", path, e->d_name);
      if (agpt_rm_rf(child) != AGPT_OK) {
        closedir(d);
        return AGPT_ERR;
      }
    }
    closedir(d);
    if (rmdir(path) != 0) return agpt_fail("%s: cannot remove: %s", path, strerror(errno));
  } else if (unlink(path) != 0) {
    return agpt_fail("%s: cannot remove: %s", path, strerror(errno));
  }
  return AGPT_OK;
}

static uint32_t crc_table[8][256];
static int crc_ready;
__attribute__((constructor)) static void crc_init(void);

static void crc_init(void) {
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t c = i;
    for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ 0x82f63b78u : c >> 1;
    crc_table[0][i] = c;
  }
  for (int t = 1; t < 8; t++)
    for (int i = 0; i < 256; i++) crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xff];
  crc_ready = 1;
}

uint32_t agpt_crc32c(uint32_t crc, const void *data, size_t n) {
  if (!crc_ready) crc_init();
  const unsigned char *p = data;
  crc = ~crc;
  while (n >= 8) {
    uint32_t lo = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
    crc = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^ crc_table[5][(lo >> 16) & 0xff] ^
          crc_table[4][lo >> 24] ^ crc_table[3][p[4]] ^ crc_table[2][p[5]] ^ crc_table[1][p[6]] ^ crc_table[0][p[7]];
    p += 8;
    n -= 8;
  }
  while (n--) crc = (crc >> 8) ^ crc_table[0][(crc ^ *p++) & 0xff];
  return ~crc;
}

agpt_status agpt_mkdir_parents(const char *path) {
  const char *slash = strrchr(path, '/');
  if (!slash || slash == path) return AGPT_OK;
  char *dir = agpt_xstrdup(path);
  dir[slash - path] = 0;
  agpt_status st = agpt_mkdir_p(dir);
  free(dir);
  return st;
}
