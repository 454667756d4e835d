/* Fuzz target: the inputs of `agpt preprocess` (data/preprocess.c), JSONL
 * and plain text. The first input byte chooses the form and the options
 * (bit 0: text instead of JSONL; bits 1-2: how text is cut into documents;
 * bit 3: strict; bit 4: a second JSON key; bit 5: the special-token
 * template; bit 6: an EOD after each document); the rest is the file. The
 * tokenizer is a small one trained at start-up. */
#include "fuzz_util.h"

#include "data/preprocess.h"
#include "data/tokenizer.h"

static agpt_tok *tok;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  fuzz_dir();
  static const char text[] = "the quick brown fox jumps over the lazy dog. {\"text\": \"hello\"}\n"
                             "Le renard brun saute par-dessus le chien paresseux; 123 456 7890\n";
  agpt_tok_counter *c;
  const char *special[] = {"<|endoftext|>", "<|begin_of_text|>"};
  agpt_tok_train_opts o = {.vocab_size = 300, .pattern = AGPT_TOK_PATTERN_LLAMA3, .threads = 1, .special = special,
                           .nspecial = 2, .bos = special[1], .eos = special[0]};
  if (agpt_tok_counter_new(AGPT_TOK_PATTERN_LLAMA3, &c) != AGPT_OK ||
      agpt_tok_counter_add(c, text, sizeof text - 1, 1) != AGPT_OK || agpt_tok_train(c, &o, &tok) != AGPT_OK ||
      agpt_tok_set_bos_template(tok, agpt_tok_bos(tok)) != AGPT_OK) {
    fprintf(stderr, "fuzz_preprocess: %s\n", agpt_errmsg());
    abort();
  }
  agpt_tok_counter_free(c);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  uint8_t flags = data[0];
  char in[600], prefix[600];
  fuzz_path(in, sizeof in, flags & 1 ? "in.txt" : "in.jsonl");
  fuzz_path(prefix, sizeof prefix, "out");
  fuzz_write_file(in, data + 1, size - 1);
  char *inputs[] = {in};
  char *keys[] = {"text", "title"};
  agpt_preprocess_opts o = {.inputs = inputs,
                            .n_inputs = 1,
                            .output_prefix = prefix,
                            .tok = tok,
                            .json_keys = keys,
                            .n_keys = flags & 16 ? 2 : 1,
                            .append_eod = (flags >> 6) & 1,
                            .add_special_tokens = (flags >> 5) & 1,
                            .workers = 1,
                            .strict = (flags >> 3) & 1,
                            .txt_mode = (agpt_txt_mode)((flags >> 1) % 3),
                            .max_warnings = 0};
  agpt_preprocess_stats st;
  (void)agpt_preprocess_run(&o, &st);
  unlink(in);
  return 0;
}
