/* The megatron index's cache file (megatron_cache.h).
 *
 * Invariants:
 *   I1. The final name only ever refers to a complete file on disk:
 *       sections are written into NAME.tmp.PID, the sums and the header
 *       (with its CRC) after them, the file is synced, then renamed and the
 *       directory synced.
 *   I2. A loaded file's header CRC, magic, version, description, table and
 *       directory sizes match; every section and the sums lie inside the
 *       file; the sums' CRC matches; the chunk count is the one the
 *       directory implies; sections start 64-aligned, as written. Nothing a
 *       damaged header holds can make a later check read outside the map
 *       or an array be read misaligned.
 *   I3. A chunk's state goes 0 -> 1 or 0 -> 2 and never back; two threads
 *       checking the same chunk compute the same answer, so the race
 *       between them is harmless.
 *   I4. The writer checksums a section on the thread that writes it, from
 *       the same buffer, so the sums describe exactly the bytes written. */
#include "data/megatron_cache.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"

#if defined(__SSE4_2__)
#include <nmmintrin.h>
#elif defined(__ARM_FEATURE_CRC32)
#include <arm_acle.h>
#endif

#define MIX_MAGIC "AGPTMIX1"
#define MIX_VERSION 2u
#define MIX_ALIGN 4096u
#define MIX_FIXED 72u /* header bytes before the description */
#define MIX_SECT_ALIGN 64u
#define MIX_CHUNK_LOG2 18
#define MIX_CHUNK ((uint64_t)1 << MIX_CHUNK_LOG2)

struct agpt_mt_cache_writer {
  char *path, *tmp;
  int fd;
  char *desc;
  uint64_t n_table, n_sect;
  _Atomic uint64_t end;
  uint64_t *off, *bytes; /* (n_sect) */
  uint32_t **sums;       /* (n_sect) chunk sums of each section written */
  _Atomic(unsigned char) *put; /* (n_sect) section written (puts of one k must not race) */
};

static uint64_t header_bytes(uint64_t desc_len, uint64_t n_table, uint64_t n_sect) {
  uint64_t h = MIX_FIXED + desc_len + 8 * n_table + 16 * n_sect;
  return (h + MIX_ALIGN - 1) / MIX_ALIGN * MIX_ALIGN;
}

static uint64_t chunks_of(uint64_t bytes) { return (bytes + MIX_CHUNK - 1) >> MIX_CHUNK_LOG2; }

/* ---------- CRC-32C with the hardware instruction ---------- */

/* Same function as agpt_crc32c (checked by the tests on real files), with
 * the CPU's CRC-32C instruction where the build targets one. */
#if defined(__SSE4_2__)
static uint32_t crc_one(const unsigned char *p, size_t n) {
  uint64_t c = 0xffffffffu;
  for (; n >= 8; n -= 8, p += 8) {
    uint64_t v;
    memcpy(&v, p, 8);
    c = _mm_crc32_u64(c, v);
  }
  uint32_t c32 = (uint32_t)c;
  while (n--) c32 = _mm_crc32_u8(c32, *p++);
  return ~c32;
}

/* Three whole chunks at once: the instruction's latency is three times its
 * throughput, and the chunks are independent. */
static void crc_three(const unsigned char *p, uint32_t out[3]) {
  uint64_t a = 0xffffffffu, b = 0xffffffffu, c = 0xffffffffu;
  const unsigned char *q = p + MIX_CHUNK, *r = p + 2 * MIX_CHUNK;
  for (uint64_t i = 0; i < MIX_CHUNK; i += 8) {
    uint64_t x, y, z;
    memcpy(&x, p + i, 8);
    memcpy(&y, q + i, 8);
    memcpy(&z, r + i, 8);
    a = _mm_crc32_u64(a, x);
    b = _mm_crc32_u64(b, y);
    c = _mm_crc32_u64(c, z);
  }
  out[0] = ~(uint32_t)a;
  out[1] = ~(uint32_t)b;
  out[2] = ~(uint32_t)c;
}
#define HAVE_CRC_THREE 1
#elif defined(__ARM_FEATURE_CRC32)
static uint32_t crc_one(const unsigned char *p, size_t n) {
  uint32_t c = 0xffffffffu;
  for (; n >= 8; n -= 8, p += 8) {
    uint64_t v;
    memcpy(&v, p, 8);
    c = __crc32cd(c, v);
  }
  while (n--) c = __crc32cb(c, *p++);
  return ~c;
}
#else
static uint32_t crc_one(const unsigned char *p, size_t n) { return agpt_crc32c(0, p, n); }
#endif

