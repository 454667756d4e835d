/* Model configuration: the shape of a decoder-only transformer, the named
 * presets, the exact parameter count and the training-memory estimate.
 *
 * One struct describes both families agpt trains:
 *   Llama: RMSNorm, RoPE (Hugging Face half-split pairing, theta configurable),
 *          SwiGLU MLP, grouped-query attention, no biases, untied embeddings;
 *   GPT-2: LayerNorm, learned positions, GELU (tanh) MLP of width ffn, biases,
 *          tied embeddings.
 * The flags (tie_embeddings, bias) may be changed independently of arch.
 * Dimension letters: L layers, C hidden, NH heads, KVH key-value heads,
 * HS = C/NH head size, F ffn width, V vocabulary, Vp padded vocabulary. */
#ifndef AGPT_MODEL_CONFIG_H
#define AGPT_MODEL_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

typedef enum { AGPT_ARCH_LLAMA = 0, AGPT_ARCH_GPT2 = 1 } agpt_arch;

typedef struct {
  agpt_arch arch;
  int n_layer;        /* L */
  int hidden;         /* C, a multiple of 16 (keeps fused q|k|v and gate|up contiguous and aligned) */
  int n_head;         /* NH */
  int n_kv_head;      /* KVH, divides NH; GPT-2 requires KVH == NH */
  int ffn;            /* F: SwiGLU width (Llama) or MLP width (GPT-2, usually 4C) */
  int vocab;          /* V: token ids the tokenizer produces */
  int padded_vocab;   /* Vp >= V: rows of the embedding and the output layer (0: same as V) */
  int max_seq;        /* longest sequence; rows of GPT-2's position table */
  float rope_theta;   /* Llama only */
  float norm_eps;
  int tie_embeddings; /* output layer reuses the token embedding */
  int bias;           /* linear layers carry biases (GPT-2 LayerNorms always have theirs) */
  float init_std;     /* std of the normal init; output projections use init_std / sqrt(2L) */
} agpt_model_config;

/* Fills *out with the named preset; fails naming the known presets. */
agpt_status agpt_model_preset(const char *name, agpt_model_config *out);
int agpt_model_n_presets(void);
const char *agpt_model_preset_name(int i);
const char *agpt_arch_name(agpt_arch a);

/* Most layers a config may have. */
#define AGPT_MAX_LAYERS 65536

/* Checks the shape for consistency; `what` names the source in messages
 * (a file or "--preset llama-demo"). */
agpt_status agpt_model_config_validate(const agpt_model_config *c, const char *what);

/* Vp as used by the tensors (padded_vocab, or vocab when that is 0). */
int agpt_model_vocab_rows(const agpt_model_config *c);
int agpt_model_head_size(const agpt_model_config *c);
/* Columns of the packed attention projection: (NH + 2*KVH) * HS. */
int agpt_model_qkv_dim(const agpt_model_config *c);

/* Exact number of trainable scalars (no alignment padding). */
uint64_t agpt_model_param_count(const agpt_model_config *c);

/* Memory of fp32 training with AdamW on one device, in bytes. Activation
 * figures come from the same layout code the model allocates with, so they
 * are what agpt_model_create will allocate for (B, T). */
typedef struct {
  uint64_t params;        /* flat parameter buffer (padding included) */
  uint64_t grads;         /* same layout */
  uint64_t optim;         /* AdamW m and v */
  uint64_t acts;          /* activations saved for backward, with the requested recompute setting */
  uint64_t acts_full;     /* ... without recomputation */
  uint64_t acts_recompute;/* ... with recomputation */
  uint64_t scratch;       /* gradients of activations and other workspace */
  uint64_t total;         /* params + grads + optim + acts + scratch */
} agpt_model_memory;

agpt_status agpt_model_memory_estimate(const agpt_model_config *c, int B, int T, int recompute,
                                       agpt_model_memory *out);

#endif
