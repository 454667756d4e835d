/* See flags.h. Values are parsed, range-checked and only then converted, so
 * no text on the command line reaches a conversion whose result is
 * undefined (a double outside the range of int64_t, say). */
#include "cli/flags.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_FLAGS = 256 };
static unsigned char given[MAX_FLAGS];

/* ---- domains ------------------------------------------------------------ */

/* An interval domain "[lo, hi)": the bounds as numbers and as written. */
typedef struct {
  double lo, hi;
  int lo_open, hi_open, has_lo, has_hi;
  char lo_text[32], hi_text[32];
} interval;

static int is_interval(const char *d) { return d && (d[0] == '[' || d[0] == '('); }

static void bound_parse(const char *s, size_t len, double *x, int *has, char *text) {
  AGPT_ASSERT(len > 0 && len < 32);
  memcpy(text, s, len);
  text[len] = 0;
  if (!strcmp(text, "inf") || !strcmp(text, "-inf")) {
    *has = 0;
    *x = text[0] == '-' ? -INFINITY : INFINITY;
    return;
  }
  char *end;
  *x = strtod(text, &end);
  AGPT_ASSERT(*end == 0 && isfinite(*x)); /* a malformed domain is a bug of the table */
  *has = 1;
}

static interval interval_parse(const char *d) {
  interval iv;
  memset(&iv, 0, sizeof iv);
  size_t n = strlen(d);
  AGPT_ASSERT(n >= 5 && (d[n - 1] == ']' || d[n - 1] == ')'));
  const char *comma = strchr(d, ',');
  AGPT_ASSERT(comma);
  const char *b = comma + 1;
  while (*b == ' ') b++;
  iv.lo_open = d[0] == '(';
  iv.hi_open = d[n - 1] == ')';
  bound_parse(d + 1, (size_t)(comma - d - 1), &iv.lo, &iv.has_lo, iv.lo_text);
  bound_parse(b, (size_t)(d + n - 1 - b), &iv.hi, &iv.has_hi, iv.hi_text);
  return iv;
}

/* "x >= 0", "0 < x <= 1", or "" when both sides are open. */
static void interval_describe(const interval *iv, char *buf, size_t cap) {
  const char *lo_op = iv->lo_open ? "<" : "<=", *hi_op = iv->hi_open ? "<" : "<=";
  const char *lo_rop = iv->lo_open ? ">" : ">=";
  if (iv->has_lo && iv->has_hi)
    snprintf(buf, cap, "%s %s x %s %s", iv->lo_text, lo_op, hi_op, iv->hi_text);
  else if (iv->has_lo)
    snprintf(buf, cap, "x %s %s", lo_rop, iv->lo_text);
  else if (iv->has_hi)
    snprintf(buf, cap, "x %s %s", hi_op, iv->hi_text);
  else
    buf[0] = 0;
}

static int interval_holds(const interval *iv, double x) {
  if (iv->has_lo && (iv->lo_open ? !(x > iv->lo) : !(x >= iv->lo))) return 0;
  if (iv->has_hi && (iv->hi_open ? !(x < iv->hi) : !(x <= iv->hi))) return 0;
  return 1;
}

int agpt_flags_choice(const char *domain, const char *value) {
  size_t vn = strlen(value);
  int k = 0;
  for (const char *p = domain;; k++) {
    const char *bar = strchr(p, '|');
    size_t n = bar ? (size_t)(bar - p) : strlen(p);
    if (n == vn && !strncmp(p, value, n)) return k;
    if (!bar) return -1;
    p = bar + 1;
  }
}

/* "cosine, linear or constant" */
static void choice_describe(const char *domain, char *buf, size_t cap) {
  size_t o = 0;
  for (const char *p = domain; *p && o + 4 < cap; p++) {
    if (*p != '|') {
      buf[o++] = *p;
      continue;
    }
    const char *sep = strchr(p + 1, '|') ? ", " : " or ";
    for (; *sep && o + 4 < cap; sep++) buf[o++] = *sep;
  }
  buf[o] = 0;
}

/* ---- values ------------------------------------------------------------- */

/* An integer of `f` in [type_lo, type_hi]: decimal, or a number in exponent
 * form with an integral value (1e6). Checked against the type's range before
 * any conversion. */
