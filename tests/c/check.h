/* A small harness for the C tests: CHECK records a failure with file and line
 * and goes on; check_done() prints "N passed, N failed" and returns the exit
 * code, non-zero on any failure. */
#ifndef AGPT_TESTS_CHECK_H
#define AGPT_TESTS_CHECK_H

#include <math.h>
#include <stdio.h>

static int check_passed, check_failed;

#define CHECK(c)                                                            \
  do {                                                                      \
    if (c) {                                                                \
      check_passed++;                                                       \
    } else {                                                                \
      check_failed++;                                                       \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c); \
    }                                                                       \
  } while (0)

#define CHECK_MSG(c, ...)                                                   \
  do {                                                                      \
    if (c) {                                                                \
      check_passed++;                                                       \
    } else {                                                                \
      check_failed++;                                                       \
      fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #c); \
      fprintf(stderr, __VA_ARGS__);                                         \
      fputc('\n', stderr);                                                  \
    }                                                                       \
  } while (0)

/* |a - b| <= atol + rtol * |b| */
#define CHECK_CLOSE(a, b, rtol, atol)                                                          \
  do {                                                                                         \
    double ca_ = (double)(a), cb_ = (double)(b);                                               \
    CHECK_MSG(fabs(ca_ - cb_) <= (atol) + (rtol)*fabs(cb_), "%s = %.9g, %s = %.9g", #a, ca_, #b, cb_); \
  } while (0)

static int check_done(const char *name) {
  printf("%s: %d passed, %d failed\n", name, check_passed, check_failed);
  return check_failed ? 1 : 0;
}

#endif
