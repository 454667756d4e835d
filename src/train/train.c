/* The training loop; the design note is in train.h. */
#include "train/train.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "ckpt/checkpoint.h"
#include "ckpt/model_json.h"
#include "core/file.h"
#include "core/json.h"
#include "core/log.h"
#include "core/sysinfo.h"
#include "data/loader.h"
#include "model/model.h"
#include "optim/adamw.h"
#include "optim/schedule.h"
#include "train/metrics.h"
#include "train/peak.h"
#include "train/train_state.h"

/* The first SIGINT/SIGTERM asks for a stop after the current step and its
 * save; a second one ends the process at once through the default action
 * (the checkpoint protocol leaves the previous `latest` intact). */
static volatile sig_atomic_t stop_requested;
static void on_signal(int sig) {
  if (stop_requested) {
    signal(sig, SIG_DFL);
    raise(sig);
    return;
  }
  stop_requested = sig;
}

typedef struct {
  const agpt_train_args *a;
  agpt_backend *be;
  agpt_model *model;
  agpt_adamw opt;
  agpt_loader *loader;
  agpt_metrics metrics;
  agpt_lr_schedule sched;
  int grad_accum;
  int64_t step;              /* updates done (the last completed iteration) */
  uint64_t consumed;         /* global samples consumed */
  int64_t skipped_total, skipped_run;
  float *host_stage;         /* table.total floats for checkpoint I/O; owned */
  int32_t *tokens, *labels;  /* (micro_batch, seq) host; owned */
  double flops_per_token, peak_flops;
  FILE *batches; /* --log-batches; owned */
} trainer;

/* FLOPs of one token through forward and backward: 6 per matmul weight
 * (embedding lookups excluded, the output layer included) plus attention's
 * 12*L*T*C, as Megatron and PaLM count them. */
static double model_flops_per_token(const agpt_model_config *c, int T) {
  double C = c->hidden, L = c->n_layer, F = c->ffn, V = agpt_model_vocab_rows(c);
  double qkv = (double)agpt_model_qkv_dim(c);
  double mlp = c->arch == AGPT_ARCH_LLAMA ? 3.0 * C * F : 2.0 * C * F;
  double per_layer = C * qkv + C * C + mlp;
  return 6.0 * (L * per_layer + C * V) + 12.0 * L * T * C;
}

static void write_state_json(trainer *t, agpt_sb *sb) {
  const agpt_train_args *a = t->a;
  agpt_train_state st = {.iteration = t->step,
                         .adam_step = t->opt.t,
                         .skipped_total = t->skipped_total,
                         .skipped_consecutive = t->skipped_run,
                         .consumed_samples = t->consumed,
                         .seed = a->seed,
                         .train_iters = a->train_iters,
                         .micro_batch = a->micro_batch,
                         .global_batch = a->global_batch,
                         .seq_length = a->seq_len,
                         .has_schedule = 1,
                         .sched = t->sched};
  snprintf(st.index_mode, sizeof st.index_mode, "%s", a->index_mode);
  snprintf(st.split, sizeof st.split, "%s", a->split);
  agpt_train_state_write(&st, sb);
}

