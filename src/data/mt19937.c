/* MT19937 and numpy's legacy shuffle (see mt19937.h). The generator is the
 * reference algorithm of Matsumoto and Nishimura; speed comes from three
 * places, none of which changes a word of output:
 *   - the state is regenerated and tempered a vector at a time (16 lanes
 *     with AVX-512, 8 with AVX2, one without either);
 *   - bounded draws for a shuffle are made from a block of tempered words
 *     without branches on the random values (a rejected word is written and
 *     then overwritten), deciding 8 words at a time (16 to 64 with AVX-512)
 *     and falling back to one at a time only where that could differ;
 *   - the shuffle draws its indices one batch ahead of the swaps, so the
 *     swaps' cache misses are prefetched without pauses between batches.
 * Only the swaps touch the caller's array; everything else is on the stack.
 *
 * Design note.
 *  1. st->key holds the untempered words of the current block; st->pos words
 *     of it have been handed out. pos == AGPT_MT_N means the next word comes
 *     from a fresh regeneration. Every entry point leaves the state so.
 *  2. Tempering is a pure function of one key word, so a buffer of tempered
 *     words (tw) is only a cache of key[] built inside one call (its words
 *     before pos go unused); nothing outside the call depends on it and it
 *     is rebuilt after each regeneration.
 *  3. Regeneration writes key[i] from key[i], key[i+1] and key[(i+397) % N].
 *     For i < 227 all three are still the old block; for 227 <= i < 623,
 *     key[i-227] is already new and key[i+1] still old; a vector of W lanes
 *     at i therefore only needs W <= 227 and its loads made before its store.
 *  4. A bounded draw for bound b uses mask = all ones down from b's top bit
 *     and accepts v = word & mask iff v <= b; it consumes exactly the words
 *     numpy's random_interval does, in order, whether accepted or not.
 *  5. In a Fisher-Yates index stream the bound for the k-th index is i - k.
 *     Take a group of words when k indices are done and at most r more are
 *     wanted, all of whose bounds (down to i - k - (r - 1)) share one mask.
 *     Every word that matters, up to the r-th accepted one, is tested
 *     against i - k_t with k <= k_t <= k + r - 1: if v <= i - k - (r - 1) it
 *     is accepted whatever came before it, if v > i - k rejected. When every
 *     word of the group is one or the other, the whole group is decided at
 *     once exactly as the word-by-word loop decides it; otherwise it goes
 *     word by word. Undecided groups are rare once the bound is much larger
 *     than (group size)^2 / 2. */
#include "data/mt19937.h"

#include <string.h>

#if defined(__AVX512F__)
#include <immintrin.h>
#define MT_W 16
#elif defined(__AVX2__)
#define MT_W 8
#else
#define MT_W 1
#endif

#define MT_N AGPT_MT_N
#define MT_M 397
#define MT_UPPER 0x80000000u
#define MT_LOWER 0x7fffffffu
#define MT_MATRIX 0x9908b0dfu

void agpt_mt19937_seed(agpt_mt19937 *st, uint32_t seed) {
  st->key[0] = seed;
  for (int i = 1; i < MT_N; i++)
    st->key[i] = 1812433253u * (st->key[i - 1] ^ (st->key[i - 1] >> 30)) + (uint32_t)i;
  st->pos = MT_N;
}

static inline uint32_t mt_twist(uint32_t a, uint32_t b, uint32_t m) {
  uint32_t y = (a & MT_UPPER) | (b & MT_LOWER);
  return m ^ (y >> 1) ^ ((uint32_t)-(int32_t)(y & 1u) & MT_MATRIX);
}

static inline uint32_t mt_temper(uint32_t y) {
  y ^= y >> 11;
  y ^= (y << 7) & 0x9d2c5680u;
  y ^= (y << 15) & 0xefc60000u;
  y ^= y >> 18;
  return y;
}

#if MT_W > 1
/* GCC vectors of W lanes; memcpy makes the loads and stores unaligned ones. */
typedef uint32_t mt_vec __attribute__((vector_size(MT_W * 4)));

static inline mt_vec vload(const uint32_t *p) {
  mt_vec v;
  memcpy(&v, p, sizeof v);
  return v;
}

static inline void vstore(uint32_t *p, mt_vec v) { memcpy(p, &v, sizeof v); }

static inline mt_vec vtwist(mt_vec a, mt_vec b, mt_vec m) {
  mt_vec y = (a & MT_UPPER) | (b & MT_LOWER);
  return m ^ (y >> 1) ^ (-(y & 1u) & MT_MATRIX);
}

