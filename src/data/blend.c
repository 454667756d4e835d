/* Blends: parsing the AuroraGPT data-file-list and Megatron's --data-path
 * into one list of files with corpora and normalized weights, and opening
 * their indexed datasets.
 *
 * Promise: a parse either returns a complete blend whose every PREFIX.idx
 * existed at parse time, or fails naming the list file and line (or the
 * --data-path word) and leaves *out empty. Weights keep their written value
 * and are renormalized to sum 1 (norm_weight); a corpus weighs the sum of
 * its files. */
#include "data/blend.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"

static void blend_zero(agpt_blend *b) { memset(b, 0, sizeof *b); }

void agpt_blend_free(agpt_blend *b) {
  if (!b) return;
  for (int i = 0; i < b->n_files; i++) {
    if (b->opened) agpt_indexed_close(&b->files[i].ds);
    free(b->files[i].prefix);
  }
  for (int c = 0; c < b->n_corpora; c++) free(b->corpora[c]);
  free(b->files);
  free(b->corpora);
  free(b->corpus_weight);
  free(b->source);
  blend_zero(b);
}

/* Copies a prefix and drops a trailing ".bin" (lists often name the .bin). */
static char *prefix_dup(const char *s, size_t n) {
  if (n > 4 && !memcmp(s + n - 4, ".bin", 4)) n -= 4;
  char *p = agpt_xmalloc(n + 1);
  memcpy(p, s, n);
  p[n] = 0;
  return p;
}

static int parse_weight(const char *s, double *w) {
  char *end;
  errno = 0;
  double x = strtod(s, &end);
  if (end == s || *end || errno == ERANGE || !isfinite(x) || x < 0) return 0;
  *w = x;
  return 1;
}

static int corpus_find_or_add(agpt_blend *b, const char *name, int *cap) {
  for (int c = 0; c < b->n_corpora; c++)
    if (!strcmp(b->corpora[c], name)) return c;
  if (b->n_corpora == *cap) {
    *cap = *cap ? 2 * *cap : 8;
    b->corpora = agpt_xrealloc(b->corpora, (size_t)*cap * sizeof *b->corpora);
  }
  b->corpora[b->n_corpora] = agpt_xstrdup(name);
  return b->n_corpora++;
}

static void file_add(agpt_blend *b, int *cap, char *prefix, int corpus, double w, int line) {
  if (b->n_files == *cap) {
    *cap = *cap ? 2 * *cap : 16;
    b->files = agpt_xrealloc(b->files, (size_t)*cap * sizeof *b->files);
  }
  agpt_blend_file *f = &b->files[b->n_files++];
  memset(f, 0, sizeof *f);
  f->prefix = prefix;
  f->corpus = corpus;
  f->weight = w;
  f->line = line;
}

/* Normalizes weights; the caller names the source in the message. */
static agpt_status blend_finish(agpt_blend *b) {
  double sum = 0;
  for (int i = 0; i < b->n_files; i++) sum += b->files[i].weight;
  if (!(sum > 0) || !isfinite(sum)) return agpt_fail("the weights sum to %g (give at least one positive weight)", sum);
  b->corpus_weight = agpt_xcalloc((size_t)b->n_corpora, sizeof *b->corpus_weight);
  for (int i = 0; i < b->n_files; i++) {
    b->files[i].norm_weight = b->files[i].weight / sum;
    b->corpus_weight[b->files[i].corpus] += b->files[i].norm_weight;
  }
  return AGPT_OK;
}

static int idx_exists(const char *prefix) {
  size_t n = strlen(prefix);
  char *p = agpt_xmalloc(n + 5);
  memcpy(p, prefix, n);
  memcpy(p + n, ".idx", 5);
  int ok = agpt_file_exists(p);
  free(p);
  return ok;
}

