/* The exact blend tree: for many weight families and corpus counts, every
 * sample of a long prefix is drawn and each corpus's count is compared, at
 * every prefix, with n times its exact weight (integer arithmetic, no
 * rounding); the error must stay within the proved bound beta_c, and
 * beta_c within a measured guard (below 1 is not guaranteed). Ranks must count earlier draws of the corpus, count() must agree
 * with the draws, and far-out sample numbers must be consistent too. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/rng.h"
#include "data/blend_tree.h"

typedef __int128 i128;

static double worst_dev, worst_beta;
static int below_one, n_sets;
static double worst_dev_searched; /* sets within AGPT_BLEND_TREE_SEARCH_MAX */
static char worst_dev_set[96], worst_beta_set[96];

/* Weight family f for K corpora, variant v. Integer weights; their exact
 * normalized values are w / sum. */
static const char *family(int f, int K, int v, uint64_t *w) {
  for (int c = 0; c < K; c++) {
    double u = agpt_rng_uniform_f64(11, (uint64_t)f, (uint64_t)(K * 1000 + v), (uint64_t)c);
    switch (f) {
    case 0: w[c] = 1 + (uint64_t)(u * 1e12); break;                     /* uniform */
    case 1: w[c] = (uint64_t)llround(1e15 * pow(10.0, -6.0 * u)); break; /* log-uniform, 6 decades */
    case 2: w[c] = 1; break;                                            /* 1/K each: non-dyadic */
    case 3: w[c] = c == 0 ? (uint64_t)K * 1000000000ULL : 1 + (uint64_t)(u * 1e6); break; /* one dominant */
    case 4: w[c] = c % 10 == 0 ? 1000000000000ULL : 1 + (uint64_t)(u * 10); break;    /* many tiny */
    case 5: w[c] = c == K - 1 ? 1 : 3000000000000ULL; break;          /* equal and one tiny */
    case 6: w[c] = (uint64_t)(c % 3 + 1) * 333333333333ULL + (uint64_t)c; break; /* near ties */
    default: w[c] = c == 0 ? 0 : (uint64_t)(u * 1e9); break;           /* zero weights mixed in */
    }
  }
  static const char *names[] = {"uniform", "log-uniform", "equal", "dominant", "many-tiny", "equal+tiny",
                                "near-ties", "with-zeros"};
  return names[f];
}

/* Draws samples [0, N) and checks every prefix exactly. Between two draws
 * of corpus c its error cnt*S - W_c*n only falls, so its extremes over all
 * prefixes are just before and just after each draw, and at N. */
static void check_prefix(const uint64_t *w, int K, uint64_t N, const char *name) {
  agpt_blend_tree *t;
  CHECK(agpt_blend_tree_build(w, K, &t) == AGPT_OK);
  if (!t) return;
  uint64_t S = 0;
  for (int c = 0; c < K; c++) S += w[c];
  uint64_t *cnt = calloc((size_t)K, sizeof *cnt);
  i128 *emax = calloc((size_t)K, sizeof *emax); /* max |error| * S per corpus */
  int bad_rank = 0;
  for (uint64_t i = 0; i < N; i++) {
    uint64_t rank;
    int c = agpt_blend_tree_draw(t, i, &rank);
    if (c < 0 || c >= K || w[c] == 0) {
      CHECK_MSG(0, "%s K=%d: sample %llu drew corpus %d", name, K, (unsigned long long)i, c);
      break;
    }
    bad_rank += rank != cnt[c];
    i128 before = (i128)cnt[c] * S - (i128)w[c] * i;
    cnt[c]++;
    i128 after = (i128)cnt[c] * S - (i128)w[c] * (i + 1);
    if (-before > emax[c]) emax[c] = -before;
    if (before > emax[c]) emax[c] = before;
    if (after > emax[c]) emax[c] = after;
    if (-after > emax[c]) emax[c] = -after;
  }
  CHECK_MSG(bad_rank == 0, "%s K=%d: %d ranks differ from the earlier draws", name, K, bad_rank);
  double mb = agpt_blend_tree_max_bound(t);
  for (int c = 0; c < K; c++) {
    i128 e = (i128)cnt[c] * S - (i128)w[c] * N;
    if (e < 0) e = -e;
    if (e > emax[c]) emax[c] = e;
    double dev = (double)emax[c] / (double)S, beta = agpt_blend_tree_bound(t, c);
    CHECK_MSG(dev <= beta + 1e-12, "%s K=%d corpus %d: prefix error %.6f past the proved bound %.6f", name, K, c,
              dev, beta);
    CHECK_MSG(cnt[c] == agpt_blend_tree_count(t, c, N), "%s K=%d corpus %d: count() disagrees with draws", name, K,
              c);
    if (K <= AGPT_BLEND_TREE_SEARCH_MAX && dev > worst_dev_searched) worst_dev_searched = dev;
    if (dev > worst_dev) {
      worst_dev = dev;
      snprintf(worst_dev_set, sizeof worst_dev_set, "%s K=%d", name, K);
    }
  }
  /* Not a guarantee (blend_tree.c, invariant 3): guards against a worse
   * tree search. The searched trees measured at most 1.23 here, the
   * top-down split above the search limit 1.46. */
  double guard = K <= AGPT_BLEND_TREE_SEARCH_MAX ? 1.25 : 1.5;
  CHECK_MSG(mb <= guard, "%s K=%d: proved bound %.6f above %.2f", name, K, mb, guard);
  if (mb < 1) below_one++;
  n_sets++;
  if (mb > worst_beta) {
    worst_beta = mb;
    snprintf(worst_beta_set, sizeof worst_beta_set, "%s K=%d", name, K);
  }
  free(cnt);
  free(emax);
  agpt_blend_tree_free(t);
}