static inline mt_vec vtemper(mt_vec y) {
  y ^= y >> 11;
  y ^= (y << 7) & 0x9d2c5680u;
  y ^= (y << 15) & 0xefc60000u;
  y ^= y >> 18;
  return y;
}
#endif

/* Invariant 3 gives the loop bounds; the few words that do not fill a vector
 * are done one at a time. */
static void mt_regen(agpt_mt19937 *st) {
  uint32_t *k = st->key;
  int i = 0;
#if MT_W > 1
  for (; i + MT_W <= MT_N - MT_M; i += MT_W) vstore(k + i, vtwist(vload(k + i), vload(k + i + 1), vload(k + i + MT_M)));
#endif
  for (; i < MT_N - MT_M; i++) k[i] = mt_twist(k[i], k[i + 1], k[i + MT_M]);
#if MT_W > 1
  for (; i + MT_W <= MT_N - 1; i += MT_W)
    vstore(k + i, vtwist(vload(k + i), vload(k + i + 1), vload(k + i + MT_M - MT_N)));
#endif
  for (; i < MT_N - 1; i++) k[i] = mt_twist(k[i], k[i + 1], k[i + MT_M - MT_N]);
  k[MT_N - 1] = mt_twist(k[MT_N - 1], k[0], k[MT_M - 1]);
  st->pos = 0;
}

static void temper_range(const uint32_t *in, uint32_t *out, size_t n) {
#if MT_W > 1
  size_t nv = n - n % MT_W;
  for (size_t i = 0; i < nv; i += MT_W) vstore(out + i, vtemper(vload(in + i)));
#else
  size_t nv = 0;
#endif
  for (size_t i = nv; i < n; i++) out[i] = mt_temper(in[i]);
}

uint32_t agpt_mt19937_next32(agpt_mt19937 *st) {
  if (st->pos == MT_N) mt_regen(st);
  return mt_temper(st->key[st->pos++]);
}

uint64_t agpt_mt19937_next64(agpt_mt19937 *st) {
  uint64_t hi = agpt_mt19937_next32(st);
  return (hi << 32) | agpt_mt19937_next32(st);
}

void agpt_mt19937_fill32(agpt_mt19937 *st, uint32_t *out, size_t n) {
  while (n) {
    if (st->pos == MT_N) mt_regen(st);
    size_t c = (size_t)(MT_N - st->pos);
    if (c > n) c = n;
    temper_range(st->key + st->pos, out, c);
    st->pos += (int)c;
    out += c;
    n -= c;
  }
}

/* numpy's mask: the smallest 2^r - 1 >= max */
static inline uint64_t mask_for(uint64_t max) { return max ? ~(uint64_t)0 >> __builtin_clzll(max) : 0; }

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

/* Slack past the last index a draw may write: the vector path stores whole
 * vectors of which only the accepted lanes count. */
#define JS_SLACK 64

#if MT_W == 16
/* The lane of the r-th lowest set bit of m (1 <= r <= popcount(m)). */
static inline int nth_set_lane(uint64_t m, uint32_t r) {
#ifdef __BMI2__
  return __builtin_ctzll(_pdep_u64((uint64_t)1 << (r - 1), m));
#else
  while (--r) m &= m - 1;
  return __builtin_ctzll(m);
#endif
}

/* One step of the vector draw over a group of up to 16 * G words
 * (invariant 5): every bound down to i - (kend - 1) shares mask, k < kend,
 * p < MT_N. Decided
 * words are compressed into js at once; undecided ones go one at a time.
 * A wider G shortens the chain through k per word but makes undecided
 * words likelier, so it pays only for large bounds. */