/* The chunk sums of a section of n bytes into out[chunks_of(n)]. */
static void section_sums(const unsigned char *p, uint64_t n, uint32_t *out) {
  uint64_t nc = chunks_of(n), j = 0;
#ifdef HAVE_CRC_THREE
  for (; j + 3 <= n >> MIX_CHUNK_LOG2; j += 3) crc_three(p + (j << MIX_CHUNK_LOG2), out + j);
#endif
  for (; j < nc; j++) {
    uint64_t at = j << MIX_CHUNK_LOG2, len = n - at < MIX_CHUNK ? n - at : MIX_CHUNK;
    out[j] = crc_one(p + at, (size_t)len);
  }
}

/* ---------- encoding ---------- */

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

/* ---------- loading ---------- */

void agpt_mt_cache_close(agpt_mt_cache *c) {
  agpt_mmap_close(&c->map);
  free(c->path);
  free(c->off);
  free(c->bytes);
  free(c->chunk0);
  free((void *)c->state);
  memset(c, 0, sizeof *c);
}

/* The directory and sums of a header that passed its CRC (I2); NULL when
 * they fit the file, else why not. */
static const char *load_directory(agpt_mt_cache *c, const unsigned char *dir, uint64_t hb) {
  const unsigned char *p = c->map.data;
  uint64_t size = c->map.size;
  if (get_u64(p + 40) != MIX_CHUNK) return "written with another chunk size";
  c->off = agpt_xcalloc((size_t)c->n_sect + 1, sizeof *c->off);
  c->bytes = agpt_xcalloc((size_t)c->n_sect + 1, sizeof *c->bytes);
  c->chunk0 = agpt_xcalloc((size_t)c->n_sect + 1, sizeof *c->chunk0);
  uint64_t nc = 0;
  for (uint64_t k = 0; k < c->n_sect; k++) {
    uint64_t off = get_u64(dir + 16 * k), n = get_u64(dir + 16 * k + 8);
    if (n == 0 ? off != 0 : (off < hb || off > size || n > size - off)) return "a section lies outside the file";
    if (off % MIX_SECT_ALIGN) return "a section is not aligned"; /* its arrays are read in place */
    c->off[k] = off;
    c->bytes[k] = n;
    c->chunk0[k] = nc;
    nc += chunks_of(n); /* no overflow: every section lies inside the file */
  }
  c->chunk0[c->n_sect] = nc;
  uint64_t sums_off = get_u64(p + 48);
  if (get_u64(p + 56) != nc || sums_off < hb || sums_off > size || nc > (size - sums_off) / 4)
    return "the checksum table does not fit the file";
  c->sums = p + sums_off;
  if (crc_one(c->sums, (size_t)nc * 4) != get_u32(p + 64)) return "checksum table checksum mismatch";
  c->state = agpt_xcalloc(nc ? (size_t)nc : 1, 1);
  return NULL;
}

