/* See metrics.h. */
#include "train/metrics.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"

agpt_status agpt_metrics_open(agpt_metrics *m, const char *jsonl_path) {
  memset(m, 0, sizeof *m);
  if (!jsonl_path) return AGPT_OK;
  m->jsonl = fopen(jsonl_path, "a");
  if (!m->jsonl) return agpt_fail("%s: cannot open metrics file: %s", jsonl_path, strerror(errno));
  m->path = agpt_xstrdup(jsonl_path);
  return AGPT_OK;
}

void agpt_format_duration(double s, char *buf, size_t cap) {
  if (!isfinite(s) || s < 0) {
    snprintf(buf, cap, "?");
    return;
  }
  long t = (long)(s + 0.5);
  if (t >= 3600)
    snprintf(buf, cap, "%ldh%02ldm%02lds", t / 3600, (t / 60) % 60, t % 60);
  else if (t >= 60)
    snprintf(buf, cap, "%ldm%02lds", t / 60, t % 60);
  else
    snprintf(buf, cap, "%lds", t);
}

/* Appends one line; a failing metrics file warns but never stops training. */
static void append_line(agpt_metrics *m, const agpt_sb *sb) {
  if (fwrite(sb->data, 1, sb->len, m->jsonl) != sb->len || fflush(m->jsonl) != 0)
    fprintf(stderr, "agpt: warning: %s: cannot append metrics: %s\n", m->path, strerror(errno));
}

void agpt_metrics_log(agpt_metrics *m, const agpt_metrics_row *r) {
  char el[32], eta[32];
  agpt_format_duration(r->elapsed_s, el, sizeof el);
  agpt_format_duration(r->eta_s, eta, sizeof eta);
  if (!m->quiet) {
  printf("step %6lld/%lld | loss %.4f | lr %.3e | gnorm %7.3f | %7.0f tok/s | mfu %5.1f%% | %6.0f ms | %s elapsed, eta %s",
         (long long)r->step, (long long)r->total, r->loss, r->lr, r->grad_norm, r->tok_s, 100.0 * r->mfu, r->step_ms, el,
         eta);
  if (r->skipped) printf(" | skipped %lld", (long long)r->skipped);
  putchar('\n');
  fflush(stdout);
  }
  if (!m->jsonl) return;
  agpt_sb sb = {0};
  agpt_sb_printf(&sb, "{\"step\":%lld,\"total\":%lld,\"loss\":", (long long)r->step, (long long)r->total);
  agpt_sb_json_num(&sb, r->loss);
  agpt_sb_puts(&sb, ",\"lr\":");
  agpt_sb_json_num(&sb, r->lr);
  agpt_sb_puts(&sb, ",\"grad_norm\":");
  agpt_sb_json_num(&sb, r->grad_norm);
  agpt_sb_printf(&sb, ",\"tokens_per_s\":%.1f,\"mfu\":%.4f,\"step_ms\":%.2f,\"elapsed_s\":%.2f,\"eta_s\":%.1f,"
                      "\"consumed_samples\":%llu,\"skipped\":%lld,\"peak_rss_mib\":%.1f}\n",
                 r->tok_s, r->mfu, r->step_ms, r->elapsed_s, isfinite(r->eta_s) ? r->eta_s : -1.0,
                 (unsigned long long)r->consumed_samples, (long long)r->skipped, r->peak_mib);
  append_line(m, &sb);
  agpt_sb_free(&sb);
}

void agpt_metrics_event(agpt_metrics *m, const char *event, int64_t step, const char *detail) {
  if (!m->jsonl) return;
  agpt_sb sb = {0};
  agpt_sb_puts(&sb, "{\"event\":");
  agpt_sb_json_str(&sb, event, strlen(event));
  agpt_sb_printf(&sb, ",\"step\":%lld,\"detail\":", (long long)step);
  agpt_sb_json_str(&sb, detail, strlen(detail));
  agpt_sb_puts(&sb, "}\n");
  append_line(m, &sb);
  agpt_sb_free(&sb);
}

void agpt_metrics_close(agpt_metrics *m) {
  if (m->jsonl) fclose(m->jsonl);
  free(m->path);
  memset(m, 0, sizeof *m);
}
