/* Flag tables for the subcommands.
 *
 * Each command declares one table of {name, type, destination, default, help};
 * the same table parses argv, applies defaults and prints the usage text, so
 * help and behaviour cannot drift apart. Flags follow Megatron-DeepSpeed's
 * names. Accepted forms: `--name value`, `--name=value`, and for booleans a
 * bare `--name`. A string-list flag (`--data-path w1 p1 w2 p2`) takes every
 * following word up to the next `--flag`. */
#ifndef AGPT_CLI_FLAGS_H
#define AGPT_CLI_FLAGS_H

#include <stdint.h>
#include <stdio.h>

#include "core/status.h"

typedef enum {
  AGPT_FLAG_INT,     /* int */
  AGPT_FLAG_I64,     /* int64_t */
  AGPT_FLAG_FLOAT,   /* double */
  AGPT_FLAG_STR,     /* const char * (points into argv or the default) */
  AGPT_FLAG_BOOL,    /* int, 0 or 1 */
  AGPT_FLAG_STRLIST, /* agpt_strlist */
} agpt_flag_type;

typedef struct {
  int n;
  char **items; /* point into argv; the array is owned by the list */
} agpt_strlist;

typedef struct {
  const char *name;  /* without the leading "--" */
  agpt_flag_type type;
  void *dst;
  const char *def;   /* default as text; NULL: none (0, NULL, empty list) */
  const char *help;
  const char *alias; /* another accepted name, or NULL */
} agpt_flag;

/* Parses argv[0..argc) (argv[0] is the first flag, not the program name).
 * Words that are not flags are collected into *positional when it is given,
 * and are an error otherwise. `--help`/`-h` sets *help and stops.
 * An unknown flag or an unparsable value fails naming the flag. */
agpt_status agpt_flags_parse(const agpt_flag *flags, int nflags, int argc, char **argv, agpt_strlist *positional,
                             int *help);
/* Returns 1 if the named flag appeared on the command line (not defaulted). */
int agpt_flags_given(const agpt_flag *flags, int nflags, const char *name);
void agpt_flags_usage(FILE *out, const char *usage_line, const char *summary, const agpt_flag *flags, int nflags);
void agpt_strlist_free(agpt_strlist *l);

#define AGPT_NFLAGS(t) ((int)(sizeof(t) / sizeof((t)[0])))

#endif