static agpt_status save_checkpoint(trainer *t) {
  const agpt_train_args *a = t->a;
  agpt_model *m = t->model;
  double t0 = agpt_now();
  agpt_ckpt_writer *w;
  AGPT_TRY(agpt_ckpt_begin(a->save, t->step, &w));
  size_t bytes = m->table.total * sizeof(float);
  agpt_sb sb = {0};
  agpt_st_meta meta[] = {{"format", "pt"}, {"producer", "agpt"}};
  agpt_status st = AGPT_OK;

  t->be->copy_d2h(t->be, t->host_stage, m->params, bytes);
  agpt_st_table_part model_part = {"", t->host_stage};
  st = agpt_ckpt_add_table(w, "model.safetensors", &m->table, &model_part, 1, meta, 2);
  if (st == AGPT_OK) {
    /* both moments in one file, staged one after the other */
    t->be->copy_d2h(t->be, t->host_stage, t->opt.m, bytes);
    float *v_host = malloc(bytes);
    if (!v_host) {
      st = agpt_fail("checkpoint: out of memory staging %zu bytes of optimizer state", bytes);
    } else {
      t->be->copy_d2h(t->be, v_host, t->opt.v, bytes);
      agpt_st_table_part parts[2] = {{"exp_avg.", t->host_stage}, {"exp_avg_sq.", v_host}};
      st = agpt_ckpt_add_table(w, "optim.safetensors", &m->table, parts, 2, meta, 2);
      free(v_host);
    }
  }
  if (st == AGPT_OK) {
    agpt_model_config_to_json(&m->cfg, &sb);
    st = agpt_ckpt_add_file(w, "config.json", sb.data, sb.len);
    sb.len = 0;
  }
  if (st == AGPT_OK) {
    write_state_json(t, &sb);
    st = agpt_ckpt_add_file(w, "state.json", sb.data, sb.len);
  }
  if (st == AGPT_OK && a->tokenizer) {
    char *tok;
    size_t n;
    st = agpt_file_read_all(a->tokenizer, &tok, &n);
    if (st == AGPT_OK) {
      st = agpt_ckpt_add_file(w, "tokenizer.json", tok, n);
      free(tok);
    }
  }
  agpt_sb_free(&sb);
  if (st != AGPT_OK) {
    agpt_ckpt_abort(w);
    return agpt_fail_prefix("saving checkpoint of iteration %lld to %s", (long long)t->step, a->save);
  }
  AGPT_TRY(agpt_ckpt_commit(w, a->keep_last));
  if (!a->quiet)
    agpt_log_info("saved checkpoint iteration %lld to %s (%.2f s)", (long long)t->step, a->save, agpt_now() - t0);
  return AGPT_OK;
}

/* The first element of flat (table layout) that is not finite, or negative
 * when nonneg is set; returns 0 when there is none. */
static int bad_value(const agpt_param_table *tb, const float *flat, int nonneg, const char **name, size_t *at,
                     float *value) {
  for (int i = 0; i < tb->n; i++) {
    const agpt_param *p = &tb->params[i];
    for (size_t k = 0; k < p->numel; k++) {
      float x = flat[p->offset + k];
      if (!isfinite(x) || (nonneg && x < 0)) {
        *name = p->name;
        *at = k;
        *value = x;
        return 1;
      }
    }
  }
  return 0;
}

/* Reads one prefix of a safetensors file of the checkpoint into the device
 * buffer dst, refusing values no training step can produce. */
static agpt_status load_tensors(trainer *t, const char *dir, const char *file, const char *prefix, int nonneg,
                                float *dst) {
  agpt_model *m = t->model;
  AGPT_TRY(agpt_ckpt_read_table(dir, file, &m->table, prefix, t->host_stage));
  const char *name;
  size_t at;
  float value;
  if (bad_value(&m->table, t->host_stage, nonneg, &name, &at, &value))
    return agpt_fail("%s/%s: tensor %s%s element %zu is %g: %s (the file was written by a faulty tool or a diverged "
                     "run; load an earlier checkpoint)",
                     dir, file, prefix, name, at, (double)value,
                     nonneg ? "a second moment must be finite and >= 0" : "it must be finite");
  t->be->copy_h2d(t->be, dst, t->host_stage, m->table.total * sizeof(float));
  return AGPT_OK;
}

/* Rule 5 of train.h: the schedule this run would follow against the
 * checkpoint's. Fills t->sched with the one to follow. */
