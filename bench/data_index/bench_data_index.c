/* Sample-index benchmark on a synthetic 2T-token blend (metadata only).
 *
 *   bench_data_index gen DIR [--scale S]
 *       writes DIR/shards/<type>_<k>.idx (sizes drawn from per-type
 *       log-normal document lengths, no .bin) and DIR/list_10.txt,
 *       DIR/list_100.txt: data-file-lists of S x 2T tokens over 10 and 100
 *       corpora; skipped when DIR/params.txt already records the same S.
 *   bench_data_index run DIR K MODE [--lookups L] [--cache CDIR] [--label NAME]
 *       opens list_K.txt, builds the MODE index (fast|megatron) of the train
 *       split at seq 4096 for (tokens / 4096) samples, times L random
 *       origin look-ups, and prints
 *       RESULT data_index/<NAME>/<K> build_s=<x> first_us=<f> lookup_ns=<y> peak_mib=<z>
 *       (NAME defaults to MODE); --cache gives the megatron mode a cache
 *       directory (--data-cache-path).
 *
 * peak_mib is the peak anonymous resident memory (RssAnon of
 * /proc/self/status, sampled every millisecond by a thread) over the open,
 * the build and the look-ups: the memory the index holds. VmHWM is printed
 * on the INFO line too, but it counts every mapped .idx page each time it is
 * mapped, and the lists map the same shard files many times over (opening
 * validates every size and pointer, so all of them get touched): it measures
 * the page cache seen through aliases, not what the index costs. Run each
 * mode in its own process (run.sh does). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "core/file.h"
#include "core/log.h"
#include "core/rng.h"
#include "data/fast_index.h"
#include "data/sample_index.h"

/* Document-length model per corpus type: log-normal with the given median
 * and sigma, clamped to [16, 2^22] tokens. Means (exp(mu + sigma^2/2)):
 * web ~950, code ~1,640, papers ~8,600, abstracts ~290, wiki ~740, books
 * ~86,000 tokens. */
typedef struct {
  const char *name;
  double share;  /* of the blend's tokens */
  double median; /* tokens */
  double sigma;
  int corpora10, corpora100; /* corpora of this type in the 10- and 100-corpus blends */
} doc_type;
static const doc_type TYPES[] = {
    {"web", 0.50, 520, 1.10, 4, 45},     {"code", 0.15, 750, 1.25, 2, 15},  {"papers", 0.15, 6500, 0.75, 1, 15},
    {"abstracts", 0.10, 260, 0.45, 1, 10}, {"wiki", 0.05, 450, 1.00, 1, 8}, {"books", 0.05, 70000, 0.60, 1, 7},
};
enum { NTYPES = 6, SHARDS_PER_TYPE = 2 };
static const double TOTAL_TOKENS = 2e12, SHARD_TOKENS = 2.5e9;

typedef struct {
  int type, shard;
} gen_ctx;

static int32_t doc_len(int type, int shard, uint64_t i) {
  const doc_type *t = &TYPES[type];
  double z = agpt_rng_normal(20240, 77, (uint64_t)(type * 16 + shard), i);
  double x = t->median * exp(t->sigma * z);
  if (x < 16) x = 16;
  if (x > 4194304) x = 4194304;
  return (int32_t)(x + 0.5);
}

static agpt_status fill(void *ctx, uint64_t first, uint64_t count, int32_t *out) {
  gen_ctx *g = ctx;
  for (uint64_t k = 0; k < count; k++) out[k] = doc_len(g->type, g->shard, first + k);
  return AGPT_OK;
}

