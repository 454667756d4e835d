/* Blend parsing (data-file-list and --data-path), every parse error with its
 * line number, and the document split rule against values computed with
 * Megatron's get_train_valid_test_split_ in Python. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "core/file.h"
#include "data/blend.h"
#include "data/split.h"

static char dir[256];

static void make_ds(const char *name, int ndocs) {
  char prefix[512];
  snprintf(prefix, sizeof prefix, "%s/%s", dir, name);
  agpt_indexed_writer *w;
  CHECK(agpt_indexed_writer_open(prefix, AGPT_IDX_U16, &w) == AGPT_OK);
  for (int d = 0; d < ndocs; d++) {
    int32_t ids[5] = {d, d + 1, d + 2, d + 3, 0};
    CHECK(agpt_indexed_writer_add_doc(w, ids, 5) == AGPT_OK);
  }
  CHECK(agpt_indexed_writer_finish(w) == AGPT_OK);
}

/* Writes a list file; returns its path (static buffer). */
static const char *write_list(const char *text) {
  static char path[512];
  snprintf(path, sizeof path, "%s/list.txt", dir);
  CHECK(agpt_file_write_atomic(path, text, strlen(text)) == AGPT_OK);
  return path;
}

/* The list must fail and the message must contain every given fragment. */
static void expect_list_error(const char *text, const char *frag1, const char *frag2) {
  const char *path = write_list(text);
  agpt_blend b;
  agpt_status st = agpt_blend_parse_file_list(path, &b);
  CHECK_MSG(st == AGPT_ERR, "list accepted:\n%s", text);
  CHECK_MSG(strstr(agpt_errmsg(), frag1) != NULL, "message '%s' lacks '%s'", agpt_errmsg(), frag1);
  if (frag2) CHECK_MSG(strstr(agpt_errmsg(), frag2) != NULL, "message '%s' lacks '%s'", agpt_errmsg(), frag2);
  CHECK(b.n_files == 0 && b.files == NULL);
}

static void test_file_list(void) {
  char text[4096];
  snprintf(text, sizeof text,
           "# AuroraGPT blend\n"
           "\n"
           "2.0 %s/a.bin web   # the web\n"
           "   1   %s/b  code\n"
           "\t1 %s/c web\n"
           "# done\n",
           dir, dir, dir);
  const char *path = write_list(text);
  agpt_blend b;
  CHECK(agpt_blend_parse_file_list(path, &b) == AGPT_OK);
  CHECK(b.n_files == 3);
  CHECK(b.n_corpora == 2);
  if (b.n_files == 3 && b.n_corpora == 2) {
    char want[512];
    snprintf(want, sizeof want, "%s/a", dir);
    CHECK(!strcmp(b.files[0].prefix, want));
    CHECK(!strcmp(b.corpora[0], "web") && !strcmp(b.corpora[1], "code"));
    CHECK(b.files[0].corpus == 0 && b.files[1].corpus == 1 && b.files[2].corpus == 0);
    CHECK(b.files[0].line == 3 && b.files[1].line == 4 && b.files[2].line == 5);
    CHECK_CLOSE(b.files[0].weight, 2.0, 0, 0);
    CHECK_CLOSE(b.files[0].norm_weight, 0.5, 1e-15, 0);
    CHECK_CLOSE(b.files[1].norm_weight, 0.25, 1e-15, 0);
    CHECK_CLOSE(b.corpus_weight[0], 0.75, 1e-15, 0);
    CHECK_CLOSE(b.corpus_weight[1], 0.25, 1e-15, 0);
    CHECK(agpt_blend_open(&b, 0) == AGPT_OK);
    CHECK(b.files[2].ds.n_seqs == 7);
  }
  agpt_blend_free(&b);

  /* Every error names the list and the line. */
  char buf[4096], frag[600];
  snprintf(buf, sizeof buf, "1 %s/a web\n\n0.5 %s/b\n", dir, dir);
  snprintf(frag, sizeof frag, "%s/list.txt:3:", dir);
  expect_list_error(buf, frag, "expected 3 fields");
  snprintf(buf, sizeof buf, "# c\n1 %s/a web extra\n", dir);
  snprintf(frag, sizeof frag, "%s/list.txt:2:", dir);
  expect_list_error(buf, frag, "found 4");
  snprintf(buf, sizeof buf, "1 %s/a web\nabc %s/b code\n", dir, dir);
  expect_list_error(buf, frag, "weight 'abc'");
  snprintf(buf, sizeof buf, "1 %s/a web\n-1 %s/b code\n", dir, dir);
  expect_list_error(buf, frag, "weight '-1'");
  snprintf(buf, sizeof buf, "1 %s/a web\nnan %s/b code\n", dir, dir);
  expect_list_error(buf, frag, "weight 'nan'");
  snprintf(buf, sizeof buf, "1 %s/a web\n1e999 %s/b code\n", dir, dir);
  expect_list_error(buf, frag, "weight '1e999'");
  snprintf(buf, sizeof buf, "1 %s/a web\n1 %s/missing code\n", dir, dir);
  char missing[600];
  snprintf(missing, sizeof missing, "%s/missing.idx does not exist", dir);
  expect_list_error(buf, frag, missing);
  snprintf(buf, sizeof buf, "0 %s/a web\n0 %s/b code\n", dir, dir);
  snprintf(frag, sizeof frag, "%s/list.txt", dir);
  expect_list_error(buf, frag, "sum to 0");
  expect_list_error("# nothing here\n\n", frag, "no files listed");

  /* A list file that does not exist is named too. */
  agpt_blend b2;
  char nolist[600];
  snprintf(nolist, sizeof nolist, "%s/nolist.txt", dir);
  CHECK(agpt_blend_parse_file_list(nolist, &b2) == AGPT_ERR);
  CHECK(strstr(agpt_errmsg(), "nolist.txt") != NULL);
}

