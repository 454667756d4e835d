/* The exact blend of the fast sample index (see blend_tree.h): a binary tree
 * over the corpora whose every internal node splits its own stream of
 * samples between its two children by exact integer rounding.
 *
 * Design note.
 *
 * Every node N has an integer weight W_N: a leaf the corpus's weight, an
 * internal node the sum of its children's. The root receives every sample;
 * the p-th sample (0-based) that reaches an internal node N with children A
 * and B goes to A iff a_N(p + 1) > a_N(p), where
 *     a_N(p) = floor((2 p W_A + W_N) / (2 W_N)) = round(p W_A / W_N),
 * ties rounded up. It arrives there as A's sample a_N(p), else as B's sample
 * p - a_N(p). The rounding is computed exactly: 2 p W_A < 2^127 for p < 2^64
 * and sum W <= 2^62.
 *
 * Invariants.
 *   1. a_N(p + 1) - a_N(p) is 0 or 1 (W_A <= W_N), so the samples reaching
 *      N are dealt to A and B without gaps or repeats: after p of them A has
 *      a_N(p) and B p - a_N(p). By induction from the root, draw() returns
 *      for sample i the corpus c and the number of earlier samples of c, and
 *      count(c, n) is exactly the number of c among samples [0, n): the
 *      ranks of corpus c are 0, 1, 2, ... in sample order.
 *   2. (Proved.) Let root = A_0, A_1, ..., A_d = leaf c be the path and
 *      n_k the samples reaching A_k among the first n. Telescoping,
 *        n_d - n W_c / W_root = sum_{k=1..d} (n_k - n_{k-1} W_{A_k} / W_{A_{k-1}}) * W_c / W_{A_k},
 *      and each bracket is a rounding error of at most 1/2, so
 *        |count(c, n) - n W_c / W_root| <= beta_c = 1/2 * sum_{k=1..d} W_c / W_{A_k}
 *      for every n. The k = d term is 1/2; beta_c < 1 iff the proper
 *      non-root ancestors N of c have sum W_c / W_N < 1. The bound is tight
 *      in the limit for weights in general position (the rounding errors of
 *      the levels are then jointly equidistributed), so the tree's shape is
 *      what decides it.
 *   3. (Measured, not proved.) beta_c depends on the tree. The build tries
 *      two shapes and keeps the one with the smaller max beta_c:
 *        - a bottom-up search (D <= AGPT_BLEND_TREE_SEARCH_MAX): repeatedly
 *          merge the two subtrees whose merged node leaves the smallest
 *          largest partial sum over its leaves (ties: lighter merge, then
 *          lower subtree numbers); the last merge is the root and costs
 *          nothing, so a tiny corpus waits to be a child of the root instead
 *          of spoiling a heavy sibling;
 *        - a top-down split by weight: corpora sorted by weight, each in
 *          turn to the lighter side.
 *      For balanced weights the partial sums are about 1/2 + 1/4 + ...,
 *      under 1, but we know no proof that some tree achieves max beta_c < 1
 *      for every weight set, and the search does not always find one:
 *      test_blend_tree measures, over 154 weight sets (uniform, log-uniform
 *      over 6 decades, 1/K, one dominant, many tiny, equal plus one tiny,
 *      near ties, zeros; K = 1..300), beta below 1 for 85 sets, at most 1.23
 *      with the search (K <= 256) and 1.46 with the split alone (K = 300),
 *      and real prefix errors up to 1.17 and 1.36. What is guaranteed is
 *      beta_c, computed at build, independent of n.
 *   4. The tree, hence the blend order, is a pure function of the weights:
 *      ties are broken by index and the search's comparisons are IEEE
 *      double operations in a fixed order. Nothing changes after build.
 *
 * Memory: O(D) for D corpora; lookups walk O(depth) nodes. */
#include "data/blend_tree.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
  uint64_t w, wa, two_wb; /* W_N, W_A, 2 W_B */
  int32_t child[2];       /* >= 0: internal node; < 0: leaf ~corpus */
  int32_t parent;         /* internal node, -1 for the root */
} bt_node;

struct agpt_blend_tree {
  int n, n_nodes;
  int32_t root;     /* as child[] */
  bt_node *node;    /* (n_nodes) */
  int32_t *lparent; /* (n) internal node above leaf c; -1 if none */
  uint64_t *w;      /* (n) */
  int *depth;       /* (n) */
  double *bound;    /* (n) beta_c */
  double max_bound;
};

static bt_node *tree_add(agpt_blend_tree *t, int32_t a, int32_t b) {
  bt_node *nd = &t->node[t->n_nodes];
  int32_t id = t->n_nodes++;
  uint64_t wa = a >= 0 ? t->node[a].w : t->w[~a], wb = b >= 0 ? t->node[b].w : t->w[~b];
  *nd = (bt_node){wa + wb, wa, 2 * wb, {a, b}, -1};
  if (a >= 0) t->node[a].parent = id;
  else t->lparent[~a] = id;
  if (b >= 0) t->node[b].parent = id;
  else t->lparent[~b] = id;
  t->root = id;
  return nd;
}