static int gen(const char *dir, double scale) {
  char path[4096], want[128];
  snprintf(want, sizeof want, "scale %.6g shard_tokens %.6g v1\n", scale, SHARD_TOKENS * scale);
  snprintf(path, sizeof path, "%s/params.txt", dir);
  char *have = NULL;
  size_t n;
  if (agpt_file_read_all(path, &have, &n) == AGPT_OK && !strcmp(have, want)) {
    printf("gen: %s is up to date: %s", dir, want);
    free(have);
    return 0;
  }
  free(have);
  agpt_err_clear();
  snprintf(path, sizeof path, "%s/shards", dir);
  if (agpt_mkdir_p(path) != AGPT_OK) goto fail;
  uint64_t shard_tokens[NTYPES][SHARDS_PER_TYPE];
  double t0 = agpt_now();
  for (int t = 0; t < NTYPES; t++) {
    double mean = TYPES[t].median * exp(0.5 * TYPES[t].sigma * TYPES[t].sigma);
    uint64_t ndocs = (uint64_t)(SHARD_TOKENS * scale / mean) + 1;
    for (int s = 0; s < SHARDS_PER_TYPE; s++) {
      gen_ctx g = {t, s};
      snprintf(path, sizeof path, "%s/shards/%s_%d", dir, TYPES[t].name, s);
      if (agpt_indexed_write_meta_fn(path, AGPT_IDX_U16, ndocs, fill, &g) != AGPT_OK) goto fail;
      agpt_indexed ds;
      if (agpt_indexed_open(path, 1, &ds) != AGPT_OK) goto fail;
      shard_tokens[t][s] = ds.n_tokens;
      printf("gen: %-10s shard %d: %llu documents, %llu tokens, mean %.0f\n", TYPES[t].name, s,
             (unsigned long long)ds.n_seqs, (unsigned long long)ds.n_tokens, (double)ds.n_tokens / (double)ds.n_seqs);
      agpt_indexed_close(&ds);
    }
  }
  /* Lists: a corpus of type t holds share_t / corpora_t of the tokens, as
   * whole shards listed in turn; the weight of a file is its token count. */
  for (int which = 0; which < 2; which++) {
    int K = which ? 100 : 10;
    char list[8192];
    snprintf(path, sizeof path, "%s/list_%d.txt", dir, K);
    agpt_wfile *w;
    if (agpt_wfile_open(path, &w) != AGPT_OK) goto fail;
    uint64_t listed = 0, files = 0;
    for (int t = 0; t < NTYPES; t++) {
      int nc = which ? TYPES[t].corpora100 : TYPES[t].corpora10;
      double per_corpus = TOTAL_TOKENS * scale * TYPES[t].share / nc;
      for (int c = 0; c < nc; c++) {
        int nfiles = (int)(per_corpus / (SHARD_TOKENS * scale) + 0.5);
        if (nfiles < 1) nfiles = 1;
        for (int f = 0; f < nfiles; f++) {
          int s = (c + f) % SHARDS_PER_TYPE;
          snprintf(list, sizeof list, "%llu %s/shards/%s_%d %s_%02d\n", (unsigned long long)shard_tokens[t][s], dir,
                   TYPES[t].name, s, TYPES[t].name, c);
          if (agpt_wfile_write(w, list, strlen(list)) != AGPT_OK) goto fail;
          listed += shard_tokens[t][s];
          files++;
        }
      }
    }
    if (agpt_wfile_commit(w) != AGPT_OK) goto fail;
    printf("gen: list_%d.txt: %llu files, %.4g tokens\n", K, (unsigned long long)files, (double)listed);
  }
  snprintf(path, sizeof path, "%s/params.txt", dir);
  if (agpt_file_write_atomic(path, want, strlen(want)) != AGPT_OK) goto fail;
  printf("gen: done in %.1f s\n", agpt_now() - t0);
  return 0;
fail:
  fprintf(stderr, "gen: %s\n", agpt_errmsg());
  return 1;
}

static double status_mib(const char *key) {
  FILE *f = fopen("/proc/self/status", "r");
  if (!f) return -1;
  char line[256];
  double v = -1;
  size_t kl = strlen(key);
  while (fgets(line, sizeof line, f))
    if (!strncmp(line, key, kl) && line[kl] == ':') v = atof(line + kl + 1) / 1024.0;
  fclose(f);
  return v;
}

static atomic_int sampler_stop;
static double sampler_peak;
static void *sampler(void *arg) {
  (void)arg;
  struct timespec ts = {0, 1000000};
  while (!atomic_load(&sampler_stop)) {
    double v = status_mib("RssAnon");
    if (v > sampler_peak) sampler_peak = v;
    nanosleep(&ts, NULL);
  }
  return NULL;
}