agpt_status agpt_mt_cache_load(const char *path, const char *desc, uint64_t n_table, uint64_t *table, uint64_t n_sect,
                               agpt_mt_cache *c, int *found) {
  *found = 0;
  memset(c, 0, sizeof *c);
  struct stat before, after;
  if (stat(path, &before) != 0) return AGPT_OK;
  if (agpt_mmap_open(path, &c->map) != AGPT_OK) {
    agpt_log_warn("%s: cannot map the index cache (%s); rebuilding it", path, agpt_errmsg());
    agpt_err_clear();
    return AGPT_OK;
  }
  c->path = agpt_xstrdup(path);
  c->n_sect = n_sect;
  c->dev = before.st_dev;
  c->ino = before.st_ino;
  c->same_file = stat(path, &after) == 0 && after.st_dev == before.st_dev && after.st_ino == before.st_ino;
  const unsigned char *p = c->map.data;
  uint64_t desc_len = strlen(desc);
  uint64_t hb = header_bytes(desc_len, n_table, n_sect), hlen = MIX_FIXED + desc_len + 8 * n_table + 16 * n_sect;
  const char *why = NULL;
  if (c->map.size < MIX_FIXED || memcmp(p, MIX_MAGIC, 8) != 0) {
    why = "not an agpt index cache";
  } else if (get_u32(p + 8) != MIX_VERSION) {
    why = "written by another version";
  } else if (get_u64(p + 16) != desc_len || get_u64(p + 24) != n_table || get_u64(p + 32) != n_sect ||
             c->map.size < hb) {
    why = "header sizes do not match this index";
  } else if (agpt_crc32c(0, p + 16, (size_t)(hlen - 16)) != get_u32(p + 12)) {
    why = "header checksum mismatch";
  } else if (memcmp(p + MIX_FIXED, desc, desc_len) != 0) {
    why = "built for other inputs (hash collision)";
  } else {
    why = load_directory(c, p + MIX_FIXED + desc_len + 8 * n_table, hb);
  }
  if (why) {
    agpt_log_warn("%s: %s; rebuilding it", path, why);
    agpt_mt_cache_close(c);
    return AGPT_OK;
  }
  for (uint64_t i = 0; i < n_table; i++) table[i] = get_u64(p + MIX_FIXED + desc_len + 8 * i);
  *found = 1;
  return AGPT_OK;
}

const void *agpt_mt_cache_section(const agpt_mt_cache *c, uint64_t k, uint64_t *bytes) {
  AGPT_ASSERT(k < c->n_sect);
  if (bytes) *bytes = c->bytes[k];
  return c->bytes[k] ? (const char *)c->map.data + c->off[k] : NULL;
}

int agpt_mt_cache_check(const agpt_mt_cache *c, uint64_t k, uint64_t from, uint64_t to) {
  AGPT_ASSERT(k < c->n_sect && from <= to && to <= c->bytes[k]);
  if (from == to) return 1;
  uint64_t first = from >> MIX_CHUNK_LOG2, last = (to - 1) >> MIX_CHUNK_LOG2;
  for (uint64_t j = first; j <= last; j++) {
    uint64_t ci = c->chunk0[k] + j;
    unsigned char s = atomic_load_explicit(&c->state[ci], memory_order_relaxed);
    if (s == 1) continue;
    if (s == 2) return 0;
    uint64_t at = j << MIX_CHUNK_LOG2, len = c->bytes[k] - at < MIX_CHUNK ? c->bytes[k] - at : MIX_CHUNK;
    int good = crc_one((const unsigned char *)c->map.data + c->off[k] + at, (size_t)len) == get_u32(c->sums + 4 * ci);
    atomic_store_explicit(&c->state[ci], good ? 1 : 2, memory_order_relaxed);
    if (!good) return 0;
  }
  return 1;
}

int agpt_mt_cache_discard(const agpt_mt_cache *c) {
  struct stat st;
  if (!c->same_file || stat(c->path, &st) != 0 || st.st_dev != c->dev || st.st_ino != c->ino) return 0;
  return unlink(c->path) == 0;
}

/* ---------- writing ---------- */

agpt_status agpt_mt_cache_begin(const char *path, const char *desc, uint64_t n_table, uint64_t n_sect,
                                agpt_mt_cache_writer **out) {
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
  w->n_sect = n_sect;
  w->off = agpt_xcalloc((size_t)n_sect + 1, sizeof *w->off);
  w->bytes = agpt_xcalloc((size_t)n_sect + 1, sizeof *w->bytes);
  w->sums = agpt_xcalloc((size_t)n_sect + 1, sizeof *w->sums);
  w->put = agpt_xcalloc((size_t)n_sect + 1, 1);
  atomic_init(&w->end, header_bytes(strlen(desc), n_table, n_sect));
  *out = w;
  return AGPT_OK;
}

