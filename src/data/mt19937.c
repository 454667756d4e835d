/* MT19937 and numpy's legacy shuffle (see mt19937.h). The generator is the
 * reference algorithm of Matsumoto and Nishimura; speed comes from
 * regenerating the state a block at a time and from the shuffle drawing its
 * indices a batch ahead so the swaps' cache misses overlap. */
#include "data/mt19937.h"

#define MT_M 397
#define MT_UPPER 0x80000000u
#define MT_LOWER 0x7fffffffu
#define MT_MATRIX 0x9908b0dfu

void agpt_mt19937_seed(agpt_mt19937 *st, uint32_t seed) {
  st->key[0] = seed;
  for (int i = 1; i < AGPT_MT_N; i++)
    st->key[i] = 1812433253u * (st->key[i - 1] ^ (st->key[i - 1] >> 30)) + (uint32_t)i;
  st->pos = AGPT_MT_N;
}

static inline uint32_t mt_twist(uint32_t a, uint32_t b, uint32_t m) {
  uint32_t y = (a & MT_UPPER) | (b & MT_LOWER);
  return m ^ (y >> 1) ^ ((uint32_t)-(int32_t)(y & 1u) & MT_MATRIX);
}

static void mt_regen(agpt_mt19937 *st) {
  uint32_t *k = st->key;
  int i = 0;
  for (; i < AGPT_MT_N - MT_M; i++) k[i] = mt_twist(k[i], k[i + 1], k[i + MT_M]);
  for (; i < AGPT_MT_N - 1; i++) k[i] = mt_twist(k[i], k[i + 1], k[i + MT_M - AGPT_MT_N]);
  k[AGPT_MT_N - 1] = mt_twist(k[AGPT_MT_N - 1], k[0], k[MT_M - 1]);
  st->pos = 0;
}

uint32_t agpt_mt19937_next32(agpt_mt19937 *st) {
  if (st->pos == AGPT_MT_N) mt_regen(st);
  uint32_t y = st->key[st->pos++];
  y ^= y >> 11;
  y ^= (y << 7) & 0x9d2c5680u;
  y ^= (y << 15) & 0xefc60000u;
  y ^= y >> 18;
  return y;
}

uint64_t agpt_mt19937_next64(agpt_mt19937 *st) {
  uint64_t hi = agpt_mt19937_next32(st);
  return (hi << 32) | agpt_mt19937_next32(st);
}

static inline uint64_t mask_for(uint64_t max) {
  uint64_t m = max;
  m |= m >> 1;
  m |= m >> 2;
  m |= m >> 4;
  m |= m >> 8;
  m |= m >> 16;
  m |= m >> 32;
  return m;
}

uint64_t agpt_mt19937_interval(agpt_mt19937 *st, uint64_t max) {
  if (max == 0) return 0;
  uint64_t mask = mask_for(max), v;
  if (max <= 0xffffffffu) {
    do v = agpt_mt19937_next32(st) & mask;
    while (v > max);
  } else {
    do v = agpt_mt19937_next64(st) & mask;
    while (v > max);
  }
  return v;
}

/* Indices are drawn BATCH at a time (the draws depend only on i, never on
 * the array), then the swaps run with a prefetch PF swaps ahead. */
#define SHUF_BATCH 256
#define SHUF_PF 24

#define DEFINE_SHUFFLE(name, T)                                                   \
  void name(agpt_mt19937 *st, T *a, uint64_t n) {                                 \
    uint64_t js[SHUF_BATCH];                                                      \
    uint64_t i = n ? n - 1 : 0;                                                   \
    while (i >= 1) {                                                              \
      uint64_t cnt = i < SHUF_BATCH ? i : SHUF_BATCH;                             \
      for (uint64_t k = 0; k < cnt; k++) js[k] = agpt_mt19937_interval(st, i - k); \
      for (uint64_t k = 0; k < cnt && k < SHUF_PF; k++) __builtin_prefetch(&a[js[k]], 1, 0); \
      for (uint64_t k = 0; k < cnt; k++) {                                        \
        if (k + SHUF_PF < cnt) __builtin_prefetch(&a[js[k + SHUF_PF]], 1, 0);     \
        uint64_t ii = i - k, j = js[k];                                           \
        T t = a[j];                                                               \
        a[j] = a[ii];                                                             \
        a[ii] = t;                                                                \
      }                                                                           \
      i -= cnt;                                                                   \
    }                                                                             \
  }

DEFINE_SHUFFLE(agpt_mt19937_shuffle_i32, int32_t)
DEFINE_SHUFFLE(agpt_mt19937_shuffle_u32, uint32_t)
DEFINE_SHUFFLE(agpt_mt19937_shuffle_i64, int64_t)
