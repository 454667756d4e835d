/* The prefetching data loader (see loader.h).
 *
 * Design note. One producer thread fills a ring of `depth` slots with this
 * rank's micro-batches in order; the training thread consumes them. All
 * shared fields are guarded by one mutex; the token buffers of a slot are
 * written by the producer only while the slot is outside the published
 * range and read by the consumer only while inside it, so they need no lock.
 *
 * State: consumed (global samples before the next micro-batch handed out),
 * head/count (published slots [head, head+count) of the ring), next_pos (the
 * window the producer fills next), gen (bumped by every seek), halted (the
 * producer published a failure and waits for a seek).
 *
 * Invariants.
 *   1. Published slot head+k holds the window that starts at consumed +
 *      k*W, W = micro_batch * dp_size; hence next_pos == consumed + count*W
 *      whenever no fill is in flight.
 *   2. A slot is filled for one generation; if a seek bumped gen meanwhile,
 *      the fill is dropped, never published, so a seek can never let an
 *      old window through.
 *   3. A failed fill is published like a batch, carrying its message; the
 *      consumer returns it when it reaches it (after every earlier batch)
 *      and does not advance; the producer stays halted until a seek.
 *   4. The order is a pure function of consumed: slot contents depend only
 *      on the window position (through the index), never on timing, so
 *      prefetch depth, thread scheduling and seeks cannot change the data.
 *
 * Transitions: open (consumed = cfg, producer starts), next (consume head,
 * wake producer), seek (gen++, ring emptied, next_pos = consumed = target,
 * halted = 0), close (stop, join). */
#include "data/loader.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "data/split.h"

typedef struct {
  int32_t *tokens, *labels; /* (B, T) each */
  agpt_status st;
  char msg[1024];
} slot;

struct agpt_loader {
  agpt_loader_config cfg; /* strings point into the caller's config only during open */
  agpt_blend blend;
  agpt_sample_index *ix;
  int grad_accum, depth;
  int32_t *sample; /* (T + 1) scratch of the producer */

  pthread_t thread;
  int thread_started;
  pthread_mutex_t mu;
  pthread_cond_t cv_fill, cv_take;
  slot *ring; /* (depth) */
  int head, count, stop, halted;
  uint64_t gen, consumed, next_pos;
  double wait_s;
  uint64_t waits;
};

static uint64_t window(const agpt_loader *ld) { return (uint64_t)ld->cfg.micro_batch * (uint64_t)ld->cfg.dp_size; }

/* Reads this rank's micro-batch of the window at `consumed`. `scratch`
 * holds T + 1 tokens. */
static agpt_status read_batch(const agpt_loader *ld, const agpt_sample_index *ix, uint64_t consumed, int32_t *scratch,
                              int32_t *tokens, int32_t *labels) {
  const int B = ld->cfg.micro_batch, T = ld->cfg.seq_len;
  uint64_t first = consumed + (uint64_t)ld->cfg.dp_rank * (uint64_t)B;
  for (int b = 0; b < B; b++) {
    AGPT_TRY(agpt_sample_index_get(ix, first + (uint64_t)b, scratch));
    memcpy(tokens + (size_t)b * T, scratch, (size_t)T * sizeof *tokens);
    memcpy(labels + (size_t)b * T, scratch + 1, (size_t)T * sizeof *labels);
  }
  return AGPT_OK;
}

static agpt_status check_window(const agpt_loader *ld, uint64_t pos) {
  if (pos + window(ld) <= ld->cfg.num_samples) return AGPT_OK;
  return agpt_fail("data loader: the window at sample %llu needs samples up to %llu, but the index holds %llu (the "
                   "run consumes more samples than --train-iters x --global-batch-size planned; raise --train-iters)",
                   (unsigned long long)pos, (unsigned long long)(pos + window(ld)),
                   (unsigned long long)ld->cfg.num_samples);
}

static void *producer(void *arg) {
  agpt_loader *ld = arg;
  pthread_mutex_lock(&ld->mu);
  for (;;) {
    while (!ld->stop && (ld->count == ld->depth || ld->halted)) pthread_cond_wait(&ld->cv_fill, &ld->mu);
    if (ld->stop) break;
    uint64_t gen = ld->gen, pos = ld->next_pos;
    slot *s = &ld->ring[(ld->head + ld->count) % ld->depth];
    pthread_mutex_unlock(&ld->mu);

    agpt_status st = check_window(ld, pos);
    if (st == AGPT_OK) st = read_batch(ld, ld->ix, pos, ld->sample, s->tokens, s->labels);
    s->st = st;
    if (st != AGPT_OK) snprintf(s->msg, sizeof s->msg, "%s", agpt_errmsg());

    pthread_mutex_lock(&ld->mu);
    if (gen != ld->gen) continue; /* invariant 2 */
    ld->count++;
    ld->next_pos = pos + window(ld);
    if (st != AGPT_OK) ld->halted = 1; /* invariant 3 */
    pthread_cond_signal(&ld->cv_take);
  }
  pthread_mutex_unlock(&ld->mu);
  return NULL;
}

