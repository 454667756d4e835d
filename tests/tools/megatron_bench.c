/* megatron_bench: times the `megatron` index build on a synthetic blend.
 *
 *   megatron_bench gen DIR CORPORA FILES_PER_CORPUS TOKENS AVG_DOC_LEN
 *       writes metadata-only DIR/c<c>_f<f>.idx files holding TOKENS tokens in
 *       all (document lengths drawn deterministically in [1, 2 AVG_DOC_LEN))
 *       and DIR/list.txt, a data-file-list with uneven weights
 *   megatron_bench build LIST SEQ_LEN NUM_SAMPLES [THREADS] [--blend-sample-in-corpus] [--shuffle-sample-in-corpus]
 *       builds the index and prints build seconds, peak RSS and the bytes
 *       the arrays hold
 *
 * A tool for measuring, not a test: nothing is asserted. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "data/blend.h"
#include "data/indexed.h"
#include "data/megatron_index.h"

typedef struct {
  uint64_t salt, avg;
} gen_ctx;

static agpt_status fill_sizes(void *vctx, uint64_t first, uint64_t count, int32_t *out) {
  const gen_ctx *c = vctx;
  for (uint64_t i = 0; i < count; i++) {
    uint64_t z = (first + i) * 0x9e3779b97f4a7c15ull ^ c->salt;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    out[i] = (int32_t)(1 + z % (2 * c->avg - 1));
  }
  return AGPT_OK;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int gen(int argc, char **argv) {
  if (argc < 7) return fprintf(stderr, "usage: megatron_bench gen DIR CORPORA FILES TOKENS AVG_DOC_LEN\n"), 2;
  const char *dir = argv[2];
  int nc = atoi(argv[3]), nf = atoi(argv[4]);
  double tokens = strtod(argv[5], NULL);
  uint64_t avg = strtoull(argv[6], NULL, 10);
  char path[4096];
  snprintf(path, sizeof path, "%s/list.txt", dir);
  FILE *list = fopen(path, "w");
  if (!list) return fprintf(stderr, "cannot write %s\n", path), 1;
  /* Corpus c holds a share proportional to 1 + (c % 10); files split it evenly. */
  double shares = 0;
  for (int c = 0; c < nc; c++) shares += 1 + c % 10;
  for (int c = 0; c < nc; c++)
    for (int f = 0; f < nf; f++) {
      double t = tokens * (1 + c % 10) / shares / nf;
      uint64_t docs = (uint64_t)(t / (double)avg) + 1;
      char prefix[4096];
      snprintf(prefix, sizeof prefix, "%s/c%03d_f%02d", dir, c, f);
      gen_ctx ctx = {.salt = (uint64_t)(c * 1000 + f) * 0x2545f4914f6cdd1dull, .avg = avg};
      if (agpt_indexed_write_meta_fn(prefix, AGPT_IDX_U16, docs, fill_sizes, &ctx) != AGPT_OK) {
        fprintf(stderr, "%s\n", agpt_errmsg());
        fclose(list);
        return 1;
      }
      fprintf(list, "%.6f %s corpus%03d\n", t / tokens * (1.0 + 0.3 * (f % 3)), prefix, c);
    }
  fclose(list);
  return 0;
}

static int build(int argc, char **argv) {
  if (argc < 5) return fprintf(stderr, "usage: megatron_bench build LIST SEQ_LEN NUM_SAMPLES [THREADS] [flags]\n"), 2;
  agpt_index_opts o = {.mode = AGPT_INDEX_MEGATRON, .split = "990,10,0", .seq_len = atoi(argv[3]),
                       .num_samples = strtoull(argv[4], NULL, 10), .seed = 1234};
  agpt_megatron_opts mo = {0};
  for (int i = 5; i < argc; i++) {
    if (!strcmp(argv[i], "--blend-sample-in-corpus"))
      mo.blend_sample_in_corpus = 1;
    else if (!strcmp(argv[i], "--shuffle-sample-in-corpus"))
      mo.shuffle_sample_in_corpus = 1;
    else
      o.threads = atoi(argv[i]);
  }
  agpt_blend b;
  double t0 = now_s();
  if (agpt_blend_parse_file_list(argv[2], &b) != AGPT_OK || agpt_blend_open(&b, 1) != AGPT_OK) {
    fprintf(stderr, "%s\n", agpt_errmsg());
    return 1;
  }
  double t1 = now_s();
  agpt_megatron_index *ix;
  if (agpt_megatron_index_build_ex(&b, &o, &mo, &ix) != AGPT_OK) {
    fprintf(stderr, "%s\n", agpt_errmsg());
    return 1;
  }
  double t2 = now_s();
  uint64_t bytes = 0, docs = 0, tokens = 0;
  for (int f = 0; f < b.n_files; f++) {
    agpt_megatron_file_arrays fa;
    agpt_megatron_index_file_arrays(ix, f, &fa);
    bytes += fa.n_doc_idx * 4 + fa.n_sample_idx * 16 + fa.n_shuffle * (fa.shuffle_idx32 ? 4 : 8);
    docs += b.files[f].ds.n_seqs;
    tokens += b.files[f].ds.n_tokens;
  }
  uint64_t size = agpt_megatron_index_size(ix);
  bytes += size * ((agpt_megatron_index_n_corpora(ix) <= 256 ? 1 : 2) + (size <= UINT32_MAX ? 4 : 8));
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  printf("files %d corpora %d docs %llu tokens %llu samples %llu\n", b.n_files, agpt_megatron_index_n_corpora(ix),
         (unsigned long long)docs, (unsigned long long)tokens, (unsigned long long)size);
  printf("open_s %.3f build_s %.3f arrays_mib %.1f peak_rss_mib %.1f\n", t1 - t0, t2 - t1,
         (double)bytes / 1048576.0, (double)ru.ru_maxrss / 1024.0);
  agpt_megatron_index_free(ix);
  agpt_blend_free(&b);
  return 0;
}

int main(int argc, char **argv) {
  if (argc >= 2 && !strcmp(argv[1], "gen")) return gen(argc, argv);
  if (argc >= 2 && !strcmp(argv[1], "build")) return build(argc, argv);
  fprintf(stderr, "usage: megatron_bench gen|build ... (see the source)\n");
  return 2;
}