static agpt_status parse_int(const agpt_flag *f, const char *v, const char *how, int64_t type_lo, int64_t type_hi,
                             int64_t *out) {
  interval iv = interval_parse(f->domain);
  char want[96];
  interval_describe(&iv, want, sizeof want);
  char *end = NULL;
  errno = 0;
  long long x = strtoll(v, &end, 10);
  int range = 0;
  if (end != v && *end == 0) {
    range = errno == ERANGE;
  } else {
    errno = 0;
    double d = strtod(v, &end);
    if (end == v || *end || isnan(d) || d != floor(d))
      return agpt_fail("--%s: expected an integer%s%s, got '%s'%s", f->name, want[0] ? " " : "", want, v, how);
    range = !(d >= -0x1p63 && d < 0x1p63);
    if (!range) x = (long long)d;
  }
  if (range || x < type_lo || x > type_hi)
    return agpt_fail("--%s: '%s' is out of range: expected an integer%s%s (at most %lld)%s", f->name, v,
                     want[0] ? " " : "", want, (long long)type_hi, how);
  if (!interval_holds(&iv, (double)x))
    return agpt_fail("--%s: expected an integer %s, got '%s'%s", f->name, want, v, how);
  *out = x;
  return AGPT_OK;
}

static agpt_status set_value(const agpt_flag *f, const char *v, const char *how) {
  switch (f->type) {
  case AGPT_FLAG_INT: {
    int64_t x;
    AGPT_TRY(parse_int(f, v, how, INT_MIN, INT_MAX, &x));
    *(int *)f->dst = (int)x;
    break;
  }
  case AGPT_FLAG_I64:
    AGPT_TRY(parse_int(f, v, how, INT64_MIN, INT64_MAX, (int64_t *)f->dst));
    break;
  case AGPT_FLAG_FLOAT: {
    interval iv = interval_parse(f->domain);
    char want[96];
    interval_describe(&iv, want, sizeof want);
    char *end = NULL;
    errno = 0;
    double d = strtod(v, &end);
    /* ERANGE on underflow still gives a usable (tiny or zero) value */
    if (end == v || *end || !isfinite(d) || !interval_holds(&iv, d))
      return agpt_fail("--%s: expected a finite number%s%s, got '%s'%s", f->name, want[0] ? " " : "", want, v, how);
    *(double *)f->dst = d;
    break;
  }
  case AGPT_FLAG_STR:
    if (f->domain && agpt_flags_choice(f->domain, v) < 0) {
      char want[256];
      choice_describe(f->domain, want, sizeof want);
      return agpt_fail("--%s: expected %s, got '%s'%s", f->name, want, v, how);
    }
    *(const char **)f->dst = v;
    break;
  case AGPT_FLAG_BOOL:
    if (!strcmp(v, "1") || !strcmp(v, "true") || !strcmp(v, "yes"))
      *(int *)f->dst = 1;
    else if (!strcmp(v, "0") || !strcmp(v, "false") || !strcmp(v, "no"))
      *(int *)f->dst = 0;
    else
      return agpt_fail("--%s: expected true or false, got '%s'%s", f->name, v, how);
    break;
  case AGPT_FLAG_STRLIST:
    break;
  }
  return AGPT_OK;
}

/* The table itself: numbers carry an interval, choices only on strings. */
static void check_table(const agpt_flag *f) {
  switch (f->type) {
  case AGPT_FLAG_INT: case AGPT_FLAG_I64: case AGPT_FLAG_FLOAT:
    AGPT_ASSERT(is_interval(f->domain));
    (void)interval_parse(f->domain);
    break;
  case AGPT_FLAG_STR:
    AGPT_ASSERT(!f->domain || (!is_interval(f->domain) && f->domain[0]));
    break;
  default:
    AGPT_ASSERT(!f->domain);
  }
}

/* ---- parsing ------------------------------------------------------------ */

static int match(const agpt_flag *f, const char *name, size_t len) {
  if (strlen(f->name) == len && !strncmp(f->name, name, len)) return 1;
  return f->alias && strlen(f->alias) == len && !strncmp(f->alias, name, len);
}

static void list_push(agpt_strlist *l, char *s) {
  l->items = agpt_xrealloc(l->items, sizeof(char *) * (size_t)(l->n + 1));
  l->items[l->n++] = s;
}

