/* agpt data: look at a blend and its sample index without training.
 *
 *   agpt data blend  --data-file-list F | --data-path ...  [index flags]
 *     per corpus and per file: tokens in the split, requested weight,
 *     samples drawn among --num-samples and the achieved share.
 *   agpt data sample --index N [--count K] ...
 *     where samples N..N+K-1 come from and their seq_length + 1 tokens.
 *
 * Both build exactly the index training builds for the same flags, so what
 * they print is what a run would read. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/flags.h"
#include "core/log.h"
#include "data/fast_index.h"
#include "data/sample_index.h"
#include "data/split.h"

typedef struct {
  const char *file_list, *split, *subset, *mode, *cache;
  agpt_strlist data_path;
  int seq_len, blend_in, shuffle_in;
  int64_t num_samples, seed, index, count;
} data_flags;

static void usage(FILE *out, const agpt_flag *flags, int n) {
  agpt_flags_usage(out, "agpt data blend|sample [flags]",
                   "blend: files, corpora, tokens, weights and achieved sample shares of a blend's split.\n"
                   "sample: origin and tokens of samples --index .. --index + --count - 1.",
                   flags, n);
}

/* One index of either mode; the fast one is kept typed for its statistics. */
typedef struct {
  agpt_fast_index *fast;
  agpt_sample_index *any;
} data_index;

static agpt_status index_get(const data_index *x, uint64_t i, int32_t *out) {
  return x->fast ? agpt_fast_index_get(x->fast, i, out) : agpt_sample_index_get(x->any, i, out);
}
static agpt_status index_origin(const data_index *x, uint64_t i, agpt_sample_origin *out) {
  return x->fast ? agpt_fast_index_origin(x->fast, i, out) : agpt_sample_index_origin(x->any, i, out);
}

static int fail(const char *what) {
  fprintf(stderr, "agpt data %s: %s\n", what, agpt_errmsg());
  return 1;
}

/* Tokens of the split of one file, by pointer arithmetic (either mode). */
static uint64_t split_tokens(const agpt_indexed *ds, const double ratios[3], int which) {
  uint64_t db, de;
  agpt_split_range(ds->n_docs ? ds->n_docs - 1 : 0, ratios, which, &db, &de);
  uint64_t sb = (uint64_t)ds->doc_idx[db], se = (uint64_t)ds->doc_idx[de];
  if (se <= sb) return 0;
  return ((uint64_t)ds->pointers[se - 1] - (uint64_t)ds->pointers[sb]) / ds->itemsize + (uint64_t)ds->sizes[se - 1];
}

static int cmd_blend(const data_flags *f, const agpt_blend *b, const data_index *x, const agpt_index_opts *o,
                     double build_s) {
  double ratios[3];
  if (agpt_split_parse(o->split, ratios) != AGPT_OK) return fail("blend");
  uint64_t N = o->num_samples;
  uint64_t *fcount = calloc((size_t)b->n_files, sizeof *fcount);
  uint64_t *ccount = calloc((size_t)b->n_corpora, sizeof *ccount);
  uint64_t *ctok = calloc((size_t)b->n_corpora, sizeof *ctok);
  int *cfiles = calloc((size_t)b->n_corpora, sizeof *cfiles);
  if (!fcount || !ccount || !ctok || !cfiles) {
    free(fcount), free(ccount), free(ctok), free(cfiles);
    fprintf(stderr, "agpt data blend: out of memory\n");
    return 1;
  }
  if (x->fast) {
    for (int i = 0; i < b->n_files; i++) {
      agpt_fast_file_info fi;
      agpt_fast_index_file_info(x->fast, i, &fi);
      fcount[i] = fi.samples;
    }
  } else {
    for (uint64_t i = 0; i < N; i++) {
      agpt_sample_origin org;
      if (index_origin(x, i, &org) != AGPT_OK) {
        free(fcount), free(ccount), free(ctok), free(cfiles);
        return fail("blend");
      }
      fcount[org.file]++;
    }
  }
  uint64_t *ftok = calloc((size_t)b->n_files + 1, sizeof *ftok);
  for (int i = 0; i < b->n_files; i++) {
    int c = b->files[i].corpus;
    ftok[i] = split_tokens(&b->files[i].ds, ratios, o->split_index);
    ccount[c] += fcount[i];
    ctok[c] += ftok[i];
    cfiles[c]++;
  }
  printf("blend %s: %d files in %d corpora; %s split of %s; seq_length %d; %llu samples; seed %llu; index %s (built "
         "in %.3f s)\n",
         b->source, b->n_files, b->n_corpora, f->subset, o->split, o->seq_len, (unsigned long long)N,
         (unsigned long long)o->seed, f->mode, build_s);
  printf("\n%-24s %6s %16s %10s %12s %10s\n", "corpus", "files", "tokens", "weight", "samples", "share");
  for (int c = 0; c < b->n_corpora; c++)
    printf("%-24s %6d %16llu %10.6f %12llu %10.6f\n", b->corpora[c], cfiles[c], (unsigned long long)ctok[c],
           b->corpus_weight[c], (unsigned long long)ccount[c], N ? (double)ccount[c] / (double)N : 0.0);
  printf("\n%-5s %-16s %14s %10s %12s %8s  %s\n", "file", "corpus", "tokens", "weight", "samples", "epochs", "prefix");
  for (int i = 0; i < b->n_files; i++) {
    char epochs[32] = "-";
    if (x->fast) {
      agpt_fast_file_info fi;
      agpt_fast_index_file_info(x->fast, i, &fi);
      if (fi.per_epoch) snprintf(epochs, sizeof epochs, "%.3f", (double)fi.samples / (double)fi.per_epoch);
    }
    printf("%-5d %-16s %14llu %10.6f %12llu %8s  %s\n", i, b->corpora[b->files[i].corpus],
           (unsigned long long)ftok[i], b->files[i].norm_weight, (unsigned long long)fcount[i], epochs,
           b->files[i].prefix);
  }
  free(fcount), free(ccount), free(ctok), free(cfiles), free(ftok);
  return 0;
}

