/* The numpy-exact MT19937 (src/data/mt19937.c) against a plain reference
 * written here from the published algorithm: init_genrand, genrand_int32
 * with the mag01 table, numpy's random_interval (mask by bit smearing,
 * 32-bit words up to 0xffffffff, else two words high first) and the
 * Fisher-Yates shuffle from the end. Checked: raw words at many seeds and
 * stream offsets (including across regenerations), next64, interval at
 * bounds around the 32/64-bit switch, the bulk fill and index draws,
 * shuffles of every dtype at sizes around the 624-word block and the 16-lane
 * vectors from many starting offsets, interleaved with single draws so the
 * stream must continue exactly, and numpy's own recorded values. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "data/mt19937.h"

/* ---------- reference ---------- */

typedef struct {
  uint32_t mt[624];
  int mti;
} ref_mt;

static void ref_seed(ref_mt *r, uint32_t s) {
  r->mt[0] = s;
  for (r->mti = 1; r->mti < 624; r->mti++)
    r->mt[r->mti] = 1812433253u * (r->mt[r->mti - 1] ^ (r->mt[r->mti - 1] >> 30)) + (uint32_t)r->mti;
}

static uint32_t ref_next32(ref_mt *r) {
  static const uint32_t mag01[2] = {0u, 0x9908b0dfu};
  uint32_t y;
  if (r->mti >= 624) {
    int kk;
    for (kk = 0; kk < 624 - 397; kk++) {
      y = (r->mt[kk] & 0x80000000u) | (r->mt[kk + 1] & 0x7fffffffu);
      r->mt[kk] = r->mt[kk + 397] ^ (y >> 1) ^ mag01[y & 1u];
    }
    for (; kk < 623; kk++) {
      y = (r->mt[kk] & 0x80000000u) | (r->mt[kk + 1] & 0x7fffffffu);
      r->mt[kk] = r->mt[kk + (397 - 624)] ^ (y >> 1) ^ mag01[y & 1u];
    }
    y = (r->mt[623] & 0x80000000u) | (r->mt[0] & 0x7fffffffu);
    r->mt[623] = r->mt[396] ^ (y >> 1) ^ mag01[y & 1u];
    r->mti = 0;
  }
  y = r->mt[r->mti++];
  y ^= (y >> 11);
  y ^= (y << 7) & 0x9d2c5680u;
  y ^= (y << 15) & 0xefc60000u;
  y ^= (y >> 18);
  return y;
}

static uint64_t ref_next64(ref_mt *r) {
  uint64_t hi = ref_next32(r);
  return hi << 32 | ref_next32(r);
}

static uint64_t ref_interval(ref_mt *r, uint64_t max) {
  if (max == 0) return 0;
  uint64_t mask = max, v;
  mask |= mask >> 1;
  mask |= mask >> 2;
  mask |= mask >> 4;
  mask |= mask >> 8;
  mask |= mask >> 16;
  mask |= mask >> 32;
  if (max <= 0xffffffffu) {
    while ((v = (ref_next32(r) & mask)) > max) {
    }
  } else {
    while ((v = (ref_next64(r) & mask)) > max) {
    }
  }
  return v;
}

#define REF_SHUFFLE(name, T)                             \
  static void name(ref_mt *r, T *a, uint64_t n) {        \
    for (uint64_t i = n; i-- > 1;) {                     \
      uint64_t j = ref_interval(r, i);                   \
      T t = a[i];                                        \
      a[i] = a[j];                                       \
      a[j] = t;                                          \
    }                                                    \
  }
REF_SHUFFLE(ref_shuffle_i32, int32_t)
REF_SHUFFLE(ref_shuffle_u32, uint32_t)
REF_SHUFFLE(ref_shuffle_i64, int64_t)

/* ---------- helpers ---------- */

/* Both streams must hand out the same next words. */
static int same_stream(agpt_mt19937 *st, ref_mt *r, int words) {
  for (int k = 0; k < words; k++)
    if (agpt_mt19937_next32(st) != ref_next32(r)) return 0;
  return 1;
}

static void start_both(agpt_mt19937 *st, ref_mt *r, uint32_t seed, int skip) {
  agpt_mt19937_seed(st, seed);
  ref_seed(r, seed);
  for (int k = 0; k < skip; k++) {
    agpt_mt19937_next32(st);
    ref_next32(r);
  }
}

