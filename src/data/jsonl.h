/* JSONL documents: one rule, shared by every command that reads them.
 *
 * A JSONL input holds one JSON object per line with the document text in
 * named string fields. A blank line is no document and is passed over
 * silently. A line that does not parse, is not an object, or lacks one of
 * the fields as a string is malformed. The rule for a malformed line is the
 * same for `agpt preprocess` and `agpt tokenizer train`: it is reported with
 * file and line number (the first max_warnings one by one, the rest counted)
 * and skipped; under strict it is an error instead. Corpora scraped at scale
 * carry the odd truncated or broken line, and losing it costs one document,
 * while stopping costs the whole run; --strict serves those who want every
 * line accounted for. A reader that must keep one output per input line
 * (tokenizer encode) uses strict. */
#ifndef AGPT_DATA_JSONL_H
#define AGPT_DATA_JSONL_H

#include <stddef.h>
#include <stdint.h>

#include "core/json.h"
#include "core/status.h"

typedef struct {
  int strict;         /* a malformed line is an error */
  int max_warnings;   /* malformed lines reported one by one; the rest only counted */
  const char *note;   /* why strict, added to its error; NULL: the one about --strict */
  uint64_t malformed; /* malformed lines skipped so far */
} agpt_jsonl_rule;

/* Parses line [p, p + n) and checks that every one of keys[0..n_keys) is a
 * string field (`flag` names them in messages: "--json-keys"). On success returns 1 and *doc (owned by the caller, free
 * with agpt_json_free) whose fields agpt_json_str(agpt_json_get(...)) reads.
 * On a malformed line returns 0, *doc = NULL, and *why says what is wrong
 * (owned by the caller, free()). Thread-safe: touches no shared state. */
int agpt_jsonl_parse_line(const char *p, size_t n, char *const *keys, int n_keys, const char *flag, agpt_json **doc,
                          char **why);

/* Applies the rule to malformed line `line` of `path`: under strict an error
 * naming the file, the line and the reason; otherwise a warning (while
 * fewer than max_warnings were reported) and a count. */
agpt_status agpt_jsonl_malformed(agpt_jsonl_rule *r, const char *path, uint64_t line, const char *why);

/* Whether [p, p + n) holds only spaces, tabs and carriage returns. */
int agpt_jsonl_blank(const char *p, size_t n);

#endif
