/* Tests of the JSON parser and string builder: escapes and unicode against
 * hand-encoded UTF-8, nesting and the depth limit, exact integers, error
 * messages with line and column, and a round trip through the writer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/json.h"

static agpt_json *parse(const char *s) {
  agpt_json *j = NULL;
  if (agpt_json_parse(s, strlen(s), &j) != AGPT_OK) {
    fprintf(stderr, "unexpected parse error for %s: %s\n", s, agpt_errmsg());
    return NULL;
  }
  return j;
}

/* Parses and expects failure whose message contains `want`. */
static int fails_with(const char *s, size_t n, const char *want) {
  agpt_json *j = NULL;
  agpt_err_clear();
  if (agpt_json_parse(s, n, &j) == AGPT_OK) {
    fprintf(stderr, "parsed but should fail: %.*s\n", (int)n, s);
    agpt_json_free(j);
    return 0;
  }
  if (j != NULL) return 0;
  if (!strstr(agpt_errmsg(), want)) {
    fprintf(stderr, "message \"%s\" lacks \"%s\"\n", agpt_errmsg(), want);
    return 0;
  }
  return 1;
}

static int str_is(const agpt_json *j, const char *want, size_t want_len) {
  size_t n = 0;
  const char *s = agpt_json_str(j, &n);
  return s && n == want_len && memcmp(s, want, n) == 0 && s[n] == '\0';
}

static void test_scalars(void) {
  agpt_json *j = parse(" [true, false, null, 0, -0, 1.5, -2.5e3, 1E-2, \"x\"] ");
  CHECK(j && agpt_json_type(j) == AGPT_JSON_ARRAY && agpt_json_len(j) == 9);
  if (!j) return;
  CHECK(agpt_json_type(agpt_json_at(j, 0)) == AGPT_JSON_BOOL && agpt_json_bool(agpt_json_at(j, 0)) == 1);
  CHECK(agpt_json_bool(agpt_json_at(j, 1)) == 0);
  CHECK(agpt_json_type(agpt_json_at(j, 2)) == AGPT_JSON_NULL);
  CHECK(agpt_json_num(agpt_json_at(j, 3)) == 0.0);
  CHECK(agpt_json_num(agpt_json_at(j, 5)) == 1.5);
  CHECK(agpt_json_num(agpt_json_at(j, 6)) == -2500.0);
  CHECK(agpt_json_num(agpt_json_at(j, 7)) == 0.01);
  CHECK(str_is(agpt_json_at(j, 8), "x", 1));
  CHECK(agpt_json_at(j, 9) == NULL);
  CHECK(agpt_json_str(agpt_json_at(j, 0), NULL) == NULL);
  agpt_json_free(j);
}

static void test_integers(void) {
  agpt_json *j = parse("[9223372036854775807, -9223372036854775808, 9007199254740993, 1e3, 2.5, "
                       "9223372036854775808, 12345678901234567890123, -17]");
  CHECK(j != NULL);
  if (!j) return;
  int64_t v;
  CHECK(agpt_json_int(agpt_json_at(j, 0), &v) == AGPT_OK && v == INT64_MAX);
  CHECK(agpt_json_int(agpt_json_at(j, 1), &v) == AGPT_OK && v == INT64_MIN);
  /* 2^53 + 1 is not representable as a double: the integer path keeps it */
  CHECK(agpt_json_int(agpt_json_at(j, 2), &v) == AGPT_OK && v == 9007199254740993LL);
  CHECK(agpt_json_num(agpt_json_at(j, 2)) == 9007199254740992.0);
  CHECK(agpt_json_int(agpt_json_at(j, 3), &v) == AGPT_OK && v == 1000);
  CHECK(agpt_json_int(agpt_json_at(j, 4), &v) == AGPT_ERR && v == 0);
  CHECK(agpt_json_int(agpt_json_at(j, 5), &v) == AGPT_ERR);
  CHECK(agpt_json_int(agpt_json_at(j, 6), &v) == AGPT_ERR);
  CHECK(agpt_json_num(agpt_json_at(j, 6)) == 12345678901234567890123.0);
  CHECK(agpt_json_int(agpt_json_at(j, 7), &v) == AGPT_OK && v == -17);
  CHECK(agpt_json_int(agpt_json_at(j, 8), &v) == AGPT_ERR); /* NULL element */
  agpt_json_free(j);
}

