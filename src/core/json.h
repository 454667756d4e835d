/* JSON: a DOM parser and a string builder for writing.
 *
 * Used for safetensors headers, tokenizer.json (megabytes of vocabulary and
 * merges: the parser must be linear and allocation-light), checkpoint
 * metadata and config.json. A parsed document is one arena owned by the root;
 * agpt_json_free(root) releases everything. Strings are decoded (escapes and
 * \uXXXX surrogate pairs to UTF-8) and may contain NUL bytes, so each carries
 * its length. Object members keep their file order. */
#ifndef AGPT_CORE_JSON_H
#define AGPT_CORE_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

typedef enum {
  AGPT_JSON_NULL,
  AGPT_JSON_BOOL,
  AGPT_JSON_NUMBER,
  AGPT_JSON_STRING,
  AGPT_JSON_ARRAY,
  AGPT_JSON_OBJECT,
} agpt_json_kind;

typedef struct agpt_json agpt_json;

/* Parses text[0..n). On error fails with "<what> at line L, column C" so the
 * caller can prefix the file name. *out is owned by the caller. */
agpt_status agpt_json_parse(const char *text, size_t n, agpt_json **out);
void agpt_json_free(agpt_json *root);

agpt_json_kind agpt_json_type(const agpt_json *j);
/* Number of elements (array) or members (object); 0 otherwise. */
size_t agpt_json_len(const agpt_json *j);
const agpt_json *agpt_json_at(const agpt_json *arr_or_obj, size_t i);
/* Member key at position i of an object (NUL-terminated; *len may be NULL). */
const char *agpt_json_key_at(const agpt_json *obj, size_t i, size_t *len);
/* Member by key (first match), NULL if absent or j is not an object. */
const agpt_json *agpt_json_get(const agpt_json *obj, const char *key);
double agpt_json_num(const agpt_json *j);
/* The number as an integer when it is integral and within int64 (exact for
 * integers written without fraction or exponent up to 2^63); returns 0 and
 * fails otherwise. */
agpt_status agpt_json_int(const agpt_json *j, int64_t *out);
int agpt_json_bool(const agpt_json *j);
/* String value (NUL-terminated, may hold interior NULs); NULL if not a string. */
const char *agpt_json_str(const agpt_json *j, size_t *len);

/* A growable byte buffer for writing JSON and other text. */
typedef struct {
  char *data;
  size_t len, cap;
} agpt_sb;
void agpt_sb_put(agpt_sb *sb, const void *data, size_t n);
void agpt_sb_puts(agpt_sb *sb, const char *s);
void agpt_sb_printf(agpt_sb *sb, const char *fmt, ...) AGPT_PRINTF(2, 3);
/* Appends s[0..n) as a quoted JSON string with escapes (valid UTF-8 passes
 * through; control characters become \u00XX). */
void agpt_sb_json_str(agpt_sb *sb, const char *s, size_t n);
/* Appends a double that reads back to the same value ("%.17g", and null for
 * NaN or infinity). */
void agpt_sb_json_num(agpt_sb *sb, double x);
void agpt_sb_free(agpt_sb *sb);

#endif
