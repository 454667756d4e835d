/* Microbenchmark of the numpy-exact MT19937 (src/data/mt19937.c): ns per raw
 * word through next32 and fill32, ns per bounded draw through interval (one
 * call each) and intervals_desc32 (a shuffle's index stream in batches of
 * 512), and ns per element of the legacy shuffle of int32 arrays at the
 * sizes the Megatron index meets (one small, one ~10 MB per-file array, one
 * 100 MB array), plus uint32 and int64 at the middle size.
 *
 * Each figure is the median of several runs after a warm-up. Every line also
 * prints a fingerprint of what was produced, so two builds (say, before and
 * after a change to the generator) can be diffed for identical output as
 * well as compared for speed.
 *
 * Build and run (from the repository root; single-threaded, no other sources):
 *   gcc -std=c11 -D_GNU_SOURCE -O3 -march=native -Wall -Wextra -Werror -Isrc src/data/mt19937.c bench/kernels/bench_mt19937.c -o /tmp/bench_mt19937 && /tmp/bench_mt19937
 * An optional argument scales the repetition counts (default 1). */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "data/mt19937.h"

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(double *t, int n) {
  qsort(t, (size_t)n, sizeof *t, cmp_d);
  return t[n / 2];
}

#define MAXREP 64

static int reps_for(double scale, int base) {
  int r = (int)(base * scale);
  return r < 1 ? 1 : r > MAXREP ? MAXREP : r;
}

/* order-sensitive fingerprint, so equal output means equal bits */
static uint64_t mix(uint64_t h, uint64_t v) {
  h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
  return h * 0xff51afd7ed558ccdull;
}

static void bench_next32(double scale) {
  const int n = 1 << 22, reps = reps_for(scale, 9);
  double t[MAXREP];
  uint64_t h = 0;
  for (int r = 0; r <= reps; r++) {
    agpt_mt19937 st;
    agpt_mt19937_seed(&st, 1234u + (uint32_t)r);
    double t0 = now();
    uint32_t acc = 0;
    for (int k = 0; k < n; k++) acc ^= agpt_mt19937_next32(&st) + (uint32_t)k;
    double dt = now() - t0;
    if (r) t[r - 1] = dt; /* run 0 is the warm-up */
    h = mix(h, acc);
  }
  printf("next32              %8.3f ns/word       fp %016llx\n", 1e9 * median(t, reps) / n, (unsigned long long)h);
}

static void bench_fill32(double scale) {
  const int n = 1 << 22, reps = reps_for(scale, 9);
  uint32_t *buf = malloc(4096 * sizeof *buf);
  if (!buf) exit(1);
  double t[MAXREP];
  uint64_t h = 0;
  for (int r = 0; r <= reps; r++) {
    agpt_mt19937 st;
    agpt_mt19937_seed(&st, 1234u + (uint32_t)r);
    double t0 = now();
    uint32_t acc = 0;
    for (int k = 0; k < n; k += 4096) {
      agpt_mt19937_fill32(&st, buf, 4096);
      acc ^= buf[k & 4095];
    }
    double dt = now() - t0;
    if (r) t[r - 1] = dt;
    h = mix(h, acc);
  }
  printf("fill32              %8.3f ns/word       fp %016llx\n", 1e9 * median(t, reps) / n, (unsigned long long)h);
  free(buf);
}

/* the index stream of a 2.6M-element shuffle, drawn in batches of 512 */
static void bench_intervals_desc32(double scale) {
  const uint32_t n = 2600000;
  const int reps = reps_for(scale, 9);
  uint32_t js[512];
  double t[MAXREP];
  uint64_t h = 0;
  for (int r = 0; r <= reps; r++) {
    agpt_mt19937 st;
    agpt_mt19937_seed(&st, 99u + (uint32_t)r);
    double t0 = now();
    uint64_t acc = 0;
    for (uint32_t i = n - 1; i >= 1;) {
      uint32_t c = i < 512 ? i : 512;
      agpt_mt19937_intervals_desc32(&st, i, js, c);
      for (uint32_t k = 0; k < c; k++) acc += js[k] ^ (i - k);
      i -= c;
    }
    double dt = now() - t0;
    if (r) t[r - 1] = dt;
    h = mix(h, acc);
  }
  printf("intervals_desc32    %8.3f ns/draw       fp %016llx\n", 1e9 * median(t, reps) / (double)(n - 1), (unsigned long long)h);
}

