/* See jsonl.h. */
#include "data/jsonl.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/log.h"

static char *fmt_owned(const char *fmt, ...) AGPT_PRINTF(1, 2);
static char *fmt_owned(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *s = NULL;
  if (vasprintf(&s, fmt, ap) < 0) s = agpt_xstrdup("malformed line");
  va_end(ap);
  return s;
}

int agpt_jsonl_blank(const char *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r' && p[i] != '\f' && p[i] != '\v') return 0;
  return 1;
}

int agpt_jsonl_parse_line(const char *p, size_t n, char *const *keys, int n_keys, const char *flag, agpt_json **doc,
                          char **why) {
  *doc = NULL;
  *why = NULL;
  agpt_json *j;
  if (agpt_json_parse(p, n, &j) != AGPT_OK) {
    *why = fmt_owned("malformed JSON: %s (a truncated or broken line)", agpt_errmsg());
    return 0;
  }
  if (agpt_json_type(j) != AGPT_JSON_OBJECT) {
    *why = fmt_owned("not a JSON object");
  } else {
    for (int k = 0; k < n_keys && !*why; k++) {
      const agpt_json *v = agpt_json_get(j, keys[k]);
      size_t len;
      if (!v)
        *why = fmt_owned("no field \"%s\" (see %s)", keys[k], flag);
      else if (!agpt_json_str(v, &len))
        *why = fmt_owned("field \"%s\" is not a string", keys[k]);
    }
  }
  if (*why) {
    agpt_json_free(j);
    return 0;
  }
  *doc = j;
  return 1;
}

agpt_status agpt_jsonl_malformed(agpt_jsonl_rule *r, const char *path, uint64_t line, const char *why) {
  if (r->strict)
    return agpt_fail("%s:%llu: %s (%s)", path, (unsigned long long)line, why,
                     r->note ? r->note
                             : "--strict stops at the first malformed line; without it such lines are reported and "
                               "skipped");
  r->malformed++;
  if (r->malformed <= (uint64_t)r->max_warnings)
    agpt_log_warn("%s:%llu: %s; line skipped", path, (unsigned long long)line, why);
  if (r->malformed == (uint64_t)r->max_warnings + 1)
    agpt_log_warn("further malformed lines are skipped and counted without a message");
  return AGPT_OK;
}
