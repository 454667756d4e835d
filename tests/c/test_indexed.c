/* Indexed datasets: write/read round trips in uint16 and int32 (with empty
 * documents and partial reads), metadata-only files from arrays and from a
 * generator, one validation error per field of a corrupt .idx/.bin (each
 * message must name the field), sampled validation, atomicity under an
 * injected write failure, and random corruption that must never crash. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "core/file.h"
#include "data/indexed.h"

static char dir[256];

static void path_of(char *out, size_t cap, const char *name, const char *ext) {
  snprintf(out, cap, "%s/%s%s", dir, name, ext);
}

static uint64_t lcg_state = 12345;
static uint32_t rnd(void) {
  lcg_state = lcg_state * 6364136223846793005ull + 1442695040888963407ull;
  return (uint32_t)(lcg_state >> 33);
}

typedef struct {
  int ndocs;
  int32_t **docs;
  size_t *lens;
} corpus;

static corpus make_corpus(int ndocs, int32_t maxid) {
  corpus c = {ndocs, calloc((size_t)ndocs, sizeof(int32_t *)), calloc((size_t)ndocs, sizeof(size_t))};
  for (int d = 0; d < ndocs; d++) {
    size_t n = (d % 7 == 3) ? 0 : rnd() % 300; /* every seventh document empty */
    c.lens[d] = n;
    c.docs[d] = malloc(sizeof(int32_t) * (n + 1));
    for (size_t i = 0; i < n; i++) c.docs[d][i] = (int32_t)(rnd() % (uint32_t)maxid);
    if (n > 0) c.docs[d][0] = maxid - 1; /* the extreme id always appears */
  }
  return c;
}

static void free_corpus(corpus *c) {
  for (int d = 0; d < c->ndocs; d++) free(c->docs[d]);
  free(c->docs);
  free(c->lens);
}

static void write_corpus(const char *name, int dtype, const corpus *c) {
  char prefix[300];
  path_of(prefix, sizeof prefix, name, "");
  agpt_indexed_writer *w;
  CHECK(agpt_indexed_writer_open(prefix, dtype, &w) == AGPT_OK);
  for (int d = 0; d < c->ndocs; d++) CHECK(agpt_indexed_writer_add_doc(w, c->docs[d], c->lens[d]) == AGPT_OK);
  CHECK(agpt_indexed_writer_docs(w) == (uint64_t)c->ndocs);
  CHECK(agpt_indexed_writer_finish(w) == AGPT_OK);
}

static void test_round_trip(int dtype, int32_t maxid) {
  corpus c = make_corpus(200, maxid);
  write_corpus("rt", dtype, &c);
  char prefix[300];
  path_of(prefix, sizeof prefix, "rt", ".bin"); /* a trailing .bin is accepted */
  agpt_indexed ds;
  agpt_status st = agpt_indexed_open(prefix, 0, &ds);
  CHECK_MSG(st == AGPT_OK, "%s", agpt_errmsg());
  if (st != AGPT_OK) return;
  CHECK(ds.dtype == dtype);
  CHECK(ds.n_seqs == 200 && ds.n_docs == 201);
  uint64_t total = 0;
  int32_t buf[400];
  for (int d = 0; d < 200; d++) {
    CHECK(ds.sizes[d] == (int32_t)c.lens[d]);
    CHECK(ds.pointers[d] == (int64_t)(total * ds.itemsize));
    CHECK(ds.doc_idx[d] == d);
    total += c.lens[d];
    agpt_indexed_read(&ds, (uint64_t)d, 0, c.lens[d], buf);
    CHECK(c.lens[d] == 0 || memcmp(buf, c.docs[d], c.lens[d] * 4) == 0);
    if (c.lens[d] > 10) {
      agpt_indexed_read(&ds, (uint64_t)d, 3, 5, buf);
      CHECK(memcmp(buf, c.docs[d] + 3, 5 * 4) == 0);
    }
  }
  CHECK(ds.doc_idx[200] == 200);
  CHECK(ds.n_tokens == total);
  CHECK(ds.bin.size == total * ds.itemsize);
  agpt_indexed_close(&ds);
  /* Metadata-only open of the same files gives the same arrays, no .bin. */
  CHECK(agpt_indexed_open(prefix, 1, &ds) == AGPT_OK);
  CHECK(ds.meta_only && ds.bin.size == 0 && ds.n_tokens == total);
  agpt_indexed_close(&ds);
  free_corpus(&c);
}