/* the bounds a shuffle of 2.6M elements asks for, one draw each */
static void bench_interval(double scale) {
  const uint64_t n = 2600000;
  const int reps = reps_for(scale, 5);
  double t[MAXREP];
  uint64_t h = 0;
  for (int r = 0; r <= reps; r++) {
    agpt_mt19937 st;
    agpt_mt19937_seed(&st, 99u + (uint32_t)r);
    double t0 = now();
    uint64_t acc = 0;
    for (uint64_t i = n - 1; i >= 1; i--) acc += agpt_mt19937_interval(&st, i) ^ i;
    double dt = now() - t0;
    if (r) t[r - 1] = dt;
    h = mix(h, acc);
  }
  printf("interval(2.6M..1)   %8.3f ns/draw       fp %016llx\n", 1e9 * median(t, reps) / (double)(n - 1), (unsigned long long)h);
}

#define DEFINE_BENCH_SHUFFLE(fn, T, shuffle)                                                    \
  static void fn(const char *label, uint64_t n, int reps) {                                     \
    T *a = malloc((size_t)n * sizeof *a);                                                       \
    if (!a) {                                                                                   \
      fprintf(stderr, "bench_mt19937: out of memory for %llu elements\n", (unsigned long long)n); \
      exit(1);                                                                                  \
    }                                                                                           \
    for (uint64_t i = 0; i < n; i++) a[i] = (T)i;                                               \
    double t[MAXREP];                                                                           \
    uint64_t h = 0;                                                                             \
    for (int r = 0; r <= reps; r++) {                                                           \
      agpt_mt19937 st;                                                                          \
      agpt_mt19937_seed(&st, 5u + (uint32_t)r);                                                 \
      double t0 = now();                                                                        \
      shuffle(&st, a, n);                                                                       \
      double dt = now() - t0;                                                                   \
      if (r) t[r - 1] = dt;                                                                     \
      h = mix(mix(h, (uint64_t)a[0]), (uint64_t)a[n / 2]);                                      \
      h = mix(h, agpt_mt19937_next32(&st));                                                     \
    }                                                                                           \
    for (uint64_t i = 0; i < n; i++) h = mix(h, (uint64_t)a[i]);                                \
    printf("%-6s n=%-10llu %8.3f ns/element    fp %016llx\n", label, (unsigned long long)n,       \
           1e9 * median(t, reps) / (double)n, (unsigned long long)h);                           \
    free(a);                                                                                    \
  }

DEFINE_BENCH_SHUFFLE(bench_shuffle_i32, int32_t, agpt_mt19937_shuffle_i32)
DEFINE_BENCH_SHUFFLE(bench_shuffle_u32, uint32_t, agpt_mt19937_shuffle_u32)
DEFINE_BENCH_SHUFFLE(bench_shuffle_i64, int64_t, agpt_mt19937_shuffle_i64)

int main(int argc, char **argv) {
  double scale = argc > 1 ? atof(argv[1]) : 1.0;
  if (!(scale > 0)) {
    fprintf(stderr, "usage: bench_mt19937 [repetition scale > 0, default 1]\n");
    return 2;
  }
  bench_next32(scale);
  bench_fill32(scale);
  bench_interval(scale);
  bench_intervals_desc32(scale);
  bench_shuffle_i32("i32", 1u << 16, reps_for(scale, 41));
  bench_shuffle_i32("i32", 2600000, reps_for(scale, 9));
  bench_shuffle_i32("i32", 25000000, reps_for(scale, 3));
  bench_shuffle_u32("u32", 2600000, reps_for(scale, 9));
  bench_shuffle_i64("i64", 2600000, reps_for(scale, 9));
  return 0;
}
