/* The megatron index's foundations: numpy's legacy RandomState (values
 * recorded once from numpy 1.24: RandomState(seed).randint / permutation /
 * shuffle), and invariants of built indices on synthetic metadata-only
 * datasets: every epoch of doc_idx is a permutation of the split, every
 * sample spans seq_len + 1 tokens, the shuffle index is a permutation, and
 * the fast greedy blend equals the plain O(size x datasets) loop. Token-level
 * equality with a numpy reference lives in tests/py/test_megatron_index.py. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "core/file.h"
#include "data/megatron_index.h"
#include "data/mt19937.h"

static void test_raw_words(void) {
  agpt_mt19937 st;
  /* np.random.RandomState(s).randint(0, 2**32, dtype=np.uint64): one raw word each. */
  const uint32_t w1234[6] = {822569775u, 2137449171u, 2671936806u, 3512589365u, 1880026316u, 2629000564u};
  agpt_mt19937_seed(&st, 1234);
  for (int i = 0; i < 6; i++) CHECK(agpt_mt19937_next32(&st) == w1234[i]);
  const uint32_t w0[3] = {2357136044u, 2546248239u, 3071714933u};
  agpt_mt19937_seed(&st, 0);
  for (int i = 0; i < 3; i++) CHECK(agpt_mt19937_next32(&st) == w0[i]);
  const uint32_t wmax[3] = {419326371u, 479346978u, 3918654476u};
  agpt_mt19937_seed(&st, 4294967295u);
  for (int i = 0; i < 3; i++) CHECK(agpt_mt19937_next32(&st) == wmax[i]);
  /* Word 700 crosses a state regeneration. */
  agpt_mt19937_seed(&st, 1234);
  for (int i = 0; i < 700; i++) agpt_mt19937_next32(&st);
  CHECK(agpt_mt19937_next32(&st) == 3114879019u);
  /* RandomState(42).randint(0, 2**40 + 1, dtype=np.int64): 64-bit masked rejection. */
  const uint64_t i40[4] = {441507790259ull, 458615280711ull, 810017303572ull, 440001501305ull};
  agpt_mt19937_seed(&st, 42);
  for (int i = 0; i < 4; i++) CHECK(agpt_mt19937_interval(&st, (uint64_t)1 << 40) == i40[i]);
}

static void test_shuffles(void) {
  agpt_mt19937 st;
  /* RandomState(1234).permutation(10) and (20). */
  const int64_t p10[10] = {7, 2, 9, 1, 0, 8, 4, 5, 6, 3};
  const int64_t p20[20] = {3, 13, 2, 16, 14, 5, 4, 0, 8, 18, 17, 11, 10, 9, 7, 1, 19, 12, 6, 15};
  int64_t a[20];
  for (int i = 0; i < 10; i++) a[i] = i;
  agpt_mt19937_seed(&st, 1234);
  agpt_mt19937_shuffle_i64(&st, a, 10);
  CHECK(memcmp(a, p10, sizeof p10) == 0);
  for (int i = 0; i < 20; i++) a[i] = i;
  agpt_mt19937_seed(&st, 1234);
  agpt_mt19937_shuffle_i64(&st, a, 20);
  CHECK(memcmp(a, p20, sizeof p20) == 0);

  /* RandomState(5).shuffle(np.arange(n, dtype=np.int32)): first 5, last 3 and
   * sum(a[i] * i) mod (2^61 - 1). */
  struct {
    uint64_t n;
    int32_t head[5], tail[3];
    uint64_t sum;
  } cases[] = {
      {1, {0}, {0}, 0},
      {2, {0, 1}, {0, 1}, 1},
      {3, {0, 1, 2}, {0, 1, 2}, 5},
      {1000, {544, 515, 193, 11, 279}, {701, 206, 867}, 243748383ull},
      {1000000, {399883, 634096, 624405, 861097, 813582}, {544751, 18638, 297827}, 250047367006975942ull},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    uint64_t n = cases[c].n;
    int32_t *v = malloc(n * sizeof *v);
    for (uint64_t i = 0; i < n; i++) v[i] = (int32_t)i;
    agpt_mt19937_seed(&st, 5);
    agpt_mt19937_shuffle_i32(&st, v, n);
    uint64_t h = n < 5 ? n : 5, t = n < 3 ? n : 3;
    for (uint64_t i = 0; i < h; i++) CHECK_MSG(v[i] == cases[c].head[i], "n=%llu head %llu", (unsigned long long)n, (unsigned long long)i);
    for (uint64_t i = 0; i < t; i++) CHECK_MSG(v[n - t + i] == cases[c].tail[i], "n=%llu tail", (unsigned long long)n);
    const unsigned __int128 mod = ((unsigned __int128)1 << 61) - 1;
    unsigned __int128 s = 0;
    for (uint64_t i = 0; i < n; i++) s = (s + (unsigned __int128)(uint64_t)v[i] * i) % mod;
    CHECK_MSG((uint64_t)s == cases[c].sum, "n=%llu checksum", (unsigned long long)n);
    free(v);
  }
  /* Draws continue across arrays and dtypes as numpy's do:
   * r = RandomState(7); r.shuffle(arange(1000)); r.shuffle(arange(500, dtype=uint32)). */
  int64_t *x = malloc(1000 * sizeof *x);
  uint32_t y[500];
  for (int i = 0; i < 1000; i++) x[i] = i;
  for (int i = 0; i < 500; i++) y[i] = (uint32_t)i;
  agpt_mt19937_seed(&st, 7);
  agpt_mt19937_shuffle_i64(&st, x, 1000);
  agpt_mt19937_shuffle_u32(&st, y, 500);
  const uint32_t y5[5] = {17, 98, 142, 384, 483};
  CHECK(memcmp(y, y5, sizeof y5) == 0);
  free(x);
}

