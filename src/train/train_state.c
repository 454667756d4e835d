/* See train_state.h. */
#include "train/train_state.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "data/split.h"

void agpt_train_state_write(const agpt_train_state *s, agpt_sb *sb) {
  agpt_sb_printf(sb,
                 "{\n  \"format\": \"agpt-train-state-1\",\n  \"iteration\": %lld,\n  \"consumed_samples\": %llu,\n"
                 "  \"adam_step\": %lld,\n  \"skipped_total\": %lld,\n  \"skipped_consecutive\": %lld,\n"
                 "  \"seed\": %llu,\n  \"train_iters\": %lld,\n  \"micro_batch_size\": %d,\n"
                 "  \"global_batch_size\": %d,\n  \"seq_length\": %d,\n  \"index_mode\": ",
                 (long long)s->iteration, (unsigned long long)s->consumed_samples, (long long)s->adam_step,
                 (long long)s->skipped_total, (long long)s->skipped_consecutive, (unsigned long long)s->seed,
                 (long long)s->train_iters, s->micro_batch, s->global_batch, s->seq_length);
  agpt_sb_json_str(sb, s->index_mode, strlen(s->index_mode));
  agpt_sb_puts(sb, ",\n  \"split\": ");
  agpt_sb_json_str(sb, s->split, strlen(s->split));
  agpt_sb_puts(sb, ",\n  \"lr\": ");
  agpt_sb_json_num(sb, s->sched.lr);
  agpt_sb_puts(sb, ",\n  \"min_lr\": ");
  agpt_sb_json_num(sb, s->sched.min_lr);
  agpt_sb_printf(sb, ",\n  \"lr_warmup_iters\": %lld,\n  \"lr_decay_iters\": %lld,\n  \"lr_decay_style\": \"%s\"\n}\n",
                 (long long)s->sched.warmup, (long long)s->sched.decay_iters, agpt_lr_style_name(s->sched.style));
}

/* An integer field in [lo, hi]. */
static agpt_status get_int(const agpt_json *root, const char *key, const char *path, int64_t lo, int64_t hi,
                           int64_t *out) {
  const agpt_json *j = agpt_json_get(root, key);
  if (!j || agpt_json_int(j, out) != AGPT_OK)
    return agpt_fail("%s: field \"%s\" missing or not an integer (the checkpoint is damaged or not agpt's; load "
                     "another checkpoint)",
                     path, key);
  if (*out < lo || *out > hi)
    return agpt_fail("%s: field \"%s\" is %lld, outside [%lld, %lld] (the file was edited or written by a faulty "
                     "tool; load another checkpoint)",
                     path, key, (long long)*out, (long long)lo, (long long)hi);
  return AGPT_OK;
}

static agpt_status get_str(const agpt_json *root, const char *key, const char *path, char *out, size_t cap) {
  size_t len;
  const char *v = agpt_json_str(agpt_json_get(root, key), &len);
  if (!v || len >= cap || strlen(v) != len)
    return agpt_fail("%s: field \"%s\" missing, not a string, or longer than %zu bytes (the checkpoint is damaged "
                     "or not agpt's)",
                     path, key, cap - 1);
  memcpy(out, v, len + 1);
  return AGPT_OK;
}

static agpt_status get_num(const agpt_json *root, const char *key, const char *path, double *out) {
  const agpt_json *j = agpt_json_get(root, key);
  if (!j || agpt_json_type(j) != AGPT_JSON_NUMBER || !isfinite(*out = agpt_json_num(j)))
    return agpt_fail("%s: field \"%s\" missing or not a finite number (the checkpoint is damaged or not agpt's)", path,
                     key);
  return AGPT_OK;
}

static agpt_status parse_schedule(const agpt_json *root, const char *path, agpt_train_state *s) {
  s->has_schedule = agpt_json_get(root, "lr") != NULL;
  if (!s->has_schedule) return AGPT_OK;
  int64_t warmup, decay;
  char style[16];
  AGPT_TRY(get_num(root, "lr", path, &s->sched.lr));
  AGPT_TRY(get_num(root, "min_lr", path, &s->sched.min_lr));
  AGPT_TRY(get_int(root, "lr_warmup_iters", path, 0, INT64_MAX, &warmup));
  AGPT_TRY(get_int(root, "lr_decay_iters", path, 1, INT64_MAX, &decay));
  AGPT_TRY(get_str(root, "lr_decay_style", path, style, sizeof style));
  if (s->sched.lr < 0)
    return agpt_fail("%s: field \"lr\" is %g; a learning rate is >= 0 (load another checkpoint)", path, s->sched.lr);
  if (s->sched.min_lr < 0 || s->sched.min_lr > s->sched.lr)
    return agpt_fail("%s: field \"min_lr\" is %g, outside [0, lr = %g] (load another checkpoint)", path,
                     s->sched.min_lr, s->sched.lr);
  if (agpt_lr_style_parse(style, &s->sched.style) != AGPT_OK)
    return agpt_fail("%s: field \"lr_decay_style\" is \"%s\" (expected cosine, linear or constant)", path, style);
  s->sched.warmup = warmup;
  s->sched.decay_iters = decay;
  return AGPT_OK;
}

