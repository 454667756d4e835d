/* See rng.h. */
#include "core/rng.h"

#include <math.h>

static uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

uint64_t agpt_rng_u64(uint64_t seed, uint64_t purpose, uint64_t step, uint64_t index) {
  const uint64_t g = 0x9e3779b97f4a7c15ULL;
  uint64_t h = mix64(seed + g);
  h = mix64(h ^ (purpose + 2 * g));
  h = mix64(h ^ (step + 3 * g));
  return mix64(h ^ (index + 4 * g));
}

float agpt_rng_uniform(uint64_t seed, uint64_t purpose, uint64_t step, uint64_t index) {
  return (float)(agpt_rng_u64(seed, purpose, step, index) >> 40) * (1.0f / 16777216.0f);
}

double agpt_rng_uniform_f64(uint64_t seed, uint64_t purpose, uint64_t step, uint64_t index) {
  return (double)(agpt_rng_u64(seed, purpose, step, index) >> 11) * (1.0 / 9007199254740992.0);
}

float agpt_rng_normal(uint64_t seed, uint64_t purpose, uint64_t step, uint64_t index) {
  double u1 = agpt_rng_uniform_f64(seed, purpose, step, 2 * index);
  double u2 = agpt_rng_uniform_f64(seed, purpose, step, 2 * index + 1);
  if (u1 < 1e-300) u1 = 1e-300;
  return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}
