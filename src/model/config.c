/* Presets, validation and the exact parameter count of agpt_model_config.
 * The count is computed from the shapes directly, independently of the
 * parameter table, so that each can check the other. */
#include "model/config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const struct {
  const char *name;
  agpt_model_config cfg;
} presets[] = {
    /* Small enough to train on a laptop CPU in minutes; vocabulary of the demo tokenizer. */
    {"llama-demo",
     {.arch = AGPT_ARCH_LLAMA, .n_layer = 4, .hidden = 256, .n_head = 4, .n_kv_head = 2, .ffn = 688,
      .vocab = 8192, .max_seq = 256, .rope_theta = 10000.0f, .norm_eps = 1e-5f, .tie_embeddings = 0,
      .bias = 0, .init_std = 0.02f}},
    {"gpt2-124m",
     {.arch = AGPT_ARCH_GPT2, .n_layer = 12, .hidden = 768, .n_head = 12, .n_kv_head = 12, .ffn = 3072,
      .vocab = 50257, .max_seq = 1024, .rope_theta = 0.0f, .norm_eps = 1e-5f, .tie_embeddings = 1, .bias = 1,
      .init_std = 0.02f}},
    {"llama-134m",
     {.arch = AGPT_ARCH_LLAMA, .n_layer = 12, .hidden = 768, .n_head = 12, .n_kv_head = 12, .ffn = 2048,
      .vocab = 32000, .max_seq = 2048, .rope_theta = 10000.0f, .norm_eps = 1e-5f, .tie_embeddings = 0,
      .bias = 0, .init_std = 0.02f}},
    /* AuroraGPT-7B (FORMATS.md). */
    {"agpt-7b",
     {.arch = AGPT_ARCH_LLAMA, .n_layer = 32, .hidden = 4096, .n_head = 32, .n_kv_head = 8, .ffn = 11008,
      .vocab = 32000, .max_seq = 4096, .rope_theta = 50000.0f, .norm_eps = 1e-5f, .tie_embeddings = 0,
      .bias = 0, .init_std = 0.02f}},
    {"agpt-70b",
     {.arch = AGPT_ARCH_LLAMA, .n_layer = 80, .hidden = 8192, .n_head = 64, .n_kv_head = 8, .ffn = 28672,
      .vocab = 32000, .max_seq = 8192, .rope_theta = 50000.0f, .norm_eps = 1e-5f, .tie_embeddings = 0,
      .bias = 0, .init_std = 0.02f}},
};

enum { N_PRESETS = (int)(sizeof presets / sizeof presets[0]) };

int agpt_model_n_presets(void) { return N_PRESETS; }

const char *agpt_model_preset_name(int i) { return i >= 0 && i < N_PRESETS ? presets[i].name : NULL; }

const char *agpt_arch_name(agpt_arch a) { return a == AGPT_ARCH_GPT2 ? "gpt2" : "llama"; }

agpt_status agpt_model_preset(const char *name, agpt_model_config *out) {
  for (int i = 0; i < N_PRESETS; i++)
    if (!strcmp(presets[i].name, name)) {
      *out = presets[i].cfg;
      return AGPT_OK;
    }
  char known[256] = "";
  size_t len = 0;
  for (int i = 0; i < N_PRESETS; i++)
    len += (size_t)snprintf(known + len, sizeof known - len, "%s%s", i ? ", " : "", presets[i].name);
  return agpt_fail("--preset: unknown model preset '%s' (choose one of: %s)", name, known);
}

int agpt_model_vocab_rows(const agpt_model_config *c) {
  return c->padded_vocab > c->vocab ? c->padded_vocab : c->vocab;
}

int agpt_model_head_size(const agpt_model_config *c) { return c->hidden / c->n_head; }

int agpt_model_qkv_dim(const agpt_model_config *c) {
  return (c->n_head + 2 * c->n_kv_head) * agpt_model_head_size(c);
}