/* Places n bytes (64-aligned) and returns their offset (thread-safe). */
static uint64_t reserve(agpt_mt_cache_writer *w, uint64_t n) {
  return atomic_fetch_add(&w->end, (n + MIX_SECT_ALIGN - 1) / MIX_SECT_ALIGN * MIX_SECT_ALIGN);
}

static int write_at(agpt_mt_cache_writer *w, uint64_t off, const void *data, size_t n) {
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

int agpt_mt_cache_put(agpt_mt_cache_writer *w, uint64_t k, const void *data, size_t n) {
  AGPT_ASSERT(k < w->n_sect);
  unsigned char was = atomic_exchange(&w->put[k], 1);
  AGPT_ASSERT(was == 0); /* each section once */
  if (n == 0) return 0;
  uint32_t *sums = malloc((size_t)chunks_of(n) * sizeof *sums);
  if (!sums) return ENOMEM;
  section_sums(data, n, sums); /* I4 */
  uint64_t off = reserve(w, n);
  int e = write_at(w, off, data, n);
  if (e) {
    free(sums);
    return e;
  }
  w->off[k] = off;
  w->bytes[k] = n;
  w->sums[k] = sums;
  return 0;
}

const char *agpt_mt_cache_writer_path(const agpt_mt_cache_writer *w) { return w->path; }

static void writer_free(agpt_mt_cache_writer *w) {
  for (uint64_t k = 0; k < w->n_sect; k++) free(w->sums[k]);
  free(w->sums);
  free(w->off);
  free(w->bytes);
  free((void *)w->put);
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

/* The sums of every section, in section order, as stored. */
static unsigned char *all_sums(const agpt_mt_cache_writer *w, uint64_t *n_chunks) {
  uint64_t nc = 0;
  for (uint64_t k = 0; k < w->n_sect; k++) nc += chunks_of(w->bytes[k]);
  unsigned char *s = agpt_xcalloc(nc ? (size_t)nc * 4 : 1, 1), *q = s;
  for (uint64_t k = 0; k < w->n_sect; k++)
    for (uint64_t j = 0; j < chunks_of(w->bytes[k]); j++, q += 4) put_u32(q, w->sums[k][j]);
  *n_chunks = nc;
  return s;
}

agpt_status agpt_mt_cache_commit(agpt_mt_cache_writer *w, const uint64_t *table) {
  uint64_t desc_len = strlen(w->desc), nc = 0;
  unsigned char *sums = all_sums(w, &nc);
  uint64_t sums_off = reserve(w, nc * 4);
  int e = write_at(w, sums_off, sums, (size_t)nc * 4);
  size_t hb = (size_t)(MIX_FIXED + desc_len + 8 * w->n_table + 16 * w->n_sect);
  unsigned char *h = agpt_xcalloc(hb, 1);
  memcpy(h, MIX_MAGIC, 8);
  put_u32(h + 8, MIX_VERSION);
  put_u64(h + 16, desc_len);
  put_u64(h + 24, w->n_table);
  put_u64(h + 32, w->n_sect);
  put_u64(h + 40, MIX_CHUNK);
  put_u64(h + 48, sums_off);
  put_u64(h + 56, nc);
  put_u32(h + 64, crc_one(sums, (size_t)nc * 4));
  free(sums);
  memcpy(h + MIX_FIXED, w->desc, desc_len);
  unsigned char *t = h + MIX_FIXED + desc_len;
  for (uint64_t i = 0; i < w->n_table; i++) put_u64(t + 8 * i, table[i]);
  t += 8 * w->n_table;
  for (uint64_t k = 0; k < w->n_sect; k++) {
    put_u64(t + 16 * k, w->off[k]);
    put_u64(t + 16 * k + 8, w->bytes[k]);
  }
  put_u32(h + 12, agpt_crc32c(0, h + 16, hb - 16));
  /* The file ends at the last section: extend it so trailing padding exists. */
  uint64_t end = atomic_load(&w->end);
  if (!e && ftruncate(w->fd, (off_t)end) != 0) e = errno;
  if (!e) e = write_at(w, 0, h, hb);
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
