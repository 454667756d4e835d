/* The machine's measured matmul peak, the denominator of MFU: a short timed
 * run of the backend's matmul on a square shape large enough to reach the
 * BLAS's best rate. */
#ifndef AGPT_TRAIN_PEAK_H
#define AGPT_TRAIN_PEAK_H

#include "backend/backend.h"

/* FLOP/s, or 0 if the measurement could not allocate its buffers. */
double agpt_measure_peak_flops(agpt_backend *be);

#endif
