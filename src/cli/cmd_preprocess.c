/* agpt preprocess: tokenizes JSONL or plain text into Megatron .bin/.idx
 * datasets (src/data/preprocess.h does the work; this file parses flags,
 * loads the tokenizer and prints the summary). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/flags.h"
#include "core/log.h"
#include "data/indexed.h"
#include "data/preprocess.h"
#include "data/tokenizer.h"

static const char summary[] =
    "Tokenizes documents into Megatron indexed datasets (MMIDIDX .bin/.idx), one per JSON key, named\n"
    "{output-prefix}_{key}_document.bin/.idx as Megatron's tools/preprocess_data.py names them.\n"
    "Inputs ending in .txt are plain text (see --txt-split); all others are JSONL, one JSON object per\n"
    "line with the text in the --json-keys fields. Tokens are uint16 when the vocabulary has fewer than\n"
    "65,500 ids, int32 otherwise. The tokenizer's end-of-sequence id is appended to every document\n"
    "(--append-eod, on by default; --append-eod=false turns it off). --add-special-tokens first applies the\n"
    "tokenizer.json's post_processor to each document as `tokenizers` does with add_special_tokens=True\n"
    "(for Llama-3 files: BOS before the text), giving BOS + ids + EOD. A document whose text encodes to no\n"
    "tokens is skipped. A malformed JSONL line (broken or truncated JSON, not an object, missing field) is\n"
    "reported with file and line number and skipped; --strict makes it an error. On any error nothing is\n"
    "written under the output names, and files an earlier run left there are kept; an output that would hold no\n"
    "document (a --json-keys field no line has) is an error. The directories --output-prefix names are created.\n"
    "Progress (documents, MB/s, ETA) goes to stderr.";

#define TXT_SPLITS "file|blank|line"
#define DTYPES "auto|uint16|int32"

int agpt_cmd_preprocess(int argc, char **argv) {
  agpt_strlist inputs, keys;
  const char *prefix, *tokenizer, *txt_split, *dtype_name;
  int append_eod, add_special, workers, strict, max_warnings, help;
  int64_t log_interval;
  agpt_flag flags[] = {
      {"input", AGPT_FLAG_STRLIST, &inputs, NULL, "input files: JSONL (any name) or plain text (*.txt)", NULL, NULL},
      {"output-prefix", AGPT_FLAG_STR, &prefix, NULL, "outputs are {prefix}_{key}_document.bin/.idx", NULL, NULL},
      {"tokenizer", AGPT_FLAG_STR, &tokenizer, NULL, "Hugging Face tokenizer.json (byte-level BPE)",
       "tokenizer-model", NULL},
      {"json-keys", AGPT_FLAG_STRLIST, &keys, NULL, "JSON fields holding the text, one output each [default: text]",
       NULL, NULL},
      {"append-eod", AGPT_FLAG_BOOL, &append_eod, "1",
       "append the tokenizer's end-of-sequence id to each document (on by default; --append-eod=false)", NULL, NULL},
      {"add-special-tokens", AGPT_FLAG_BOOL, &add_special, "0",
       "wrap each document in the tokenizer's post_processor template (BOS for Llama-3), before the EOD", NULL, NULL},
      {"workers", AGPT_FLAG_INT, &workers, "0", "encoding threads (0: all cores, or OMP_NUM_THREADS)", NULL, "[0, 4096]"},
      {"strict", AGPT_FLAG_BOOL, &strict, "0", "fail on the first malformed line instead of skipping it", NULL, NULL},
      {"log-interval", AGPT_FLAG_I64, &log_interval, "100000",
       "documents between progress lines on stderr (0: only the summary)", NULL, "[0, inf)"},
      {"txt-split", AGPT_FLAG_STR, &txt_split, "file",
       "documents of a .txt input: file (the whole file), blank (separated by blank lines), line (each line)", NULL, TXT_SPLITS},
      {"dtype", AGPT_FLAG_STR, &dtype_name, "auto", "token type of the outputs (auto: by vocabulary size)", NULL, DTYPES},
      {"max-warnings", AGPT_FLAG_INT, &max_warnings, "20", "malformed lines reported one by one (the rest counted)",
       NULL, "[0, inf)"},
  };
  int nf = AGPT_NFLAGS(flags);
  if (agpt_flags_parse(flags, nf, argc, argv, NULL, &help) != AGPT_OK) {
    fprintf(stderr, "agpt preprocess: %s\n", agpt_errmsg());
    return 2;
  }
  const char *usage = "agpt preprocess --input FILE... --output-prefix P --tokenizer tokenizer.json [flags]";
  if (help) {
    agpt_flags_usage(stdout, usage, summary, flags, nf);
    agpt_strlist_free(&inputs);
    agpt_strlist_free(&keys);
    return 0;
  }
  int rc = 2;
  agpt_preprocess_opts o = {0};
  if (inputs.n == 0 || !prefix || !tokenizer) {
    fprintf(stderr, "agpt preprocess: --input, --output-prefix and --tokenizer are required (see --help)\n");
    goto out;
  }
  /* the flag table has checked the words and ranges */
  static const agpt_txt_mode txt_modes[] = {AGPT_TXT_FILE, AGPT_TXT_BLANK, AGPT_TXT_LINE};
  static const int dtypes[] = {0, AGPT_IDX_U16, AGPT_IDX_I32};
  o.txt_mode = txt_modes[agpt_flags_choice(TXT_SPLITS, txt_split)];
  o.dtype = dtypes[agpt_flags_choice(DTYPES, dtype_name)];
  rc = 1;
  agpt_tok *tok = NULL;
  if (agpt_tok_load(tokenizer, &tok) != AGPT_OK) {
    agpt_log_error("%s", agpt_errmsg());
    goto out;
  }
  o.inputs = inputs.items;
  o.n_inputs = inputs.n;
  o.output_prefix = prefix;
  o.tok = tok;
  o.json_keys = keys.items;
  o.n_keys = keys.n;
  o.append_eod = append_eod;
  o.add_special_tokens = add_special;
  if (add_special) {
    size_t ntpl, nspecial = 0;
    const int32_t *tpl = agpt_tok_template(tok, &ntpl);
    for (size_t i = 0; i < ntpl; i++) nspecial += tpl[i] != AGPT_TOK_TEXT;
    if (nspecial == 0)
      agpt_log_warn("--add-special-tokens: the post_processor of %s adds no tokens; documents are unchanged",
                    tokenizer);
    else if (append_eod && agpt_tok_eos(tok) >= 0 && tpl[ntpl - 1] == agpt_tok_eos(tok))
      agpt_log_warn("--add-special-tokens: the post_processor of %s already ends each document with the EOS id; "
                    "--append-eod adds a second one (pass --append-eod=false to have one)", tokenizer);
  }
  o.workers = workers;
  o.strict = strict;
  o.log_interval = (uint64_t)log_interval;
  o.max_warnings = max_warnings;
  agpt_preprocess_stats st;
  if (agpt_preprocess_run(&o, &st) != AGPT_OK) {
    agpt_log_error("%s", agpt_errmsg());
    agpt_log_error("preprocess failed; nothing was written under --output-prefix (files of an earlier run there are "
                   "kept)");
  } else {
    for (int k = 0; k < (keys.n ? keys.n : 1); k++) {
      char *name = agpt_preprocess_output_name(prefix, keys.n ? keys.items[k] : "text");
      agpt_log_info("wrote %s.bin and %s.idx (%s)", name, name, agpt_indexed_dtype_name(st.dtype));
      free(name);
    }
    agpt_log_info("%llu documents, %llu tokens, %.1f MB in %.1f s (%.1f MB/s); skipped %llu malformed lines and "
                  "%llu empty documents",
                  (unsigned long long)st.docs, (unsigned long long)st.tokens, (double)st.bytes / 1e6, st.seconds,
                  st.seconds > 0 ? (double)st.bytes / 1e6 / st.seconds : 0.0, (unsigned long long)st.malformed,
                  (unsigned long long)st.empty);
    rc = 0;
  }
  agpt_tok_free(tok);
out:
  agpt_strlist_free(&inputs);
  agpt_strlist_free(&keys);
  return rc;
}
