/* Fuzz target: tokenizer.json (data/tok_json.c, data/tokenizer.c and the
 * pre-tokenizer of data/tok_pretok.c). A file that loads encodes a fixed
 * text and the input itself, with and without the special-token template,
 * decodes what it encoded, and is written back as tokenizer.json. */
#include "fuzz_util.h"

#include "core/json.h"
#include "data/tokenizer.h"

static const char sample[] = "Hello world! It's 2024: naïve café, 日本語, <|endoftext|> and  spaces\n\tdone.";

static void round(const agpt_tok *t, const char *text, size_t len, int special) {
  int32_t *ids = NULL;
  size_t n = 0, cap = 0, n_text = 0;
  if (agpt_tok_encode_ex(t, text, len, special, &ids, &n, &cap, &n_text) == AGPT_OK) {
    agpt_sb sb = {0};
    (void)agpt_tok_decode(t, ids, n, &sb);
    agpt_sb_free(&sb);
  }
  free(ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_dir();
  agpt_tok *t = NULL;
  if (agpt_tok_load_json((const char *)data, size, "tokenizer.json", &t) != AGPT_OK) return 0;
  size_t v = agpt_tok_vocab_size(t);
  if (v > size) {
    fprintf(stderr, "fuzz_tokenizer: a vocabulary of %zu ids from %zu bytes\n", v, size);
    abort();
  }
  round(t, sample, sizeof sample - 1, 0);
  round(t, sample, sizeof sample - 1, 1);
  round(t, (const char *)data, size < 512 ? size : 512, 0);
  (void)agpt_tok_bos(t);
  (void)agpt_tok_eos(t);
  (void)agpt_tok_pad(t);
  for (size_t id = 0; id < v; id++) {
    size_t len;
    const char *s = agpt_tok_token_str(t, (int32_t)id, &len);
    if (s && agpt_tok_token_id(t, s, len) < 0) abort();
  }
  agpt_sb sb = {0};
  agpt_tok_to_json(t, &sb);
  agpt_tok *again = NULL;
  if (agpt_tok_load_json(sb.data, sb.len, "written tokenizer.json", &again) != AGPT_OK) {
    fprintf(stderr, "fuzz_tokenizer: written back, the tokenizer does not load: %s\n", agpt_errmsg());
    abort();
  }
  agpt_tok_free(again);
  agpt_sb_free(&sb);
  agpt_tok_free(t);
  return 0;
}
