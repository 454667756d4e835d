/* agpt train: Megatron-DeepSpeed-style flags into agpt_train_args.
 *
 * The model shape of a new run starts from --preset; any shape flag given
 * overrides it, and sizes derived from the hidden size follow it when not
 * given themselves (--ffn-hidden-size by Megatron's rule, the key-value heads
 * from --num-attention-heads); with --tokenizer the vocabulary size comes
 * from the tokenizer; --max-position-embeddings defaults to --seq-length.
 * A resumed run (see train/resume.h for when a run resumes) takes its shape
 * and its --seq-length from the checkpoint: a shape flag given must agree
 * with it, and --seq-length may change (up to the checkpoint's positions). */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/flags.h"
#include "cli/model_flags.h"
#include "ckpt/model_json.h"
#include "core/log.h"
#include "data/split.h"
#include "data/tokenizer.h"
#include "model/config.h"
#include "train/train.h"

/* The model config and tokens per sample of this run, for a new run or for
 * a resumed one (a->start set). */
static agpt_status build_config(const agpt_model_flags *f, const agpt_flag *tbl, int n, int seq, agpt_train_args *a) {
  agpt_model_config *c = &a->model;
  int tok_vocab = 0;
  if (a->tokenizer && !agpt_flags_given(tbl, n, "vocab-size")) {
    agpt_tok *tok;
    AGPT_TRY(agpt_tok_load(a->tokenizer, &tok));
    tok_vocab = (int)agpt_tok_vocab_size(tok);
    agpt_tok_free(tok);
  }
  if (!a->start.dir[0]) {
    AGPT_TRY(agpt_model_preset(f->preset, c));
    AGPT_TRY(agpt_model_flags_apply(f, tbl, n, 1, c));
    if (tok_vocab) c->vocab = tok_vocab;
    if (!agpt_flags_given(tbl, n, "max-position-embeddings") && seq) c->max_seq = seq;
    a->seq_len = seq ? seq : c->max_seq;
  } else {
    AGPT_TRY(agpt_resume_read_config(a->start.dir, c));
    /* what the flags given describe: the preset when it is named (sizes
     * derived as for a new run), else the checkpoint itself */
    agpt_model_config want = *c;
    int preset = agpt_flags_given(tbl, n, "preset");
    if (preset) AGPT_TRY(agpt_model_preset(f->preset, &want));
    AGPT_TRY(agpt_model_flags_apply(f, tbl, n, preset, &want));
    if (tok_vocab) want.vocab = tok_vocab;
    if (!agpt_flags_given(tbl, n, "max-position-embeddings")) want.max_seq = c->max_seq;
    char what[4400];
    snprintf(what, sizeof what, "--load %s: a resumed run keeps the checkpoint's model shape, and a flag given "
             "disagrees with it (drop the flag, or start a new run with another --save)", a->start.dir);
    AGPT_TRY(agpt_model_config_compare(c, &want, what));
    agpt_train_state s;
    AGPT_TRY(agpt_resume_read_state(a->start.dir, a->start.iteration, c->max_seq, &s));
    a->seq_len = seq ? seq : s.seq_length;
  }
  if (a->seq_len > c->max_seq)
    return agpt_fail("--seq-length %d exceeds the model's %d positions (--max-position-embeddings%s)", a->seq_len,
                     c->max_seq, a->start.dir[0] ? ", fixed by the checkpoint being resumed" : "");
  return AGPT_OK;
}

/* Rules between flags; each flag's own range is checked by its table. */
static agpt_status check_cross_flags(const agpt_train_args *a, const agpt_flag *tbl, int n, int64_t warmup) {
  if (a->min_lr > a->lr)
    return agpt_fail("--min-lr %g is above --lr %g: the decay ends at --min-lr, so it must be <= --lr", a->min_lr,
                     a->lr);
  if (a->global_batch % a->micro_batch != 0)
    return agpt_fail("--global-batch-size %d is not a multiple of --micro-batch-size %d", a->global_batch,
                     a->micro_batch);
  if (a->train_iters > INT64_MAX / a->global_batch)
    return agpt_fail("--train-iters %lld x --global-batch-size %d samples do not fit in 64 bits: lower --train-iters",
                     (long long)a->train_iters, a->global_batch);
  if (agpt_flags_given(tbl, n, "lr-warmup-fraction") && warmup > 0)
    return agpt_fail("--lr-warmup-iters and --lr-warmup-fraction both set the warmup: give one");
  double ratios[3];
  AGPT_TRY(agpt_split_parse(a->split, ratios));
  if (!a->data_path.n && !a->data_file_list)
    return agpt_fail("no training data: give --data-path PREFIX (or a weighted list) or --data-file-list FILE");
  if (a->data_path.n && a->data_file_list) return agpt_fail("--data-path and --data-file-list are exclusive: give one");
  return AGPT_OK;
}

