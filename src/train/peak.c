/* See peak.h. */
#include "train/peak.h"

#include "core/log.h"

double agpt_measure_peak_flops(agpt_backend *be) {
  enum { N = 1024 };
  size_t bytes = (size_t)N * N * sizeof(float);
  float *a = NULL, *b = NULL, *c = NULL;
  double best = 0;
  if (be->alloc(be, bytes, (void **)&a) || be->alloc(be, bytes, (void **)&b) || be->alloc(be, bytes, (void **)&c))
    goto done;
  be->zero(be, a, bytes);
  be->zero(be, b, bytes);
  for (int rep = 0; rep < 12; rep++) {
    double t0 = agpt_now();
    be->matmul(be, 0, 1, N, N, N, 1.0f, a, N, b, N, 0.0f, c, N);
    be->sync(be);
    double dt = agpt_now() - t0;
    double rate = 2.0 * N * N * (double)N / dt;
    if (rep >= 2 && rate > best) best = rate;
  }
done:
  if (a) be->free_buf(be, a);
  if (b) be->free_buf(be, b);
  if (c) be->free_buf(be, c);
  return best;
}
