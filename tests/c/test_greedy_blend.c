/* agpt_greedy_blend against Megatron's loop, written out plainly here:
 * every dataset index, sample index and count, on random weights of many
 * shapes (uniform, log-uniform, equal, equal pairs, one dominant, zeros,
 * unnormalized, 1-ulp neighbours), every output width, and the refusal of
 * bad arguments. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "data/greedy_blend.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void) { /* splitmix64 */
  uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
static double unif(void) { return (double)(rnd() >> 11) * 0x1p-53; }

/* helpers.build_blending_indices, as written in Megatron-DeepSpeed. */
static void naive(const double *w, int nd, uint64_t size, int32_t *di, uint64_t *si, uint64_t *cnt) {
  memset(cnt, 0, (size_t)nd * sizeof *cnt);
  for (uint64_t n = 0; n < size; n++) {
    double x = n > 1 ? (double)n : 1.0;
    /* Built as ISO C (-std=c11): GCC rounds the product on its own, as
     * Megatron's C++ does, instead of fusing it into the subtraction. */
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

enum { UNIFORM, LOGUNIF, EQUAL, PAIRS, DOMINANT, ZEROS, UNNORM, ULP, NICE, NKINDS };
static const char *kind_name[NKINDS] = {"uniform", "log-uniform", "equal", "equal-pairs", "dominant",
                                        "zeros", "unnormalized", "1-ulp", "nice"};

static void make_weights(double *w, int nd, int kind) {
  double sum = 0;
  for (int d = 0; d < nd; d++) {
    switch (kind) {
      case UNIFORM: w[d] = unif(); break;
      case LOGUNIF: w[d] = exp(log(1e-6) * unif()); break;
      case EQUAL: w[d] = 1.0; break;
      case PAIRS: w[d] = (d % 2 && rnd() % 4) ? w[d - 1] : unif(); break;
      case DOMINANT: w[d] = d == (int)(rnd() % (uint64_t)nd) ? 100.0 : unif(); break;
      case ZEROS: w[d] = rnd() % 3 ? 0.0 : unif(); break;
      case UNNORM: w[d] = unif() * 3.0; break;
      case ULP: w[d] = d ? nextafter(w[d - 1], rnd() % 2 ? 2.0 : 0.0) : 0.5; break;
      case NICE: w[d] = (double)(1 + rnd() % 4) / 8.0; break;
    }
    sum += w[d];
  }
  /* Normalize as Megatron does (w / sum), except the unnormalized kinds. */
  if (kind != UNNORM && kind != ULP && kind != NICE && sum > 0)
    for (int d = 0; d < nd; d++) w[d] /= sum;
  if (kind == UNNORM && rnd() % 2)
    for (int d = 0; d < nd; d++) w[d] *= 1e-3;
}

/* Runs one case at every output width that fits; returns 0 on a match. */
static int run_case(const double *w, int nd, uint64_t size, const char *what) {
  int32_t *rd = malloc((size ? size : 1) * sizeof *rd);
  uint64_t *rs = malloc((size ? size : 1) * sizeof *rs);
  uint64_t *rc = malloc((size_t)nd * sizeof *rc), *gc = malloc((size_t)nd * sizeof *gc);
  void *gd = malloc((size ? size : 1) * 4), *gs = malloc((size ? size : 1) * 8);
  naive(w, nd, size, rd, rs, rc);
  int bad = 0;
  int dbs[3] = {1, 2, 4}, sbs[2] = {4, 8};
  for (int a = 0; a < 3; a++)
    for (int b = 0; b < 2; b++) {
      int db = dbs[a], sb = sbs[b];
      if ((db == 1 && nd > 256) || (db == 2 && nd > 65536)) continue;
      if ((a + b) % 2 && size > 100000) continue; /* widths are cheap to cover on small cases */
      memset(gc, 0xff, (size_t)nd * sizeof *gc);
      if (agpt_greedy_blend(w, nd, size, gd, db, gs, sb, gc) != AGPT_OK) {
        fprintf(stderr, "%s: failed: %s\n", what, agpt_errmsg());
        bad = 1;
        continue;
      }
      uint64_t first = UINT64_MAX;
      for (uint64_t n = 0; n < size && first == UINT64_MAX; n++) {
        int64_t d = db == 1 ? ((uint8_t *)gd)[n] : db == 2 ? ((uint16_t *)gd)[n] : ((int32_t *)gd)[n];
        uint64_t s = sb == 4 ? ((uint32_t *)gs)[n] : ((uint64_t *)gs)[n];
        if (d != rd[n] || s != rs[n]) first = n;
      }
      if (first != UINT64_MAX) {
        uint64_t n = first;
        int64_t d = db == 1 ? ((uint8_t *)gd)[n] : db == 2 ? ((uint16_t *)gd)[n] : ((int32_t *)gd)[n];
        fprintf(stderr, "%s (di %d si %d): sample %llu: dataset %lld, Megatron %d\n", what, db, sb,
                (unsigned long long)n, (long long)d, rd[n]);
        bad = 1;
      }
      if (memcmp(gc, rc, (size_t)nd * sizeof *gc)) {
        fprintf(stderr, "%s (di %d si %d): counts differ\n", what, db, sb);
        bad = 1;
      }
    }
  free(rd), free(rs), free(rc), free(gc), free(gd), free(gs);
  return bad;
}

static void random_cases(void) {
  const int nds[] = {1, 2, 3, 7, 10, 17, 100, 257, 1000};
  for (size_t i = 0; i < sizeof nds / sizeof *nds; i++) {
    int nd = nds[i];
    double *w = malloc((size_t)nd * sizeof *w);
    for (int kind = 0; kind < NKINDS; kind++) {
      /* One long case per kind and size of blend, two short ones. The
       * reference costs size x nd: about 4e6 per long case. */
      uint64_t big = (uint64_t)(4e6 / nd);
      if (big > 1000000) big = 1000000;
      if (big < 30000) big = 30000;
      uint64_t sizes[3] = {big / 2 + rnd() % (big / 2 + 1), 1 + rnd() % 300, rnd() % 5000};
      for (int t = 0; t < 3; t++) {
        make_weights(w, nd, kind);
        char what[96];
        snprintf(what, sizeof what, "nd %d %s size %llu", nd, kind_name[kind], (unsigned long long)sizes[t]);
        CHECK_MSG(!run_case(w, nd, sizes[t], what), "%s", what);
      }
    }
    free(w);
  }
}

/* Shapes picked by hand: round robin, a blend led by a zero weight, all
 * zeros, huge weights (deficits beyond 2^53: every dataset its own entry),
 * and a ladder of 1-ulp weights whose deficits tie often. */
static void edge_cases(void) {
  double w[300];
  for (int d = 0; d < 300; d++) w[d] = 1.0 / 300;
  CHECK(!run_case(w, 300, 100000, "round robin 300"));
  for (int d = 0; d < 5; d++) w[d] = d ? 0.25 : 0.0;
  CHECK(!run_case(w, 5, 1000, "leading zero"));
  for (int d = 0; d < 20; d++) w[d] = 0.0;
  CHECK(!run_case(w, 20, 1000, "all zero"));
  for (int d = 0; d < 40; d++) w[d] = (d % 3) ? 1e300 : 3e15 * (1 + d % 5);
  CHECK(!run_case(w, 40, 20000, "huge weights"));
  for (int d = 0; d < 64; d++) w[d] = d < 32 ? 1.0 / 64 : nextafter(1.0 / 64, 1.0);
  CHECK(!run_case(w, 64, 300000, "two equal groups 1 ulp apart"));
  for (int d = 0; d < 50; d++) w[d] = (d % 2) ? 0.02 : 0.01 + 0.01 * (d % 4 == 0);
  CHECK(!run_case(w, 50, 200000, "two weights, interleaved groups"));
  w[0] = 1.0;
  CHECK(!run_case(w, 1, 1000, "one dataset"));
}

/* A long run on a 64-bit sample index, checked against the counts the
 * reference produces, in a shape that keeps the reference cheap (nd 3). */
static void long_case(void) {
  double w[3] = {0.5, 0.3, 0.2};
  CHECK(!run_case(w, 3, 3000000, "nd 3 long"));
}

static void bad_arguments(void) {
  double w[3] = {0.5, 0.5, 0.0}, bad[2] = {0.5, NAN}, neg[2] = {0.5, -0.1}, inf[2] = {INFINITY, 1};
  uint8_t d8[8];
  uint32_t s32[8];
  uint64_t c[3];
  double many[300];
  for (int i = 0; i < 300; i++) many[i] = 1.0;
  CHECK(agpt_greedy_blend(NULL, 3, 8, d8, 1, s32, 4, c) == AGPT_ERR);
  CHECK(agpt_greedy_blend(w, 0, 8, d8, 1, s32, 4, c) == AGPT_ERR);
  CHECK(agpt_greedy_blend(bad, 2, 8, d8, 1, s32, 4, c) == AGPT_ERR);
  CHECK(strstr(agpt_errmsg(), "weights[1]") != NULL);
  CHECK(agpt_greedy_blend(neg, 2, 8, d8, 1, s32, 4, c) == AGPT_ERR);
  CHECK(agpt_greedy_blend(inf, 2, 8, d8, 1, s32, 4, c) == AGPT_ERR);
  CHECK(agpt_greedy_blend(w, 3, 8, d8, 3, s32, 4, c) == AGPT_ERR);
  CHECK(agpt_greedy_blend(w, 3, 8, d8, 1, s32, 2, c) == AGPT_ERR);
  CHECK(agpt_greedy_blend(many, 300, 8, d8, 1, s32, 4, c) == AGPT_ERR);
  CHECK(agpt_greedy_blend(w, 3, ((uint64_t)1 << 32) + 1, d8, 1, s32, 4, c) == AGPT_ERR);
  CHECK(agpt_greedy_blend(w, 3, ((uint64_t)1 << 51), d8, 1, s32, 8, c) == AGPT_ERR);
  CHECK(agpt_greedy_blend(w, 3, 8, NULL, 1, s32, 4, c) == AGPT_ERR);
  CHECK(agpt_greedy_blend(w, 3, 8, d8, 1, NULL, 4, c) == AGPT_ERR);
  CHECK(agpt_greedy_blend(w, 3, 8, d8, 1, s32, 4, NULL) == AGPT_ERR);
  CHECK(agpt_greedy_blend(w, 3, 0, NULL, 1, NULL, 4, c) == AGPT_OK);
  CHECK(c[0] == 0 && c[1] == 0 && c[2] == 0);
  CHECK(agpt_greedy_blend(w, 3, 8, d8, 1, s32, 4, c) == AGPT_OK);
  CHECK(c[0] == 4 && c[1] == 4 && c[2] == 0);
  CHECK(d8[0] == 0 && d8[1] == 1 && s32[2] == 1);
}

int main(void) {
  bad_arguments();
  edge_cases();
  long_case();
  random_cases();
  return check_done("greedy_blend");
}