static const uint32_t seeds[] = {0u, 1u, 5u, 42u, 1234u, 0x9e3779b9u, 4294967295u};
#define NSEEDS (int)(sizeof seeds / sizeof seeds[0])
static const int skips[] = {0, 1, 7, 15, 16, 17, 100, 607, 608, 609, 623, 624, 625, 1000};
#define NSKIPS (int)(sizeof skips / sizeof skips[0])

/* ---------- tests ---------- */

static void test_numpy_values(void) {
  agpt_mt19937 st;
  /* np.random.RandomState(s).randint(0, 2**32, dtype=np.uint64), as in
   * test_megatron_index.c */
  const uint32_t w1234[6] = {822569775u, 2137449171u, 2671936806u, 3512589365u, 1880026316u, 2629000564u};
  agpt_mt19937_seed(&st, 1234);
  for (int i = 0; i < 6; i++) CHECK(agpt_mt19937_next32(&st) == w1234[i]);
  uint32_t buf[6];
  agpt_mt19937_seed(&st, 1234);
  agpt_mt19937_fill32(&st, buf, 6);
  CHECK(memcmp(buf, w1234, sizeof buf) == 0);
  agpt_mt19937_seed(&st, 1234);
  for (int i = 0; i < 700; i++) agpt_mt19937_next32(&st);
  CHECK(agpt_mt19937_next32(&st) == 3114879019u);
  /* the reference agrees with numpy too, so it is a fair judge */
  ref_mt r;
  ref_seed(&r, 1234);
  for (int i = 0; i < 6; i++) CHECK(ref_next32(&r) == w1234[i]);
  const uint64_t i40[4] = {441507790259ull, 458615280711ull, 810017303572ull, 440001501305ull};
  agpt_mt19937_seed(&st, 42);
  for (int i = 0; i < 4; i++) CHECK(agpt_mt19937_interval(&st, (uint64_t)1 << 40) == i40[i]);
  /* RandomState(1234).permutation(20) */
  const int32_t p20[20] = {3, 13, 2, 16, 14, 5, 4, 0, 8, 18, 17, 11, 10, 9, 7, 1, 19, 12, 6, 15};
  int32_t a[20];
  for (int i = 0; i < 20; i++) a[i] = i;
  agpt_mt19937_seed(&st, 1234);
  agpt_mt19937_shuffle_i32(&st, a, 20);
  CHECK(memcmp(a, p20, sizeof a) == 0);
}

static void test_raw_streams(void) {
  for (int s = 0; s < NSEEDS; s++) {
    agpt_mt19937 st;
    ref_mt r;
    start_both(&st, &r, seeds[s], 0);
    CHECK_MSG(same_stream(&st, &r, 3 * 624 + 5), "seed %u next32", seeds[s]);
    for (int k = 0; k < 50; k++) CHECK_MSG(agpt_mt19937_next64(&st) == ref_next64(&r), "seed %u next64 %d", seeds[s], k);
  }
  /* fill32 in odd chunk sizes, interleaved with next32 */
  const size_t chunks[] = {0, 1, 3, 15, 16, 17, 623, 624, 625, 1300, 5};
  for (int s = 0; s < NSEEDS; s++) {
    for (int sk = 0; sk < NSKIPS; sk++) {
      agpt_mt19937 st;
      ref_mt r;
      start_both(&st, &r, seeds[s], skips[sk]);
      int ok = 1;
      for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
        uint32_t buf[1300];
        agpt_mt19937_fill32(&st, buf, chunks[c]);
        for (size_t k = 0; k < chunks[c]; k++) ok &= buf[k] == ref_next32(&r);
        ok &= agpt_mt19937_next32(&st) == ref_next32(&r);
      }
      CHECK_MSG(ok, "seed %u skip %d fill32", seeds[s], skips[sk]);
    }
  }
}