static agpt_status settle_schedule(trainer *t, const agpt_train_state *saved, const char *dir) {
  const agpt_train_args *a = t->a;
  if (!saved->has_schedule) {
    agpt_log_warn("--load %s: the checkpoint does not record its lr schedule; this run's is used unchecked", dir);
    return AGPT_OK;
  }
  const agpt_lr_schedule *c = &saved->sched, *r = &t->sched;
  char diff[512] = "";
  size_t len = 0;
#define SCHED_DIFF(cond, ...)                                                                     \
  if ((cond) && len < sizeof diff) len += (size_t)snprintf(diff + len, sizeof diff - len, __VA_ARGS__)
  SCHED_DIFF(c->lr != r->lr, "; --lr %g (checkpoint: %g)", r->lr, c->lr);
  SCHED_DIFF(c->min_lr != r->min_lr, "; --min-lr %g (checkpoint: %g)", r->min_lr, c->min_lr);
  SCHED_DIFF(c->warmup != r->warmup, "; warmup %lld iterations (checkpoint: %lld)", (long long)r->warmup,
             (long long)c->warmup);
  SCHED_DIFF(c->decay_iters != r->decay_iters, "; decay over %lld iterations (checkpoint: %lld; --lr-decay-iters "
             "defaults to --train-iters)", (long long)r->decay_iters, (long long)c->decay_iters);
  SCHED_DIFF(c->style != r->style, "; --lr-decay-style %s (checkpoint: %s)", agpt_lr_style_name(r->style),
             agpt_lr_style_name(c->style));
#undef SCHED_DIFF
  if (!diff[0]) return AGPT_OK;
  if (a->use_checkpoint_scheduler) {
    t->sched = *c;
    agpt_log_info("--use-checkpoint-opt-param-scheduler: following the checkpoint's lr schedule, not%s", diff + 1);
    return AGPT_OK;
  }
  if (a->override_scheduler) {
    agpt_log_warn("--override-opt-param-scheduler: the lr schedule changes at iteration %lld:%s",
                  (long long)saved->iteration, diff + 1);
    return AGPT_OK;
  }
  return agpt_fail("--load %s: this run's lr schedule differs from the checkpoint's:%s. Resuming would change the "
                   "learning rate mid-run. Keep the checkpoint's with --use-checkpoint-opt-param-scheduler, take "
                   "this run's with --override-opt-param-scheduler, or give the checkpoint's values",
                   dir, diff + 1);
}

static agpt_status load_checkpoint(trainer *t, const char *dir, int64_t iteration) {
  const agpt_train_args *a = t->a;
  agpt_model *m = t->model;
  agpt_model_config saved_cfg;
  AGPT_TRY(agpt_resume_read_config(dir, &saved_cfg));
  char what[4300];
  snprintf(what, sizeof what, "--load %s: model config of the checkpoint vs this run", dir);
  AGPT_TRY(agpt_model_config_compare(&saved_cfg, &m->cfg, what));
  agpt_train_state s;
  AGPT_TRY(agpt_resume_read_state(dir, iteration, saved_cfg.max_seq, &s));
  if (s.seed != a->seed)
    agpt_log_warn("--load %s: the checkpoint was trained with --seed %llu, this run uses %llu: data order changes",
                  dir, (unsigned long long)s.seed, (unsigned long long)a->seed);
  if (s.global_batch != a->global_batch)
    agpt_log_warn("--load %s: --global-batch-size was %d, now %d; resuming from %llu consumed samples", dir,
                  s.global_batch, a->global_batch, (unsigned long long)s.consumed_samples);
  if (s.seq_length != a->seq_len)
    agpt_log_warn("--load %s: --seq-length was %d, now %d; resuming from %llu consumed samples of the new length", dir,
                  s.seq_length, a->seq_len, (unsigned long long)s.consumed_samples);
  if (strcmp(s.index_mode, a->index_mode) || strcmp(s.split, a->split))
    agpt_log_warn("--load %s: the checkpoint used --data-index-mode %s --split %s, this run %s %s: data order changes",
                  dir, s.index_mode, s.split, a->index_mode, a->split);
  AGPT_TRY(settle_schedule(t, &s, dir));

  AGPT_TRY(load_tensors(t, dir, "model.safetensors", "", 0, m->params));
  AGPT_TRY(load_tensors(t, dir, "optim.safetensors", "exp_avg.", 0, t->opt.m));
  AGPT_TRY(load_tensors(t, dir, "optim.safetensors", "exp_avg_sq.", 1, t->opt.v));
  t->step = s.iteration;
  t->consumed = s.consumed_samples;
  t->opt.t = s.adam_step;
  t->skipped_total = s.skipped_total;
  t->skipped_run = s.skipped_consecutive;
  agpt_log_info("resumed from %s: iteration %lld, %llu samples consumed", dir, (long long)s.iteration,
                (unsigned long long)s.consumed_samples);
  return AGPT_OK;
}

