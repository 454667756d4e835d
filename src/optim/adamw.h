/* AdamW over the flat parameter buffer.
 *
 * The moments live in two device buffers laid out like the parameters, so a
 * checkpoint names them after the parameter table ("exp_avg.<name>",
 * "exp_avg_sq.<name>") and a ZeRO shard is a range of all three. Weight decay
 * applies to the table rows whose decay flag is set; consecutive rows with
 * the same flag are updated in one call. */
#ifndef AGPT_OPTIM_ADAMW_H
#define AGPT_OPTIM_ADAMW_H

#include <stdint.h>

#include "backend/backend.h"
#include "core/status.h"
#include "model/params.h"

typedef struct {
  double beta1, beta2, eps, weight_decay;
} agpt_adamw_config;

typedef struct {
  agpt_adamw_config cfg;
  const agpt_param_table *table; /* borrowed */
  agpt_backend *be;              /* borrowed */
  float *m, *v;                  /* device buffers of table->total floats, owned */
  int64_t t;                     /* updates applied so far */
} agpt_adamw;

agpt_status agpt_adamw_init(agpt_adamw *o, agpt_backend *be, const agpt_param_table *table,
                            const agpt_adamw_config *cfg);
/* One update with the given learning rate; increments t first (bias
 * correction uses the new t). */
void agpt_adamw_step(agpt_adamw *o, float *params, const float *grads, double lr);
void agpt_adamw_free(agpt_adamw *o);

#endif
