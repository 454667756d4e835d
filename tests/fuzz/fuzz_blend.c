/* Fuzz target: the AuroraGPT data-file-list (data/blend.c), and the same
 * words given as Megatron's --data-path. The scratch directory, which is
 * made the working directory, holds two small datasets, `a` and `b`, so that
 * lists naming them go on to open them. */
#include "fuzz_util.h"

#include "data/blend.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  if (chdir(fuzz_dir()) != 0) abort();
  static const int32_t ids[] = {1, 2, 3, 4, 5, 6, 7};
  const char *names[] = {"a", "b"};
  for (int k = 0; k < 2; k++) {
    agpt_indexed_writer *w;
    if (agpt_indexed_writer_open(names[k], AGPT_IDX_U16, &w) != AGPT_OK ||
        agpt_indexed_writer_add_doc(w, ids, 3 + (size_t)k) != AGPT_OK ||
        agpt_indexed_writer_add_doc(w, ids + 2, 4) != AGPT_OK || agpt_indexed_writer_finish(w) != AGPT_OK) {
      fprintf(stderr, "fuzz_blend: %s\n", agpt_errmsg());
      abort();
    }
  }
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_write_file("list", data, size);
  agpt_blend b;
  if (agpt_blend_parse_file_list("list", &b) == AGPT_OK) {
    (void)agpt_blend_open(&b, 0);
    agpt_blend_free(&b);
  }
  /* the same text as --data-path words (at most 64 of up to 255 bytes) */
  char buf[64][256];
  char *words[64];
  int n = 0;
  size_t i = 0;
  while (i < size && n < 64) {
    while (i < size && (data[i] == ' ' || data[i] == '\n' || data[i] == '\t')) i++;
    size_t start = i;
    while (i < size && data[i] != ' ' && data[i] != '\n' && data[i] != '\t') i++;
    if (i == start) break;
    size_t len = i - start < 255 ? i - start : 255;
    memcpy(buf[n], data + start, len);
    buf[n][len] = 0;
    words[n] = buf[n];
    n++;
  }
  if (n > 0 && agpt_blend_parse_data_path(n, words, &b) == AGPT_OK) {
    (void)agpt_blend_open(&b, 1);
    agpt_blend_free(&b);
  }
  return 0;
}
