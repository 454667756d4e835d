/* The prefetching loader: batches equal direct index reads (tokens =
 * sample[:-1], labels = sample[1:]); data-parallel ranks read disjoint
 * slices whose concatenation is the one-rank batch; seek and a fresh open at
 * a consumed count resume the identical sequence; a failure of the prefetch
 * thread surfaces on next() after the good batches, with its message. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/file.h"
#include "core/rng.h"
#include "data/loader.h"
#include "data/split.h"

static char dir[256], list[512];

static void make_ds(int f, int ndocs) {
  char prefix[512];
  snprintf(prefix, sizeof prefix, "%s/f%d", dir, f);
  agpt_indexed_writer *w;
  CHECK(agpt_indexed_writer_open(prefix, AGPT_IDX_U16, &w) == AGPT_OK);
  int32_t ids[64];
  for (int d = 0; d < ndocs; d++) {
    int len = 1 + (int)(agpt_rng_u64(1, 2, (uint64_t)f, (uint64_t)d) % 60);
    for (int k = 0; k < len; k++) ids[k] = (int32_t)(agpt_rng_u64(3, 4, (uint64_t)f, (uint64_t)(d * 64 + k)) % 50000);
    CHECK(agpt_indexed_writer_add_doc(w, ids, (size_t)len) == AGPT_OK);
  }
  CHECK(agpt_indexed_writer_finish(w) == AGPT_OK);
}

enum { T = 12, N = 960 };

static agpt_loader_config config(int mb, int dp, int rank, uint64_t consumed, int mode) {
  agpt_loader_config c = {.data_file_list = list, .split = "90,10,0", .index_mode = mode, .seq_len = T,
                          .micro_batch = mb, .global_batch = 48, .dp_rank = rank, .dp_size = dp,
                          .num_samples = N, .seed = 1234, .prefetch = 3, .consumed_samples = consumed};
  return c;
}

/* The sample at global position i straight from the index. */
static void direct(const agpt_sample_index *ix, uint64_t i, int32_t *out) { CHECK(agpt_sample_index_get(ix, i, out) == AGPT_OK); }

static void test_matches_index(int mode) {
  agpt_loader_config c = config(4, 1, 0, 0, mode);
  agpt_loader *ld;
  CHECK(agpt_loader_open(&c, &ld) == AGPT_OK);
  if (!ld) {
    fprintf(stderr, "open: %s\n", agpt_errmsg());
    return;
  }
  CHECK(agpt_loader_grad_accum(ld) == 12);
  int32_t tok[4 * T], lab[4 * T], s[T + 1];
  int bad = 0;
  for (int step = 0; step < N / 4; step++) {
    CHECK(agpt_loader_consumed(ld) == (uint64_t)step * 4);
    CHECK(agpt_loader_next(ld, tok, lab) == AGPT_OK);
    for (int b = 0; b < 4; b++) {
      direct(agpt_loader_index(ld), (uint64_t)step * 4 + (uint64_t)b, s);
      bad += memcmp(tok + b * T, s, T * sizeof *s) != 0 || memcmp(lab + b * T, s + 1, T * sizeof *s) != 0;
    }
  }
  CHECK_MSG(bad == 0, "%d rows differ from the index", bad);
  /* Past the end: the thread's error arrives here, and again on retry. */
  CHECK(agpt_loader_next(ld, tok, lab) == AGPT_ERR);
  CHECK(strstr(agpt_errmsg(), "raise --train-iters") != NULL);
  CHECK(agpt_loader_next(ld, tok, lab) == AGPT_ERR);
  CHECK(agpt_loader_consumed(ld) == N);
  /* A seek clears the failure. */
  CHECK(agpt_loader_seek(ld, 8) == AGPT_OK);
  CHECK(agpt_loader_next(ld, tok, lab) == AGPT_OK);
  direct(agpt_loader_index(ld), 8, s);
  CHECK(memcmp(tok, s, T * sizeof *s) == 0);

  /* Evaluation reads of the valid split. */
  agpt_sample_index *vix;
  CHECK(agpt_loader_split_index(ld, AGPT_SPLIT_VALID, 40, &vix) == AGPT_OK);
  if (vix) {
    CHECK(agpt_loader_read(ld, vix, 4, tok, lab) == AGPT_OK);
    direct(vix, 5, s);
    CHECK(memcmp(tok + T, s, T * sizeof *s) == 0 && memcmp(lab + T, s + 1, T * sizeof *s) == 0);
    agpt_sample_origin o;
    CHECK(agpt_sample_index_origin(vix, 5, &o) == AGPT_OK);
    const agpt_blend *bl = agpt_loader_blend(ld);
    double r[3];
    agpt_split_parse("90,10,0", r);
    uint64_t db, de;
    agpt_split_range(bl->files[o.file].ds.n_docs - 1, r, AGPT_SPLIT_VALID, &db, &de);
    CHECK(o.doc >= (uint64_t)bl->files[o.file].ds.doc_idx[db] && o.doc < (uint64_t)bl->files[o.file].ds.doc_idx[de]);
    agpt_sample_index_free(vix);
  }
  agpt_loader_close(ld);
}

