/* Preprocessing: JSONL or plain text in, Megatron indexed datasets out.
 *
 * Each input is read through a memory map and cut into documents; batches of
 * documents are parsed and tokenized in parallel and written in input order,
 * so the output is the same for any number of workers. One output dataset per
 * JSON key, named "{output_prefix}_{key}_document" as Megatron's
 * tools/preprocess_data.py names it.
 *
 * Inputs ending in ".txt" are plain text, cut into documents by txt_mode;
 * every other input is JSONL: one JSON object per line, the document text in
 * the string field(s) named by json_keys. Malformed and blank lines follow
 * the rule of data/jsonl.h (reported, skipped and counted; fatal when
 * strict), the rule `agpt tokenizer train` follows too. With add_special_tokens each document is wrapped in the
 * tokenizer's post-processor template (BOS first for Llama-3 files), then
 * gets its EOD: BOS + ids + EOD. A document whose text encodes to no tokens
 * is skipped (no EOD-only or BOS-only documents), as Megatron does.
 *
 * An output that would hold no document (a key no line has, inputs of
 * malformed lines only) is an error, not an empty dataset. The directories
 * the output prefix names are created.
 *
 * Promise: on any error nothing is written under the output names and the
 * files a previous run left there are kept (the writers are aborted; see
 * indexed.h for the atomic commit). */
#ifndef AGPT_DATA_PREPROCESS_H
#define AGPT_DATA_PREPROCESS_H

#include <stdint.h>

#include "core/status.h"
#include "data/tokenizer.h"

typedef enum {
  AGPT_TXT_FILE = 0,  /* the whole file is one document */
  AGPT_TXT_BLANK = 1, /* documents are separated by one or more blank lines */
  AGPT_TXT_LINE = 2,  /* every non-blank line is a document */
} agpt_txt_mode;

typedef struct {
  char *const *inputs; /* (n_inputs) file paths */
  int n_inputs;
  const char *output_prefix;
  const agpt_tok *tok;
  char *const *json_keys; /* (n_keys); NULL or 0: {"text"} */
  int n_keys;
  int append_eod;        /* append the tokenizer's EOS id to every document */
  int add_special_tokens; /* apply the post-processor's single template to every document, before the EOD */
  int workers;           /* encoding threads; <= 0: the OpenMP default */
  int strict;            /* a malformed line is an error instead of a warning */
  uint64_t log_interval; /* documents between progress lines on stderr; 0: none */
  agpt_txt_mode txt_mode;
  int dtype;              /* Megatron dtype code of the outputs; 0: by vocabulary size */
  int max_warnings;       /* malformed lines reported one by one; the rest only counted */
} agpt_preprocess_opts;

typedef struct {
  uint64_t docs;      /* documents written (per key; the same for every key unless a key's text was empty) */
  uint64_t tokens;    /* tokens written over all keys, EODs and template tokens included */
  uint64_t bytes;     /* input bytes read */
  uint64_t malformed; /* malformed lines skipped */
  uint64_t empty;     /* documents (per key) skipped because they encode to no tokens */
  int dtype;          /* dtype code written */
  double seconds;
} agpt_preprocess_stats;

/* Runs the whole conversion. *stats may be NULL. */
agpt_status agpt_preprocess_run(const agpt_preprocess_opts *o, agpt_preprocess_stats *stats);

/* "{prefix}_{key}_document"; owned by the caller. */
char *agpt_preprocess_output_name(const char *prefix, const char *key);

#endif