static inline __attribute__((always_inline)) void draw_vectors(const uint32_t *tw, uint32_t *js, uint32_t i,
                                                               uint32_t mask, uint32_t kend, uint32_t *kp, int *pp,
                                                               const int G) {
  uint32_t k = *kp, wmax = 16u * (uint32_t)G;
  int p = *pp;
  /* r: indices still wanted under this mask; L: words left in the block */
  uint32_t r = kend - k < wmax ? kend - k : wmax, L = (uint32_t)(MT_N - p) < wmax ? (uint32_t)(MT_N - p) : wmax;
  const __m512i vm = _mm512_set1_epi32((int)mask);
  const __m512i vsure = _mm512_set1_epi32((int)(i - k - (r - 1))), vmaybe = _mm512_set1_epi32((int)(i - k));
  __m512i v[4];
  uint64_t sure = 0, maybe = 0;
  for (int g = 0; g < G; g++) {
    uint32_t lg = L > 16u * (uint32_t)g ? L - 16u * (uint32_t)g : 0;
    __mmask16 lanes = (__mmask16)(lg >= 16 ? 0xffffu : (1u << lg) - 1);
    const uint32_t *src = lg ? tw + p + 16 * g : tw; /* no pointer past the block */
    v[g] = _mm512_and_si512(_mm512_maskz_loadu_epi32(lanes, src), vm);
    sure |= (uint64_t)_mm512_mask_cmple_epu32_mask(lanes, v[g], vsure) << (16 * g);
    maybe |= (uint64_t)_mm512_mask_cmple_epu32_mask(lanes, v[g], vmaybe) << (16 * g);
  }
  if (sure != maybe) {
    for (uint32_t t = 0; t < L && k < kend; t++) {
      uint32_t w = tw[p++] & mask;
      js[k] = w;
      k += (uint64_t)w + k <= i;
    }
  } else {
    uint32_t off = k;
    for (int g = 0; g < G; g++) {
      __mmask16 mg = (__mmask16)(sure >> (16 * g));
      _mm512_storeu_si512(js + off, _mm512_maskz_compress_epi32(mg, v[g]));
      off += (uint32_t)__builtin_popcount(mg);
    }
    uint32_t got = (uint32_t)__builtin_popcountll(sure);
    if (got >= r) { /* stop right after the r-th accepted word */
      p += nth_set_lane(sure, r) + 1;
      k += r;
    } else {
      p += (int)L;
      k += got;
    }
  }
  *kp = k;
  *pp = p;
}
#endif

/* js[k] = interval(i - k) for k in [0, cnt), where 1 <= i - cnt + 1 and
 * i <= 0xffffffff; js has room for cnt + JS_SLACK. tw holds the tempered
 * words of the current block (invariant 2) and is refilled here on
 * regeneration. */
static void draw_desc32(agpt_mt19937 *st, uint32_t *tw, uint32_t *js, uint32_t i, uint32_t cnt) {
  uint32_t k = 0;
  int p = st->pos;
  while (k < cnt) {
    if (p == MT_N) {
      mt_regen(st);
      temper_range(st->key, tw, MT_N);
      p = 0;
    }
    /* bounds i - k .. down to (mask >> 1) + 1 share this mask (invariant 4) */
    uint32_t mask = (uint32_t)mask_for(i - k);
    uint32_t kend = i - (mask >> 1);
    if (kend > cnt) kend = cnt;
#if MT_W == 16
    /* Wider groups once the bounds make undecided words rare: a group of
     * R words is undecided with odds about R^2 / 2 over the bound. */
    if (mask >= 0x7fffu) {
      while (k < kend && p < MT_N) draw_vectors(tw, js, i, mask, kend, &k, &p, 4);
    } else if (mask >= 0x1fffu) {
      while (k < kend && p < MT_N) draw_vectors(tw, js, i, mask, kend, &k, &p, 2);
    } else {
      while (k < kend && p < MT_N) draw_vectors(tw, js, i, mask, kend, &k, &p, 1);
    }
#else
    while (k < kend && p < MT_N) {
      /* Invariant 5 with R = 8: decide the words against k together, then
       * write them out, so the chain through k is one add per word. */
      if (kend - k >= 8 && MT_N - p >= 8) {
        uint32_t w[8], sure = 0, maybe = 0;
        for (int t = 0; t < 8; t++) {
          w[t] = tw[p + t] & mask;
          sure |= (uint32_t)(w[t] <= i - k - 7) << t;
          maybe |= (uint32_t)(w[t] <= i - k) << t;
        }
        if (sure == maybe) {
          for (int t = 0; t < 8; t++) {
            js[k] = w[t];
            k += (sure >> t) & 1u;
          }
          p += 8;
          continue;
        }
      }
      /* One word, no branch on its value: a rejected word's slot is
       * overwritten by the next. */
      uint32_t w = tw[p++] & mask;
      js[k] = w;
      k += (uint64_t)w + k <= i;
    }
#endif
  }
  st->pos = p;
}