static void test_empty_dataset(void) {
  char prefix[300];
  path_of(prefix, sizeof prefix, "empty", "");
  agpt_indexed_writer *w;
  CHECK(agpt_indexed_writer_open(prefix, AGPT_IDX_U16, &w) == AGPT_OK);
  CHECK(agpt_indexed_writer_finish(w) == AGPT_OK);
  agpt_indexed ds;
  CHECK(agpt_indexed_open(prefix, 0, &ds) == AGPT_OK);
  CHECK(ds.n_seqs == 0 && ds.n_docs == 1 && ds.doc_idx[0] == 0 && ds.n_tokens == 0);
  agpt_indexed_close(&ds);
}

static void test_writer_rejects(void) {
  char prefix[300], bin[300], idx[300];
  path_of(prefix, sizeof prefix, "bad", "");
  path_of(bin, sizeof bin, "bad", ".bin");
  path_of(idx, sizeof idx, "bad", ".idx");
  agpt_indexed_writer *w;
  CHECK(agpt_indexed_writer_open(prefix, AGPT_IDX_F32, &w) == AGPT_ERR);
  CHECK(agpt_indexed_writer_open(prefix, AGPT_IDX_U16, &w) == AGPT_OK);
  int32_t ids[3] = {1, 65536, 2};
  CHECK(agpt_indexed_writer_add_doc(w, ids, 3) == AGPT_ERR);
  CHECK_MSG(strstr(agpt_errmsg(), "token 1") && strstr(agpt_errmsg(), "65536"), "%s", agpt_errmsg());
  agpt_indexed_writer_abort(w);
  CHECK(!agpt_file_exists(bin) && !agpt_file_exists(idx));
  CHECK(agpt_indexed_dtype_for_vocab(50257) == AGPT_IDX_U16);
  CHECK(agpt_indexed_dtype_for_vocab(65499) == AGPT_IDX_U16);
  CHECK(agpt_indexed_dtype_for_vocab(65500) == AGPT_IDX_I32);
  CHECK(agpt_indexed_dtype_for_vocab(128256) == AGPT_IDX_I32);
}

/* An injected disk-full error at any write leaves no new file behind and the
 * old dataset intact. */
static void test_atomic(void) {
  corpus old = make_corpus(30, 1000), neu = make_corpus(3000, 1000);
  write_corpus("atom", AGPT_IDX_U16, &old);
  char prefix[300];
  path_of(prefix, sizeof prefix, "atom", "");
  for (long nth = 1; nth <= 3; nth++) {
    agpt_fault_set_write(nth);
    agpt_indexed_writer *w;
    agpt_status st = agpt_indexed_writer_open(prefix, AGPT_IDX_U16, &w);
    for (int d = 0; d < neu.ndocs && st == AGPT_OK; d++) st = agpt_indexed_writer_add_doc(w, neu.docs[d], neu.lens[d]);
    if (st == AGPT_OK)
      st = agpt_indexed_writer_finish(w);
    else
      agpt_indexed_writer_abort(w);
    agpt_fault_set_write(0);
    CHECK_MSG(st == AGPT_ERR, "write %ld", nth);
    agpt_indexed ds;
    /* A failure before the .bin commit keeps the old pair; after it, the old
     * .idx is gone, so nothing half-new ever opens. */
    if (agpt_indexed_open(prefix, 0, &ds) == AGPT_OK) {
      CHECK(ds.n_seqs == 30);
      agpt_indexed_close(&ds);
    } else {
      CHECK_MSG(strstr(agpt_errmsg(), ".idx: cannot open"), "%s", agpt_errmsg());
    }
  }
  char cmd[400];
  snprintf(cmd, sizeof cmd, "ls %s | grep -c tmp > /dev/null", dir);
  CHECK(system(cmd) != 0); /* no temporary files left */
  free_corpus(&old);
  free_corpus(&neu);
}

static agpt_status gen_sizes(void *ctx, uint64_t first, uint64_t count, int32_t *out) {
  (void)ctx;
  for (uint64_t i = 0; i < count; i++) out[i] = (int32_t)(((first + i) * 2654435761u) % 5000);
  return AGPT_OK;
}

