/* A blend of indexed datasets: which files, which corpus each belongs to, and
 * their weights, from an AuroraGPT data-file-list (`weight prefix corpus` per
 * line) or Megatron's `--data-path w1 p1 w2 p2 ...` (each file its own
 * corpus; a single prefix without weight means weight 1). */
#ifndef AGPT_DATA_BLEND_H
#define AGPT_DATA_BLEND_H

#include "core/status.h"
#include "data/indexed.h"

typedef struct {
  char *prefix;       /* owned; ".bin" suffix already dropped */
  int corpus;         /* index into agpt_blend.corpora */
  double weight;      /* as written */
  double norm_weight; /* weight / sum of all weights */
  agpt_indexed ds;    /* valid after agpt_blend_open */
  int line;           /* line in the data-file-list; for --data-path the word number of the prefix */
} agpt_blend_file;

typedef struct {
  agpt_blend_file *files; /* owned, in the order of the list */
  int n_files;
  char **corpora; /* owned names, in order of first appearance */
  int n_corpora;
  int opened;
  double *corpus_weight; /* owned, (n_corpora): sum of norm_weight of the corpus's files */
  char *source;          /* owned: the data-file-list path, or "--data-path" */
} agpt_blend;

/* Parse errors name the file and line. A line is `weight prefix corpus`
 * (exactly three whitespace-separated fields); `#` starts a comment at the
 * beginning of a field; blank lines are skipped; weights are finite and
 * >= 0 with a positive sum; PREFIX.idx must exist (paths are taken as
 * written, relative to the working directory). On success *out owns
 * everything (free with agpt_blend_free); on failure *out is empty. */
agpt_status agpt_blend_parse_file_list(const char *path, agpt_blend *out);
/* Megatron's `--data-path`: one PREFIX (weight 1), or `w1 p1 w2 p2 ...`.
 * Each file is its own corpus, named by its prefix. */
agpt_status agpt_blend_parse_data_path(int n, char **words, agpt_blend *out);
/* Opens every dataset (meta_only: the .idx alone, for index building and
 * benchmarks; reading tokens then is a bug). */
agpt_status agpt_blend_open(agpt_blend *b, int meta_only);
void agpt_blend_free(agpt_blend *b);

#endif
