/* megatron_dump: builds a `megatron` sample index and writes its arrays as
 * .npy files, so Python tests can compare them with a numpy reference.
 *
 *   megatron_dump OUT_DIR [--data-file-list F | --data-path W P [W P ...] | --data-path P]
 *                 [--split S] [--split-index K] [--seq-length L] [--num-samples N] [--seed S]
 *                 [--blend-sample-in-corpus] [--shuffle-sample-in-corpus] [--samples K]
 *                 [--meta-only] [--threads T] [--time] [--cache DIR]
 *
 * Writes, per file f: f<f>_doc_idx.npy (int32), f<f>_sample_idx.npy (uint32,
 * (n, 2)), f<f>_shuffle_idx.npy (uint32) and f<f>_meta.txt; the top
 * blend as blend_index.npy / blend_sample_index.npy (int64); per corpus c (in
 * sorted-name order) corpus<c>_index.npy / corpus<c>_sample_index.npy (int64,
 * values after the corpus shuffle) and corpus<c>_shuffle.npy when shuffled;
 * the first K samples (--samples all: every one) as samples.npy (int32, (K, L + 1)) and their origins as
 * origins.npy (int64, (K, 4): file, corpus, doc, offset); info.txt with the
 * size, layout, corpus names and whether the arrays came from the cache
 * (--cache DIR builds with that cache directory). With --time, prints the
 * build time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/status.h"
#include "data/blend.h"
#include "data/megatron_index.h"

static int write_npy(const char *dir, const char *name, const char *descr, const void *data, uint64_t rows,
                     uint64_t cols, size_t itemsize) {
  char path[4096], hdr[256];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  int n;
  if (cols)
    n = snprintf(hdr, sizeof hdr, "{'descr': '%s', 'fortran_order': False, 'shape': (%llu, %llu), }", descr,
                 (unsigned long long)rows, (unsigned long long)cols);
  else
    n = snprintf(hdr, sizeof hdr, "{'descr': '%s', 'fortran_order': False, 'shape': (%llu,), }", descr,
                 (unsigned long long)rows);
  int total = 10 + n + 1;
  int pad = (64 - total % 64) % 64;
  FILE *f = fopen(path, "wb");
  if (!f) return fprintf(stderr, "megatron_dump: cannot write %s\n", path), 1;
  unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, 0, 0};
  uint16_t hl = (uint16_t)(n + pad + 1);
  pre[8] = (unsigned char)(hl & 0xff);
  pre[9] = (unsigned char)(hl >> 8);
  size_t count = (size_t)rows * (cols ? cols : 1);
  int ok = fwrite(pre, 1, 10, f) == 10 && fwrite(hdr, 1, (size_t)n, f) == (size_t)n;
  for (int i = 0; i < pad && ok; i++) ok = fputc(' ', f) != EOF;
  ok = ok && fputc('\n', f) != EOF;
  ok = ok && (count == 0 || fwrite(data, itemsize, count, f) == count);
  ok = (fclose(f) == 0) && ok;
  if (!ok) fprintf(stderr, "megatron_dump: write failed: %s\n", path);
  return !ok;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: megatron_dump OUT_DIR [options] (see the source)\n");
    return 2;
  }
  const char *dir = argv[1], *list = NULL;
  char **dp = NULL;
  int n_dp = 0, meta_only = 0, timing = 0;
  agpt_index_opts o = {.mode = AGPT_INDEX_MEGATRON, .split = "1", .seq_len = 8, .num_samples = 10, .seed = 1234};
  agpt_megatron_opts mo = {0};
  uint64_t n_show = 0;
  for (int i = 2; i < argc; i++) {
    const char *a = argv[i];
    int more = i + 1 < argc;
    if (!strcmp(a, "--data-file-list") && more) {
      list = argv[++i];
    } else if (!strcmp(a, "--data-path")) {
      dp = &argv[i + 1];
      while (i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0) {
        i++;
        n_dp++;
      }
    } else if (!strcmp(a, "--split") && more) {
      o.split = argv[++i];
    } else if (!strcmp(a, "--split-index") && more) {
      o.split_index = atoi(argv[++i]);
    } else if (!strcmp(a, "--seq-length") && more) {
      o.seq_len = atoi(argv[++i]);
    } else if (!strcmp(a, "--num-samples") && more) {
      o.num_samples = strtoull(argv[++i], NULL, 10);
    } else if (!strcmp(a, "--seed") && more) {
      o.seed = strtoull(argv[++i], NULL, 10);
    } else if (!strcmp(a, "--threads") && more) {
      o.threads = atoi(argv[++i]);
    } else if (!strcmp(a, "--samples") && more) {
      i++;
      n_show = !strcmp(argv[i], "all") ? UINT64_MAX : strtoull(argv[i], NULL, 10);
    } else if (!strcmp(a, "--cache") && more) {
      o.cache_dir = argv[++i];
    } else if (!strcmp(a, "--blend-sample-in-corpus")) {
      mo.blend_sample_in_corpus = 1;
    } else if (!strcmp(a, "--shuffle-sample-in-corpus")) {
      mo.shuffle_sample_in_corpus = 1;
    } else if (!strcmp(a, "--meta-only")) {
      meta_only = 1;
    } else if (!strcmp(a, "--time")) {
      timing = 1;
    } else {
      fprintf(stderr, "megatron_dump: unknown or incomplete option %s\n", a);
      return 2;
    }
  }
  agpt_blend b;
  agpt_status st = list ? agpt_blend_parse_file_list(list, &b) : agpt_blend_parse_data_path(n_dp, dp, &b);
  if (st != AGPT_OK || agpt_blend_open(&b, meta_only) != AGPT_OK) {
    fprintf(stderr, "megatron_dump: %s\n", agpt_errmsg());
    return 1;
  }
  agpt_megatron_index *ix;
  double t0 = now_s();
  if (agpt_megatron_index_build_ex(&b, &o, &mo, &ix) != AGPT_OK) {
    fprintf(stderr, "megatron_dump: %s\n", agpt_errmsg());
    agpt_blend_free(&b);
    return 1;
  }
  double t1 = now_s();
  if (timing) printf("build_s %.3f\n", t1 - t0);
  int rc = 0;
  char name[256];
  for (int f = 0; f < b.n_files && !rc; f++) {
    agpt_megatron_file_arrays fa;
    if (agpt_megatron_index_file_arrays(ix, f, &fa) != AGPT_OK) return 1;
    snprintf(name, sizeof name, "f%d_doc_idx.npy", f);
    rc |= write_npy(dir, name, "<i4", fa.doc_idx, fa.n_doc_idx, 0, 4);
    snprintf(name, sizeof name, "f%d_sample_idx.npy", f);
    rc |= write_npy(dir, name, "<u4", fa.sample_idx, fa.n_sample_idx, 2, 4);
    snprintf(name, sizeof name, "f%d_shuffle_idx.npy", f);
    rc |= write_npy(dir, name, "<u4", fa.shuffle_idx, fa.n_shuffle, 0, 4);
    char path[4096];
    snprintf(path, sizeof path, "%s/f%d_meta.txt", dir, f);
    FILE *m = fopen(path, "w");
    if (!m) return 1;
    fprintf(m, "doc_begin %llu\ndoc_end %llu\nnum_samples %llu\ntokens_per_epoch %llu\nnum_epochs %d\nseparate_last_epoch %d\n",
            (unsigned long long)fa.doc_begin, (unsigned long long)fa.doc_end, (unsigned long long)fa.num_samples,
            (unsigned long long)fa.tokens_per_epoch, fa.num_epochs, fa.separate_last_epoch);
    fprintf(m, "n_serve %llu\nn_served_docs %llu\n", (unsigned long long)fa.n_serve,
            (unsigned long long)fa.n_served_docs);
    fclose(m);
    agpt_megatron_file_arrays_free(&fa);
  }
  uint64_t size = agpt_megatron_index_size(ix);
  int d;
  uint64_t s;
  if (!rc && agpt_megatron_index_blend_at(ix, 0, &d, &s) == AGPT_OK) {
    int64_t *di = malloc(size * 8 + 8), *si = malloc(size * 8 + 8);
    for (uint64_t i = 0; i < size && !rc; i++) {
      if (agpt_megatron_index_blend_at(ix, i, &d, &s) != AGPT_OK) {
        fprintf(stderr, "megatron_dump: blend position %llu: %s\n", (unsigned long long)i, agpt_errmsg());
        rc = 1;
      }
      di[i] = d;
      si[i] = (int64_t)s;
    }
    rc |= write_npy(dir, "blend_index.npy", "<i8", di, size, 0, 8);
    rc |= write_npy(dir, "blend_sample_index.npy", "<i8", si, size, 0, 8);
    free(di);
    free(si);
  }
  agpt_err_clear();
  char path[4096];
  snprintf(path, sizeof path, "%s/info.txt", dir);
  FILE *info = fopen(path, "w");
  if (!info) return 1;
  fprintf(info, "size %llu\nlayout %d\nn_corpora %d\nfrom_cache %d\n", (unsigned long long)size,
          (int)agpt_megatron_index_layout(ix), agpt_megatron_index_n_corpora(ix), agpt_megatron_index_from_cache(ix));
  for (int c = 0; c < agpt_megatron_index_n_corpora(ix) && !rc; c++) {
    const char *cname;
    uint64_t csize;
    const int *files;
    int nfc;
    agpt_megatron_index_corpus(ix, c, &cname, &csize, &files, &nfc);
    fprintf(info, "corpus %s %llu", cname, (unsigned long long)csize);
    for (int k = 0; k < nfc; k++) fprintf(info, " %d", files[k]);
    fprintf(info, "\n");
    int64_t *di = malloc(csize * 8 + 8), *si = malloc(csize * 8 + 8);
    for (uint64_t i = 0; i < csize && !rc; i++) {
      int k = 0;
      if (agpt_megatron_index_corpus_at(ix, c, i, &k, &s) != AGPT_OK) {
        fprintf(stderr, "megatron_dump: corpus %d position %llu: %s\n", c, (unsigned long long)i, agpt_errmsg());
        rc = 1;
      }
      di[i] = k;
      si[i] = (int64_t)s;
    }
    snprintf(name, sizeof name, "corpus%d_index.npy", c);
    rc |= write_npy(dir, name, "<i8", di, csize, 0, 8);
    snprintf(name, sizeof name, "corpus%d_sample_index.npy", c);
    rc |= write_npy(dir, name, "<i8", si, csize, 0, 8);
    free(di);
    free(si);
    const int64_t *sh = agpt_megatron_index_corpus_shuffle(ix, c);
    snprintf(name, sizeof name, "corpus%d_shuffle.npy", c);
    if (sh) rc |= write_npy(dir, name, "<i8", sh, csize, 0, 8);
  }
  fclose(info);
  if (!rc && n_show) {
    if (n_show > size) n_show = size;
    size_t w = (size_t)o.seq_len + 1;
    int32_t *tok = malloc(n_show * w * 4 + 4);
    int64_t *org = malloc(n_show * 4 * 8 + 8);
    for (uint64_t i = 0; i < n_show && !rc; i++) {
      agpt_sample_origin so;
      if (agpt_megatron_index_get(ix, i, tok + i * w) != AGPT_OK ||
          agpt_megatron_index_origin(ix, i, &so) != AGPT_OK) {
        fprintf(stderr, "megatron_dump: sample %llu: %s\n", (unsigned long long)i, agpt_errmsg());
        rc = 1;
        break;
      }
      org[4 * i] = so.file;
      org[4 * i + 1] = so.corpus;
      org[4 * i + 2] = (int64_t)so.doc;
      org[4 * i + 3] = (int64_t)so.offset;
    }
    if (!rc) rc |= write_npy(dir, "samples.npy", "<i4", tok, n_show, w, 4);
    if (!rc) rc |= write_npy(dir, "origins.npy", "<i8", org, n_show, 4, 8);
    free(tok);
    free(org);
  }
  agpt_megatron_index_free(ix);
  agpt_blend_free(&b);
  return rc;
}