agpt_status agpt_loader_open(const agpt_loader_config *cfg, agpt_loader **out) {
  *out = NULL;
  if (cfg->seq_len < 1) return agpt_fail("--seq-length: %d is not positive", cfg->seq_len);
  if (cfg->micro_batch < 1) return agpt_fail("--micro-batch-size: %d is not positive", cfg->micro_batch);
  if (cfg->dp_size < 1 || cfg->dp_rank < 0 || cfg->dp_rank >= cfg->dp_size)
    return agpt_fail("data loader: data-parallel rank %d of %d is out of range", cfg->dp_rank, cfg->dp_size);
  long long w = (long long)cfg->micro_batch * cfg->dp_size;
  if (cfg->global_batch < 1 || cfg->global_batch % w)
    return agpt_fail("--global-batch-size: %d is not a positive multiple of micro batch x data parallel = %lld "
                     "(choose a multiple)",
                     cfg->global_batch, w);
  if (cfg->num_samples == 0) return agpt_fail("data loader: no samples asked for (set --train-iters)");
  int have_list = cfg->data_file_list != NULL, have_path = cfg->n_data_path > 0;
  if (have_list == have_path)
    return agpt_fail(have_list ? "--data-file-list and --data-path are both given (use one)"
                               : "no data: give --data-file-list FILE or --data-path PREFIX");
  double ratios[3];
  AGPT_TRY(agpt_split_parse(cfg->split ? cfg->split : "969,30,1", ratios));

  agpt_loader *ld = agpt_xcalloc(1, sizeof *ld);
  ld->cfg = *cfg;
  ld->cfg.split = agpt_xstrdup(cfg->split ? cfg->split : "969,30,1");
  ld->cfg.cache_dir = cfg->cache_dir ? agpt_xstrdup(cfg->cache_dir) : NULL;
  ld->cfg.data_file_list = NULL;
  ld->cfg.data_path = NULL;
  ld->cfg.n_data_path = 0;
  ld->grad_accum = (int)(cfg->global_batch / w);
  ld->depth = cfg->prefetch > 0 ? cfg->prefetch : 4;
  agpt_status st = have_list ? agpt_blend_parse_file_list(cfg->data_file_list, &ld->blend)
                             : agpt_blend_parse_data_path(cfg->n_data_path, cfg->data_path, &ld->blend);
  if (st == AGPT_OK) st = agpt_blend_open(&ld->blend, 0);
  if (st == AGPT_OK) {
    agpt_index_opts o = {.mode = cfg->index_mode,
                         .split = ld->cfg.split,
                         .split_index = AGPT_SPLIT_TRAIN,
                         .seq_len = cfg->seq_len,
                         .num_samples = cfg->num_samples,
                         .seed = cfg->seed,
                         .cache_dir = ld->cfg.cache_dir,
                         .blend_sample_in_corpus = ld->cfg.blend_sample_in_corpus,
                         .shuffle_sample_in_corpus = ld->cfg.shuffle_sample_in_corpus};
    st = agpt_sample_index_build(&ld->blend, &o, &ld->ix);
  }
  if (st != AGPT_OK) {
    agpt_loader_close(ld);
    return AGPT_ERR;
  }
  size_t n = (size_t)cfg->micro_batch * (size_t)cfg->seq_len;
  ld->ring = agpt_xcalloc((size_t)ld->depth, sizeof *ld->ring);
  for (int i = 0; i < ld->depth; i++) {
    ld->ring[i].tokens = malloc(n * sizeof(int32_t));
    ld->ring[i].labels = malloc(n * sizeof(int32_t));
    if (!ld->ring[i].tokens || !ld->ring[i].labels) {
      agpt_loader_close(ld);
      return agpt_fail("data loader: cannot allocate %d prefetch slots of %zu tokens (lower --micro-batch-size)",
                       ld->depth, 2 * n);
    }
  }
  ld->sample = agpt_xmalloc(((size_t)cfg->seq_len + 1) * sizeof *ld->sample);
  ld->consumed = ld->next_pos = cfg->consumed_samples;
  pthread_mutex_init(&ld->mu, NULL);
  pthread_cond_init(&ld->cv_fill, NULL);
  pthread_cond_init(&ld->cv_take, NULL);
  if (pthread_create(&ld->thread, NULL, producer, ld) != 0) {
    pthread_mutex_destroy(&ld->mu);
    pthread_cond_destroy(&ld->cv_fill);
    pthread_cond_destroy(&ld->cv_take);
    agpt_loader_close(ld);
    return agpt_fail("data loader: cannot start the prefetch thread");
  }
  ld->thread_started = 1;
  *out = ld;
  return AGPT_OK;
}

