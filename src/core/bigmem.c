/* Huge-page-backed buffers (bigmem.h). The mapping's length is kept in a
 * header in front of the buffer; the buffer starts 64 bytes in, so it keeps
 * a cache line's alignment. */
#include "core/bigmem.h"

#include <stdint.h>
#include <sys/mman.h>

#define BIG_HEADER 64

void *agpt_big_alloc(size_t n) {
  size_t len = n + BIG_HEADER;
  if (len < n) return NULL;
  void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return NULL;
#ifdef MADV_HUGEPAGE
  if (len >= ((size_t)2 << 20)) (void)madvise(p, len, MADV_HUGEPAGE); /* advice only: 4 KiB pages still work */
#endif
  *(size_t *)p = len;
  return (char *)p + BIG_HEADER;
}

void agpt_big_free(void *q) {
  if (!q) return;
  char *p = (char *)q - BIG_HEADER;
  munmap(p, *(size_t *)p);
}

size_t agpt_big_grow(void **p, size_t *cap, size_t n) {
  if (*cap >= n) return 0;
  agpt_big_free(*p);
  *p = agpt_big_alloc(n);
  *cap = *p ? n : 0;
  return *p ? 0 : n;
}