/* Invariant 2: beta_c and depths from the finished tree. */
static void tree_bounds(agpt_blend_tree *t) {
  t->max_bound = 0;
  for (int c = 0; c < t->n; c++) {
    t->bound[c] = 0;
    t->depth[c] = 0;
    if (t->lparent[c] < 0) continue;
    double s = 1;
    int d = 1;
    for (int32_t k = t->lparent[c]; t->node[k].parent >= 0; k = t->node[k].parent, d++)
      s += (double)t->w[c] / (double)t->node[k].w;
    t->bound[c] = s / 2;
    t->depth[c] = d;
    if (t->bound[c] > t->max_bound) t->max_bound = t->bound[c];
  }
}

static agpt_blend_tree *tree_new(const uint64_t *w, int n) {
  agpt_blend_tree *t = agpt_xcalloc(1, sizeof *t);
  t->n = n;
  t->node = agpt_xcalloc((size_t)n, sizeof *t->node);
  t->lparent = agpt_xmalloc((size_t)n * sizeof *t->lparent);
  t->w = agpt_xmalloc((size_t)n * sizeof *t->w);
  t->depth = agpt_xcalloc((size_t)n, sizeof *t->depth);
  t->bound = agpt_xcalloc((size_t)n, sizeof *t->bound);
  memcpy(t->w, w, (size_t)n * sizeof *w);
  for (int c = 0; c < n; c++) t->lparent[c] = -1;
  return t;
}

void agpt_blend_tree_free(agpt_blend_tree *t) {
  if (!t) return;
  free(t->node);
  free(t->lparent);
  free(t->w);
  free(t->depth);
  free(t->bound);
  free(t);
}

/* Invariant 3, the bottom-up search. Subtree s holds a list of leaves with
 * their partial sums cost_L = sum W_L / W_N over the nodes above L so far;
 * merging s and u into a non-root node adds W_L / (W_s + W_u) to each. */
static void build_search(agpt_blend_tree *t, const int *leaf, int D, double lookahead) {
  int32_t *ref = agpt_xmalloc((size_t)D * sizeof *ref);
  uint64_t *sw = agpt_xmalloc((size_t)D * sizeof *sw);
  int *head = agpt_xmalloc((size_t)D * sizeof *head), *tail = agpt_xmalloc((size_t)D * sizeof *tail);
  int *next = agpt_xmalloc((size_t)t->n * sizeof *next);
  double *cost = agpt_xmalloc((size_t)t->n * sizeof *cost);
  for (int s = 0; s < D; s++) {
    int c = leaf[s];
    ref[s] = ~c;
    sw[s] = t->w[c];
    head[s] = tail[s] = c;
    next[c] = -1;
    cost[c] = 1;
  }
  int m = D;
  while (m > 1) {
    int bs = 0, bu = 1;
    if (m > 2) {
      double best = 0;
      uint64_t bestw = 0;
      for (int s = 0; s < m; s++)
        for (int u = s + 1; u < m; u++) {
          uint64_t W = sw[s] + sw[u];
          double x = lookahead / (double)W, v = 0;
          for (int h = 0; h < 2; h++)
            for (int c = head[h ? u : s]; c >= 0; c = next[c]) {
              double e = cost[c] + (double)t->w[c] * x;
              if (e > v) v = e;
            }
          if ((s == 0 && u == 1) || v < best || (v == best && W < bestw)) {
            best = v;
            bestw = W;
            bs = s;
            bu = u;
          }
        }
      double x = 1.0 / (double)(sw[bs] + sw[bu]);
      for (int h = 0; h < 2; h++)
        for (int c = head[h ? bu : bs]; c >= 0; c = next[c]) cost[c] += (double)t->w[c] * x;
    }
    tree_add(t, ref[bs], ref[bu]);
    ref[bs] = t->root;
    sw[bs] += sw[bu];
    next[tail[bs]] = head[bu];
    tail[bs] = tail[bu];
    m--;
    ref[bu] = ref[m];
    sw[bu] = sw[m];
    head[bu] = head[m];
    tail[bu] = tail[m];
  }
  free(ref);
  free(sw);
  free(head);
  free(tail);
  free(next);
  free(cost);
}

/* Invariant 3, the top-down split; leaf[] is sorted by weight, heaviest
 * first, and each side keeps that order. */
static int32_t build_split(agpt_blend_tree *t, int *leaf, int k, int *scratch) {
  if (k == 1) return ~leaf[0];
  uint64_t s0 = 0, s1 = 0;
  int n0 = 0, n1 = 0;
  for (int j = 0; j < k; j++) {
    uint64_t w = t->w[leaf[j]];
    if (s0 <= s1) {
      leaf[n0++] = leaf[j]; /* n0 <= j: compacting in place is safe */
      s0 += w;
    } else {
      scratch[n1++] = leaf[j];
      s1 += w;
    }
  }
  memcpy(leaf + n0, scratch, (size_t)n1 * sizeof *leaf);
  int32_t a = build_split(t, leaf, n0, scratch);
  int32_t b = build_split(t, leaf + n0, n1, scratch);
  tree_add(t, a, b);
  return t->root;
}