static int cmd_sample(const data_flags *f, const agpt_blend *b, const data_index *x, const agpt_index_opts *o) {
  int32_t *tok = malloc(((size_t)o->seq_len + 1) * sizeof *tok);
  if (!tok) return fail("sample");
  for (int64_t k = 0; k < f->count; k++) {
    uint64_t i = (uint64_t)f->index + (uint64_t)k;
    agpt_sample_origin org;
    if (index_origin(x, i, &org) != AGPT_OK || index_get(x, i, tok) != AGPT_OK) {
      free(tok);
      return fail("sample");
    }
    printf("sample %llu: corpus %s, file %d %s, document %llu, offset %llu", (unsigned long long)i,
           b->corpora[org.corpus], org.file, b->files[org.file].prefix, (unsigned long long)org.doc,
           (unsigned long long)org.offset);
    agpt_fast_loc loc;
    if (x->fast && agpt_fast_index_locate(x->fast, i, &loc) == AGPT_OK)
      printf(", epoch %llu, window %llu", (unsigned long long)loc.epoch, (unsigned long long)loc.window);
    printf("\ntokens");
    for (int t = 0; t <= o->seq_len; t++) printf(" %d", tok[t]);
    printf("\n");
  }
  free(tok);
  return 0;
}

#define SUBSETS "train|valid|test"
#define INDEX_MODES "fast|megatron"

