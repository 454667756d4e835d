/* See schedule.h. */
#include "optim/schedule.h"

#include <math.h>
#include <string.h>

agpt_status agpt_lr_style_parse(const char *s, agpt_lr_style *out) {
  if (!strcmp(s, "cosine")) *out = AGPT_LR_COSINE;
  else if (!strcmp(s, "linear")) *out = AGPT_LR_LINEAR;
  else if (!strcmp(s, "constant")) *out = AGPT_LR_CONSTANT;
  else return agpt_fail("--lr-decay-style: unknown style '%s' (use cosine, linear or constant)", s);
  return AGPT_OK;
}

const char *agpt_lr_style_name(agpt_lr_style s) {
  return s == AGPT_LR_COSINE ? "cosine" : s == AGPT_LR_LINEAR ? "linear" : "constant";
}

double agpt_lr_at(const agpt_lr_schedule *s, int64_t step) {
  if (s->warmup > 0 && step <= s->warmup) return s->lr * (double)step / (double)s->warmup;
  if (s->style == AGPT_LR_CONSTANT) return s->lr;
  if (step > s->decay_iters) return s->min_lr;
  double span = (double)(s->decay_iters - s->warmup);
  double ratio = span > 0 ? (double)(step - s->warmup) / span : 1.0;
  double coeff = s->style == AGPT_LR_COSINE ? 0.5 * (cos(M_PI * ratio) + 1.0) : 1.0 - ratio;
  return s->min_lr + coeff * (s->lr - s->min_lr);
}
