/* idx_tool: drives the indexed-dataset reader and writers for the Python
 * interop tests (tests/py/test_indexed_megatron.py, test_preprocess.py).
 *
 *   idx_tool dump PREFIX [meta]   print the dataset as one JSON object:
 *                                 dtype, n_seqs, n_docs, n_tokens, sizes,
 *                                 pointers, doc_idx and (unless meta) tokens
 *   idx_tool write PREFIX DTYPE   one document per stdin line, ids separated
 *                                 by spaces (an empty line: an empty document)
 *   idx_tool meta PREFIX DTYPE S...  a metadata-only .idx with these sizes
 *
 * Errors go to stderr with exit status 1. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/indexed.h"

static int dump(const char *prefix, int meta) {
  agpt_indexed ds;
  if (agpt_indexed_open(prefix, meta, &ds) != AGPT_OK) {
    fprintf(stderr, "%s\n", agpt_errmsg());
    return 1;
  }
  printf("{\"dtype\": %d, \"n_seqs\": %llu, \"n_docs\": %llu, \"n_tokens\": %llu,\n", ds.dtype,
         (unsigned long long)ds.n_seqs, (unsigned long long)ds.n_docs, (unsigned long long)ds.n_tokens);
  printf("\"sizes\": [");
  for (uint64_t i = 0; i < ds.n_seqs; i++) printf(i ? ", %d" : "%d", (int)ds.sizes[i]);
  printf("],\n\"pointers\": [");
  for (uint64_t i = 0; i < ds.n_seqs; i++) printf(i ? ", %lld" : "%lld", (long long)ds.pointers[i]);
  printf("],\n\"doc_idx\": [");
  for (uint64_t i = 0; i < ds.n_docs; i++) printf(i ? ", %lld" : "%lld", (long long)ds.doc_idx[i]);
  printf("]");
  if (!meta) {
    printf(",\n\"tokens\": [");
    int32_t *buf = NULL;
    size_t cap = 0;
    for (uint64_t s = 0; s < ds.n_seqs; s++) {
      size_t n = (size_t)ds.sizes[s];
      if (n > cap) {
        cap = n;
        buf = realloc(buf, cap * sizeof *buf);
      }
      agpt_indexed_read(&ds, s, 0, n, buf);
      printf(s ? ",\n[" : "[");
      for (size_t i = 0; i < n; i++) printf(i ? ", %d" : "%d", (int)buf[i]);
      printf("]");
    }
    free(buf);
    printf("]");
  }
  printf("}\n");
  agpt_indexed_close(&ds);
  return 0;
}

static int write_docs(const char *prefix, int dtype) {
  agpt_indexed_writer *w;
  if (agpt_indexed_writer_open(prefix, dtype, &w) != AGPT_OK) {
    fprintf(stderr, "%s\n", agpt_errmsg());
    return 1;
  }
  char *line = NULL;
  size_t lcap = 0;
  int32_t *ids = NULL;
  size_t cap = 0;
  ssize_t got;
  while ((got = getline(&line, &lcap, stdin)) >= 0) {
    size_t n = 0;
    char *p = line, *end;
    for (;;) {
      long v = strtol(p, &end, 10);
      if (end == p) break;
      if (n == cap) {
        cap = cap ? 2 * cap : 256;
        ids = realloc(ids, cap * sizeof *ids);
      }
      ids[n++] = (int32_t)v;
      p = end;
    }
    if (agpt_indexed_writer_add_doc(w, ids, n) != AGPT_OK) {
      fprintf(stderr, "%s\n", agpt_errmsg());
      agpt_indexed_writer_abort(w);
      free(line);
      free(ids);
      return 1;
    }
  }
  free(line);
  free(ids);
  if (agpt_indexed_writer_finish(w) != AGPT_OK) {
    fprintf(stderr, "%s\n", agpt_errmsg());
    return 1;
  }
  return 0;
}

static int write_meta(const char *prefix, int dtype, int n, char **words) {
  int32_t *sizes = malloc(sizeof(int32_t) * (size_t)(n > 0 ? n : 1));
  for (int i = 0; i < n; i++) sizes[i] = (int32_t)atol(words[i]);
  int rc = 0;
  if (agpt_indexed_write_meta(prefix, dtype, sizes, (uint64_t)n) != AGPT_OK) {
    fprintf(stderr, "%s\n", agpt_errmsg());
    rc = 1;
  }
  free(sizes);
  return rc;
}

int main(int argc, char **argv) {
  if (argc >= 3 && !strcmp(argv[1], "dump")) return dump(argv[2], argc >= 4 && !strcmp(argv[3], "meta"));
  if (argc == 4 && !strcmp(argv[1], "write")) return write_docs(argv[2], atoi(argv[3]));
  if (argc >= 4 && !strcmp(argv[1], "meta")) return write_meta(argv[2], atoi(argv[3]), argc - 4, argv + 4);
  fprintf(stderr, "usage: idx_tool dump PREFIX [meta] | write PREFIX DTYPE < docs | meta PREFIX DTYPE SIZE...\n");
  return 2;
}