static void test_strings(void) {
  /* escapes; \u00e9 = C3 A9; \u20ac = E2 82 AC; U+1F600 = F0 9F 98 80 as a pair;
   * raw UTF-8 passes; \u0000 gives an interior NUL; lone surrogates give U+FFFD */
  agpt_json *j = parse("[\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\", \"\\u00e9\\u20AC\", \"\\ud83d\\ude00\", "
                       "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\", \"x\\u0000y\", \"\\ud800z\", \"\\udc00\", "
                       "\"\\ud800\\u0041\", \"\"]");
  CHECK(j != NULL);
  if (!j) return;
  CHECK(str_is(agpt_json_at(j, 0), "a\"b\\c/d\b\f\n\r\t", 12));
  CHECK(str_is(agpt_json_at(j, 1), "\xc3\xa9\xe2\x82\xac", 5));
  CHECK(str_is(agpt_json_at(j, 2), "\xf0\x9f\x98\x80", 4));
  CHECK(str_is(agpt_json_at(j, 3), "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9));
  CHECK(str_is(agpt_json_at(j, 4), "x\0y", 3));
  CHECK(str_is(agpt_json_at(j, 5), "\xef\xbf\xbdz", 4));
  CHECK(str_is(agpt_json_at(j, 6), "\xef\xbf\xbd", 3));
  CHECK(str_is(agpt_json_at(j, 7), "\xef\xbf\xbd" "A", 4));
  CHECK(str_is(agpt_json_at(j, 8), "", 0));
  agpt_json_free(j);
}

static void test_objects(void) {
  agpt_json *j = parse("{\"b\": 1, \"a\": {\"x\": [1, [2, [3]]], \"y\": {}}, \"b\": 2, \"e\": [], \"k\\u00e9\": 3}");
  CHECK(j && agpt_json_type(j) == AGPT_JSON_OBJECT && agpt_json_len(j) == 5);
  if (!j) return;
  size_t kl;
  CHECK(!strcmp(agpt_json_key_at(j, 0, &kl), "b") && kl == 1);
  CHECK(!strcmp(agpt_json_key_at(j, 1, NULL), "a"));
  CHECK(agpt_json_num(agpt_json_get(j, "b")) == 1.0); /* first match */
  CHECK(agpt_json_get(j, "zz") == NULL);
  CHECK(agpt_json_num(agpt_json_get(j, "k\xc3\xa9")) == 3.0);
  const agpt_json *x = agpt_json_get(agpt_json_get(j, "a"), "x");
  CHECK(agpt_json_len(x) == 2);
  CHECK(agpt_json_num(agpt_json_at(agpt_json_at(agpt_json_at(x, 1), 1), 0)) == 3.0);
  CHECK(agpt_json_len(agpt_json_get(agpt_json_get(j, "a"), "y")) == 0);
  CHECK(agpt_json_type(agpt_json_get(j, "e")) == AGPT_JSON_ARRAY && agpt_json_len(agpt_json_get(j, "e")) == 0);
  CHECK(agpt_json_get(agpt_json_get(j, "e"), "a") == NULL); /* not an object */
  agpt_json_free(j);

  /* A large object uses the hash index: every key found, duplicates keep the first. */
  agpt_sb sb = {0};
  agpt_sb_puts(&sb, "{");
  for (int i = 0; i < 5000; i++) agpt_sb_printf(&sb, "%s\"tok%d\": %d", i ? ", " : "", i, i);
  agpt_sb_puts(&sb, ", \"tok7\": -1}");
  j = parse(sb.data);
  CHECK(j && agpt_json_len(j) == 5001);
  if (j) {
    int bad = 0;
    char key[32];
    for (int i = 0; i < 5000; i++) {
      snprintf(key, sizeof key, "tok%d", i);
      int64_t v = -5;
      if (agpt_json_int(agpt_json_get(j, key), &v) != AGPT_OK || v != i) bad++;
    }
    CHECK(bad == 0);
    CHECK(agpt_json_get(j, "tok5000") == NULL);
    CHECK(agpt_json_get(j, "tok") == NULL);
    agpt_json_free(j);
  }
  agpt_sb_free(&sb);
}

static void test_nesting(void) {
  char buf[2 * 600 + 1];
  for (int depth = 500; depth <= 600; depth += 100) {
    for (int i = 0; i < depth; i++) buf[i] = '[', buf[2 * depth - 1 - i] = ']';
    agpt_json *j = NULL;
    agpt_status st = agpt_json_parse(buf, 2 * (size_t)depth, &j);
    if (depth == 500) {
      CHECK(st == AGPT_OK);
      agpt_json_free(j);
    } else {
      CHECK(st == AGPT_ERR && strstr(agpt_errmsg(), "nesting too deep"));
    }
  }
  /* A very deep document must fail cleanly, not overflow the stack. */
  size_t n = 1000000;
  char *deep = malloc(n);
  memset(deep, '[', n);
  CHECK(fails_with(deep, n, "nesting too deep"));
  free(deep);
}

static void test_errors(void) {
#define F(s, want) CHECK(fails_with(s, sizeof(s) - 1, want))
  F("", "unexpected end of input");
  F("   ", "unexpected end of input");
  F("[1, 2", "unexpected end of input in array");
  F("{\"a\": 1", "unexpected end of input in object");
  F("{\"a\" 1}", "expected ':'");
  F("{\"a\": 1,}", "expected a string key");
  F("[1, 2,]", "value expected");
  F("[1 2]", "expected ',' or ']'");
  F("{\"a\": 1 \"b\": 2}", "expected ',' or '}'");
  F("\"abc", "unterminated string");
  F("\"abc\\", "unterminated string");
  F("\"a\\qb\"", "bad escape");
  F("\"\\u12g4\"", "bad \\u escape");
  F("\"\\u12\"", "bad \\u escape");
  F("\"tab\there\"", "control character");
  F("\"\xff\"", "invalid UTF-8");
  F("\"\xc0\xaf\"", "invalid UTF-8");         /* overlong */
  F("\"\xed\xa0\x80\"", "invalid UTF-8");     /* raw surrogate */
  F("\"\xe2\x82\"", "invalid UTF-8");         /* truncated sequence */
  F("01", "leading zero");
  F("-", "bad number");
  F("1.", "digit expected after '.'");
  F("1e", "digit expected in exponent");
  F(".5", "unexpected character");
  F("+1", "unexpected character");
  F("NaN", "unexpected character");
  F("tru", "true, false or null");
  F("nul", "true, false or null");
  F("{} x", "trailing characters");
  F("[1] [2]", "trailing characters");
  F("{'a': 1}", "expected a string key");
  F("/* c */ 1", "unexpected character");
#undef F
  /* line and column: the bad token sits on line 3, column 8 (é counts once) */
  const char *doc = "{\n  \"a\": 1,\n  \"\xc3\xa9\": tru\n}";
  CHECK(fails_with(doc, strlen(doc), "at line 3, column 8"));
  const char *doc2 = "[1,\n2,\n\n   @]";
  CHECK(fails_with(doc2, strlen(doc2), "at line 4, column 4"));
  /* the parser reads exactly n bytes: a prefix of a valid document fails */
  const char *full = "{\"key\": [1, 2, 3]}";
  CHECK(fails_with(full, strlen(full) - 1, "unexpected end of input"));
  agpt_json *j = NULL;
  CHECK(agpt_json_parse("12345", 3, &j) == AGPT_OK && agpt_json_num(j) == 123.0);
  agpt_json_free(j);
  /* a byte order mark is skipped */
  j = NULL;
  CHECK(agpt_json_parse("\xef\xbb\xbf[1]", 6, &j) == AGPT_OK && agpt_json_len(j) == 1);
  agpt_json_free(j);
}

/* Re-serializes a parsed value with the writer. */
static void write_value(agpt_sb *sb, const agpt_json *j) {
  size_t n;
  switch (agpt_json_type(j)) {
    case AGPT_JSON_NULL: agpt_sb_puts(sb, "null"); break;
    case AGPT_JSON_BOOL: agpt_sb_puts(sb, agpt_json_bool(j) ? "true" : "false"); break;
    case AGPT_JSON_NUMBER: agpt_sb_json_num(sb, agpt_json_num(j)); break;
    case AGPT_JSON_STRING: {
      const char *s = agpt_json_str(j, &n);
      agpt_sb_json_str(sb, s, n);
      break;
    }
    case AGPT_JSON_ARRAY:
      agpt_sb_puts(sb, "[");
      for (size_t i = 0; i < agpt_json_len(j); i++) {
        if (i) agpt_sb_puts(sb, ",");
        write_value(sb, agpt_json_at(j, i));
      }
      agpt_sb_puts(sb, "]");
      break;
    case AGPT_JSON_OBJECT:
      agpt_sb_puts(sb, "{");
      for (size_t i = 0; i < agpt_json_len(j); i++) {
        if (i) agpt_sb_puts(sb, ",");
        const char *k = agpt_json_key_at(j, i, &n);
        agpt_sb_json_str(sb, k, n);
        agpt_sb_puts(sb, ":");
        write_value(sb, agpt_json_at(j, i));
      }
      agpt_sb_puts(sb, "}");
      break;
  }
}

static void test_writer(void) {
  agpt_sb sb = {0};
  /* every byte value 1..127 plus UTF-8 and an interior NUL */
  char s[160];
  size_t n = 0;
  for (int c = 1; c < 128; c++) s[n++] = (char)c;
  memcpy(s + n, "\xc3\xa9\0\xf0\x9f\x98\x80", 8);
  n += 8;
  double nums[] = {0.1, -1e-300, 1e300, 3.0, -0.0, 123456789.123456789, 5e-324, 1.0 / 3.0};
  agpt_sb_puts(&sb, "{\"s\":");
  agpt_sb_json_str(&sb, s, n);
  agpt_sb_puts(&sb, ",\"n\":[");
  for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
    if (i) agpt_sb_puts(&sb, ",");
    agpt_sb_json_num(&sb, nums[i]);
  }
  agpt_sb_puts(&sb, "],\"nan\":");
  agpt_sb_json_num(&sb, 0.0 / 0.0);
  agpt_sb_printf(&sb, ",\"p\":\"%s-%d\"}", "fmt", 42);
  CHECK(sb.data[sb.len] == '\0' && strlen(sb.data) == sb.len);
  CHECK(strstr(sb.data, "\\u0001") && strstr(sb.data, "\\n") && strstr(sb.data, "\\u001f"));
  CHECK(strstr(sb.data, "[0.1,") != NULL); /* shortest form */

  agpt_json *j = parse(sb.data);
  CHECK(j != NULL);
  if (j) {
    CHECK(str_is(agpt_json_get(j, "s"), s, n));
    const agpt_json *arr = agpt_json_get(j, "n");
    CHECK(agpt_json_len(arr) == sizeof nums / sizeof nums[0]);
    for (size_t i = 0; i < agpt_json_len(arr); i++)
      CHECK_MSG(agpt_json_num(agpt_json_at(arr, i)) == nums[i], "number %zu", i);
    CHECK(agpt_json_type(agpt_json_get(j, "nan")) == AGPT_JSON_NULL);
    CHECK(str_is(agpt_json_get(j, "p"), "fmt-42", 6));
    /* write the DOM again and parse: the text is a fixed point */
    agpt_sb a = {0}, b = {0};
    write_value(&a, j);
    agpt_json *j2 = parse(a.data);
    CHECK(j2 != NULL);
    if (j2) {
      write_value(&b, j2);
      CHECK(a.len == b.len && memcmp(a.data, b.data, a.len) == 0);
      agpt_json_free(j2);
    }
    agpt_sb_free(&a);
    agpt_sb_free(&b);
    agpt_json_free(j);
  }
  agpt_sb_free(&sb);
  CHECK(sb.data == NULL && sb.len == 0);

  /* invalid UTF-8 in the writer's input becomes U+FFFD, so the output parses */
  agpt_sb_json_str(&sb, "a\xff" "b", 3);
  j = parse(sb.data);
  CHECK(j && str_is(j, "a\xef\xbf\xbd" "b", 5));
  agpt_json_free(j);
  agpt_sb_free(&sb);

  /* a long printf grows the buffer */
  char big[3000];
  memset(big, 'q', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  agpt_sb_printf(&sb, "<%s>", big);
  CHECK(sb.len == sizeof big + 1 && sb.data[0] == '<' && sb.data[sb.len - 1] == '>');
  agpt_sb_free(&sb);
}

int main(void) {
  test_scalars();
  test_integers();
  test_strings();
  test_objects();
  test_nesting();
  test_errors();
  test_writer();
  return check_done("test_json");
}
