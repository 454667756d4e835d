/* See flags.h. */
#include "cli/flags.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_FLAGS = 256 };
static unsigned char given[MAX_FLAGS];

static agpt_status set_value(const agpt_flag *f, const char *v, const char *how) {
  char *end = NULL;
  errno = 0;
  switch (f->type) {
  case AGPT_FLAG_INT: {
    long x = strtol(v, &end, 10);
    if (errno || *end || end == v || x > 2147483647L || x < -2147483647L - 1)
      return agpt_fail("--%s: expected an integer, got '%s'%s", f->name, v, how);
    *(int *)f->dst = (int)x;
    break;
  }
  case AGPT_FLAG_I64: {
    double d = strtod(v, &end); /* accepts 1e6 as well as 1000000 */
    if (errno || *end || end == v || d != (double)(int64_t)d)
      return agpt_fail("--%s: expected an integer, got '%s'%s", f->name, v, how);
    *(int64_t *)f->dst = (int64_t)d;
    break;
  }
  case AGPT_FLAG_FLOAT: {
    double d = strtod(v, &end);
    if (errno || *end || end == v) return agpt_fail("--%s: expected a number, got '%s'%s", f->name, v, how);
    *(double *)f->dst = d;
    break;
  }
  case AGPT_FLAG_STR:
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

void agpt_flags_usage(FILE *out, const char *usage_line, const char *summary, const agpt_flag *flags, int nflags) {
  static const char *type_names[] = {"INT", "INT", "FLOAT", "STR", "", "LIST"};
  fprintf(out, "usage: %s\n\n%s\n\nflags:\n", usage_line, summary);
  for (int i = 0; i < nflags; i++) {
    const agpt_flag *f = &flags[i];
    char left[96];
    snprintf(left, sizeof left, "--%s %s", f->name, type_names[f->type]);
    fprintf(out, "  %-34s %s", left, f->help);
    if (f->def && f->type != AGPT_FLAG_BOOL) fprintf(out, " [default: %s]", f->def);
    if (f->alias) fprintf(out, " (also --%s)", f->alias);
    fputc('\n', out);
  }
}

void agpt_strlist_free(agpt_strlist *l) {
  free(l->items);
  l->items = NULL;
  l->n = 0;
}