static void test_meta(void) {
  char prefix[300];
  path_of(prefix, sizeof prefix, "meta", "");
  uint64_t n = (1 << 20) + 12345; /* crosses a write-chunk boundary */
  CHECK(agpt_indexed_write_meta_fn(prefix, AGPT_IDX_I32, n, gen_sizes, NULL) == AGPT_OK);
  agpt_indexed ds;
  CHECK(agpt_indexed_open(prefix, 0, &ds) == AGPT_ERR); /* there is no .bin */
  CHECK_MSG(strstr(agpt_errmsg(), "meta.bin"), "%s", agpt_errmsg());
  CHECK(agpt_indexed_open(prefix, 1, &ds) == AGPT_OK);
  CHECK(ds.n_seqs == n && ds.n_docs == n + 1 && ds.itemsize == 4);
  uint64_t ptr = 0, bad = 0;
  for (uint64_t i = 0; i < n; i++) {
    int32_t s;
    gen_sizes(NULL, i, 1, &s);
    bad += ds.sizes[i] != s || ds.pointers[i] != (int64_t)ptr || ds.doc_idx[i] != (int64_t)i;
    ptr += (uint64_t)s * 4;
  }
  CHECK(bad == 0);
  CHECK(ds.n_tokens == ptr / 4);
  agpt_indexed_close(&ds);

  int32_t sizes[5] = {3, 0, 7, 1, 2};
  path_of(prefix, sizeof prefix, "meta2", ".idx");
  CHECK(agpt_indexed_write_meta(prefix, AGPT_IDX_U16, sizes, 5) == AGPT_OK);
  CHECK(agpt_indexed_open(prefix, 1, &ds) == AGPT_OK);
  CHECK(ds.n_seqs == 5 && ds.pointers[4] == 2 * 11 && ds.n_tokens == 13);
  agpt_indexed_close(&ds);
  sizes[2] = -1;
  CHECK(agpt_indexed_write_meta(prefix, AGPT_IDX_U16, sizes, 5) == AGPT_ERR);
  CHECK_MSG(strstr(agpt_errmsg(), "sizes[2]"), "%s", agpt_errmsg());
}

/* ---- corruption of one field at a time */

static unsigned char *good_idx, *good_bin;
static size_t good_idx_n, good_bin_n;

static void load_good(void) {
  /* 5 sequences of 4, 0, 3, 2, 6 uint16 tokens. */
  corpus c = {0};
  c.ndocs = 5;
  c.docs = calloc(5, sizeof(int32_t *));
  c.lens = calloc(5, sizeof(size_t));
  size_t lens[5] = {4, 0, 3, 2, 6};
  for (int d = 0; d < 5; d++) {
    c.lens[d] = lens[d];
    c.docs[d] = malloc(sizeof(int32_t) * 8);
    for (size_t i = 0; i < lens[d]; i++) c.docs[d][i] = (int32_t)(d * 100 + (int)i);
  }
  write_corpus("good", AGPT_IDX_U16, &c);
  free_corpus(&c);
  char p[300];
  path_of(p, sizeof p, "good", ".idx");
  char *data;
  CHECK(agpt_file_read_all(p, &data, &good_idx_n) == AGPT_OK);
  good_idx = (unsigned char *)data;
  path_of(p, sizeof p, "good", ".bin");
  CHECK(agpt_file_read_all(p, &data, &good_bin_n) == AGPT_OK);
  good_bin = (unsigned char *)data;
  CHECK(good_idx_n == 34 + 12 * 5 + 8 * 6);
  CHECK(good_bin_n == 2 * 15);
}

static void put(const char *ext, const void *data, size_t n) {
  char p[300];
  path_of(p, sizeof p, "case", ext);
  CHECK(agpt_file_write_atomic(p, data, n) == AGPT_OK);
}

/* Opens "case" after the idx/bin edits; expects failure whose message holds
 * want (NULL: expects success). */
