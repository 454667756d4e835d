/* The parameter table: one row per named tensor, laid out in one flat buffer.
 *
 * Written once from the model config; used to allocate the parameter,
 * gradient and optimizer-state buffers (same layout for each), to name
 * tensors in checkpoints (Hugging Face names), to choose which tensors get
 * weight decay, and later to shard for tensor parallelism and ZeRO. Offsets
 * are in elements and aligned to 16 elements (64 bytes). */
#ifndef AGPT_MODEL_PARAMS_H
#define AGPT_MODEL_PARAMS_H

#include <stddef.h>
#include <stdint.h>

enum { AGPT_PARAM_NAME_MAX = 96, AGPT_PARAM_MAX_DIMS = 4 };

typedef struct {
  char name[AGPT_PARAM_NAME_MAX]; /* e.g. "model.layers.3.self_attn.q_proj.weight" */
  int ndim;
  int64_t shape[AGPT_PARAM_MAX_DIMS]; /* as Hugging Face stores it */
  size_t offset;                      /* elements from the start of the flat buffer */
  size_t numel;
  int tp_split_dim; /* dimension split by tensor parallelism, -1 for replicated */
  int decay;        /* 1: weight decay applies (matrices), 0: norms, biases */
} agpt_param;

typedef struct {
  agpt_param *params; /* owned */
  int n;
  size_t total; /* elements in the flat buffer, padding included */
} agpt_param_table;

#endif