void agpt_mt19937_intervals_desc32(agpt_mt19937 *st, uint32_t max, uint32_t *out, size_t cnt) {
  _Alignas(64) uint32_t tw[MT_N];
  uint32_t js[256 + JS_SLACK];
  temper_range(st->key, tw, MT_N); /* words before pos go unused */
  while (cnt && max) {
    uint32_t c;
    if (cnt >= 256 + JS_SLACK) { /* out itself has room for the overrun */
      c = cnt - JS_SLACK < max ? (uint32_t)(cnt - JS_SLACK) : max;
      draw_desc32(st, tw, out, max, c);
    } else {
      c = cnt < 256 ? (uint32_t)cnt : 256;
      if (c > max) c = max;
      draw_desc32(st, tw, js, max, c);
      memcpy(out, js, c * sizeof *js);
    }
    out += c;
    cnt -= c;
    max -= c;
  }
  if (cnt) *out = 0; /* interval(0): no word consumed */
}

/* Indices are drawn SHUF_BATCH at a time (the draws depend only on i, never
 * on the array), one batch ahead of the swaps and in the same buffer right
 * after the batch being swapped, so the prefetch SHUF_PF swaps ahead runs on
 * across batch ends. Past the last index the buffer holds zeros: prefetching
 * a[0] is harmless and saves a bound check per swap. */
#define SHUF_BATCH 512
#define SHUF_PF 32

#define SWAP(T, a, x, y) \
  do {                   \
    T t_ = a[y];         \
    a[y] = a[x];         \
    a[x] = t_;           \
  } while (0)

/* Bounds above 32 bits (arrays of more than 2^32 + 1 elements) draw 64-bit
 * words one interval at a time; the rest goes through the batched path. */
#define DEFINE_SHUFFLE(name, T)                                                                \
  void name(agpt_mt19937 *st, T *a, uint64_t n) {                                              \
    if (n < 2) return;                                                                         \
    uint64_t i = n - 1;                                                                        \
    {                                                                                          \
      uint64_t js[SHUF_BATCH];                                                                 \
      while (i > 0xffffffffu) {                                                                \
        uint64_t cnt = i - 0xffffffffu < SHUF_BATCH ? i - 0xffffffffu : SHUF_BATCH;            \
        for (uint64_t k = 0; k < cnt; k++) js[k] = agpt_mt19937_interval(st, i - k);           \
        for (uint64_t k = 0; k < cnt && k < SHUF_PF; k++) __builtin_prefetch(&a[js[k]], 1, 0); \
        for (uint64_t k = 0; k < cnt; k++) {                                                   \
          if (k + SHUF_PF < cnt) __builtin_prefetch(&a[js[k + SHUF_PF]], 1, 0);                \
          SWAP(T, a, i - k, js[k]);                                                            \
        }                                                                                      \
        i -= cnt;                                                                              \
      }                                                                                        \
    }                                                                                          \
    _Alignas(64) uint32_t tw[MT_N];                                                             \
    uint32_t jb[2 * SHUF_BATCH + JS_SLACK + SHUF_PF];                                          \
    temper_range(st->key, tw, MT_N); /* words before pos go unused */                           \
    uint32_t ii = (uint32_t)i, c = ii < SHUF_BATCH ? ii : SHUF_BATCH;                           \
    draw_desc32(st, tw, jb, ii, c);                                                             \
    for (uint32_t k = 0; k < c && k < SHUF_PF; k++) __builtin_prefetch(&a[jb[k]], 1, 0);        \
    while (c) {                                                                                 \
      uint32_t in = ii - c, cn = in < SHUF_BATCH ? in : SHUF_BATCH;                             \
      if (cn) draw_desc32(st, tw, jb + c, in, cn);                                              \
      for (uint32_t q = c + cn; q < c + cn + SHUF_PF; q++) jb[q] = 0;                           \
      for (uint32_t k = 0; k < c; k++) {                                                        \
        __builtin_prefetch(&a[jb[k + SHUF_PF]], 1, 0);                                          \
        SWAP(T, a, ii - k, jb[k]);                                                              \
      }                                                                                         \
      memmove(jb, jb + c, cn * sizeof *jb);                                                     \
      ii = in;                                                                                  \
      c = cn;                                                                                   \
    }                                                                                           \
  }

DEFINE_SHUFFLE(agpt_mt19937_shuffle_i32, int32_t)
DEFINE_SHUFFLE(agpt_mt19937_shuffle_u32, uint32_t)
DEFINE_SHUFFLE(agpt_mt19937_shuffle_i64, int64_t)