static void expect_open(const unsigned char *idx, size_t idx_n, const unsigned char *bin, size_t bin_n,
                        const char *want, int line) {
  put(".idx", idx, idx_n);
  put(".bin", bin, bin_n);
  char prefix[300];
  path_of(prefix, sizeof prefix, "case", "");
  agpt_indexed ds;
  agpt_status st = agpt_indexed_open(prefix, 0, &ds);
  if (!want) {
    CHECK_MSG(st == AGPT_OK, "line %d: %s", line, agpt_errmsg());
    if (st == AGPT_OK) agpt_indexed_close(&ds);
    return;
  }
  CHECK_MSG(st == AGPT_ERR, "line %d: opened a corrupt file (want '%s')", line, want);
  CHECK_MSG(st == AGPT_OK || strstr(agpt_errmsg(), want), "line %d: message '%s' lacks '%s'", line, agpt_errmsg(),
            want);
  CHECK_MSG(st == AGPT_OK || strstr(agpt_errmsg(), "case."), "line %d: message '%s' names no file", line,
            agpt_errmsg());
}

static void set_u64(unsigned char *b, size_t off, uint64_t v) { memcpy(b + off, &v, 8); }
static void set_i32(unsigned char *b, size_t off, int32_t v) { memcpy(b + off, &v, 4); }
static void set_i64(unsigned char *b, size_t off, int64_t v) { memcpy(b + off, &v, 8); }

#define EXPECT(idx, n, bin, bn, want) expect_open(idx, n, bin, bn, want, __LINE__)

static void test_fields(void) {
  size_t n = good_idx_n;
  unsigned char *b = malloc(n + 64);
  const size_t SZ = 34, PT = 34 + 4 * 5, DI = 34 + 12 * 5;
#define RESET() memcpy(b, good_idx, n)
  RESET();
  EXPECT(b, n, good_bin, good_bin_n, NULL);
  EXPECT(b, 20, good_bin, good_bin_n, "header");
  EXPECT(b, 0, good_bin, good_bin_n, "header");
  b[3] = 'X';
  EXPECT(b, n, good_bin, good_bin_n, "magic");
  RESET();
  set_u64(b, 9, 2);
  EXPECT(b, n, good_bin, good_bin_n, "version = 2");
  RESET();
  b[17] = 0;
  EXPECT(b, n, good_bin, good_bin_n, "dtype code = 0");
  b[17] = 9;
  EXPECT(b, n, good_bin, good_bin_n, "dtype code = 9");
  RESET();
  set_u64(b, 18, 6);
  EXPECT(b, n, good_bin, good_bin_n, "counts");
  set_u64(b, 18, UINT64_MAX / 4);
  EXPECT(b, n, good_bin, good_bin_n, "counts");
  RESET();
  set_u64(b, 26, UINT64_MAX);
  EXPECT(b, n, good_bin, good_bin_n, "counts");
  RESET();
  EXPECT(b, n - 1, good_bin, good_bin_n, "counts");
  b[n] = 0;
  EXPECT(b, n + 1, good_bin, good_bin_n, "1 trailing bytes");
  memset(b + n, 0, 5); /* Megatron-LM's multimodal tail: one mode byte per sequence */
  EXPECT(b, n + 5, good_bin, good_bin_n, NULL);
  RESET();
  set_i32(b, SZ + 4 * 2, -3);
  EXPECT(b, n, good_bin, good_bin_n, "sizes[2] = -3");
  RESET();
  set_i32(b, SZ + 4 * 2, 4);
  EXPECT(b, n, good_bin, good_bin_n, "pointers[3] = 14, expected 16");
  RESET();
  set_i32(b, SZ + 4 * 4, 7); /* the last size only shows in the .bin length */
  EXPECT(b, n, good_bin, good_bin_n, "case.bin: length is 30 bytes");
  RESET();
  set_i32(b, SZ + 4 * 4, -1); /* the last size, opened without .bin */
  put(".idx", b, n);
  {
    char prefix[300];
    path_of(prefix, sizeof prefix, "case", "");
    agpt_indexed ds;
    CHECK(agpt_indexed_open(prefix, 1, &ds) == AGPT_ERR);
    CHECK_MSG(strstr(agpt_errmsg(), "sizes[4] = -1"), "%s", agpt_errmsg());
  }
  RESET();
  set_i64(b, PT, 2);
  EXPECT(b, n, good_bin, good_bin_n, "pointers[0] = 2");
  RESET();
  set_i64(b, PT + 8 * 2, 7);
  EXPECT(b, n, good_bin, good_bin_n, "pointers[2] = 7, expected 8");
  RESET();
  set_i64(b, PT + 8 * 4, -100);
  EXPECT(b, n, good_bin, good_bin_n, "pointers[4] = -100");
  RESET();
  set_i64(b, DI, 1);
  EXPECT(b, n, good_bin, good_bin_n, "doc_idx[0] = 1");
  RESET();
  set_i64(b, DI + 8 * 5, 4);
  EXPECT(b, n, good_bin, good_bin_n, "doc_idx[5] = 4, expected the sequence count 5");
  RESET();
  set_i64(b, DI + 8 * 2, 0);
  EXPECT(b, n, good_bin, good_bin_n, "doc_idx[2] = 0 is below doc_idx[1] = 1");
  RESET();
  set_i64(b, DI + 8 * 2, 1); /* an empty document: allowed */
  EXPECT(b, n, good_bin, good_bin_n, NULL);
  RESET();
  set_u64(b, 26, 0);
  EXPECT(b, 34 + 12 * 5, good_bin, good_bin_n, "document count is 0");
  RESET();
  EXPECT(b, n, good_bin, good_bin_n - 2, "truncated");
  unsigned char longer[64] = {0};
  memcpy(longer, good_bin, good_bin_n);
  EXPECT(b, n, longer, good_bin_n + 2, "do not match");

  /* The sampled check still sees a bad entry near the start. */
  setenv("AGPT_IDX_CHECK", "sampled", 1);
  set_i64(b, PT + 8 * 2, 7);
  EXPECT(b, n, good_bin, good_bin_n, "pointers[2] = 7, expected 8");
  RESET();
  EXPECT(b, n, good_bin, good_bin_n, NULL);
  unsetenv("AGPT_IDX_CHECK");
  free(b);
#undef RESET
}

