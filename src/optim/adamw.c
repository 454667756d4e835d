/* See adamw.h. */
#include "optim/adamw.h"

#include <math.h>

agpt_status agpt_adamw_init(agpt_adamw *o, agpt_backend *be, const agpt_param_table *table,
                            const agpt_adamw_config *cfg) {
  o->cfg = *cfg;
  o->table = table;
  o->be = be;
  o->t = 0;
  o->m = o->v = NULL;
  size_t bytes = table->total * sizeof(float);
  if (be->alloc(be, bytes, (void **)&o->m) != AGPT_OK || be->alloc(be, bytes, (void **)&o->v) != AGPT_OK) {
    agpt_adamw_free(o);
    return agpt_fail_prefix("AdamW states (2 x %.1f MiB)", (double)bytes / 1048576.0);
  }
  be->zero(be, o->m, bytes);
  be->zero(be, o->v, bytes);
  return AGPT_OK;
}

void agpt_adamw_step(agpt_adamw *o, float *params, const float *grads, double lr) {
  o->t++;
  float bc1 = (float)(1.0 - pow(o->cfg.beta1, (double)o->t));
  float bc2 = (float)(1.0 - pow(o->cfg.beta2, (double)o->t));
  const agpt_param_table *tb = o->table;
  int i = 0;
  while (i < tb->n) {
    int j = i;
    while (j + 1 < tb->n && tb->params[j + 1].decay == tb->params[i].decay) j++;
    size_t begin = tb->params[i].offset;
    size_t end = tb->params[j].offset + tb->params[j].numel;
    float wd = tb->params[i].decay ? (float)o->cfg.weight_decay : 0.0f;
    o->be->adamw(o->be, params + begin, grads + begin, o->m + begin, o->v + begin, end - begin, (float)lr,
                 (float)o->cfg.beta1, (float)o->cfg.beta2, (float)o->cfg.eps, wd, bc1, bc2);
    i = j + 1;
  }
}

void agpt_adamw_free(agpt_adamw *o) {
  if (o->m) o->be->free_buf(o->be, o->m);
  if (o->v) o->be->free_buf(o->be, o->v);
  o->m = o->v = NULL;
}
