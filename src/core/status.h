/* Status returns and error messages.
 *
 * Two kinds of failure (DESIGN.md): a broken invariant is a bug and stops the
 * process through AGPT_ASSERT with file and line; bad input or a failing
 * environment returns AGPT_ERR after agpt_fail() has recorded a message that
 * names the file, the field and the fix. The message lives in a thread-local
 * buffer until the next agpt_fail(); callers may add context in front of it
 * with agpt_fail_prefix(). */
#ifndef AGPT_CORE_STATUS_H
#define AGPT_CORE_STATUS_H

#include <stddef.h>

typedef enum { AGPT_OK = 0, AGPT_ERR = -1 } agpt_status;

#if defined(__GNUC__)
#define AGPT_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define AGPT_NORETURN __attribute__((noreturn))
#else
#define AGPT_PRINTF(a, b)
#define AGPT_NORETURN
#endif

/* Records a formatted message and returns AGPT_ERR, so that
 * `return agpt_fail("%s: ...", path);` reads as one line. */
agpt_status agpt_fail(const char *fmt, ...) AGPT_PRINTF(1, 2);
/* Puts "<context>: " in front of the current message; returns AGPT_ERR. */
agpt_status agpt_fail_prefix(const char *fmt, ...) AGPT_PRINTF(1, 2);
/* The current thread's last message ("" when none). */
const char *agpt_errmsg(void);
void agpt_err_clear(void);

AGPT_NORETURN void agpt_assert_fail(const char *expr, const char *file, int line);
#define AGPT_ASSERT(c) ((c) ? (void)0 : agpt_assert_fail(#c, __FILE__, __LINE__))

/* Propagates a failure to the caller. */
#define AGPT_TRY(expr)                  \
  do {                                  \
    if ((expr) != AGPT_OK) return AGPT_ERR; \
  } while (0)

/* Allocation that aborts on failure: for small bookkeeping only. Large
 * buffers (parameters, activations, datasets) use plain malloc and report
 * failure as a status naming the size. Ownership goes to the caller. */
void *agpt_xmalloc(size_t n);
void *agpt_xcalloc(size_t n, size_t size);
void *agpt_xrealloc(void *p, size_t n);
char *agpt_xstrdup(const char *s);

#endif