/* ---------- built indices on synthetic metadata-only files ---------- */

static uint64_t lcg(uint64_t *s) {
  *s = *s * 6364136223846793005ull + 1442695040888963407ull;
  return *s >> 33;
}

static double pairwise(const double *a, size_t n) {
  if (n < 8) {
    double r = 0;
    for (size_t i = 0; i < n; i++) r += a[i];
    return r;
  }
  if (n <= 128) {
    double r[8];
    size_t i;
    for (int j = 0; j < 8; j++) r[j] = a[j];
    for (i = 8; i < n - n % 8; i += 8)
      for (int j = 0; j < 8; j++) r[j] += a[i + j];
    double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; i++) res += a[i];
    return res;
  }
  size_t n2 = n / 2 - (n / 2) % 8;
  return pairwise(a, n2) + pairwise(a + n2, n - n2);
}

static void test_built(const char *dir) {
  enum { NF = 40 };
  agpt_blend b;
  memset(&b, 0, sizeof b);
  b.n_files = b.n_corpora = NF;
  b.files = calloc(NF, sizeof *b.files);
  b.corpora = calloc(NF, sizeof *b.corpora);
  uint64_t rs = 99;
  double wsum = 0;
  for (int f = 0; f < NF; f++) {
    char prefix[512];
    snprintf(prefix, sizeof prefix, "%s/m%02d", dir, f);
    uint64_t n = 50 + lcg(&rs) % 400;
    int32_t *sizes = malloc(n * sizeof *sizes);
    for (uint64_t i = 0; i < n; i++) sizes[i] = (int32_t)(lcg(&rs) % 300); /* empty documents included */
    sizes[0] = 5;
    CHECK(agpt_indexed_write_meta(prefix, 8, sizes, n) == AGPT_OK);
    free(sizes);
    b.files[f].prefix = strdup(prefix);
    b.corpora[f] = b.files[f].prefix;
    b.files[f].corpus = f;
    b.files[f].weight = (double)(1 + lcg(&rs) % 1000) / (f % 7 == 0 ? 1000.0 : 1.0); /* spread over 1e-3..1e3 */
    wsum += b.files[f].weight;
    CHECK(agpt_indexed_open(prefix, 1, &b.files[f].ds) == AGPT_OK);
  }
  for (int f = 0; f < NF; f++) b.files[f].norm_weight = b.files[f].weight / wsum;
  b.opened = 1;

  agpt_index_opts o = {.mode = AGPT_INDEX_MEGATRON, .split = "949,50,1", .split_index = 0, .seq_len = 64,
                       .num_samples = 30000, .seed = 2024, .threads = 2};
  agpt_megatron_index *ix = NULL;
  CHECK(agpt_megatron_index_build(&b, &o, &ix) == AGPT_OK);
  if (!ix) return;
  CHECK(agpt_megatron_index_layout(ix) == AGPT_MEGATRON_PLAIN);
  int sep_seen = 0, multi_seen = 0;
  for (int f = 0; f < NF; f++) {
    agpt_megatron_file_arrays fa;
    CHECK(agpt_megatron_index_file_arrays(ix, f, &fa) == AGPT_OK);
    uint64_t nd = fa.doc_end - fa.doc_begin;
    CHECK(fa.n_doc_idx == nd * (uint64_t)fa.num_epochs);
    sep_seen += fa.separate_last_epoch;
    multi_seen += fa.num_epochs > 1;
    /* Epochs: without a separate last epoch only the whole multiset is
     * fixed; with one, the last nd entries are one epoch on their own. */
    uint32_t *seen = calloc(nd, sizeof *seen);
    for (uint64_t i = 0; i < fa.n_doc_idx; i++) {
      int64_t d = fa.doc_idx[i];
      CHECK(d >= (int64_t)fa.doc_begin && d < (int64_t)fa.doc_end);
      if (d >= (int64_t)fa.doc_begin && d < (int64_t)fa.doc_end) seen[d - (int64_t)fa.doc_begin]++;
    }
    int ok = 1;
    for (uint64_t k = 0; k < nd; k++) ok &= seen[k] == (uint32_t)fa.num_epochs;
    CHECK_MSG(ok, "file %d: doc_idx is not num_epochs copies of the split", f);
    if (fa.separate_last_epoch) {
      memset(seen, 0, nd * sizeof *seen);
      for (uint64_t i = fa.n_doc_idx - nd; i < fa.n_doc_idx; i++) seen[fa.doc_idx[i] - (int64_t)fa.doc_begin]++;
      ok = 1;
      for (uint64_t k = 0; k < nd; k++) ok &= seen[k] == 1;
      CHECK_MSG(ok, "file %d: last epoch is not a permutation", f);
    }
    free(seen);
    /* Every sample spans seq_len + 1 tokens. */
    const agpt_i32_unaligned *sizes = b.files[f].ds.sizes;
    ok = 1;
    for (uint64_t k = 0; k + 1 < fa.n_sample_idx; k++) {
      int64_t p0 = fa.sample_idx[2 * k], o0 = fa.sample_idx[2 * k + 1];
      int64_t p1 = fa.sample_idx[2 * k + 2], o1 = fa.sample_idx[2 * k + 3];
      int64_t span = 0;
      if (p0 == p1) {
        span = o1 - o0 + 1;
      } else {
        span = sizes[fa.doc_idx[p0]] - o0;
        for (int64_t p = p0 + 1; p < p1; p++) span += sizes[fa.doc_idx[p]];
        span += o1 + 1;
      }
      ok &= span == o.seq_len + 1;
    }
    CHECK_MSG(ok, "file %d: a sample does not span seq_len + 1 tokens", f);
    CHECK(fa.shuffle_idx != NULL && fa.n_shuffle == fa.n_sample_idx - 1);
    uint8_t *hit = calloc(fa.n_shuffle, 1);
    ok = 1;
    for (uint64_t j = 0; j < fa.n_shuffle; j++) {
      uint32_t v = fa.shuffle_idx[j];
      ok &= v < fa.n_shuffle && !hit[v];
      if (v < fa.n_shuffle) hit[v] = 1;
    }
    CHECK_MSG(ok, "file %d: shuffle_idx is not a permutation", f);
    free(hit);
    agpt_megatron_file_arrays_free(&fa);
  }
  CHECK(sep_seen > 0);
  CHECK(multi_seen > sep_seen);

  /* The blend equals the plain greedy loop on Megatron's weights. */
  double norm[NF], w[NF];
  uint64_t size = 0, cnt[NF];
  for (int f = 0; f < NF; f++) {
    norm[f] = b.files[f].weight / wsum;
    size += (uint64_t)ceil((double)o.num_samples * norm[f] * 1.005);
  }
  CHECK(agpt_megatron_index_size(ix) == size);
  double s = pairwise(norm, NF);
  for (int f = 0; f < NF; f++) {
    w[f] = norm[f] / s;
    cnt[f] = 0;
  }
  int ok = 1;
  for (uint64_t n = 0; n < size; n++) {
    double x = n > 1 ? (double)n : 1.0;
    int best = 0;
    double be = w[0] * x - (double)cnt[0];
    for (int d = 1; d < NF; d++) {
      double e = w[d] * x - (double)cnt[d];
      if (e > be) {
        be = e;
        best = d;
      }
    }
    int gd;
    uint64_t gs;
    CHECK(agpt_megatron_index_blend_at(ix, n, &gd, &gs) == AGPT_OK);
    if (gd != best || gs != cnt[best]) {
      if (ok) fprintf(stderr, "blend differs at %llu: %d/%llu vs %d/%llu\n", (unsigned long long)n, gd,
                      (unsigned long long)gs, best, (unsigned long long)cnt[best]);
      ok = 0;
    }
    cnt[best]++;
  }
  CHECK(ok);

  /* Origins agree with the arrays; out-of-range fails with a message. */
  agpt_sample_origin so;
  CHECK(agpt_megatron_index_origin(ix, 0, &so) == AGPT_OK);
  CHECK(so.file >= 0 && so.file < NF && so.corpus == so.file);
  CHECK(agpt_megatron_index_origin(ix, size, &so) == AGPT_ERR && strstr(agpt_errmsg(), "out of range"));
  int32_t tok[65];
  CHECK(agpt_megatron_index_get(ix, 0, tok) == AGPT_ERR && strstr(agpt_errmsg(), ".bin")); /* meta-only */

  /* Same inputs, same arrays, whatever the thread count. */
  agpt_megatron_index *ix1 = NULL;
  o.threads = 1;
  CHECK(agpt_megatron_index_build(&b, &o, &ix1) == AGPT_OK);
  if (ix1) {
    for (int f = 0; f < NF; f++) {
      agpt_megatron_file_arrays a0, a1;
      agpt_megatron_index_file_arrays(ix, f, &a0);
      agpt_megatron_index_file_arrays(ix1, f, &a1);
      CHECK(memcmp(a0.doc_idx, a1.doc_idx, a0.n_doc_idx * 4) == 0);
      CHECK(memcmp(a0.sample_idx, a1.sample_idx, a0.n_sample_idx * 8) == 0);
      CHECK(memcmp(a0.shuffle_idx, a1.shuffle_idx, a0.n_shuffle * 4) == 0);
      agpt_megatron_file_arrays_free(&a0);
      agpt_megatron_file_arrays_free(&a1);
    }
    agpt_megatron_index_free(ix1);
  }

  /* An empty split names the file. */
  o.split = "1,0,0";
  o.split_index = 2;
  agpt_megatron_index *bad = NULL;
  CHECK(agpt_megatron_index_build(&b, &o, &bad) == AGPT_ERR && bad == NULL);
  CHECK(strstr(agpt_errmsg(), "m00") != NULL && strstr(agpt_errmsg(), "split") != NULL);

  agpt_megatron_index_free(ix);
  for (int f = 0; f < NF; f++) {
    agpt_indexed_close(&b.files[f].ds);
    char path[600];
    snprintf(path, sizeof path, "%s.idx", b.files[f].prefix);
    unlink(path);
    free(b.files[f].prefix);
  }
  free(b.files);
  free(b.corpora);
}

int main(void) {
  test_raw_words();
  test_shuffles();
  char dir[] = "/tmp/agpt_test_megatron_XXXXXX";
  if (!mkdtemp(dir)) {
    fprintf(stderr, "mkdtemp failed\n");
    return 1;
  }
  test_built(dir);
  rmdir(dir);
  return check_done("test_megatron_index");
}
