/* Megatron's greedy blend (helpers.build_blending_indices), bit for bit.
 *
 * For n = 0 .. size-1 Megatron computes, in double, the deficit
 * w[d] * max(n, 1) - count[d] of every dataset (the product rounded, then the
 * difference rounded), takes the largest (ties to the lowest index), records
 * (d, count[d]) and adds one to count[d]. agpt_greedy_blend returns exactly
 * those arrays for any finite non-negative weights (normalized or not, zeros
 * and equal weights included), in roughly constant time per sample instead of
 * time proportional to the number of datasets. */
#ifndef AGPT_DATA_GREEDY_BLEND_H
#define AGPT_DATA_GREEDY_BLEND_H

#include <stdint.h>

#include "core/status.h"

/* Fills di[0..size) with the dataset of each sample (di_bytes 1, 2 or 4:
 * uint8, uint16 or int32, wide enough for nd - 1), si[0..size) with its
 * index within that dataset (si_bytes 4 or 8: uint32, wide enough for
 * size - 1, or uint64) and counts[0..nd) with the samples drawn per dataset.
 * w holds nd >= 1 finite weights >= 0; size may be 0 (di and si may then be
 * NULL) and is at most 2^50. The caller owns every buffer. Returns AGPT_OK,
 * or AGPT_ERR via agpt_fail on bad arguments or when the O(nd) working
 * memory cannot be allocated; the outputs are then unspecified. */
agpt_status agpt_greedy_blend(const double *w, int nd, uint64_t size, void *di, int di_bytes, void *si,
                              int si_bytes, uint64_t *counts);

#endif
