/* See model_json.h. */
#include "ckpt/model_json.h"

#include <float.h>
#include <math.h>
#include <string.h>

void agpt_model_config_to_json(const agpt_model_config *c, agpt_sb *sb) {
  int llama = c->arch == AGPT_ARCH_LLAMA;
  agpt_sb_puts(sb, "{\n");
  if (llama) {
    agpt_sb_printf(sb,
                   "  \"architectures\": [\"LlamaForCausalLM\"],\n  \"model_type\": \"llama\",\n"
                   "  \"hidden_size\": %d,\n  \"intermediate_size\": %d,\n  \"num_hidden_layers\": %d,\n"
                   "  \"num_attention_heads\": %d,\n  \"num_key_value_heads\": %d,\n  \"vocab_size\": %d,\n"
                   "  \"max_position_embeddings\": %d,\n  \"rms_norm_eps\": %g,\n  \"rope_theta\": %g,\n"
                   "  \"hidden_act\": \"silu\",\n  \"attention_bias\": %s,\n  \"mlp_bias\": %s,\n"
                   "  \"tie_word_embeddings\": %s,\n",
                   c->hidden, c->ffn, c->n_layer, c->n_head, c->n_kv_head, agpt_model_vocab_rows(c), c->max_seq,
                   (double)c->norm_eps, (double)c->rope_theta, c->bias ? "true" : "false", c->bias ? "true" : "false",
                   c->tie_embeddings ? "true" : "false");
  } else {
    agpt_sb_printf(sb,
                   "  \"architectures\": [\"GPT2LMHeadModel\"],\n  \"model_type\": \"gpt2\",\n"
                   "  \"n_embd\": %d,\n  \"n_inner\": %d,\n  \"n_layer\": %d,\n  \"n_head\": %d,\n"
                   "  \"vocab_size\": %d,\n  \"n_positions\": %d,\n  \"n_ctx\": %d,\n  \"layer_norm_epsilon\": %g,\n"
                   "  \"activation_function\": \"gelu_new\",\n  \"tie_word_embeddings\": %s,\n",
                   c->hidden, c->ffn, c->n_layer, c->n_head, agpt_model_vocab_rows(c), c->max_seq, c->max_seq,
                   (double)c->norm_eps, c->tie_embeddings ? "true" : "false");
  }
  agpt_sb_puts(sb, "  \"torch_dtype\": \"float32\",\n  \"initializer_range\": ");
  agpt_sb_json_num(sb, c->init_std);
  agpt_sb_printf(sb,
                 ",\n  \"agpt\": {\"arch\": \"%s\", \"n_layer\": %d, \"hidden\": %d, \"n_head\": %d, \"n_kv_head\": %d, "
                 "\"ffn\": %d, \"vocab\": %d, \"padded_vocab\": %d, \"max_seq\": %d, \"rope_theta\": ",
                 agpt_arch_name(c->arch), c->n_layer, c->hidden, c->n_head, c->n_kv_head, c->ffn, c->vocab,
                 c->padded_vocab, c->max_seq);
  agpt_sb_json_num(sb, c->rope_theta);
  agpt_sb_puts(sb, ", \"norm_eps\": ");
  agpt_sb_json_num(sb, c->norm_eps);
  agpt_sb_printf(sb, ", \"tie_embeddings\": %d, \"bias\": %d, \"init_std\": ", c->tie_embeddings, c->bias);
  agpt_sb_json_num(sb, c->init_std);
  agpt_sb_puts(sb, "}\n}\n");
}

static agpt_status get_int(const agpt_json *o, const char *key, const char *path, int *out) {
  const agpt_json *j = agpt_json_get(o, key);
  int64_t v;
  if (!j || agpt_json_type(j) != AGPT_JSON_NUMBER || agpt_json_int(j, &v) != AGPT_OK || v < 0 || v > 1 << 30)
    return agpt_fail("%s: agpt.%s: missing or not a non-negative integer (the file was not written by agpt train?)",
                     path, key);
  *out = (int)v;
  return AGPT_OK;
}

