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
} agpt_blend_file;

typedef struct {
  agpt_blend_file *files; /* owned, in the order of the list */
  int n_files;
  char **corpora; /* owned names, in order of first appearance */
  int n_corpora;
  int opened;
} agpt_blend;

/* Parse errors name the file and line. */
agpt_status agpt_blend_parse_file_list(const char *path, agpt_blend *out);
agpt_status agpt_blend_parse_data_path(int n, char **words, agpt_blend *out);
/* Opens every dataset (meta_only: the .idx alone, for index building and
 * benchmarks; reading tokens then is a bug). */
agpt_status agpt_blend_open(agpt_blend *b, int meta_only);
void agpt_blend_free(agpt_blend *b);

#endif
