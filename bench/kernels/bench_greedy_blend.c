/* Speed of agpt_greedy_blend against Megatron's loop in the same run.
 *
 * For nd = 10, 100 and 1000 datasets (or those given on the command line)
 * and log-uniform weights normalized to sum 1, times the greedy blend of
 * `size` samples (default 5e7) and Megatron's loop as written, checks that
 * both give the same arrays, and prints
 *   RESULT greedy_blend nd=<nd> ns_step=<x> naive_ns_step=<y> speedup=<y/x>
 * Also times equal weights (round robin) at nd = 100 as "nd=100eq".
 * Build and run (one line, from the repository root):
 *   gcc -std=c11 -D_GNU_SOURCE -O3 -march=native -fno-math-errno -Wall -Wextra -Werror -fopenmp -Isrc src/core/status.c src/data/greedy_blend.c bench/kernels/bench_greedy_blend.c -lm -o /tmp/bench_greedy_blend && /tmp/bench_greedy_blend [size] [nd ...]
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "data/greedy_blend.h"

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t); /* CPU time: the machine is shared */
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* helpers.build_blending_indices as Megatron writes it (ISO C: no fused
 * multiply-add), with the same output widths as the fast path. */
static void naive(const double *w, int nd, uint64_t size, int32_t *di, uint64_t *si, uint64_t *cnt) {
  memset(cnt, 0, (size_t)nd * sizeof *cnt);
  for (uint64_t n = 0; n < size; n++) {
    double x = n > 1 ? (double)n : 1.0;
    double best_err = w[0] * x - (double)cnt[0];
    int best = 0;
    for (int d = 1; d < nd; d++) {
      double err = w[d] * x - (double)cnt[d];
      if (err > best_err) best = d, best_err = err;
    }
    di[n] = best;
    si[n] = cnt[best];
    cnt[best]++;
  }
}

static void bench(int nd, uint64_t size, int equal, uint64_t seed) {
  double *w = malloc((size_t)nd * sizeof *w), sum = 0;
  for (int d = 0; d < nd; d++) {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    w[d] = equal ? 1.0 : exp(log(1e-6) * (double)(seed >> 11) * 0x1p-53);
    sum += w[d];
  }
  for (int d = 0; d < nd; d++) w[d] /= sum;
  int32_t *di = malloc(size * sizeof *di), *rd = malloc(size * sizeof *rd);
  uint64_t *si = malloc(size * sizeof *si), *rs = malloc(size * sizeof *rs);
  uint64_t *c = malloc((size_t)nd * sizeof *c), *rc = malloc((size_t)nd * sizeof *rc);
  if (!w || !di || !rd || !si || !rs || !c || !rc) {
    fprintf(stderr, "bench_greedy_blend: out of memory for %llu samples\n", (unsigned long long)size);
    exit(1);
  }
  memset(di, 0, size * sizeof *di), memset(si, 0, size * sizeof *si); /* fault the pages in */
  double t0 = now();
  if (agpt_greedy_blend(w, nd, size, di, 4, si, 8, c) != AGPT_OK) {
    fprintf(stderr, "bench_greedy_blend: %s\n", agpt_errmsg());
    exit(1);
  }
  double t1 = now();
  /* Megatron's loop costs size x nd: time it on a prefix when that is long. */
  uint64_t nsize = size;
  if ((double)nsize * nd > 2e9) nsize = (uint64_t)(2e9 / nd);
  memset(rd, 0, nsize * sizeof *rd), memset(rs, 0, nsize * sizeof *rs);
  double t2 = now();
  naive(w, nd, nsize, rd, rs, rc);
  double t3 = now();
  int same = !memcmp(di, rd, nsize * sizeof *rd) && !memcmp(si, rs, nsize * sizeof *rs);
  if (nsize == size) same = same && !memcmp(c, rc, (size_t)nd * sizeof *c);
  double fast = 1e9 * (t1 - t0) / (double)size, slow = 1e9 * (t3 - t2) / (double)nsize;
  printf("RESULT greedy_blend nd=%d%s ns_step=%.2f naive_ns_step=%.2f speedup=%.1f size=%llu naive_size=%llu %s\n",
         nd, equal ? "eq" : "", fast, slow, slow / fast, (unsigned long long)size, (unsigned long long)nsize,
         same ? "same" : "DIFFERENT");
  fflush(stdout);
  free(w), free(di), free(rd), free(si), free(rs), free(c), free(rc);
  if (!same) exit(1);
}

int main(int argc, char **argv) {
  uint64_t size = argc > 1 ? (uint64_t)atof(argv[1]) : 50000000;
  if (argc > 2) {
    for (int i = 2; i < argc; i++) bench(atoi(argv[i]), size, 0, 42);
    return 0;
  }
  bench(10, size, 0, 42);
  bench(100, size, 0, 42);
  bench(1000, size, 0, 42);
  bench(100, size, 1, 42);
  return 0;
}
