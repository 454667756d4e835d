/* Regression tests for inputs that fuzzing found readers mishandling: each
 * case is a small file or text that once crashed, allocated without bound,
 * or was accepted and then written back as something unreadable. Each must
 * now give a status whose message names the field. */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "ckpt/model_json.h"
#include "core/json.h"
#include "core/log.h"
#include "core/status.h"
#include "model/config.h"
#include "model/model.h"
#include "data/tokenizer.h"

static const char *config_with(const char *field, const char *value) {
  static char buf[1024];
  snprintf(buf, sizeof buf,
           "{\"agpt\": {\"arch\": \"llama\", \"n_layer\": 1, \"hidden\": 64, \"n_head\": 4, \"n_kv_head\": 1, "
           "\"ffn\": 128, \"vocab\": 300, \"padded_vocab\": 0, \"max_seq\": 8, \"rope_theta\": %s, "
           "\"norm_eps\": %s, \"tie_embeddings\": 0, \"bias\": 0, \"init_std\": %s}}",
           !strcmp(field, "rope_theta") ? value : "10000", !strcmp(field, "norm_eps") ? value : "1e-5",
           !strcmp(field, "init_std") ? value : "0.02");
  return buf;
}

/* A float field beyond float32 became inf, passed validation, and was
 * written back as "inf", which no JSON reader accepts. */
static void test_config_float_range(void) {
  const char *fields[] = {"rope_theta", "norm_eps", "init_std"};
  for (int i = 0; i < 3; i++) {
    agpt_model_config c;
    const char *text = config_with(fields[i], "1e64");
    agpt_status st = agpt_model_config_from_json(text, strlen(text), "config.json", &c);
    CHECK_MSG(st == AGPT_ERR, "%s = 1e64 was accepted", fields[i]);
    CHECK_MSG(strstr(agpt_errmsg(), fields[i]) && strstr(agpt_errmsg(), "config.json"), "message: %s",
              agpt_errmsg());
  }
  agpt_model_config c;
  const char *ok = config_with("", "");
  CHECK(agpt_model_config_from_json(ok, strlen(ok), "config.json", &c) == AGPT_OK);
  /* the same rule for configs from flags */
  c.norm_eps = (float)INFINITY;
  CHECK(agpt_model_config_validate(&c, "--norm-epsilon") == AGPT_ERR);
  c.norm_eps = 1e-5f;
  c.rope_theta = (float)INFINITY;
  CHECK(agpt_model_config_validate(&c, "--rope-theta") == AGPT_ERR);
}

/* A config of a few hundred bytes claiming 10^9 layers, or bias = 10^9,
 * made the parameter table take minutes and gigabytes (one row per layer
 * tensor, and a pass over the table for each one). */
static void test_config_counts(void) {
  char text[1024];
  const char *fmt = "{\"agpt\": {\"arch\": \"llama\", \"n_layer\": %d, \"hidden\": 16, \"n_head\": 1, "
                    "\"n_kv_head\": 1, \"ffn\": 16, \"vocab\": 8, \"padded_vocab\": 0, \"max_seq\": 8, "
                    "\"rope_theta\": 10000, \"norm_eps\": 1e-5, \"tie_embeddings\": 0, \"bias\": %d, "
                    "\"init_std\": 0.02}}";
  agpt_model_config c;
  snprintf(text, sizeof text, fmt, 1000000000, 0);
  CHECK(agpt_model_config_from_json(text, strlen(text), "config.json", &c) == AGPT_ERR);
  CHECK_MSG(strstr(agpt_errmsg(), "num-layers") != NULL, "message: %s", agpt_errmsg());
  snprintf(text, sizeof text, fmt, 2, 1000000000);
  CHECK(agpt_model_config_from_json(text, strlen(text), "config.json", &c) == AGPT_ERR);
  CHECK_MSG(strstr(agpt_errmsg(), "agpt.bias") != NULL, "message: %s", agpt_errmsg());
  /* the largest accepted layer count builds its table in linear time */
  snprintf(text, sizeof text, fmt, AGPT_MAX_LAYERS, 1);
  CHECK(agpt_model_config_from_json(text, strlen(text), "config.json", &c) == AGPT_OK);
  agpt_param_table t;
  double t0 = agpt_now();
  CHECK(agpt_param_table_build(&c, &t) == AGPT_OK);
  CHECK_MSG(agpt_now() - t0 < 20.0, "building the table of %d layers took %.1f s", AGPT_MAX_LAYERS, agpt_now() - t0);
  agpt_param_table_free(&t);
}

/* A vocabulary entry with empty text: looking it up hashed zero bytes from
 * a NULL buffer (memcpy from NULL, undefined even for length 0; found by
 * UBSan through fuzzing). */
static void test_tokenizer_empty_token(void) {
  static const char text[] = "{\"pre_tokenizer\": {\"type\": \"ByteLevel\"}, \"model\": {\"type\": \"BPE\", "
                             "\"vocab\": {\"a\": 0, \"\": 1}, \"merges\": []}}";
  agpt_tok *t = NULL;
  agpt_status st = agpt_tok_load_json(text, sizeof text - 1, "tokenizer.json", &t);
  CHECK_MSG(st == AGPT_OK, "%s", agpt_errmsg());
  if (st == AGPT_OK) {
    size_t len = 99;
    const char *s = agpt_tok_token_str(t, 1, &len);
    CHECK(s && len == 0);
    CHECK(agpt_tok_token_id(t, "", 0) >= -1);
    CHECK(agpt_tok_token_id(t, "a", 1) == 0);
    agpt_tok_free(t);
  }
}

int main(void) {
  test_tokenizer_empty_token();
  test_config_float_range();
  test_config_counts();
  return check_done("test_reader_inputs");
}