static int run(const char *dir, int K, const char *mode, uint64_t lookups, const char *cache, const char *label) {
  char path[4096];
  snprintf(path, sizeof path, "%s/list_%d.txt", dir, K);
  agpt_blend b;
  pthread_t th;
  if (pthread_create(&th, NULL, sampler, NULL) != 0) return 1;
  double t0 = agpt_now();
  if (agpt_blend_parse_file_list(path, &b) != AGPT_OK || agpt_blend_open(&b, 1) != AGPT_OK) {
    fprintf(stderr, "run: %s\n", agpt_errmsg());
    return 1;
  }
  double open_s = agpt_now() - t0;
  uint64_t tokens = 0;
  for (int i = 0; i < b.n_files; i++) tokens += b.files[i].ds.n_tokens;
  agpt_index_opts o = {.mode = strcmp(mode, "megatron") ? AGPT_INDEX_FAST : AGPT_INDEX_MEGATRON,
                       .split = "969,30,1",
                       .split_index = 0,
                       .seq_len = 4096,
                       .num_samples = tokens / 4096,
                       .seed = 1234,
                       .cache_dir = cache};
  agpt_sample_index *ix;
  t0 = agpt_now();
  if (agpt_sample_index_build(&b, &o, &ix) != AGPT_OK) {
    fprintf(stderr, "run: %s\n", agpt_errmsg());
    return 1;
  }
  double build_s = agpt_now() - t0;
  uint64_t sink = 0;
  /* The first look-up alone: with a mapped cache it is where the pages (and
   * their checksums) of the sections a sample reads are first touched. */
  t0 = agpt_now();
  {
    agpt_sample_origin org;
    if (agpt_sample_index_origin(ix, agpt_rng_u64(99, 1, 0, 0) % o.num_samples, &org) != AGPT_OK) {
      fprintf(stderr, "run: %s\n", agpt_errmsg());
      return 1;
    }
    sink += org.doc;
  }
  double first_us = (agpt_now() - t0) * 1e6;
  t0 = agpt_now();
  for (uint64_t k = 0; k < lookups; k++) {
    uint64_t i = agpt_rng_u64(99, 1, 0, k) % o.num_samples;
    agpt_sample_origin org;
    if (agpt_sample_index_origin(ix, i, &org) != AGPT_OK) {
      fprintf(stderr, "run: %s\n", agpt_errmsg());
      return 1;
    }
    sink += org.doc + org.offset + (uint64_t)org.file;
  }
  double lookup_ns = (agpt_now() - t0) / (double)lookups * 1e9;
  atomic_store(&sampler_stop, 1);
  pthread_join(th, NULL);
  double anon = status_mib("RssAnon");
  if (anon > sampler_peak) sampler_peak = anon;
  printf("INFO data_index/%s/%d files=%d tokens=%.4g samples=%llu open_s=%.3f vm_hwm_mib=%.0f sink=%llu\n", label, K,
         b.n_files, (double)tokens, (unsigned long long)o.num_samples, open_s, status_mib("VmHWM"),
         (unsigned long long)(sink & 0xff));
  printf("RESULT data_index/%s/%d build_s=%.3f first_us=%.1f lookup_ns=%.1f peak_mib=%.1f\n", label, K, build_s,
         first_us, lookup_ns, sampler_peak);
  agpt_sample_index_free(ix);
  agpt_blend_free(&b);
  return 0;
}

int main(int argc, char **argv) {
  if (argc >= 3 && !strcmp(argv[1], "gen")) {
    double scale = 1.0;
    if (argc >= 5 && !strcmp(argv[3], "--scale")) scale = atof(argv[4]);
    if (!(scale > 0)) {
      fprintf(stderr, "gen: --scale must be positive\n");
      return 2;
    }
    return gen(argv[2], scale);
  }
  if (argc >= 5 && !strcmp(argv[1], "run")) {
    uint64_t lookups = 1000000;
    const char *cache = NULL, *label = argv[4];
    for (int i = 5; i + 1 < argc; i += 2) {
      if (!strcmp(argv[i], "--lookups")) lookups = strtoull(argv[i + 1], NULL, 10);
      else if (!strcmp(argv[i], "--cache")) cache = argv[i + 1];
      else if (!strcmp(argv[i], "--label")) label = argv[i + 1];
    }
    if (lookups == 0) lookups = 1;
    return run(argv[2], atoi(argv[3]), argv[4], lookups, cache, label);
  }
  fprintf(stderr, "usage: bench_data_index gen DIR [--scale S] | run DIR K fast|megatron [--lookups L] [--cache DIR] "
                  "[--label NAME]\n");
  return 2;
}