typedef struct {
  uint64_t w;
  int c;
} by_weight;
static int by_weight_desc(const void *x, const void *y) {
  const by_weight *a = x, *b = y;
  if (a->w != b->w) return a->w > b->w ? -1 : 1;
  return a->c - b->c;
}

agpt_status agpt_blend_tree_build(const uint64_t *w, int n, agpt_blend_tree **out) {
  *out = NULL;
  if (n < 1) return agpt_fail("blend tree: %d corpora (give at least one)", n);
  uint64_t sum = 0;
  int D = 0;
  for (int c = 0; c < n; c++) {
    if (w[c] > AGPT_BLEND_TREE_WEIGHT_MAX - sum)
      return agpt_fail("blend tree: weights sum past 2^62 at corpus %d (scale the integer weights down)", c);
    sum += w[c];
    D += w[c] > 0;
  }
  if (D == 0) return agpt_fail("blend tree: every weight is 0 (give some corpus a positive weight)");
  int *leaf = agpt_xmalloc((size_t)D * sizeof *leaf);
  for (int c = 0, j = 0; c < n; c++)
    if (w[c] > 0) leaf[j++] = c;
  agpt_blend_tree *t = tree_new(w, n);
  t->root = ~leaf[0];
  if (D > 1) {
    /* Top-down split first: it is cheap and bounds the search's job. */
    int *sorted = agpt_xmalloc((size_t)D * sizeof *sorted), *scratch = agpt_xmalloc((size_t)D * sizeof *scratch);
    by_weight *bw = agpt_xmalloc((size_t)D * sizeof *bw);
    for (int j = 0; j < D; j++) bw[j] = (by_weight){w[leaf[j]], leaf[j]};
    qsort(bw, (size_t)D, sizeof *bw, by_weight_desc);
    for (int j = 0; j < D; j++) sorted[j] = bw[j].c;
    free(bw);
    build_split(t, sorted, D, scratch);
    free(sorted);
    free(scratch);
    tree_bounds(t);
    static const double lookahead[] = {1, 1.25, 1.5, 2, 3};
    for (int k = 0; D <= AGPT_BLEND_TREE_SEARCH_MAX && k < (int)(sizeof lookahead / sizeof *lookahead); k++) {
      agpt_blend_tree *s = tree_new(w, n);
      build_search(s, leaf, D, lookahead[k]);
      tree_bounds(s);
      if (s->max_bound < t->max_bound) {
        agpt_blend_tree_free(t);
        t = s;
      } else {
        agpt_blend_tree_free(s);
      }
    }
  }
  free(leaf);
  *out = t;
  return AGPT_OK;
}

int agpt_blend_tree_draw(const agpt_blend_tree *t, uint64_t i, uint64_t *rank) {
  int32_t r = t->root;
  uint64_t p = i;
  while (r >= 0) {
    const bt_node *nd = &t->node[r];
    unsigned __int128 x = (unsigned __int128)(2 * (unsigned __int128)p * nd->wa) + nd->w;
    uint64_t d = 2 * nd->w;
    uint64_t q = (uint64_t)(x / d), rem = (uint64_t)(x - (unsigned __int128)q * d);
    if (rem >= nd->two_wb) {
      r = nd->child[0];
      p = q;
    } else {
      r = nd->child[1];
      p -= q;
    }
  }
  *rank = p;
  return ~r;
}

uint64_t agpt_blend_tree_count(const agpt_blend_tree *t, int c, uint64_t n) {
  if (t->w[c] == 0) return 0;
  if (t->lparent[c] < 0) return n; /* the only corpus */
  /* The path, leaf upward; then deal n down it. */
  int d = t->depth[c];
  int32_t *path = agpt_xmalloc((size_t)d * sizeof *path);
  int32_t below = ~c;
  int k = 0;
  for (int32_t r = t->lparent[c]; r >= 0; r = t->node[r].parent) path[k++] = r;
  AGPT_ASSERT(k == d);
  uint64_t m = n;
  for (k = d - 1; k >= 0; k--) {
    const bt_node *nd = &t->node[path[k]];
    uint64_t q = (uint64_t)(((unsigned __int128)2 * m * nd->wa + nd->w) / (2 * nd->w));
    below = k > 0 ? path[k - 1] : ~c;
    m = nd->child[0] == below ? q : m - q;
    AGPT_ASSERT(nd->child[0] == below || nd->child[1] == below);
  }
  free(path);
  return m;
}

double agpt_blend_tree_bound(const agpt_blend_tree *t, int c) { return t->bound[c]; }
double agpt_blend_tree_max_bound(const agpt_blend_tree *t) { return t->max_bound; }
int agpt_blend_tree_depth(const agpt_blend_tree *t, int c) { return t->depth[c]; }
