/* See model_flags.h. */
#include "cli/model_flags.h"

#include <string.h>

#include "core/log.h"

int agpt_model_flag_rows(agpt_model_flags *mf, agpt_flag *rows, const char *preset_default, const char *preset_help) {
  const agpt_flag r[AGPT_MODEL_FLAG_ROWS] = {
      {"preset", AGPT_FLAG_STR, &mf->preset, preset_default, preset_help, NULL, NULL},
      {"arch", AGPT_FLAG_STR, &mf->arch, NULL, "llama (RMSNorm, RoPE, SwiGLU, GQA) or gpt2 (LayerNorm, learned positions, GELU, tied) (default: the preset's)", NULL, "llama|gpt2"},
      {"num-layers", AGPT_FLAG_INT, &mf->num_layers, NULL, "transformer layers (default: the preset's)", NULL, "[1, 65536]"},
      {"hidden-size", AGPT_FLAG_INT, &mf->hidden, NULL, "hidden size", NULL, "[1, inf)"},
      {"ffn-hidden-size", AGPT_FLAG_INT, &mf->ffn, NULL, "MLP width (SwiGLU width for llama; default: the preset's, or Megatron's rule when --hidden-size or --arch is given)", NULL, "[1, inf)"},
      {"num-attention-heads", AGPT_FLAG_INT, &mf->heads, NULL, "attention heads", NULL, "[1, inf)"},
      {"num-key-value-heads", AGPT_FLAG_INT, &mf->kv_heads, NULL, "key-value heads (grouped-query attention; default: --num-attention-heads when that is given)", "num-query-groups", "[1, inf)"},
      {"max-position-embeddings", AGPT_FLAG_INT, &mf->max_pos, NULL, "longest sequence the model supports (default: the preset's; in train, --seq-length when that is given)", NULL, "[1, inf)"},
      {"vocab-size", AGPT_FLAG_INT, &mf->vocab, NULL, "vocabulary size (default: the preset's; in train, the --tokenizer's when that is given)", NULL, "[1, inf)"},
      {"rope-theta", AGPT_FLAG_FLOAT, &mf->rope_theta, NULL, "RoPE base", NULL, "(0, inf)"},
      {"norm-epsilon", AGPT_FLAG_FLOAT, &mf->norm_eps, NULL, "epsilon of RMSNorm/LayerNorm", NULL, "(0, 1]"},
      {"init-method-std", AGPT_FLAG_FLOAT, &mf->init_std, NULL, "std of the normal weight init", NULL, "(0, inf)"},
      {"untie-embeddings-and-output-weights", AGPT_FLAG_BOOL, &mf->untie, NULL, "separate output layer (Llama default)", NULL, NULL},
      {"disable-bias-linear", AGPT_FLAG_BOOL, &mf->no_bias, NULL, "no biases in linear layers (Llama default)", NULL, NULL},
  };
  memcpy(rows, r, sizeof r);
  return AGPT_MODEL_FLAG_ROWS;
}

static const char *const shape_flags[] = {"arch", "num-layers", "hidden-size", "ffn-hidden-size",
                                          "num-attention-heads", "num-key-value-heads", "max-position-embeddings",
                                          "vocab-size", "rope-theta", "norm-epsilon", "init-method-std",
                                          "untie-embeddings-and-output-weights", "disable-bias-linear"};

int agpt_model_flags_any(const agpt_flag *tbl, int n) {
  for (size_t i = 0; i < sizeof shape_flags / sizeof shape_flags[0]; i++)
    if (agpt_flags_given(tbl, n, shape_flags[i])) return 1;
  return 0;
}

static int derived_ffn(agpt_arch arch, int hidden) {
  if (arch == AGPT_ARCH_GPT2) return 4 * hidden;
  int f = (int)((4.0 * hidden * 2.0 / 3.0) / 64.0) * 64;
  return f < 64 ? 64 : f;
}

agpt_status agpt_model_flags_apply(const agpt_model_flags *f, const agpt_flag *tbl, int n, int derive,
                                   agpt_model_config *c) {
#define GIVEN(name) agpt_flags_given(tbl, n, name)
  if (GIVEN("arch")) {
    if (!strcmp(f->arch, "llama")) {
      c->arch = AGPT_ARCH_LLAMA;
      c->bias = 0;
      c->tie_embeddings = 0;
    } else {
      c->arch = AGPT_ARCH_GPT2;
      c->bias = 1;
      c->tie_embeddings = 1;
      c->n_kv_head = c->n_head;
    }
  }
  if (GIVEN("num-layers")) c->n_layer = f->num_layers;
  if (GIVEN("hidden-size")) c->hidden = f->hidden;
  if (GIVEN("ffn-hidden-size")) c->ffn = f->ffn;
  if (GIVEN("num-attention-heads")) {
    c->n_head = f->heads;
    if (!GIVEN("num-key-value-heads")) c->n_kv_head = f->heads;
  }
  if (GIVEN("num-key-value-heads")) c->n_kv_head = f->kv_heads;
  if (GIVEN("max-position-embeddings")) c->max_seq = f->max_pos;
  if (GIVEN("vocab-size")) c->vocab = f->vocab;
  if (GIVEN("rope-theta")) c->rope_theta = (float)f->rope_theta;
  if (GIVEN("norm-epsilon")) c->norm_eps = (float)f->norm_eps;
  if (GIVEN("init-method-std")) c->init_std = (float)f->init_std;
  if (f->untie) c->tie_embeddings = 0;
  if (f->no_bias) c->bias = 0;
  if (derive && !GIVEN("ffn-hidden-size") && (GIVEN("hidden-size") || GIVEN("arch"))) {
    c->ffn = derived_ffn(c->arch, c->hidden);
    agpt_log_info("--ffn-hidden-size %d follows the hidden size %d (Megatron's rule for %s); give it to choose "
                  "another",
                  c->ffn, c->hidden,
                  c->arch == AGPT_ARCH_GPT2 ? "GELU: 4 x hidden" : "SwiGLU: 8/3 x hidden, a multiple of 64");
  }
#undef GIVEN
  return AGPT_OK;
}
