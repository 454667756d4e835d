/* Counter-based random numbers.
 *
 * Every draw is a pure function of (seed, purpose, step, index): no generator
 * state is carried between calls, so a resumed run draws exactly what the
 * uninterrupted run drew, and draws may be made in any order or in parallel.
 * The mixer is SplitMix64's finalizer applied over the four words. */
#ifndef AGPT_CORE_RNG_H
#define AGPT_CORE_RNG_H

#include <stdint.h>

/* Purposes keep independent streams apart. */
enum {
  AGPT_RNG_INIT = 1,     /* parameter initialization: step = tensor index */
  AGPT_RNG_DATA = 2,     /* data order */
  AGPT_RNG_SAMPLE = 3,   /* token sampling in generation */
  AGPT_RNG_DROPOUT = 4,
};

uint64_t agpt_rng_u64(uint64_t seed, uint64_t purpose, uint64_t step, uint64_t index);
/* Uniform in [0, 1) with 24 bits (float) or 53 bits (double). */
float agpt_rng_uniform(uint64_t seed, uint64_t purpose, uint64_t step, uint64_t index);
double agpt_rng_uniform_f64(uint64_t seed, uint64_t purpose, uint64_t step, uint64_t index);
/* Standard normal by Box-Muller over two draws at (index, 0) and (index, 1). */
float agpt_rng_normal(uint64_t seed, uint64_t purpose, uint64_t step, uint64_t index);

#endif