static agpt_status open_loader(trainer *t) {
  const agpt_train_args *a = t->a;
  agpt_loader_config lc;
  memset(&lc, 0, sizeof lc);
  lc.data_path = a->data_path.items;
  lc.n_data_path = a->data_path.n;
  lc.data_file_list = a->data_file_list;
  lc.split = a->split;
  if (!strcmp(a->index_mode, "fast"))
    lc.index_mode = AGPT_INDEX_FAST;
  else if (!strcmp(a->index_mode, "megatron"))
    lc.index_mode = AGPT_INDEX_MEGATRON;
  else
    return agpt_fail("--data-index-mode: unknown mode '%s' (use fast or megatron)", a->index_mode);
  lc.seq_len = a->seq_len;
  lc.micro_batch = a->micro_batch;
  lc.global_batch = a->global_batch;
  lc.dp_rank = 0;
  lc.dp_size = 1;
  lc.num_samples = (uint64_t)a->train_iters * (uint64_t)a->global_batch;
  lc.seed = a->seed;
  lc.cache_dir = a->data_cache_path;
  lc.blend_sample_in_corpus = a->blend_sample_in_corpus;
  lc.shuffle_sample_in_corpus = a->shuffle_sample_in_corpus;
  lc.consumed_samples = t->consumed;
  double t0 = agpt_now();
  AGPT_TRY(agpt_loader_open(&lc, &t->loader));
  agpt_log_info("data: %s sample index of the train split ready in %.2f s%s%s", a->index_mode, agpt_now() - t0,
                lc.index_mode == AGPT_INDEX_MEGATRON && a->data_cache_path ? "; cache in " : "",
                lc.index_mode == AGPT_INDEX_MEGATRON && a->data_cache_path ? a->data_cache_path : "");
  return AGPT_OK;
}

/* One iteration: grad_accum micro-batches, clip, update. Returns the mean
 * loss through *loss and the pre-clip norm through *norm; *skipped is set
 * when the step changed nothing because a value was not finite. */
static agpt_status train_step(trainer *t, double lr, double *loss, double *norm, int *skipped) {
  const agpt_train_args *a = t->a;
  agpt_model *m = t->model;
  int T = a->seq_len, B = a->micro_batch;
  agpt_model_zero_grad(m);
  double sum = 0;
  for (int k = 0; k < t->grad_accum; k++) {
    AGPT_TRY(agpt_loader_next(t->loader, t->tokens, t->labels));
    if (t->batches) {
      size_t bt = (size_t)B * (size_t)T;
      if (fwrite(t->tokens, sizeof(int32_t), bt, t->batches) != bt ||
          fwrite(t->labels, sizeof(int32_t), bt, t->batches) != bt || fflush(t->batches) != 0)
        return agpt_fail("%s: cannot append the batch (--log-batches)", a->log_batches);
    }
    float l;
    AGPT_TRY(agpt_model_forward(m, t->tokens, t->labels, B, T, &l));
    AGPT_TRY(agpt_model_backward(m, 1.0f / (float)t->grad_accum));
    sum += l;
  }
  t->consumed += (uint64_t)a->global_batch;
  *loss = sum / t->grad_accum;
  double ss = t->be->sumsq(t->be, m->grads, m->table.total);
  *norm = sqrt(ss);
  *skipped = !isfinite(*loss) || !isfinite(*norm);
  if (*skipped) return AGPT_OK;
  if (a->clip_grad > 0) {
    double coef = a->clip_grad / (*norm + 1e-6);
    if (coef < 1.0) t->be->scale(t->be, m->grads, m->table.total, (float)coef);
  }
  agpt_adamw_step(&t->opt, m->params, m->grads, lr);
  return AGPT_OK;
}

