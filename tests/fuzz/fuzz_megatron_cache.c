/* Fuzz target: the megatron index cache (data/megatron_cache.c) and the
 * index reading its sections (data/megatron_index.c).
 *
 * Initialization writes three small datasets, a, b and c, to the scratch
 * directory (its working directory) and builds their index with a cache
 * twice: as a data-file-list of two corpora with both corpus flags (every
 * kind of section) and as a --data-path blend. A cache holds a description
 * of its inputs that names the files and their modification times, which
 * differ from run to run, so an input is a cache without its description:
 * byte 0 holds flags, the rest is the file with the description cut out
 * (after the 72 fixed header bytes). The target puts this run's description
 * back (and its length), then
 *   - with flag 4 uses the --data-path blend, else the data-file-list;
 *   - with flag 2 recomputes every chunk sum and the sums' CRC, so that
 *     damaged sections get past their checksums to the range checks behind
 *     them (a foreign value that matches its checksum);
 *   - recomputes the header CRC, unless byte 0 is 0xff.
 * It then builds the index over that cache and reads every sample, origin,
 * blend entry, corpus position and shuffle: each must come back as a
 * status, never as a sanitizer report, an assertion or a hang.
 *
 * AGPT_FUZZ_WRITE_SEEDS=DIR makes initialization write the two clean caches,
 * in input form with flag 2 (a no-op on a clean file), to DIR/corpus and
 * DIR/plain: how the seeds in tests/fuzz/seeds/megatron_cache/ were made. */
#include "fuzz_util.h"

#include <dirent.h>

#include "core/file.h"
#include "data/blend.h"
#include "data/megatron_cache.h"
#include "data/megatron_index.h"

enum { FIXED = 72, SEQ = 6 };

static const agpt_index_opts opts = {
    .mode = AGPT_INDEX_MEGATRON, .split = "1", .seq_len = SEQ, .num_samples = 60, .seed = 7, .cache_dir = "cache",
    .threads = 1};

typedef struct {
  agpt_blend b;
  agpt_megatron_opts mo;
  char *desc; /* this run's description, from the cache built at start */
  size_t desc_len;
} layout;

static layout layouts[2]; /* 0: data-file-list, 1: --data-path */

static uint64_t rd64(const uint8_t *p) {
  uint64_t v;
  memcpy(&v, p, 8);
  return v;
}
static void wr32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void wr64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

static void die(const char *what) {
  fprintf(stderr, "fuzz_megatron_cache: %s: %s\n", what, agpt_errmsg());
  abort();
}

/* Builds layout l's index with the cache directory empty and keeps the
 * description of the file it wrote; *file gets the file (malloc'd). */
static void learn(layout *l, char **file, size_t *n) {
  if (agpt_rm_rf("cache") != AGPT_OK) die("rm cache");
  agpt_megatron_index *ix;
  if (agpt_megatron_index_build_ex(&l->b, &opts, &l->mo, &ix) != AGPT_OK) die("build");
  agpt_megatron_index_free(ix);
  DIR *dir = opendir("cache");
  struct dirent *e;
  char path[600] = {0};
  while (dir && (e = readdir(dir)))
    if (strstr(e->d_name, ".agix")) snprintf(path, sizeof path, "cache/%s", e->d_name);
  if (dir) closedir(dir);
  if (!path[0]) die("no cache file");
  if (agpt_file_read_all(path, file, n) != AGPT_OK || *n < FIXED) die("read cache");
  l->desc_len = (size_t)rd64((const uint8_t *)*file + 16);
  if (FIXED + l->desc_len > *n) die("cache description");
  l->desc = malloc(l->desc_len + 1);
  memcpy(l->desc, *file + FIXED, l->desc_len);
  l->desc[l->desc_len] = 0;
}

static void write_seed(const char *dir, const char *name, const layout *l, const char *file, size_t n, uint8_t flags) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  size_t m = 1 + n - l->desc_len;
  uint8_t *s = malloc(m);
  s[0] = flags;
  memcpy(s + 1, file, FIXED);
  memcpy(s + 1 + FIXED, file + FIXED + l->desc_len, n - FIXED - l->desc_len);
  fuzz_write_file(path, s, m);
  free(s);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  if (chdir(fuzz_dir()) != 0) abort();
  const char *names[] = {"a", "b", "c"};
  for (int k = 0; k < 3; k++) {
    agpt_indexed_writer *w;
    if (agpt_indexed_writer_open(names[k], AGPT_IDX_U16, &w) != AGPT_OK) die("dataset");
    for (int d = 0; d < 12 + 5 * k; d++) {
      int32_t ids[12];
      int len = 1 + (d * 7 + k * 3) % 11;
      for (int t = 0; t < len; t++) ids[t] = 100 * k + d + t;
      if (agpt_indexed_writer_add_doc(w, ids, (size_t)len) != AGPT_OK) die("dataset");
    }
    if (agpt_indexed_writer_finish(w) != AGPT_OK) die("dataset");
  }
  fuzz_write_file("list", "1.0 a web\n2.0 b code\n0.5 c web\n", 31);
  if (agpt_blend_parse_file_list("list", &layouts[0].b) != AGPT_OK || agpt_blend_open(&layouts[0].b, 0) != AGPT_OK)
    die("list");
  layouts[0].mo = (agpt_megatron_opts){.blend_sample_in_corpus = 1, .shuffle_sample_in_corpus = 1};
  char w0[] = "1.0", w1[] = "2.0", w2[] = "0.5", a[] = "a", b[] = "b", c[] = "c";
  char *words[] = {w0, a, w1, b, w2, c};
  if (agpt_blend_parse_data_path(6, words, &layouts[1].b) != AGPT_OK || agpt_blend_open(&layouts[1].b, 0) != AGPT_OK)
    die("data path");
  const char *seeds = getenv("AGPT_FUZZ_WRITE_SEEDS");
  for (int l = 0; l < 2; l++) {
    char *file;
    size_t n;
    learn(&layouts[l], &file, &n);
    if (seeds) write_seed(seeds, l ? "plain" : "corpus", &layouts[l], file, n, (uint8_t)(l ? 6 : 2));
    free(file);
  }
  return 0;
}

