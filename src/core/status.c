/* Thread-local error messages and always-on asserts; see status.h. */
#include "core/status.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { ERRMSG_CAP = 2048 };
static _Thread_local char errmsg[ERRMSG_CAP];

agpt_status agpt_fail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(errmsg, sizeof errmsg, fmt, ap);
  va_end(ap);
  return AGPT_ERR;
}

agpt_status agpt_fail_prefix(const char *fmt, ...) {
  char prefix[ERRMSG_CAP / 2], old[ERRMSG_CAP];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(prefix, sizeof prefix, fmt, ap);
  va_end(ap);
  memcpy(old, errmsg, sizeof old);
  size_t n = strlen(prefix);
  if (n + 2 < sizeof errmsg) {
    memcpy(errmsg, prefix, n);
    memcpy(errmsg + n, ": ", 2);
    size_t rest = sizeof errmsg - n - 3;
    size_t m = strlen(old);
    if (m > rest) m = rest;
    memcpy(errmsg + n + 2, old, m);
    errmsg[n + 2 + m] = '\0';
  }
  return AGPT_ERR;
}

const char *agpt_errmsg(void) { return errmsg; }
void agpt_err_clear(void) { errmsg[0] = '\0'; }

void agpt_assert_fail(const char *expr, const char *file, int line) {
  fprintf(stderr, "agpt: internal error: assertion `%s` failed at %s:%d\n", expr, file, line);
  fflush(stderr);
  abort();
}

static void *check_alloc(void *p, size_t n) {
  if (!p && n) {
    fprintf(stderr, "agpt: out of memory allocating %zu bytes\n", n);
    abort();
  }
  return p;
}

void *agpt_xmalloc(size_t n) { return check_alloc(malloc(n ? n : 1), n); }
void *agpt_xcalloc(size_t n, size_t size) { return check_alloc(calloc(n ? n : 1, size ? size : 1), n * size); }
void *agpt_xrealloc(void *p, size_t n) { return check_alloc(realloc(p, n ? n : 1), n); }
char *agpt_xstrdup(const char *s) {
  size_t n = strlen(s) + 1;
  return memcpy(agpt_xmalloc(n), s, n);
}