int agpt_cmd_train(int argc, char **argv) {
  agpt_train_args a;
  agpt_model_flags mf;
  memset(&a, 0, sizeof a);
  memset(&mf, 0, sizeof mf);
  int64_t warmup = 0, decay_iters = 0;
  double warmup_frac = 0;
  int seq = 0, recover = 0;
  const agpt_flag rest[] = {
      {"seq-length", AGPT_FLAG_INT, &seq, NULL, "tokens per sample (default: the preset's max positions; on resume, the checkpoint's)", NULL, "[1, inf)"},
      {"tokenizer", AGPT_FLAG_STR, &a.tokenizer, NULL, "tokenizer.json: sets the vocabulary size and is stored in checkpoints", "tokenizer-model", NULL},
      {"micro-batch-size", AGPT_FLAG_INT, &a.micro_batch, "4", "samples per forward/backward", NULL, "[1, inf)"},
      {"global-batch-size", AGPT_FLAG_INT, &a.global_batch, NULL, "samples per update (default: micro batch; a multiple of it)", NULL, "[1, inf)"},
      {"train-iters", AGPT_FLAG_I64, &a.train_iters, "100", "optimizer steps", NULL, "[1, inf)"},
      {"lr", AGPT_FLAG_FLOAT, &a.lr, "3e-4", "peak learning rate", NULL, "[0, inf)"},
      {"min-lr", AGPT_FLAG_FLOAT, &a.min_lr, "0", "learning rate at the end of decay", NULL, "[0, inf)"},
      {"lr-warmup-iters", AGPT_FLAG_I64, &warmup, "0", "linear warmup steps", NULL, "[0, inf)"},
      {"lr-warmup-fraction", AGPT_FLAG_FLOAT, &warmup_frac, NULL, "warmup as a fraction of the decay steps (instead of --lr-warmup-iters)", NULL, "[0, 1]"},
      {"lr-decay-iters", AGPT_FLAG_I64, &decay_iters, NULL, "steps over which the lr decays (default: --train-iters)", NULL, "[1, inf)"},
      {"lr-decay-style", AGPT_FLAG_STR, &a.decay_style, "cosine", "shape of the decay after warmup", NULL, "cosine|linear|constant"},
      {"weight-decay", AGPT_FLAG_FLOAT, &a.weight_decay, "0.01", "decoupled weight decay on weight matrices", NULL, "[0, inf)"},
      {"adam-beta1", AGPT_FLAG_FLOAT, &a.beta1, "0.9", "AdamW beta1", NULL, "[0, 1)"},
      {"adam-beta2", AGPT_FLAG_FLOAT, &a.beta2, "0.999", "AdamW beta2", NULL, "[0, 1)"},
      {"adam-eps", AGPT_FLAG_FLOAT, &a.adam_eps, "1e-8", "AdamW epsilon", NULL, "(0, inf)"},
      {"clip-grad", AGPT_FLAG_FLOAT, &a.clip_grad, "1.0", "clip gradients to this global norm (0: off)", NULL, "[0, inf)"},
      {"seed", AGPT_FLAG_I64, &a.seed, "1234", "seed of initialization and data order", NULL, "[0, inf)"},
      {"recompute-activations", AGPT_FLAG_BOOL, &a.recompute, NULL, "keep only layer inputs and recompute in backward (less memory, same losses)", "checkpoint-activations", NULL},
      {"max-skipped-steps", AGPT_FLAG_INT, &a.max_skipped, "10", "stop after this many consecutive non-finite steps", NULL, "[0, inf)"},
      {"data-path", AGPT_FLAG_STRLIST, &a.data_path, NULL, "PREFIX, or WEIGHT PREFIX WEIGHT PREFIX ... (Megatron blend)", NULL, NULL},
      {"data-file-list", AGPT_FLAG_STR, &a.data_file_list, NULL, "AuroraGPT data-file-list: `weight prefix corpus` per line", NULL, NULL},
      {"split", AGPT_FLAG_STR, &a.split, "969,30,1", "train,valid,test ratios over documents", NULL, NULL},
      {"data-index-mode", AGPT_FLAG_STR, &a.index_mode, "fast", "fast (no index built) or megatron (Megatron-DeepSpeed's exact sample order)", "index-mode", "fast|megatron"},
      {"data-cache-path", AGPT_FLAG_STR, &a.data_cache_path, NULL, "where megatron-mode indices are cached", NULL, NULL},
      {"blend-sample-in-corpus", AGPT_FLAG_BOOL, &a.blend_sample_in_corpus, NULL, "megatron mode: blend a corpus's files by their sample counts (AuroraGPT)", NULL, NULL},
      {"shuffle-sample-in-corpus", AGPT_FLAG_BOOL, &a.shuffle_sample_in_corpus, NULL, "megatron mode: shuffle each corpus's samples (AuroraGPT)", NULL, NULL},
      {"save", AGPT_FLAG_STR, &a.save, NULL, "checkpoint directory (metrics.jsonl goes there too)", NULL, NULL},
      {"load", AGPT_FLAG_STR, &a.load, NULL, "resume from this checkpoint directory (its `latest`) or iter_ directory", NULL, NULL},
      {"recover-latest", AGPT_FLAG_BOOL, &recover, NULL, "resume from the newest checkpoint in --save whose files all verify, when `latest` is missing or damaged (damaged newer ones are moved aside)", NULL, NULL},
      {"override-opt-param-scheduler", AGPT_FLAG_BOOL, &a.override_scheduler, NULL, "on resume, follow this run's lr schedule flags instead of the checkpoint's", "override-opt_param-scheduler", NULL},
      {"use-checkpoint-opt-param-scheduler", AGPT_FLAG_BOOL, &a.use_checkpoint_scheduler, NULL, "on resume, follow the checkpoint's lr schedule and ignore the schedule flags", "use-checkpoint-opt_param-scheduler", NULL},
      {"save-interval", AGPT_FLAG_I64, &a.save_interval, "0", "save every N steps (0: only at the end)", NULL, "[0, inf)"},
      {"exit-interval", AGPT_FLAG_I64, &a.exit_interval, "0", "save and exit after steps that are multiples of N", NULL, "[0, inf)"},
      {"keep-last", AGPT_FLAG_INT, &a.keep_last, "3", "checkpoints kept (0: all)", NULL, "[0, inf)"},
      {"log-interval", AGPT_FLAG_INT, &a.log_interval, "10", "steps between progress lines", NULL, "[1, inf)"},
      {"metrics-file", AGPT_FLAG_STR, &a.metrics_file, NULL, "JSONL metrics file (default: <save>/metrics.jsonl)", NULL, NULL},
      {"log-batches", AGPT_FLAG_STR, &a.log_batches, NULL, "append each micro-batch's tokens then labels (int32) to this file, to audit the data order", NULL, NULL},
      {"device", AGPT_FLAG_STR, &a.device, "cpu", "backend", NULL, NULL},
      {"quiet", AGPT_FLAG_BOOL, &a.quiet, NULL, "only warnings and errors on the console", NULL, NULL},
  };
  agpt_flag flags[AGPT_MODEL_FLAG_ROWS + AGPT_NFLAGS(rest)];
  int n = agpt_model_flag_rows(&mf, flags, "llama-demo", "model preset to start from (see `agpt info`)"), help;
  memcpy(flags + n, rest, sizeof rest);
  n += AGPT_NFLAGS(rest);
  agpt_status st = agpt_flags_parse(flags, n, argc, argv, NULL, &help);
  if (help) {
    agpt_flags_usage(stdout, "agpt train [flags]",
                     "Pretrain a decoder-only transformer on Megatron .bin/.idx datasets (--data-path or\n"
                     "--data-file-list). Resume with --load; progress every --log-interval steps and in\n"
                     "<save>/metrics.jsonl.",
                     flags, n);
    return 0;
  }
  if (st != AGPT_OK) goto usage_error;
  if (!agpt_flags_given(flags, n, "global-batch-size")) a.global_batch = a.micro_batch;
  st = check_cross_flags(&a, flags, n, warmup);
  if (st == AGPT_OK && a.override_scheduler && a.use_checkpoint_scheduler)
    st = agpt_fail("--override-opt-param-scheduler and --use-checkpoint-opt-param-scheduler contradict each other: "
                   "give one");
  if (st != AGPT_OK) goto usage_error;
  agpt_log_set_quiet(a.quiet);
  if (agpt_resume_plan_make(a.save, a.load, recover, &a.start) != AGPT_OK) goto error;
  if (build_config(&mf, flags, n, seq, &a) != AGPT_OK) goto error;
  a.decay_iters = decay_iters;
  a.warmup_iters = warmup;
  if (agpt_flags_given(flags, n, "lr-warmup-fraction")) {
    /* below the span itself, so the conversion back to int64 is defined */
    int64_t span = decay_iters > 0 ? decay_iters : a.train_iters;
    double w = warmup_frac * (double)span;
    a.warmup_iters = w >= (double)span ? span : (int64_t)w;
  }
  agpt_train_result res;
  st = agpt_train_run(&a, &res);
  agpt_strlist_free(&a.data_path);
  if (st != AGPT_OK) goto error;
  /* a stopped run is not a finished one: exit as a shell reports a signal */
  return res.stop_signal ? 128 + res.stop_signal : 0;
usage_error:
  agpt_strlist_free(&a.data_path);
  fprintf(stderr, "agpt train: %s\n(see agpt train --help)\n", agpt_errmsg());
  return 2;
error:
  agpt_strlist_free(&a.data_path);
  fprintf(stderr, "agpt train: error: %s\n", agpt_errmsg());
  return 1;
}