static agpt_status get_float(const agpt_json *o, const char *key, const char *path, float *out) {
  const agpt_json *j = agpt_json_get(o, key);
  if (!j || agpt_json_type(j) != AGPT_JSON_NUMBER) return agpt_fail("%s: agpt.%s: missing or not a number", path, key);
  double v = agpt_json_num(j);
  if (!(fabs(v) <= FLT_MAX))
    return agpt_fail("%s: agpt.%s: %g is beyond the range of a float32 (the file was not written by agpt train?)",
                     path, key, v);
  *out = (float)v;
  return AGPT_OK;
}

agpt_status agpt_model_config_from_json(const char *text, size_t n, const char *path, agpt_model_config *c) {
  agpt_json *root;
  if (agpt_json_parse(text, n, &root) != AGPT_OK) return agpt_fail_prefix("%s", path);
  agpt_status st = AGPT_ERR;
  const agpt_json *o = agpt_json_get(root, "agpt");
  memset(c, 0, sizeof *c);
  if (!o || agpt_json_type(o) != AGPT_JSON_OBJECT) {
    agpt_fail("%s: no \"agpt\" object (a config.json written by agpt train is needed)", path);
    goto done;
  }
  const agpt_json *arch = agpt_json_get(o, "arch");
  const char *as = arch ? agpt_json_str(arch, NULL) : NULL;
  if (as && !strcmp(as, "llama"))
    c->arch = AGPT_ARCH_LLAMA;
  else if (as && !strcmp(as, "gpt2"))
    c->arch = AGPT_ARCH_GPT2;
  else {
    agpt_fail("%s: agpt.arch: expected \"llama\" or \"gpt2\"", path);
    goto done;
  }
  if (get_int(o, "n_layer", path, &c->n_layer) || get_int(o, "hidden", path, &c->hidden) ||
      get_int(o, "n_head", path, &c->n_head) || get_int(o, "n_kv_head", path, &c->n_kv_head) ||
      get_int(o, "ffn", path, &c->ffn) || get_int(o, "vocab", path, &c->vocab) ||
      get_int(o, "padded_vocab", path, &c->padded_vocab) || get_int(o, "max_seq", path, &c->max_seq) ||
      get_int(o, "tie_embeddings", path, &c->tie_embeddings) || get_int(o, "bias", path, &c->bias) ||
      get_float(o, "rope_theta", path, &c->rope_theta) || get_float(o, "norm_eps", path, &c->norm_eps) ||
      get_float(o, "init_std", path, &c->init_std))
    goto done;
  if (c->tie_embeddings > 1 || c->bias > 1) {
    agpt_fail("%s: agpt.%s: %d, expected 0 or 1 (the file was not written by agpt train?)", path,
              c->bias > 1 ? "bias" : "tie_embeddings", c->bias > 1 ? c->bias : c->tie_embeddings);
    goto done;
  }
  st = agpt_model_config_validate(c, path);
done:
  agpt_json_free(root);
  return st;
}

agpt_status agpt_model_config_compare(const agpt_model_config *a, const agpt_model_config *b, const char *what) {
#define CMP_I(f, flag)                                                                                         \
  if (a->f != b->f)                                                                                            \
    return agpt_fail("%s: %s differs (%d vs %d); pass the same model flags as the run that wrote it (%s)", what, \
                     #f, (int)a->f, (int)b->f, flag);
#define CMP_F(f, flag)                                                                                          \
  if (fabsf(a->f - b->f) > 1e-6f * fabsf(b->f))                                                                 \
    return agpt_fail("%s: %s differs (%g vs %g); pass the same model flags as the run that wrote it (%s)", what, \
                     #f, (double)a->f, (double)b->f, flag);
  CMP_I(arch, "--preset/--arch")
  CMP_I(n_layer, "--num-layers")
  CMP_I(hidden, "--hidden-size")
  CMP_I(n_head, "--num-attention-heads")
  CMP_I(n_kv_head, "--num-key-value-heads")
  CMP_I(ffn, "--ffn-hidden-size")
  CMP_I(vocab, "--vocab-size/--tokenizer")
  CMP_I(max_seq, "--max-position-embeddings")
  CMP_I(tie_embeddings, "--untie-embeddings-and-output-weights")
  CMP_I(bias, "--disable-bias-linear")
  CMP_F(rope_theta, "--rope-theta")
  CMP_F(norm_eps, "--norm-epsilon")
#undef CMP_I
#undef CMP_F
  return AGPT_OK;
}