static agpt_status setup(trainer *t) {
  const agpt_train_args *a = t->a;
  AGPT_TRY(agpt_backend_get(a->device, &t->be));
  int dp = 1;
  if (a->global_batch % (a->micro_batch * dp) != 0)
    return agpt_fail("--global-batch-size %d is not a multiple of --micro-batch-size %d x data-parallel size %d",
                     a->global_batch, a->micro_batch, dp);
  t->grad_accum = a->global_batch / (a->micro_batch * dp);
  AGPT_TRY(agpt_model_config_validate(&a->model, "model flags"));

  agpt_model_opts mo = {.batch = a->micro_batch, .seq = a->seq_len, .recompute = a->recompute, .training = 1};
  AGPT_TRY(agpt_model_create(&a->model, &mo, t->be, &t->model));
  agpt_adamw_config oc = {a->beta1, a->beta2, a->adam_eps, a->weight_decay};
  AGPT_TRY(agpt_adamw_init(&t->opt, t->be, &t->model->table, &oc));
  size_t bytes = t->model->table.total * sizeof(float);
  t->host_stage = malloc(bytes);
  size_t bt = (size_t)a->micro_batch * (size_t)a->seq_len;
  t->tokens = malloc(bt * sizeof(int32_t));
  t->labels = malloc(bt * sizeof(int32_t));
  if (!t->host_stage || !t->tokens || !t->labels)
    return agpt_fail("out of memory for %.1f MiB of host staging buffers", (double)bytes / 1048576.0);

  t->sched.lr = a->lr;
  t->sched.min_lr = a->min_lr;
  t->sched.warmup = a->warmup_iters;
  t->sched.decay_iters = a->decay_iters > 0 ? a->decay_iters : a->train_iters;
  AGPT_TRY(agpt_lr_style_parse(a->decay_style, &t->sched.style));
  if (a->start.dir[0]) {
    AGPT_TRY(load_checkpoint(t, a->start.dir, a->start.iteration));
  } else {
    AGPT_TRY(agpt_model_init_params(t->model, a->seed));
  }
  AGPT_TRY(open_loader(t));

  if (a->metrics_file) {
    AGPT_TRY(agpt_metrics_open(&t->metrics, a->metrics_file));
  } else if (a->save) {
    AGPT_TRY(agpt_mkdir_p(a->save));
    char mpath[4200];
    snprintf(mpath, sizeof mpath, "%s/metrics.jsonl", a->save);
    AGPT_TRY(agpt_metrics_open(&t->metrics, mpath));
  } else {
    AGPT_TRY(agpt_metrics_open(&t->metrics, NULL));
  }
  if (a->log_batches && !(t->batches = fopen(a->log_batches, "ab")))
    return agpt_fail("--log-batches %s: cannot open for appending", a->log_batches);
  t->flops_per_token = model_flops_per_token(&a->model, a->seq_len);
  t->peak_flops = agpt_measure_peak_flops(t->be);
  return AGPT_OK;
}

static void print_plan(trainer *t) {
  const agpt_train_args *a = t->a;
  const agpt_model_config *c = &a->model;
  agpt_model_memory mem;
  if (a->quiet) return;
  agpt_log_info("model: %s, %d layers, hidden %d, %d heads (%d kv), ffn %d, vocab %d, positions %d: %.2fM parameters",
                agpt_arch_name(c->arch), c->n_layer, c->hidden, c->n_head, c->n_kv_head, c->ffn, c->vocab, c->max_seq,
                (double)agpt_model_param_count(c) / 1e6);
  agpt_log_info("batch: micro %d x accumulation %d = global %d samples of %d tokens (%lld tokens) per step; %lld "
                "steps on %s",
                a->micro_batch, t->grad_accum, a->global_batch, a->seq_len, (long long)a->global_batch * a->seq_len,
                (long long)a->train_iters, t->be->name);
  if (agpt_model_memory_estimate(c, a->micro_batch, a->seq_len, a->recompute, &mem) == AGPT_OK)
    agpt_log_info("memory implied by the config: params %.1f + grads %.1f + AdamW %.1f + activations %.1f%s + "
                  "scratch %.1f = %.1f MiB",
                  mem.params / 1048576.0, mem.grads / 1048576.0, mem.optim / 1048576.0, mem.acts / 1048576.0,
                  a->recompute ? " (recomputed)" : "", mem.scratch / 1048576.0, mem.total / 1048576.0);
  agpt_log_info("measured GEMM peak %.1f GFLOP/s; %.2f GFLOP per token", t->peak_flops / 1e9,
                t->flops_per_token / 1e9);
}

static void teardown(trainer *t) {
  if (t->loader) agpt_loader_close(t->loader);
  if (t->opt.be) agpt_adamw_free(&t->opt);
  if (t->model) agpt_model_free(t->model);
  agpt_metrics_close(&t->metrics);
  if (t->batches) fclose(t->batches);
  free(t->host_stage);
  free(t->tokens);
  free(t->labels);
}