static void test_interval(void) {
  /* around every power of two (mask edges) and the 32/64-bit switch */
  uint64_t maxes[200];
  int nm = 0;
  maxes[nm++] = 0;
  for (int b = 0; b < 63; b += (b < 36 ? 1 : 9)) {
    uint64_t p = (uint64_t)1 << b;
    maxes[nm++] = p;
    maxes[nm++] = p + 1;
    if (p > 1) maxes[nm++] = p - 1;
  }
  maxes[nm++] = 0xfffffffeull;
  maxes[nm++] = 0xffffffffull;
  maxes[nm++] = 0x100000000ull;
  maxes[nm++] = 0x100000001ull;
  maxes[nm++] = 0x17fffffffull;
  maxes[nm++] = ~(uint64_t)0;
  maxes[nm++] = ~(uint64_t)0 >> 1;
  for (int s = 0; s < NSEEDS; s++) {
    agpt_mt19937 st;
    ref_mt r;
    start_both(&st, &r, seeds[s], 3);
    int ok = 1;
    for (int rep = 0; rep < 5; rep++)
      for (int m = 0; m < nm; m++) {
        uint64_t v = agpt_mt19937_interval(&st, maxes[m]);
        ok &= v == ref_interval(&r, maxes[m]) && v <= maxes[m];
      }
    CHECK_MSG(ok, "seed %u interval", seeds[s]);
    CHECK_MSG(same_stream(&st, &r, 10), "seed %u after interval", seeds[s]);
  }
}

/* The index stream of a Fisher-Yates shuffle, compared draw by draw. */
static void test_intervals_desc(void) {
  const uint32_t tops[] = {1, 2, 3, 15, 16, 17, 31, 32, 33, 64, 100, 623, 624, 625, 1000, 4096, 65535, 65536, 65537,
                           100003, 0x7fffffffu, 0x80000000u, 0xffffffffu};
  const size_t cnts[] = {1, 2, 16, 17, 63, 64, 65, 300, 1248, 5000};
  uint32_t *out = malloc(5001 * sizeof *out);
  for (int s = 0; s < NSEEDS; s += 2) {
    for (size_t t = 0; t < sizeof tops / sizeof tops[0]; t++) {
      for (size_t c = 0; c < sizeof cnts / sizeof cnts[0]; c++) {
        size_t cnt = cnts[c] < (size_t)tops[t] + 1 ? cnts[c] : (size_t)tops[t] + 1; /* bounds reach 0 at most */
        agpt_mt19937 st;
        ref_mt r;
        start_both(&st, &r, seeds[s], skips[(t + c) % NSKIPS]);
        out[cnt] = 0xdeadbeefu;
        agpt_mt19937_intervals_desc32(&st, tops[t], out, cnt);
        int ok = out[cnt] == 0xdeadbeefu; /* nothing written past cnt */
        for (size_t k = 0; k < cnt; k++) ok &= out[k] == ref_interval(&r, tops[t] - k);
        ok &= same_stream(&st, &r, 20);
        CHECK_MSG(ok, "seed %u top %u cnt %zu", seeds[s], tops[t], cnt);
      }
    }
  }
  free(out);
}

#define CHECK_SHUFFLE(T, fn, reffn)                                                                  \
  do {                                                                                               \
    T *a = malloc((n ? n : 1) * sizeof *a), *b = malloc((n ? n : 1) * sizeof *b);                   \
    for (uint64_t q = 0; q < n; q++) a[q] = b[q] = (T)(q * 3 + 1);                                   \
    fn(&st, a, n);                                                                                   \
    reffn(&r, b, n);                                                                                 \
    CHECK_MSG(memcmp(a, b, n * sizeof *a) == 0, "%s seed %u skip %d n %llu", #fn, seed, skip,         \
              (unsigned long long)n);                                                                \
    free(a);                                                                                         \
    free(b);                                                                                         \
  } while (0)

