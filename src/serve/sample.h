/* Choosing the next token from logits: greedy, temperature, top-k and
 * top-p (nucleus), in that order, as Hugging Face's generate applies them. */
#ifndef AGPT_SERVE_SAMPLE_H
#define AGPT_SERVE_SAMPLE_H

#include <stdint.h>

typedef struct {
  float temperature; /* <= 0: greedy */
  int top_k;         /* <= 0: off */
  float top_p;       /* >= 1: off */
} agpt_sample_opts;

/* logits (V) are read only; work is V floats + V ints of scratch owned by the
 * caller; u is a uniform draw in [0, 1). Returns the chosen id. */
int32_t agpt_sample_token(const float *logits, int V, const agpt_sample_opts *o, float u, float *work_p,
                          int32_t *work_idx);

#endif
