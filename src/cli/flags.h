/* Flag tables for the subcommands.
 *
 * Each command declares one table of {name, type, destination, default, help,
 * alias, domain}; the same table parses argv, applies defaults, checks every
 * value against its domain and prints the usage text, so help, checks and
 * behaviour cannot drift apart. Flags follow Megatron-DeepSpeed's names.
 * Accepted forms: `--name value`, `--name=value`, and for booleans a bare
 * `--name`. A string-list flag (`--data-path w1 p1 w2 p2`) takes every
 * following word up to the next `--flag`.
 *
 * Domains, written as text in the table; --help prints them as comparisons
 * (`0 < x <= 1`) or as the list of words:
 *  - numbers (INT, I64, FLOAT) must have one: an interval such as "[0, inf)",
 *    "(0, 1]" or "[1, 4096]"; brackets include the bound, parentheses
 *    exclude it, and "inf"/"-inf" leave a side open. A FLOAT is always
 *    finite (nan and inf are refused whatever the domain), an INT or I64
 *    always fits its type (checked before any conversion).
 *  - a STR flag that picks among words gives them as "cosine|linear|constant";
 *    a STR without a domain (a path, free text) takes any value.
 * The check runs when a value is set, for the built-in default as well as
 * for the command line, so a command sees only values inside the domain.
 * Rules that tie several flags together (--min-lr <= --lr) stay in the
 * command that knows them. */
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
  const char *def;   /* default as text; NULL: none (0, NULL, empty list), not checked */
  const char *help;
  const char *alias; /* another accepted name, or NULL */
  const char *domain; /* allowed values (see above); required for numbers */
} agpt_flag;

/* Parses argv[0..argc) (argv[0] is the first flag, not the program name).
 * Words that are not flags are collected into *positional when it is given,
 * and are an error otherwise. `--help`/`-h` sets *help and stops.
 * An unknown flag, an unparsable value or one outside the flag's domain
 * fails naming the flag and what it accepts. */
agpt_status agpt_flags_parse(const agpt_flag *flags, int nflags, int argc, char **argv, agpt_strlist *positional,
                             int *help);
/* Returns 1 if the named flag appeared on the command line (not defaulted). */
int agpt_flags_given(const agpt_flag *flags, int nflags, const char *name);
/* Index of `value` among the words of a choice domain "a|b|c" (0-based), or
 * -1 when it is not one of them. */
int agpt_flags_choice(const char *domain, const char *value);
void agpt_flags_usage(FILE *out, const char *usage_line, const char *summary, const agpt_flag *flags, int nflags);
void agpt_strlist_free(agpt_strlist *l);

#define AGPT_NFLAGS(t) ((int)(sizeof(t) / sizeof((t)[0])))

#endif