/* Flag 2: the chunk sums and their CRC, recomputed wherever the header's
 * numbers point inside the file. */
static void fix_sums(uint8_t *f, size_t n, size_t desc_len) {
  uint64_t n_table = rd64(f + 24), n_sect = rd64(f + 32), sums_off = rd64(f + 48), n_chunks = rd64(f + 56);
  if (n_table > n / 8 || n_sect > n / 16) return;
  uint64_t dir = FIXED + desc_len + 8 * n_table;
  if (dir + 16 * n_sect > n || sums_off > n || n_chunks > (n - sums_off) / 4) return;
  const uint64_t chunk = rd64(f + 40);
  if (chunk == 0) return;
  uint64_t ci = 0;
  for (uint64_t k = 0; k < n_sect; k++) {
    uint64_t off = rd64(f + dir + 16 * k), len = rd64(f + dir + 16 * k + 8);
    if (off > n || len > n - off) return;
    for (uint64_t at = 0; at < len; at += chunk, ci++) {
      if (ci >= n_chunks) return;
      uint64_t m = len - at < chunk ? len - at : chunk;
      wr32(f + sums_off + 4 * ci, agpt_crc32c(0, f + off + at, (size_t)m));
    }
  }
  wr32(f + 64, agpt_crc32c(0, f + sums_off, (size_t)n_chunks * 4));
}

static void fix_header(uint8_t *f, size_t n, size_t desc_len) {
  uint64_t n_table = rd64(f + 24), n_sect = rd64(f + 32);
  if (n_table > n / 8 || n_sect > n / 16) return;
  uint64_t end = FIXED + desc_len + 8 * n_table + 16 * n_sect;
  if (end <= n) wr32(f + 12, agpt_crc32c(0, f + 16, (size_t)(end - 16)));
}

/* Every read the index offers; only statuses may come back. */
static void read_all(const agpt_megatron_index *ix) {
  int32_t tok[SEQ + 1];
  uint64_t size = agpt_megatron_index_size(ix);
  for (uint64_t i = 0; i < size; i++) {
    agpt_sample_origin o;
    int d;
    uint64_t s;
    (void)agpt_megatron_index_get(ix, i, tok);
    (void)agpt_megatron_index_origin(ix, i, &o);
    (void)agpt_megatron_index_blend_at(ix, i, &d, &s);
  }
  for (int c = 0; c < agpt_megatron_index_n_corpora(ix); c++) {
    uint64_t csize = 0;
    if (agpt_megatron_index_corpus(ix, c, NULL, &csize, NULL, NULL) != AGPT_OK) continue;
    for (uint64_t i = 0; i < csize; i++) {
      int k;
      uint64_t s;
      (void)agpt_megatron_index_corpus_at(ix, c, i, &k, &s);
    }
    (void)agpt_megatron_index_corpus_shuffle(ix, c);
  }
  agpt_err_clear();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  uint8_t flags = data[0];
  layout *l = &layouts[(flags & 4) ? 1 : 0];
  const uint8_t *body = data + 1;
  size_t n = size - 1, fn = n < FIXED ? n : n + l->desc_len;
  uint8_t *f = malloc(fn ? fn : 1);
  if (n < FIXED) {
    memcpy(f, body, n); /* too short for a header: as it is */
  } else {
    memcpy(f, body, FIXED);
    memcpy(f + FIXED, l->desc, l->desc_len);
    memcpy(f + FIXED + l->desc_len, body + FIXED, n - FIXED);
    wr64(f + 16, l->desc_len);
    if (flags & 2) fix_sums(f, fn, l->desc_len);
    if (flags != 0xff) fix_header(f, fn, l->desc_len);
  }
  if (agpt_mkdir_p("cache") != AGPT_OK) die("mkdir cache");
  char *path = agpt_mt_cache_path("cache", l->desc);
  fuzz_write_file(path, f, fn);
  free(f);
  agpt_megatron_index *ix;
  if (agpt_megatron_index_build_ex(&l->b, &opts, &l->mo, &ix) == AGPT_OK) {
    read_all(ix);
    agpt_megatron_index_free(ix);
  }
  agpt_err_clear();
  free(path);
  return 0;
}
