/* An exact, random-access blend of sample streams: sample i of the blend
 * goes to a corpus chosen by arithmetic on integer weights, so that at every
 * prefix of n samples each corpus c has been drawn within a bound beta_c of
 * n * W_c / sum W, with beta_c proved at build time and, for the trees the
 * build chooses, below 1 for every weight set we have measured (see the
 * design note in blend_tree.c for what is proved and what is measured).
 *
 * Build is O(D^3) for D <= AGPT_BLEND_TREE_SEARCH_MAX corpora with positive
 * weight and O(D log D + D * depth) above; memory is O(D). A lookup walks the
 * tree, one 128-bit multiply and divide per level, without allocating. */
#ifndef AGPT_DATA_BLEND_TREE_H
#define AGPT_DATA_BLEND_TREE_H

#include <stdint.h>

#include "core/status.h"

/* Above this many corpora with positive weight the tree is split top-down
 * by weight instead of searched bottom-up (the search is cubic). */
#define AGPT_BLEND_TREE_SEARCH_MAX 256
/* Integer weights must sum to at most this, so 2 * p * W fits 128 bits for
 * any 64-bit sample number p. */
#define AGPT_BLEND_TREE_WEIGHT_MAX ((uint64_t)1 << 62)

typedef struct agpt_blend_tree agpt_blend_tree;

/* w: (n) integer weights, 0 = never drawn; at least one positive; sum <=
 * AGPT_BLEND_TREE_WEIGHT_MAX; n <= 2^31 - 1. *out is owned by the caller
 * (agpt_blend_tree_free). Bad weights are input errors. */
agpt_status agpt_blend_tree_build(const uint64_t *w, int n, agpt_blend_tree **out);
void agpt_blend_tree_free(agpt_blend_tree *t);

/* The corpus of blend sample i, and in *rank how many samples before i went
 * to that corpus (so ranks of a corpus are 0, 1, 2, ... in sample order).
 * Thread-safe, no allocation. */
int agpt_blend_tree_draw(const agpt_blend_tree *t, uint64_t i, uint64_t *rank);
/* Draws of corpus c among samples [0, n). */
uint64_t agpt_blend_tree_count(const agpt_blend_tree *t, int c, uint64_t n);
/* The proved bound: |count(c, n) - n * W_c / sum W| <= bound(c) for all n.
 * 0 for a corpus of weight 0 or when only one corpus has weight. */
double agpt_blend_tree_bound(const agpt_blend_tree *t, int c);
double agpt_blend_tree_max_bound(const agpt_blend_tree *t);
/* Levels from the root to corpus c's leaf (0 for weight 0 or a lone corpus). */
int agpt_blend_tree_depth(const agpt_blend_tree *t, int c);

#endif
