/* numpy's legacy RandomState, the parts Megatron's index building draws
 * from: MT19937 seeded from one 32-bit integer (init_genrand, which is what
 * RandomState(int) does), 32- and 64-bit outputs, bounded integers by masked
 * rejection (numpy's random_interval) and the in-place Fisher-Yates shuffle
 * of a 1-D array (RandomState.shuffle / permutation).
 *
 * Promise: for the same seed, every function here consumes and returns
 * exactly the words numpy does, so shuffles are element-for-element equal to
 * np.random.RandomState(seed).shuffle on an array of the same length. Calls
 * may be interleaved freely on one state (a shuffle followed by next32
 * continues the same stream numpy would). The state is plain data: copy it
 * to fork a stream. Results do not depend on the instruction set the file is
 * compiled for (AVX-512, AVX2 or plain C), only the speed does. */
#ifndef AGPT_DATA_MT19937_H
#define AGPT_DATA_MT19937_H

#include <stddef.h>
#include <stdint.h>

#define AGPT_MT_N 624

typedef struct {
  uint32_t key[AGPT_MT_N]; /* untempered state words */
  int pos; /* next word of key to temper; AGPT_MT_N means regenerate first */
} agpt_mt19937;

void agpt_mt19937_seed(agpt_mt19937 *st, uint32_t seed);
uint32_t agpt_mt19937_next32(agpt_mt19937 *st);
/* Two words, the first in the high half (numpy's next_uint64 for MT19937). */
uint64_t agpt_mt19937_next64(agpt_mt19937 *st);
/* Uniform in [0, max] (numpy's random_interval: smallest all-ones mask >= max,
 * rejection; 32-bit words while max fits in 32 bits, else 64-bit). max == 0
 * returns 0 and consumes nothing. */
uint64_t agpt_mt19937_interval(agpt_mt19937 *st, uint64_t max);

/* out[k] = next32(), k in [0, n): the same words, produced a block at a time.
 * out is the caller's. */
void agpt_mt19937_fill32(agpt_mt19937 *st, uint32_t *out, size_t n);
/* out[k] = interval(max - k), k in [0, cnt), in that order: the index stream
 * of a Fisher-Yates shuffle whose first step is i = max. Requires
 * cnt <= max + 1 (bounds never go below 0); out is the caller's. Each call
 * tempers one 624-word block up front, so calls of a few hundred draws or
 * more amortise it. */
void agpt_mt19937_intervals_desc32(agpt_mt19937 *st, uint32_t max, uint32_t *out, size_t cnt);

/* RandomState.shuffle of a 1-D array of n elements: for i = n-1 down to 1,
 * swap a[i] with a[interval(i)]. Indices are drawn a batch ahead and the
 * swaps' random accesses prefetched, which changes the speed, never the
 * result. */
void agpt_mt19937_shuffle_i32(agpt_mt19937 *st, int32_t *a, uint64_t n);
void agpt_mt19937_shuffle_u32(agpt_mt19937 *st, uint32_t *a, uint64_t n);
void agpt_mt19937_shuffle_i64(agpt_mt19937 *st, int64_t *a, uint64_t n);

#endif
