/* Train/valid/test split of a dataset's documents by ratios.
 *
 * The rule is Megatron's get_train_valid_test_split_: the split string holds
 * up to three numbers separated by ',' (or '/'), missing ones are 0, the
 * ratios are normalized to sum 1, boundary k is the previous boundary plus
 * round(ratio_k * n_docs) with Python's round() (half to even), and the
 * rounding excess is taken off every boundary after the first so the last one
 * is exactly n_docs. Ranges are contiguous, in document order. Both index
 * modes use this one function, so they agree on which documents are in which
 * split. */
#ifndef AGPT_DATA_SPLIT_H
#define AGPT_DATA_SPLIT_H

#include <stdint.h>

#include "core/status.h"

enum { AGPT_SPLIT_TRAIN = 0, AGPT_SPLIT_VALID = 1, AGPT_SPLIT_TEST = 2 };

/* Parses "990,10,0", "98/2" or "1" into normalized ratios (sum 1). Fails on
 * an empty or non-numeric field, a negative value, more than three fields or
 * an all-zero split, with a message naming the flag `--split`. */
agpt_status agpt_split_parse(const char *s, double ratios[3]);
/* The four boundaries [0, b1, b2, n_docs] for normalized ratios; split k is
 * documents [bounds[k], bounds[k+1]). */
void agpt_split_bounds(uint64_t n_docs, const double ratios[3], uint64_t bounds[4]);
/* Documents [*begin, *end) of split `which` (AGPT_SPLIT_TRAIN/VALID/TEST). */
void agpt_split_range(uint64_t n_docs, const double ratios[3], int which, uint64_t *begin, uint64_t *end);

#endif