static agpt_status parse_fields(const agpt_json *root, const char *path, int64_t manifest_iteration,
                                int max_positions, agpt_train_state *s) {
  const char *fmt = agpt_json_str(agpt_json_get(root, "format"), NULL);
  if (!fmt || strcmp(fmt, "agpt-train-state-1"))
    return agpt_fail("%s: field \"format\": expected \"agpt-train-state-1\" (not an agpt training state)", path);
  int64_t it, v;
  AGPT_TRY(get_int(root, "iteration", path, 0, INT64_MAX, &it));
  if (it != manifest_iteration)
    return agpt_fail("%s: field \"iteration\" is %lld, but the checkpoint's manifest.json says %lld (mixed-up "
                     "files; load another checkpoint)",
                     path, (long long)it, (long long)manifest_iteration);
  s->iteration = it;
  AGPT_TRY(get_int(root, "skipped_total", path, 0, it, &s->skipped_total));
  AGPT_TRY(get_int(root, "skipped_consecutive", path, 0, s->skipped_total, &s->skipped_consecutive));
  AGPT_TRY(get_int(root, "adam_step", path, 0, INT64_MAX, &s->adam_step));
  if (s->adam_step != it - s->skipped_total)
    return agpt_fail("%s: field \"adam_step\" is %lld, but iteration %lld less %lld skipped steps is %lld (every step "
                     "updates once or is skipped; load another checkpoint)",
                     path, (long long)s->adam_step, (long long)it, (long long)s->skipped_total,
                     (long long)(it - s->skipped_total));
  AGPT_TRY(get_int(root, "consumed_samples", path, it, INT64_MAX, &v));
  if (v / 2147483648LL > it)
    return agpt_fail("%s: field \"consumed_samples\" is %lld, more than %lld iterations of the largest global batch "
                     "(load another checkpoint)",
                     path, (long long)v, (long long)it);
  s->consumed_samples = (uint64_t)v;
  AGPT_TRY(get_int(root, "seed", path, 0, INT64_MAX, &v));
  s->seed = (uint64_t)v;
  AGPT_TRY(get_int(root, "train_iters", path, 1, INT64_MAX, &s->train_iters));
  AGPT_TRY(get_int(root, "micro_batch_size", path, 1, INT32_MAX, &v));
  s->micro_batch = (int)v;
  AGPT_TRY(get_int(root, "global_batch_size", path, s->micro_batch, INT32_MAX, &v));
  s->global_batch = (int)v;
  if (s->global_batch % s->micro_batch)
    return agpt_fail("%s: field \"global_batch_size\" %d is not a multiple of \"micro_batch_size\" %d (load another "
                     "checkpoint)",
                     path, s->global_batch, s->micro_batch);
  AGPT_TRY(get_int(root, "seq_length", path, 1, max_positions, &v));
  s->seq_length = (int)v;
  AGPT_TRY(get_str(root, "index_mode", path, s->index_mode, sizeof s->index_mode));
  if (strcmp(s->index_mode, "fast") && strcmp(s->index_mode, "megatron"))
    return agpt_fail("%s: field \"index_mode\" is \"%s\" (expected fast or megatron)", path, s->index_mode);
  AGPT_TRY(get_str(root, "split", path, s->split, sizeof s->split));
  double ratios[3];
  if (agpt_split_parse(s->split, ratios) != AGPT_OK) return agpt_fail_prefix("%s: field \"split\"", path);
  return parse_schedule(root, path, s);
}

agpt_status agpt_train_state_parse(const char *text, size_t n, const char *path, int64_t manifest_iteration,
                                   int max_positions, agpt_train_state *out) {
  memset(out, 0, sizeof *out);
  agpt_json *root;
  if (agpt_json_parse(text, n, &root) != AGPT_OK) return agpt_fail_prefix("%s", path);
  agpt_status st = agpt_json_type(root) == AGPT_JSON_OBJECT
                       ? parse_fields(root, path, manifest_iteration, max_positions, out)
                       : agpt_fail("%s: expected a JSON object (not an agpt training state)", path);
  agpt_json_free(root);
  return st;
}