int agpt_cmd_data(int argc, char **argv) {
  data_flags f;
  memset(&f, 0, sizeof f);
  agpt_flag flags[] = {
      {"data-file-list", AGPT_FLAG_STR, &f.file_list, NULL, "AuroraGPT list: `weight prefix corpus` per line", NULL, NULL},
      {"data-path", AGPT_FLAG_STRLIST, &f.data_path, NULL, "Megatron form: PREFIX, or w1 PREFIX1 w2 PREFIX2 ...",
       NULL, NULL},
      {"seq-length", AGPT_FLAG_INT, &f.seq_len, "4096", "tokens per sample (a sample reads seq_length + 1)", NULL, "[1, inf)"},
      {"num-samples", AGPT_FLAG_I64, &f.num_samples, "100000", "samples the index serves (train: iters x batch)",
       NULL, "[1, inf)"},
      {"split", AGPT_FLAG_STR, &f.split, "969,30,1", "train,valid,test ratios over each file's documents", NULL, NULL},
      {"subset", AGPT_FLAG_STR, &f.subset, "train", "which split to index: train, valid or test", NULL, SUBSETS},
      {"seed", AGPT_FLAG_I64, &f.seed, "1234", "data order seed", NULL, "[0, inf)"},
      {"index-mode", AGPT_FLAG_STR, &f.mode, "fast", "fast (arithmetic, no index) or megatron (Megatron's arrays)",
       NULL, INDEX_MODES},
      {"data-cache-path", AGPT_FLAG_STR, &f.cache, NULL, "where the megatron mode may cache its arrays", NULL, NULL},
      {"blend-sample-in-corpus", AGPT_FLAG_BOOL, &f.blend_in, NULL, "megatron mode: blend a corpus's files by their sample counts", NULL, NULL},
      {"shuffle-sample-in-corpus", AGPT_FLAG_BOOL, &f.shuffle_in, NULL, "megatron mode: shuffle each corpus's samples", NULL, NULL},
      {"index", AGPT_FLAG_I64, &f.index, "0", "sample: first sample to show", NULL, "[0, inf)"},
      {"count", AGPT_FLAG_I64, &f.count, "1", "sample: how many samples to show", NULL, "[1, inf)"},
  };
  int nf = AGPT_NFLAGS(flags), help = 0;
  if (argc < 1 || !strcmp(argv[0], "--help") || !strcmp(argv[0], "-h")) {
    usage(argc < 1 ? stderr : stdout, flags, nf);
    return argc < 1 ? 2 : 0;
  }
  const char *sub = argv[0];
  int is_blend = !strcmp(sub, "blend"), is_sample = !strcmp(sub, "sample");
  if (!is_blend && !is_sample) {
    fprintf(stderr, "agpt data: unknown subcommand '%s' (use blend or sample)\n", sub);
    return 2;
  }
  if (agpt_flags_parse(flags, nf, argc - 1, argv + 1, NULL, &help) != AGPT_OK) {
    fprintf(stderr, "agpt data %s: %s\n", sub, agpt_errmsg());
    agpt_strlist_free(&f.data_path);
    return 2;
  }
  if (help) {
    usage(stdout, flags, nf);
    agpt_strlist_free(&f.data_path);
    return 0;
  }
  int rc = 2;
  agpt_index_opts o = {.split = f.split, .seq_len = f.seq_len, .num_samples = (uint64_t)f.num_samples,
                       .seed = (uint64_t)f.seed, .cache_dir = f.cache, .blend_sample_in_corpus = f.blend_in,
                       .shuffle_sample_in_corpus = f.shuffle_in};
  /* the flag table has checked the words and ranges */
  o.mode = agpt_flags_choice(INDEX_MODES, f.mode) == 0 ? AGPT_INDEX_FAST : AGPT_INDEX_MEGATRON;
  static const int splits[] = {AGPT_SPLIT_TRAIN, AGPT_SPLIT_VALID, AGPT_SPLIT_TEST};
  o.split_index = splits[agpt_flags_choice(SUBSETS, f.subset)];
  if ((f.file_list != NULL) == (f.data_path.n > 0)) {
    fprintf(stderr, "agpt data %s: give exactly one of --data-file-list and --data-path (see --help)\n", sub);
    agpt_strlist_free(&f.data_path);
    return 2;
  }

  agpt_blend b;
  agpt_status st = f.file_list ? agpt_blend_parse_file_list(f.file_list, &b)
                               : agpt_blend_parse_data_path(f.data_path.n, f.data_path.items, &b);
  /* Statistics need only the .idx files; printing tokens needs the .bin. */
  if (st == AGPT_OK && agpt_blend_open(&b, is_blend) != AGPT_OK) {
    agpt_blend_free(&b);
    st = AGPT_ERR;
  }
  if (st != AGPT_OK) {
    agpt_strlist_free(&f.data_path);
    return fail(sub);
  }
  data_index x = {NULL, NULL};
  double t0 = agpt_now();
  st = o.mode == AGPT_INDEX_FAST ? agpt_fast_index_build(&b, &o, &x.fast) : agpt_sample_index_build(&b, &o, &x.any);
  double build_s = agpt_now() - t0;
  if (st != AGPT_OK)
    rc = fail(sub);
  else
    rc = is_blend ? cmd_blend(&f, &b, &x, &o, build_s) : cmd_sample(&f, &b, &x, &o);
  agpt_fast_index_free(x.fast);
  agpt_sample_index_free(x.any);
  agpt_blend_free(&b);
  agpt_strlist_free(&f.data_path);
  return rc;
}
