/* Fuzz target: a checkpoint's config.json (ckpt/model_json.c). A config
 * that reads back is validated, so its parameter count, memory estimate and
 * parameter table must follow without failure, and writing it out and
 * reading it again must give the same config. */
#include "fuzz_util.h"

#include "ckpt/model_json.h"
#include "model/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  agpt_model_config c, d;
  if (agpt_model_config_from_json((const char *)data, size, "config.json", &c) != AGPT_OK) return 0;
  (void)agpt_model_param_count(&c);
  agpt_model_memory m;
  (void)agpt_model_memory_estimate(&c, 1, c.max_seq, 0, &m);
  agpt_param_table t;
  if (agpt_param_table_build(&c, &t) == AGPT_OK) agpt_param_table_free(&t);
  agpt_sb sb = {0};
  agpt_model_config_to_json(&c, &sb);
  if (agpt_model_config_from_json(sb.data, sb.len, "written config.json", &d) != AGPT_OK ||
      agpt_model_config_compare(&c, &d, "round trip") != AGPT_OK) {
    fprintf(stderr, "fuzz_model_json: round trip failed: %s\n", agpt_errmsg());
    abort();
  }
  agpt_sb_free(&sb);
  return 0;
}