agpt_status agpt_loader_next(agpt_loader *ld, int32_t *tokens, int32_t *labels) {
  pthread_mutex_lock(&ld->mu);
  if (ld->count == 0) {
    double t0 = agpt_now();
    while (ld->count == 0) pthread_cond_wait(&ld->cv_take, &ld->mu);
    ld->wait_s += agpt_now() - t0;
    ld->waits++;
  }
  slot *s = &ld->ring[ld->head];
  pthread_mutex_unlock(&ld->mu);
  if (s->st != AGPT_OK) return agpt_fail("%s", s->msg); /* invariant 3: stays at head */
  size_t n = (size_t)ld->cfg.micro_batch * (size_t)ld->cfg.seq_len;
  memcpy(tokens, s->tokens, n * sizeof *tokens);
  memcpy(labels, s->labels, n * sizeof *labels);
  pthread_mutex_lock(&ld->mu);
  ld->head = (ld->head + 1) % ld->depth;
  ld->count--;
  ld->consumed += window(ld);
  pthread_cond_signal(&ld->cv_fill);
  pthread_mutex_unlock(&ld->mu);
  return AGPT_OK;
}

uint64_t agpt_loader_consumed(const agpt_loader *ld) {
  /* Only the consumer thread writes consumed, and it is the caller. */
  return ld->consumed;
}

agpt_status agpt_loader_seek(agpt_loader *ld, uint64_t consumed_samples) {
  pthread_mutex_lock(&ld->mu);
  ld->gen++;
  ld->head = 0;
  ld->count = 0;
  ld->halted = 0;
  ld->consumed = ld->next_pos = consumed_samples;
  pthread_cond_signal(&ld->cv_fill);
  pthread_mutex_unlock(&ld->mu);
  return AGPT_OK;
}

void agpt_loader_close(agpt_loader *ld) {
  if (!ld) return;
  if (ld->thread_started) {
    pthread_mutex_lock(&ld->mu);
    ld->stop = 1;
    pthread_cond_signal(&ld->cv_fill);
    pthread_mutex_unlock(&ld->mu);
    pthread_join(ld->thread, NULL);
    pthread_mutex_destroy(&ld->mu);
    pthread_cond_destroy(&ld->cv_fill);
    pthread_cond_destroy(&ld->cv_take);
  }
  if (ld->ring)
    for (int i = 0; i < ld->depth; i++) {
      free(ld->ring[i].tokens);
      free(ld->ring[i].labels);
    }
  free(ld->ring);
  free(ld->sample);
  agpt_sample_index_free(ld->ix);
  agpt_blend_free(&ld->blend);
  free((char *)ld->cfg.split);
  free((char *)ld->cfg.cache_dir);
  free(ld);
}

int agpt_loader_grad_accum(const agpt_loader *ld) { return ld->grad_accum; }

double agpt_loader_wait_seconds(const agpt_loader *ld, uint64_t *waits) {
  if (waits) *waits = ld->waits;
  return ld->wait_s;
}

const agpt_blend *agpt_loader_blend(const agpt_loader *ld) { return &ld->blend; }
const agpt_sample_index *agpt_loader_index(const agpt_loader *ld) { return ld->ix; }

agpt_status agpt_loader_split_index(const agpt_loader *ld, int split_index, uint64_t num_samples,
                                    agpt_sample_index **out) {
  *out = NULL;
  if (split_index < 0 || split_index > 2)
    return agpt_fail("data loader: split %d does not exist (0 train, 1 valid, 2 test)", split_index);
  agpt_index_opts o = {.mode = ld->cfg.index_mode,
                       .split = ld->cfg.split,
                       .split_index = split_index,
                       .seq_len = ld->cfg.seq_len,
                       .num_samples = num_samples,
                       .seed = ld->cfg.seed,
                       .cache_dir = ld->cfg.cache_dir,
                       .blend_sample_in_corpus = ld->cfg.blend_sample_in_corpus,
                       .shuffle_sample_in_corpus = ld->cfg.shuffle_sample_in_corpus};
  return agpt_sample_index_build(&ld->blend, &o, out);
}

agpt_status agpt_loader_read(const agpt_loader *ld, const agpt_sample_index *ix, uint64_t consumed, int32_t *tokens,
                             int32_t *labels) {
  if (!ix) AGPT_TRY(check_window(ld, consumed));
  int32_t *scratch = agpt_xmalloc(((size_t)ld->cfg.seq_len + 1) * sizeof *scratch);
  agpt_status st = read_batch(ld, ix ? ix : ld->ix, consumed, scratch, tokens, labels);
  free(scratch);
  return st;
}
