/* The `fast` sample-index mode: sample number -> (corpus, file, token
 * position) by arithmetic, with nothing built in proportion to tokens,
 * documents or samples. Build time and memory are O(files + corpora); the
 * corpus blend is an exact tree of integer splits (blend_tree.h).
 *
 * The design note with its invariants is at the top of fast_index.c. The
 * sample_index.h dispatcher is the public entry; the functions below also
 * serve tests, benchmarks and `agpt data`. */
#ifndef AGPT_DATA_FAST_INDEX_H
#define AGPT_DATA_FAST_INDEX_H

#include <stdint.h>

#include "core/status.h"
#include "data/blend.h"
#include "data/sample_index.h"

typedef struct agpt_fast_index agpt_fast_index;

/* b must be opened (meta_only is enough to build; reading tokens needs the
 * .bin) and must outlive *out, which the caller owns. */
agpt_status agpt_fast_index_build(const agpt_blend *b, const agpt_index_opts *o, agpt_fast_index **out);
/* seq_len + 1 tokens of sample i < num_samples; thread-safe. */
agpt_status agpt_fast_index_get(const agpt_fast_index *ix, uint64_t i, int32_t *out);
agpt_status agpt_fast_index_origin(const agpt_fast_index *ix, uint64_t i, agpt_sample_origin *out);
void agpt_fast_index_free(agpt_fast_index *ix);

/* Where sample i lies, in full. */
typedef struct {
  int corpus, file;
  uint64_t corpus_rank; /* i is the corpus_rank-th draw of its corpus */
  uint64_t file_sample; /* position in the file's stream of samples, < file's samples */
  uint64_t epoch;       /* file_sample / windows per epoch */
  uint64_t window;      /* file_sample % windows per epoch */
  uint64_t token;       /* first token, as a token position in the file's .bin */
} agpt_fast_loc;
agpt_status agpt_fast_index_locate(const agpt_fast_index *ix, uint64_t i, agpt_fast_loc *out);

uint64_t agpt_fast_index_num_samples(const agpt_fast_index *ix);
/* Per corpus: the integer weight W_c of the blend (the exact weight is W_c /
 * sum W; 0 for a corpus left out), samples drawn among the index's
 * num_samples, and the proved bound on |draws among the first n - n W_c /
 * sum W| at every n. blend_bound is the largest corpus bound. */
uint64_t agpt_fast_index_corpus_weight(const agpt_fast_index *ix, int corpus);
uint64_t agpt_fast_index_corpus_samples(const agpt_fast_index *ix, int corpus);
double agpt_fast_index_corpus_bound(const agpt_fast_index *ix, int corpus);
double agpt_fast_index_blend_bound(const agpt_fast_index *ix);
/* Per file (blend order): the split's token range in .bin (token positions),
 * windows per epoch, and samples drawn. A file whose split is shorter than
 * seq_len + 1 tokens, or whose weight is 0, has 0 samples. */
typedef struct {
  uint64_t doc_begin, doc_end; /* the split's documents */
  uint64_t seq_begin, seq_end; /* their sequences */
  uint64_t tok_begin, n_tokens;
  uint64_t per_epoch;
  uint64_t samples;
} agpt_fast_file_info;
void agpt_fast_index_file_info(const agpt_fast_index *ix, int file, agpt_fast_file_info *out);

/* A keyed bijection of [0, m): a 6-round Feistel network on the smallest
 * power of two >= m (at least 4) with cycle walking. */
typedef struct {
  uint64_t m;
  int hi, lo; /* bits of the two halves */
  uint64_t rk[6];
} agpt_feistel;
void agpt_feistel_init(agpt_feistel *p, uint64_t m, uint64_t seed, uint64_t stream);
uint64_t agpt_feistel_apply(const agpt_feistel *p, uint64_t x);

#endif