agpt_status agpt_blend_parse_file_list(const char *path, agpt_blend *out) {
  blend_zero(out);
  char *text;
  size_t len;
  if (agpt_file_read_all(path, &text, &len) != AGPT_OK)
    return agpt_fail_prefix("--data-file-list %s", path);
  agpt_blend b;
  blend_zero(&b);
  int fcap = 0, ccap = 0, line = 0;
  char *p = text, *end = text + len;
  while (p < end) {
    line++;
    char *eol = memchr(p, '\n', (size_t)(end - p));
    if (!eol) eol = end;
    *eol = 0;
    char *fields[4];
    int nf = 0;
    char *q = p;
    for (;;) {
      while (*q && isspace((unsigned char)*q)) q++;
      if (!*q || *q == '#') break;
      char *start = q;
      while (*q && !isspace((unsigned char)*q)) q++;
      if (nf < 4) fields[nf] = start;
      nf++;
      if (*q) *q++ = 0;
    }
    p = eol + 1;
    if (nf == 0) continue;
    if (nf != 3) {
      agpt_blend_free(&b);
      free(text);
      return agpt_fail("%s:%d: expected 3 fields `weight prefix corpus`, found %d (write one file per line, e.g. "
                       "`0.5 /data/web_00 web`)",
                       path, line, nf);
    }
    double w;
    if (!parse_weight(fields[0], &w)) {
      /* fields point into text: format the message before freeing it. */
      agpt_fail("%s:%d: weight '%s' is not a finite number >= 0 (the first field is the weight)", path, line,
                fields[0]);
      agpt_blend_free(&b);
      free(text);
      return AGPT_ERR;
    }
    char *prefix = prefix_dup(fields[1], strlen(fields[1]));
    if (!idx_exists(prefix)) {
      agpt_fail("%s:%d: %s.idx does not exist (check the prefix; relative paths are taken from the working "
                "directory)",
                path, line, prefix);
      free(prefix);
      agpt_blend_free(&b);
      free(text);
      return AGPT_ERR;
    }
    int c = corpus_find_or_add(&b, fields[2], &ccap);
    file_add(&b, &fcap, prefix, c, w, line);
  }
  free(text);
  if (b.n_files == 0) {
    agpt_blend_free(&b);
    return agpt_fail("%s: no files listed (write `weight prefix corpus` per line)", path);
  }
  if (blend_finish(&b) != AGPT_OK) {
    agpt_blend_free(&b);
    return agpt_fail_prefix("%s", path);
  }
  b.source = agpt_xstrdup(path);
  *out = b;
  return AGPT_OK;
}

agpt_status agpt_blend_parse_data_path(int n, char **words, agpt_blend *out) {
  blend_zero(out);
  if (n <= 0) return agpt_fail("--data-path: no prefix given (give PREFIX or w1 PREFIX1 w2 PREFIX2 ...)");
  agpt_blend b;
  blend_zero(&b);
  int fcap = 0, ccap = 0;
  double w0;
  if (n == 1 && !parse_weight(words[0], &w0)) {
    char *prefix = prefix_dup(words[0], strlen(words[0]));
    b.corpora = agpt_xmalloc(sizeof *b.corpora);
    b.corpora[0] = agpt_xstrdup(prefix);
    b.n_corpora = ccap = 1;
    file_add(&b, &fcap, prefix, 0, 1.0, 1);
  } else {
    if (n % 2)
      return agpt_fail("--data-path: %d words, expected weight/prefix pairs (give w1 PREFIX1 w2 PREFIX2 ... or one "
                       "PREFIX)",
                       n);
    for (int i = 0; i < n; i += 2) {
      double w;
      if (!parse_weight(words[i], &w)) {
        agpt_blend_free(&b);
        return agpt_fail("--data-path: word %d ('%s') is not a weight >= 0 (give w1 PREFIX1 w2 PREFIX2 ...)", i + 1,
                         words[i]);
      }
      char *prefix = prefix_dup(words[i + 1], strlen(words[i + 1]));
      /* Every file is its own dataset in Megatron's plain blend, even when a
       * prefix repeats, so corpora are not merged by name here. */
      if (b.n_corpora == ccap) {
        ccap = ccap ? 2 * ccap : 8;
        b.corpora = agpt_xrealloc(b.corpora, (size_t)ccap * sizeof *b.corpora);
      }
      b.corpora[b.n_corpora] = agpt_xstrdup(prefix);
      file_add(&b, &fcap, prefix, b.n_corpora++, w, i + 2);
    }
  }
  for (int i = 0; i < b.n_files; i++)
    if (!idx_exists(b.files[i].prefix)) {
      agpt_fail("--data-path: word %d: %s.idx does not exist (check the prefix)", b.files[i].line, b.files[i].prefix);
      agpt_blend_free(&b);
      return AGPT_ERR;
    }
  if (blend_finish(&b) != AGPT_OK) {
    agpt_blend_free(&b);
    return agpt_fail_prefix("--data-path");
  }
  b.source = agpt_xstrdup("--data-path");
  *out = b;
  return AGPT_OK;
}

agpt_status agpt_blend_open(agpt_blend *b, int meta_only) {
  AGPT_ASSERT(!b->opened);
  for (int i = 0; i < b->n_files; i++) {
    if (agpt_indexed_open(b->files[i].prefix, meta_only, &b->files[i].ds) != AGPT_OK) {
      for (int j = 0; j < i; j++) agpt_indexed_close(&b->files[j].ds);
      if (b->source && strcmp(b->source, "--data-path"))
        return agpt_fail_prefix("%s:%d", b->source, b->files[i].line);
      return agpt_fail_prefix("--data-path word %d", b->files[i].line);
    }
  }
  b->opened = 1;
  return AGPT_OK;
}