agpt_status agpt_train_run(const agpt_train_args *a, agpt_train_result *res) {
  trainer t;
  memset(&t, 0, sizeof t);
  memset(res, 0, sizeof *res);
  t.a = a;
  agpt_log_set_quiet(a->quiet);
  agpt_status st = setup(&t);
  if (st != AGPT_OK) {
    teardown(&t);
    return st;
  }
  t.metrics.quiet = a->quiet;
  print_plan(&t);
  stop_requested = 0;
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);

  double run_start = agpt_now(), win_start = run_start, win_tokens = 0;
  int64_t first_step = t.step;
  int reported_memory = 0;
  while (t.step < a->train_iters) {
    int64_t step = t.step + 1;
    double lr = agpt_lr_at(&t.sched, step), loss = 0, norm = 0;
    int skipped = 0;
    double s0 = agpt_now();
    st = train_step(&t, lr, &loss, &norm, &skipped);
    if (st != AGPT_OK) break;
    double step_s = agpt_now() - s0;
    t.step = step;
    win_tokens += (double)a->global_batch * a->seq_len;
    if (skipped) {
      t.skipped_total++;
      t.skipped_run++;
      char why[160];
      snprintf(why, sizeof why, "loss %g, grad norm %g: update skipped", loss, norm);
      agpt_log_warn("step %lld: non-finite %s (%lld in a row)", (long long)step, why, (long long)t.skipped_run);
      agpt_metrics_event(&t.metrics, "skip", step, why);
      if (t.skipped_run >= a->max_skipped) {
        st = agpt_fail("stopping: %lld consecutive steps had a non-finite loss or gradient (limit --max-skipped-steps "
                       "%d); lower --lr, check the data, or resume from an earlier checkpoint",
                       (long long)t.skipped_run, a->max_skipped);
        break;
      }
    } else {
      t.skipped_run = 0;
    }
    int last = t.step == a->train_iters;
    if (step % a->log_interval == 0 || last || step == first_step + 1) {
      double now = agpt_now();
      double win = now - win_start;
      agpt_metrics_row r = {0};
      r.step = step;
      r.total = a->train_iters;
      r.loss = loss;
      r.lr = lr;
      r.grad_norm = norm;
      r.tok_s = win > 0 ? win_tokens / win : 0;
      r.mfu = t.peak_flops > 0 ? r.tok_s * t.flops_per_token / t.peak_flops : 0;
      r.step_ms = 1e3 * step_s;
      r.elapsed_s = now - run_start;
      r.eta_s = r.tok_s > 0 ? (double)(a->train_iters - step) * a->global_batch * a->seq_len / r.tok_s : NAN;
      r.consumed_samples = t.consumed;
      r.skipped = t.skipped_total;
      r.peak_mib = (double)agpt_peak_rss_bytes() / 1048576.0;
      agpt_metrics_log(&t.metrics, &r);
      win_start = agpt_now();
      win_tokens = 0;
      if (!reported_memory && !a->quiet) {
        reported_memory = 1;
        agpt_log_info("peak resident memory after the first step: %.1f MiB", r.peak_mib);
      }
    }
    int exit_now = (a->exit_interval > 0 && step % a->exit_interval == 0) || stop_requested;
    if (a->save && (last || exit_now || (a->save_interval > 0 && step % a->save_interval == 0))) {
      st = save_checkpoint(&t);
      if (st != AGPT_OK) break;
    }
    if (stop_requested) {
      res->stop_signal = stop_requested;
      agpt_log_info("stopping after iteration %lld: %s received%s", (long long)step,
                    stop_requested == SIGINT ? "SIGINT" : "SIGTERM", a->save ? ", checkpoint saved" : "");
      break;
    }
    if (exit_now && !last) {
      agpt_log_info("exiting after iteration %lld (--exit-interval)", (long long)step);
      break;
    }
  }
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  if (st == AGPT_OK && !a->quiet)
    agpt_log_info("done: %lld iterations, %llu samples consumed, %lld skipped, %.1f s, peak memory %.1f MiB",
                  (long long)t.step, (unsigned long long)t.consumed, (long long)t.skipped_total,
                  agpt_now() - run_start, (double)agpt_peak_rss_bytes() / 1048576.0);
  teardown(&t);
  return st;
}