/* Random byte flips and truncations: open either fails cleanly or yields a
 * dataset whose every sequence reads within the maps. */
static void test_fuzz(void) {
  unsigned char *b = malloc(good_idx_n), *bb = malloc(good_bin_n);
  int opened = 0, failed = 0;
  for (int iter = 0; iter < 1500; iter++) {
    memcpy(b, good_idx, good_idx_n);
    memcpy(bb, good_bin, good_bin_n);
    size_t n = good_idx_n, bn = good_bin_n;
    int flips = (int)(rnd() % 5); /* 0: only the .bin changes */
    for (int k = 0; k < flips; k++) {
      size_t at = rnd() % n;
      b[at] = (rnd() % 3 == 0) ? (unsigned char)(b[at] ^ (1u << (rnd() % 8))) : (unsigned char)rnd();
    }
    if (rnd() % 2 == 0) bb[rnd() % bn] ^= 0xff; /* token bytes carry no structure */
    if (rnd() % 4 == 0) n = rnd() % (n + 1);
    if (rnd() % 8 == 0) bn = rnd() % (bn + 1);
    put(".idx", b, n);
    put(".bin", bb, bn);
    char prefix[300];
    path_of(prefix, sizeof prefix, "case", "");
    agpt_indexed ds;
    if (agpt_indexed_open(prefix, 0, &ds) == AGPT_OK) {
      opened++;
      int32_t out[64];
      for (uint64_t s = 0; s < ds.n_seqs; s++)
        if (ds.sizes[s] <= 64) agpt_indexed_read(&ds, s, 0, (uint64_t)ds.sizes[s], out);
      CHECK(ds.n_tokens * ds.itemsize == ds.bin.size);
      agpt_indexed_close(&ds);
    } else {
      failed++;
      CHECK(agpt_errmsg()[0] != '\0');
    }
  }
  printf("fuzz: %d opened, %d rejected\n", opened, failed);
  CHECK(failed > 500 && opened > 100);
  free(b);
  free(bb);
}

int main(void) {
  snprintf(dir, sizeof dir, "/tmp/agpt_test_indexed_XXXXXX");
  if (!mkdtemp(dir)) {
    perror("mkdtemp");
    return 1;
  }
  test_round_trip(AGPT_IDX_U16, 65535);
  test_round_trip(AGPT_IDX_I32, 200000);
  test_empty_dataset();
  test_writer_rejects();
  test_atomic();
  test_meta();
  load_good();
  test_fields();
  test_fuzz();
  free(good_idx);
  free(good_bin);
  agpt_rm_rf(dir);
  return check_done("test_indexed");
}
