/* Large buffers backed by transparent huge pages where the kernel allows
 * them (MADV_HUGEPAGE): for arrays of hundreds of MB that are filled once
 * or walked at random, where 4 KiB pages cost a fault per page on first
 * touch and a TLB miss on most random accesses.
 *
 * Promise: agpt_big_alloc returns n bytes (zeroed, as fresh anonymous
 * memory is) or NULL; agpt_big_free releases what it returned (NULL is
 * fine). Thread-safe. */
#ifndef AGPT_CORE_BIGMEM_H
#define AGPT_CORE_BIGMEM_H

#include <stddef.h>

void *agpt_big_alloc(size_t n);
void agpt_big_free(void *p);
/* A reusable scratch buffer: when *cap < n, replaces *p (contents not kept)
 * with a fresh buffer of n bytes. Returns 0, or n when allocation failed
 * (then *p is NULL and *cap 0). Callers record the size for a message made
 * on another thread. */
size_t agpt_big_grow(void **p, size_t *cap, size_t n);

#endif