agpt_status agpt_model_config_validate(const agpt_model_config *c, const char *what) {
  if (c->arch != AGPT_ARCH_LLAMA && c->arch != AGPT_ARCH_GPT2)
    return agpt_fail("%s: arch: unknown architecture %d (use llama or gpt2)", what, (int)c->arch);
  if (c->n_layer < 1) return agpt_fail("%s: num-layers: %d must be at least 1", what, c->n_layer);
  /* Far beyond any model trained; the bound keeps a corrupt count from
   * sizing per-layer tables of gigabytes. */
  if (c->n_layer > AGPT_MAX_LAYERS)
    return agpt_fail("%s: num-layers: %d is more than %d", what, c->n_layer, AGPT_MAX_LAYERS);
  if (c->hidden < 16 || c->hidden % 16)
    return agpt_fail("%s: hidden-size: %d must be a positive multiple of 16", what, c->hidden);
  if (c->n_head < 1 || c->hidden % c->n_head)
    return agpt_fail("%s: num-attention-heads: %d must divide hidden-size %d", what, c->n_head, c->hidden);
  if ((c->hidden / c->n_head) % 2)
    return agpt_fail("%s: num-attention-heads: head size %d must be even (hidden-size / heads)", what,
                     c->hidden / c->n_head);
  if (c->n_kv_head < 1 || c->n_head % c->n_kv_head)
    return agpt_fail("%s: num-key-value-heads: %d must divide num-attention-heads %d", what, c->n_kv_head,
                     c->n_head);
  if (c->arch == AGPT_ARCH_GPT2 && c->n_kv_head != c->n_head)
    return agpt_fail("%s: num-key-value-heads: GPT-2 packs c_attn as 3 x hidden, so it needs %d key-value heads "
                     "(got %d)", what, c->n_head, c->n_kv_head);
  if (c->ffn < 1) return agpt_fail("%s: ffn-hidden-size: %d must be at least 1", what, c->ffn);
  /* Llama biases are packed like their weights (q|k|v, gate|up) and must stay aligned. */
  if (c->arch == AGPT_ARCH_LLAMA && c->bias && ((c->hidden / c->n_head) % 16 || c->ffn % 16))
    return agpt_fail("%s: bias: Llama layers with biases need head size and ffn-hidden-size to be multiples of "
                     "16 (got %d and %d)", what, c->hidden / c->n_head, c->ffn);
  if (c->vocab < 2) return agpt_fail("%s: vocab-size: %d must be at least 2", what, c->vocab);
  if (c->padded_vocab != 0 && c->padded_vocab < c->vocab)
    return agpt_fail("%s: padded-vocab-size: %d is smaller than vocab-size %d (use 0 or a larger value)", what,
                     c->padded_vocab, c->vocab);
  if (c->max_seq < 1) return agpt_fail("%s: max-position-embeddings: %d must be at least 1", what, c->max_seq);
  if (c->arch == AGPT_ARCH_LLAMA && (!(c->rope_theta > 0.0f) || !isfinite(c->rope_theta)))
    return agpt_fail("%s: rope-theta: %g must be positive and finite", what, (double)c->rope_theta);
  if (!(c->norm_eps > 0.0f) || !isfinite(c->norm_eps))
    return agpt_fail("%s: norm-epsilon: %g must be positive and finite", what, (double)c->norm_eps);
  if (!(c->init_std > 0.0f) || !isfinite(c->init_std))
    return agpt_fail("%s: init-method-std: %g must be positive and finite", what, (double)c->init_std);
  uint64_t hs = (uint64_t)(c->hidden / c->n_head);
  uint64_t qkv = (uint64_t)(c->n_head + 2 * c->n_kv_head) * hs;
  uint64_t vp = (uint64_t)agpt_model_vocab_rows(c);
  /* Kernels index with int: the widest row count times columns must stay below 2^31 per call. */
  if (qkv > (1u << 30) || (uint64_t)c->ffn * 2 > (1u << 30) || vp > (1u << 30))
    return agpt_fail("%s: shape too large for 32-bit kernel indices", what);
  return AGPT_OK;
}

uint64_t agpt_model_param_count(const agpt_model_config *c) {
  uint64_t L = (uint64_t)c->n_layer, C = (uint64_t)c->hidden, F = (uint64_t)c->ffn;
  uint64_t HS = C / (uint64_t)c->n_head, Vp = (uint64_t)agpt_model_vocab_rows(c);
  uint64_t q = (uint64_t)c->n_head * HS, kv = (uint64_t)c->n_kv_head * HS;
  uint64_t b = c->bias ? 1 : 0;
  uint64_t per_layer, top;
  if (c->arch == AGPT_ARCH_LLAMA) {
    uint64_t norms = 2 * C;
    uint64_t attn = C * (q + 2 * kv) + q * C + b * (q + 2 * kv + C);
    uint64_t mlp = 2 * C * F + F * C + b * (2 * F + C);
    per_layer = norms + attn + mlp;
    top = Vp * C + C; /* embed_tokens, norm */
  } else {
    uint64_t norms = 4 * C; /* ln_1, ln_2: weight and bias */
    uint64_t attn = C * (q + 2 * kv) + q * C + b * (q + 2 * kv + C);
    uint64_t mlp = C * F + F * C + b * (F + C);
    per_layer = norms + attn + mlp;
    top = Vp * C + (uint64_t)c->max_seq * C + 2 * C; /* wte, wpe, ln_f */
  }
  if (!c->tie_embeddings) top += Vp * C;
  return L * per_layer + top;
}