static void test_dp_slices(void) {
  agpt_loader_config c1 = config(4, 1, 0, 0, AGPT_INDEX_FAST);
  agpt_loader_config c0 = config(2, 2, 0, 0, AGPT_INDEX_FAST), cr = config(2, 2, 1, 0, AGPT_INDEX_FAST);
  agpt_loader *one, *r0, *r1;
  CHECK(agpt_loader_open(&c1, &one) == AGPT_OK);
  CHECK(agpt_loader_open(&c0, &r0) == AGPT_OK);
  CHECK(agpt_loader_open(&cr, &r1) == AGPT_OK);
  if (!one || !r0 || !r1) return;
  int32_t t1[4 * T], l1[4 * T], ta[2 * T], la[2 * T], tb[2 * T], lb[2 * T];
  int bad = 0, overlap = 0;
  for (int step = 0; step < 50; step++) {
    CHECK(agpt_loader_next(one, t1, l1) == AGPT_OK);
    CHECK(agpt_loader_next(r0, ta, la) == AGPT_OK);
    CHECK(agpt_loader_next(r1, tb, lb) == AGPT_OK);
    bad += memcmp(t1, ta, sizeof ta) || memcmp(t1 + 2 * T, tb, sizeof tb) || memcmp(l1, la, sizeof la) ||
           memcmp(l1 + 2 * T, lb, sizeof lb);
    overlap += !memcmp(ta, tb, T * sizeof *ta);
  }
  CHECK_MSG(bad == 0, "%d steps where ranks 0|1 differ from the one-rank batch", bad);
  CHECK(overlap == 0);
  CHECK(agpt_loader_consumed(r0) == 200 && agpt_loader_consumed(r1) == 200 && agpt_loader_consumed(one) == 200);
  agpt_loader_close(one);
  agpt_loader_close(r0);
  agpt_loader_close(r1);
}

static void test_resume(void) {
  agpt_loader_config c = config(2, 2, 1, 0, AGPT_INDEX_FAST);
  agpt_loader *ld;
  CHECK(agpt_loader_open(&c, &ld) == AGPT_OK);
  if (!ld) return;
  enum { STEPS = 40 };
  static int32_t tok[STEPS][2 * T], lab[STEPS][2 * T];
  for (int s = 0; s < STEPS; s++) CHECK(agpt_loader_next(ld, tok[s], lab[s]) == AGPT_OK);
  int32_t t[2 * T], l[2 * T];
  /* Rewind by seek, in the middle of read-ahead. */
  CHECK(agpt_loader_seek(ld, 13 * 4) == AGPT_OK);
  int bad = 0;
  for (int s = 13; s < STEPS; s++) {
    CHECK(agpt_loader_next(ld, t, l) == AGPT_OK);
    bad += memcmp(t, tok[s], sizeof t) || memcmp(l, lab[s], sizeof l);
  }
  CHECK_MSG(bad == 0, "seek: %d batches differ", bad);
  agpt_loader_close(ld);
  /* A fresh loader opened at a consumed count, as after a restart. */
  c.consumed_samples = 25 * 4;
  CHECK(agpt_loader_open(&c, &ld) == AGPT_OK);
  if (!ld) return;
  bad = 0;
  for (int s = 25; s < STEPS; s++) {
    CHECK(agpt_loader_next(ld, t, l) == AGPT_OK);
    bad += memcmp(t, tok[s], sizeof t) || memcmp(l, lab[s], sizeof l);
  }
  CHECK_MSG(bad == 0, "resume: %d batches differ", bad);
  agpt_loader_close(ld);
}

static void test_config_errors(void) {
  agpt_loader *ld;
  agpt_loader_config c = config(4, 2, 0, 0, AGPT_INDEX_FAST);
  c.global_batch = 12;
  CHECK(agpt_loader_open(&c, &ld) == AGPT_ERR && strstr(agpt_errmsg(), "--global-batch-size"));
  c = config(4, 2, 2, 0, AGPT_INDEX_FAST);
  CHECK(agpt_loader_open(&c, &ld) == AGPT_ERR && strstr(agpt_errmsg(), "rank 2 of 2"));
  c = config(4, 1, 0, 0, AGPT_INDEX_FAST);
  c.data_file_list = NULL;
  CHECK(agpt_loader_open(&c, &ld) == AGPT_ERR && strstr(agpt_errmsg(), "--data-path"));
  char pfx[512];
  snprintf(pfx, sizeof pfx, "%s/f1", dir);
  char *words[] = {pfx};
  c.n_data_path = 1;
  c.data_path = words;
  CHECK(agpt_loader_open(&c, &ld) == AGPT_OK);
  if (ld) {
    int32_t t[4 * T], l[4 * T];
    CHECK(agpt_loader_next(ld, t, l) == AGPT_OK);
    agpt_loader_close(ld);
  }
}

int main(void) {
  snprintf(dir, sizeof dir, "/tmp/agpt_test_loader_XXXXXX");
  if (!mkdtemp(dir)) return 1;
  for (int f = 0; f < 3; f++) make_ds(f, 300 + 100 * f);
  snprintf(list, sizeof list, "%s/list.txt", dir);
  char text[2048];
  snprintf(text, sizeof text, "0.5 %s/f0 a\n0.25 %s/f1 b\n0.25 %s/f2 b\n", dir, dir, dir);
  CHECK(agpt_file_write_atomic(list, text, strlen(text)) == AGPT_OK);
  test_matches_index(AGPT_INDEX_FAST);
  test_matches_index(AGPT_INDEX_MEGATRON); /* the dispatcher's other mode, same loader */
  test_dp_slices();
  test_resume();
  test_config_errors();
  CHECK(agpt_rm_rf(dir) == AGPT_OK);
  return check_done("test_loader");
}