agpt_status agpt_flags_parse(const agpt_flag *flags, int nflags, int argc, char **argv, agpt_strlist *positional,
                             int *help) {
  AGPT_ASSERT(nflags <= MAX_FLAGS);
  memset(given, 0, sizeof given);
  *help = 0;
  for (int i = 0; i < nflags; i++) {
    const agpt_flag *f = &flags[i];
    check_table(f);
    if (f->type == AGPT_FLAG_STRLIST) {
      agpt_strlist *l = f->dst;
      l->n = 0;
      l->items = NULL;
    } else if (f->def) {
      AGPT_TRY(set_value(f, f->def, " (built-in default)"));
    } else {
      switch (f->type) {
      case AGPT_FLAG_INT: case AGPT_FLAG_BOOL: *(int *)f->dst = 0; break;
      case AGPT_FLAG_I64: *(int64_t *)f->dst = 0; break;
      case AGPT_FLAG_FLOAT: *(double *)f->dst = 0; break;
      case AGPT_FLAG_STR: *(const char **)f->dst = NULL; break;
      default: break;
      }
    }
  }
  if (positional) {
    positional->n = 0;
    positional->items = NULL;
  }
  for (int i = 0; i < argc; i++) {
    char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      *help = 1;
      return AGPT_OK;
    }
    if (strncmp(a, "--", 2) != 0 || a[2] == '\0') {
      if (!positional) return agpt_fail("unexpected argument '%s' (flags start with --; see --help)", a);
      list_push(positional, a);
      continue;
    }
    const char *name = a + 2;
    const char *eq = strchr(name, '=');
    size_t len = eq ? (size_t)(eq - name) : strlen(name);
    int k = -1;
    for (int j = 0; j < nflags; j++)
      if (match(&flags[j], name, len)) k = j;
    if (k < 0) return agpt_fail("unknown flag '--%.*s' (see --help for the list)", (int)len, name);
    const agpt_flag *f = &flags[k];
    given[k] = 1;
    if (f->type == AGPT_FLAG_STRLIST) {
      agpt_strlist *l = f->dst;
      if (eq) list_push(l, (char *)eq + 1);
      while (i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0) list_push(l, argv[++i]);
      if (l->n == 0) return agpt_fail("--%s: expects one or more values", f->name);
      continue;
    }
    const char *v;
    if (eq) {
      v = eq + 1;
    } else if (f->type == AGPT_FLAG_BOOL) {
      v = "1";
    } else {
      if (i + 1 >= argc) return agpt_fail("--%s: missing value", f->name);
      v = argv[++i];
    }
    AGPT_TRY(set_value(f, v, ""));
  }
  return AGPT_OK;
}

int agpt_flags_given(const agpt_flag *flags, int nflags, const char *name) {
  for (int i = 0; i < nflags && i < MAX_FLAGS; i++)
    if (match(&flags[i], name, strlen(name))) return given[i];
  return 0;
}

/* ---- usage -------------------------------------------------------------- */

void agpt_flags_usage(FILE *out, const char *usage_line, const char *summary, const agpt_flag *flags, int nflags) {
  static const char *type_names[] = {"INT", "INT", "FLOAT", "STR", "", "LIST"};
  fprintf(out, "usage: %s\n\n%s\n\nflags:\n", usage_line, summary);
  for (int i = 0; i < nflags; i++) {
    const agpt_flag *f = &flags[i];
    check_table(f);
    char left[160], range[96] = "";
    int choice = f->type == AGPT_FLAG_STR && f->domain;
    const char *arg = choice ? f->domain : type_names[f->type];
    snprintf(left, sizeof left, "--%s%s%s", f->name, arg[0] ? " " : "", arg);
    if (is_interval(f->domain)) {
      interval iv = interval_parse(f->domain);
      interval_describe(&iv, range, sizeof range);
    }
    if (strlen(left) > 34)
      fprintf(out, "  %s\n  %-34s %s", left, "", f->help);
    else
      fprintf(out, "  %-34s %s", left, f->help);
    int show_def = f->def && f->type != AGPT_FLAG_BOOL;
    if (range[0] && show_def)
      fprintf(out, " [%s; default: %s]", range, f->def);
    else if (range[0])
      fprintf(out, " [%s]", range);
    else if (show_def)
      fprintf(out, " [default: %s]", f->def);
    if (f->alias) fprintf(out, " (also --%s)", f->alias);
    fputc('\n', out);
  }
}

void agpt_strlist_free(agpt_strlist *l) {
  free(l->items);
  l->items = NULL;
  l->n = 0;
}
