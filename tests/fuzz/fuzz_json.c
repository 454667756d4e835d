/* Fuzz target: the JSON parser (core/json.c), which reads every JSON file
 * agpt meets: safetensors headers, tokenizer.json, config.json,
 * manifest.json and the trainer's state.json. A parsed document is walked
 * through every accessor, and one that parses is written back with the
 * string builder and parsed again, which must succeed. */
#include "fuzz_util.h"

#include "core/json.h"

static void walk(const agpt_json *j, agpt_sb *sb, int depth) {
  switch (agpt_json_type(j)) {
  case AGPT_JSON_NULL: agpt_sb_puts(sb, "null"); break;
  case AGPT_JSON_BOOL: agpt_sb_puts(sb, agpt_json_bool(j) ? "true" : "false"); break;
  case AGPT_JSON_NUMBER: {
    int64_t v;
    if (agpt_json_int(j, &v) == AGPT_OK)
      agpt_sb_printf(sb, "%lld", (long long)v);
    else
      agpt_sb_json_num(sb, agpt_json_num(j));
    break;
  }
  case AGPT_JSON_STRING: {
    size_t n;
    const char *s = agpt_json_str(j, &n);
    agpt_sb_json_str(sb, s, n);
    break;
  }
  case AGPT_JSON_ARRAY:
    agpt_sb_puts(sb, "[");
    for (size_t i = 0; i < agpt_json_len(j); i++) {
      if (i) agpt_sb_puts(sb, ",");
      walk(agpt_json_at(j, i), sb, depth + 1);
    }
    agpt_sb_puts(sb, "]");
    break;
  case AGPT_JSON_OBJECT:
    agpt_sb_puts(sb, "{");
    for (size_t i = 0; i < agpt_json_len(j); i++) {
      size_t kl;
      const char *k = agpt_json_key_at(j, i, &kl);
      if (i) agpt_sb_puts(sb, ",");
      agpt_sb_json_str(sb, k, kl);
      agpt_sb_puts(sb, ":");
      walk(agpt_json_at(j, i), sb, depth + 1);
      /* lookups by key find a member (the first of that name) */
      if (!memchr(k, 0, kl) && !agpt_json_get(j, k)) abort();
    }
    agpt_sb_puts(sb, "}");
    break;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  agpt_json *root = NULL;
  if (agpt_json_parse((const char *)data, size, &root) != AGPT_OK) return 0;
  agpt_sb sb = {0};
  walk(root, &sb, 0);
  agpt_json_free(root);
  agpt_json *again = NULL;
  if (agpt_json_parse(sb.data, sb.len, &again) != AGPT_OK) {
    fprintf(stderr, "fuzz_json: written back, the document does not parse: %s\n%.*s\n", agpt_errmsg(),
            (int)(sb.len > 2000 ? 2000 : sb.len), sb.data);
    abort();
  }
  agpt_json_free(again);
  agpt_sb_free(&sb);
  return 0;
}
