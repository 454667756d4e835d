/* Random test vectors and tolerance checks shared by the backend tests:
 * a seeded xorshift (set test_rng_state before drawing), float vectors with
 * their double copies, and check_vec, which compares a float result with a
 * double reference relative to the reference's largest magnitude. */
#ifndef AGPT_TESTS_TESTVEC_H
#define AGPT_TESTS_TESTVEC_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "check.h"

static uint64_t test_rng_state = 0x9E3779B97F4A7C15ull;

static double urand(void) { /* uniform in [-1, 1) */
  test_rng_state ^= test_rng_state << 13;
  test_rng_state ^= test_rng_state >> 7;
  test_rng_state ^= test_rng_state << 17;
  return (double)(test_rng_state >> 11) / (double)(1ull << 52) - 1.0;
}

static float *frand(size_t n, double s) {
  float *x = malloc(n * sizeof *x);
  for (size_t i = 0; i < n; i++) x[i] = (float)(s * urand());
  return x;
}

static double *to_d(const float *x, size_t n) {
  double *d = malloc(n * sizeof *d);
  for (size_t i = 0; i < n; i++) d[i] = x[i];
  return d;
}

static void check_vec(const char *what, const float *got, const double *want, size_t n, double tol) {
  double scale = 0, worst = 0;
  size_t at = 0;
  for (size_t i = 0; i < n; i++) {
    scale = fmax(scale, fabs(want[i]));
    double e = fabs((double)got[i] - want[i]);
    if (!(e <= worst)) worst = e, at = i;
  }
  if (scale == 0) scale = 1;
  CHECK_MSG(worst <= tol * scale, "%s: max error %.3g at %zu (got %.9g want %.9g, scale %.3g)", what, worst, at,
            (double)got[at], want[at], scale);
}

#endif