static void test_families(void) {
  static const int Ks[] = {1, 2, 3, 4, 5, 6, 7, 11, 13, 14, 22, 37, 64, 100, 131, 200};
  uint64_t w[400];
  int sets = 0;
  for (int f = 0; f < 8; f++)
    for (size_t k = 0; k < sizeof Ks / sizeof Ks[0]; k++) {
      int K = Ks[k];
      const char *name = family(f, K, 0, w);
      if (f == 7 && K == 1) w[0] = 5;
      /* A few million samples for some sets; ~100k for the rest keeps the test fast. */
      uint64_t N = (k % 5 == 2) ? 2000000 : 120000;
      check_prefix(w, K, N, name);
      sets++;
    }
  /* Random corpus counts 1..200 across the families. */
  for (int v = 1; v <= 24; v++) {
    int K = 1 + (int)(agpt_rng_u64(12, 0, (uint64_t)v, 0) % 200);
    int f = v % 8;
    const char *name = family(f, K, v, w);
    if (f == 7 && K == 1) w[0] = 5;
    check_prefix(w, K, 150000, name);
    sets++;
  }
  /* Above the search limit: the top-down split alone. */
  const char *name = family(0, 300, 0, w);
  check_prefix(w, 300, 200000, name);
  name = family(2, 300, 0, w);
  check_prefix(w, 300, 200000, name);
  sets += 2;
  printf("blend tree: %d weight sets, worst prefix error %.6f (%s), worst proved bound %.6f (%s), %d of %d "
         "bounds below 1; worst prefix error with searched trees %.6f\n",
         sets, worst_dev, worst_dev_set, worst_beta, worst_beta_set, below_one, n_sets, worst_dev_searched);
}

/* Far-out sample numbers: rank and count agree, and counts track n*w. */
static void test_far(void) {
  uint64_t w[5] = {1, 3, 7, 0, 1ULL << 61};
  agpt_blend_tree *t;
  CHECK(agpt_blend_tree_build(w, 5, &t) == AGPT_OK);
  if (!t) return;
  uint64_t S = 0;
  for (int c = 0; c < 5; c++) S += w[c];
  for (int k = 0; k < 2000; k++) {
    uint64_t i = agpt_rng_u64(13, 0, (uint64_t)k, 0) >> (k % 40);
    if (i == UINT64_MAX) i--;
    uint64_t rank;
    int c = agpt_blend_tree_draw(t, i, &rank);
    int ok = c >= 0 && c < 5 && w[c] > 0 && agpt_blend_tree_count(t, c, i) == rank &&
             agpt_blend_tree_count(t, c, i + 1) == rank + 1;
    for (int d = 0; d < 5; d++)
      if (d != c) ok &= agpt_blend_tree_count(t, d, i + 1) == agpt_blend_tree_count(t, d, i);
    i128 e = (i128)agpt_blend_tree_count(t, 0, i) * S - (i128)w[0] * i;
    ok &= (double)(e < 0 ? -e : e) / (double)S <= agpt_blend_tree_bound(t, 0) + 1e-9;
    CHECK_MSG(ok, "sample %llu", (unsigned long long)i);
    if (!ok) break;
  }
  CHECK(agpt_blend_tree_count(t, 3, 1000) == 0 && agpt_blend_tree_bound(t, 3) == 0);
  agpt_blend_tree_free(t);
  /* A lone corpus takes every sample. */
  uint64_t one[3] = {0, 9, 0}, rank;
  CHECK(agpt_blend_tree_build(one, 3, &t) == AGPT_OK);
  CHECK(agpt_blend_tree_draw(t, 12345, &rank) == 1 && rank == 12345);
  CHECK(agpt_blend_tree_count(t, 1, 77) == 77 && agpt_blend_tree_max_bound(t) == 0);
  agpt_blend_tree_free(t);
  /* Input errors. */
  uint64_t zero[2] = {0, 0}, big[2] = {1ULL << 62, 1};
  CHECK(agpt_blend_tree_build(zero, 2, &t) == AGPT_ERR && t == NULL);
  CHECK(agpt_blend_tree_build(big, 2, &t) == AGPT_ERR && strstr(agpt_errmsg(), "2^62") != NULL);
}

/* Same weights, same order; the tree is a function of the weights alone. */
static void test_determinism(void) {
  uint64_t w[50];
  family(1, 50, 3, w);
  agpt_blend_tree *a, *b;
  CHECK(agpt_blend_tree_build(w, 50, &a) == AGPT_OK);
  CHECK(agpt_blend_tree_build(w, 50, &b) == AGPT_OK);
  int same = 1;
  for (uint64_t i = 0; i < 100000; i++) {
    uint64_t ra, rb;
    same &= agpt_blend_tree_draw(a, i, &ra) == agpt_blend_tree_draw(b, i, &rb) && ra == rb;
  }
  CHECK(same);
  agpt_blend_tree_free(a);
  agpt_blend_tree_free(b);
}

int main(void) {
  test_far();
  test_determinism();
  test_families();
  return check_done("test_blend_tree");
}