static void test_shuffles(void) {
  const uint64_t sizes[] = {0, 1, 2, 3, 4, 15, 16, 17, 18, 33, 64, 65, 100, 511, 512, 513, 514,
                            623, 624, 625, 626, 1000, 1247, 1248, 4097};
  for (int s = 0; s < NSEEDS; s++) {
    for (size_t z = 0; z < sizeof sizes / sizeof sizes[0]; z++) {
      uint32_t seed = seeds[s];
      int skip = skips[(s * 5 + z) % NSKIPS];
      uint64_t n = sizes[z];
      agpt_mt19937 st;
      ref_mt r;
      start_both(&st, &r, seed, skip);
      /* one state through all three dtypes, with single draws between */
      CHECK_SHUFFLE(int32_t, agpt_mt19937_shuffle_i32, ref_shuffle_i32);
      CHECK_MSG(same_stream(&st, &r, 3), "seed %u n %llu after i32", seed, (unsigned long long)n);
      CHECK_SHUFFLE(uint32_t, agpt_mt19937_shuffle_u32, ref_shuffle_u32);
      CHECK_MSG(agpt_mt19937_interval(&st, 1000) == ref_interval(&r, 1000), "seed %u interval after u32", seed);
      CHECK_SHUFFLE(int64_t, agpt_mt19937_shuffle_i64, ref_shuffle_i64);
      CHECK_MSG(same_stream(&st, &r, 700), "seed %u n %llu after i64", seed, (unsigned long long)n);
    }
  }
  /* larger arrays: several batches and regenerations, bounds above 2^16 */
  const uint64_t big[] = {(uint64_t)1 << 16, 100003, 300000};
  for (size_t z = 0; z < sizeof big / sizeof big[0]; z++) {
    uint32_t seed = seeds[z + 2];
    int skip = skips[z * 4];
    uint64_t n = big[z];
    agpt_mt19937 st;
    ref_mt r;
    start_both(&st, &r, seed, skip);
    CHECK_SHUFFLE(int32_t, agpt_mt19937_shuffle_i32, ref_shuffle_i32);
    CHECK_SHUFFLE(int32_t, agpt_mt19937_shuffle_i32, ref_shuffle_i32);
    CHECK_MSG(same_stream(&st, &r, 5), "seed %u n %llu after big i32", seed, (unsigned long long)n);
    if (z == 0) {
      CHECK_SHUFFLE(uint32_t, agpt_mt19937_shuffle_u32, ref_shuffle_u32);
      CHECK_SHUFFLE(int64_t, agpt_mt19937_shuffle_i64, ref_shuffle_i64);
      CHECK_MSG(same_stream(&st, &r, 5), "seed %u after big u32/i64", seed);
    }
  }
  /* many seeds, sizes and starting offsets, small enough to be quick */
  uint64_t lcg = 12345;
  for (int rep = 0; rep < 64; rep++) {
    lcg = lcg * 6364136223846793005ull + 1442695040888963407ull;
    uint32_t seed = (uint32_t)(lcg >> 32);
    int skip = (int)((lcg >> 8) % 1300);
    uint64_t n = 2 + (lcg >> 40) % 5000;
    agpt_mt19937 st;
    ref_mt r;
    start_both(&st, &r, seed, skip);
    CHECK_SHUFFLE(int32_t, agpt_mt19937_shuffle_i32, ref_shuffle_i32);
    CHECK_MSG(same_stream(&st, &r, 2), "seed %u n %llu after random-size i32", seed, (unsigned long long)n);
  }
  /* the size of a per-file document index at scale: bounds up to 2^22 */
  {
    uint32_t seed = 2024;
    int skip = 5;
    uint64_t n = 2600000;
    agpt_mt19937 st;
    ref_mt r;
    start_both(&st, &r, seed, skip);
    CHECK_SHUFFLE(int32_t, agpt_mt19937_shuffle_i32, ref_shuffle_i32);
    CHECK_MSG(same_stream(&st, &r, 2), "after 2.6M i32");
  }
  /* A copied state is a fork: both copies go on to the same results. */
  agpt_mt19937 st, fork;
  agpt_mt19937_seed(&st, 77);
  int32_t x[1000], y[1000];
  for (int q = 0; q < 1000; q++) x[q] = y[q] = q;
  agpt_mt19937_shuffle_i32(&st, x, 300);
  fork = st;
  for (int q = 0; q < 1000; q++) x[q] = y[q] = q;
  agpt_mt19937_shuffle_i32(&st, x, 1000);
  agpt_mt19937_shuffle_i32(&fork, y, 1000);
  CHECK(memcmp(x, y, sizeof x) == 0);
  CHECK(agpt_mt19937_next32(&st) == agpt_mt19937_next32(&fork));
}

int main(void) {
  test_numpy_values();
  test_raw_streams();
  test_interval();
  test_intervals_desc();
  test_shuffles();
  return check_done("mt19937");
}