static void test_data_path(void) {
  char pa[512], pb[512], pm[512];
  snprintf(pa, sizeof pa, "%s/a", dir);
  snprintf(pb, sizeof pb, "%s/b.bin", dir);
  snprintf(pm, sizeof pm, "%s/missing", dir);
  agpt_blend b;
  char *one[] = {pa};
  CHECK(agpt_blend_parse_data_path(1, one, &b) == AGPT_OK);
  CHECK(b.n_files == 1 && b.n_corpora == 1 && b.files[0].norm_weight == 1.0);
  agpt_blend_free(&b);
  char *two[] = {"3", pa, "1", pb};
  CHECK(agpt_blend_parse_data_path(4, two, &b) == AGPT_OK);
  CHECK(b.n_files == 2 && b.n_corpora == 2);
  if (b.n_files == 2) {
    CHECK_CLOSE(b.files[0].norm_weight, 0.75, 1e-15, 0);
    CHECK(strstr(b.files[1].prefix, ".bin") == NULL);
    CHECK(!strcmp(b.corpora[0], b.files[0].prefix));
  }
  agpt_blend_free(&b);
  char *odd[] = {"3", pa, "1"};
  CHECK(agpt_blend_parse_data_path(3, odd, &b) == AGPT_ERR);
  CHECK(strstr(agpt_errmsg(), "--data-path") && strstr(agpt_errmsg(), "pairs"));
  char *badw[] = {"x", pa, "1", pb};
  CHECK(agpt_blend_parse_data_path(4, badw, &b) == AGPT_ERR);
  CHECK(strstr(agpt_errmsg(), "word 1") != NULL);
  char *miss[] = {"1", pa, "1", pm};
  CHECK(agpt_blend_parse_data_path(4, miss, &b) == AGPT_ERR);
  CHECK(strstr(agpt_errmsg(), "word 4") && strstr(agpt_errmsg(), "missing.idx does not exist"));
  CHECK(agpt_blend_parse_data_path(0, NULL, &b) == AGPT_ERR);
}

/* Values printed by Megatron's get_train_valid_test_split_ (Python). */
static void test_split(void) {
  static const struct {
    const char *s;
    uint64_t n;
    uint64_t want[4];
  } cases[] = {
      {"949,50,1", 413853, {0, 392746, 413439, 413853}},
      {"990,10,0", 1000, {0, 990, 1000, 1000}},
      {"1,1,1", 1, {0, 1, 1, 1}},
      {"1,1,1", 2, {0, 0, 1, 2}},
      {"1,1,1", 4, {0, 2, 3, 4}},
      {"1,1,1", 5, {0, 1, 3, 5}},
      {"98/2", 101, {0, 99, 101, 101}},
      {"1", 7, {0, 7, 7, 7}},
      {"969,30,1", 10, {0, 10, 10, 10}},
      {"1,1", 5, {0, 3, 5, 5}},
      {"1,1", 7, {0, 3, 7, 7}},
      {"3,1", 10, {0, 8, 10, 10}},
      {"969,30,1", 123457, {0, 119630, 123334, 123457}},
      {"99,1,0", 3, {0, 3, 3, 3}},
      {"7,2,1", 25, {0, 18, 23, 25}},
  };
  for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
    double r[3];
    CHECK(agpt_split_parse(cases[t].s, r) == AGPT_OK);
    uint64_t got[4];
    agpt_split_bounds(cases[t].n, r, got);
    for (int k = 0; k < 4; k++)
      CHECK_MSG(got[k] == cases[t].want[k], "split %s over %llu: bound %d = %llu, want %llu", cases[t].s,
                (unsigned long long)cases[t].n, k, (unsigned long long)got[k], (unsigned long long)cases[t].want[k]);
    uint64_t b, e;
    agpt_split_range(cases[t].n, r, AGPT_SPLIT_VALID, &b, &e);
    CHECK(b == cases[t].want[1] && e == cases[t].want[2]);
  }
  double r[3];
  const char *bad[] = {"", "1,,1", "a,1", "1,1,1,1", "0,0,0", "-1,2", "1,2x"};
  for (size_t t = 0; t < sizeof bad / sizeof bad[0]; t++) {
    CHECK_MSG(agpt_split_parse(bad[t], r) == AGPT_ERR, "split '%s' accepted", bad[t]);
    CHECK(strstr(agpt_errmsg(), "--split") != NULL);
  }
  CHECK(agpt_split_parse(" 98 , 2 ", r) == AGPT_OK && r[0] == 0.98 && r[2] == 0.0);
}

int main(void) {
  snprintf(dir, sizeof dir, "/tmp/agpt_test_blend_XXXXXX");
  if (!mkdtemp(dir)) return 1;
  make_ds("a", 3);
  make_ds("b", 4);
  make_ds("c", 7);
  test_file_list();
  test_data_path();
  test_split();
  CHECK(agpt_rm_rf(dir) == AGPT_OK);
  return check_done("test_blend");
}
