/* Document split by ratios (see split.h): Megatron's rule, bit for bit,
 * including float normalization order and round-half-to-even. */
#include "data/split.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

agpt_status agpt_split_parse(const char *s, double ratios[3]) {
  if (!s || !*s) return agpt_fail("--split: empty value (give ratios like 990,10,0)");
  char sep = strchr(s, ',') ? ',' : (strchr(s, '/') ? '/' : 0);
  double v[3] = {0, 0, 0};
  int n = 0;
  const char *p = s;
  for (;;) {
    const char *e = sep ? strchr(p, sep) : NULL;
    size_t len = e ? (size_t)(e - p) : strlen(p);
    char buf[64];
    if (len == 0 || len >= sizeof buf)
      return agpt_fail("--split: '%s': field %d is empty or too long (give ratios like 990,10,0)", s, n + 1);
    memcpy(buf, p, len);
    buf[len] = 0;
    char *end;
    errno = 0;
    double x = strtod(buf, &end);
    while (*end && isspace((unsigned char)*end)) end++;
    if (end == buf || *end || errno || !isfinite(x) || x < 0)
      return agpt_fail("--split: '%s': field %d ('%s') is not a non-negative number (give ratios like 990,10,0)", s,
                       n + 1, buf);
    if (n == 3) return agpt_fail("--split: '%s': more than three fields (give train,valid,test)", s);
    v[n++] = x;
    if (!e) break;
    p = e + 1;
  }
  double sum = v[0] + v[1] + v[2];
  if (!(sum > 0)) return agpt_fail("--split: '%s': the ratios sum to 0 (give at least one positive ratio)", s);
  for (int k = 0; k < 3; k++) ratios[k] = v[k] / sum;
  return AGPT_OK;
}

void agpt_split_bounds(uint64_t n_docs, const double ratios[3], uint64_t bounds[4]) {
  /* Signed arithmetic as in Python; nearbyint under the default rounding
   * mode is round-half-to-even on the exact double, like Python's round(). */
  int64_t b[4] = {0, 0, 0, 0};
  for (int k = 0; k < 3; k++) b[k + 1] = b[k] + (int64_t)nearbyint(ratios[k] * (double)n_docs);
  int64_t diff = b[3] - (int64_t)n_docs;
  for (int k = 1; k < 4; k++) b[k] -= diff;
  /* Megatron can produce a negative first boundary in degenerate cases
   * (e.g. 0,1,1 over 3 documents); clamp so every range is well formed. */
  for (int k = 1; k < 4; k++) {
    if (b[k] < b[k - 1]) b[k] = b[k - 1];
    if (b[k] > (int64_t)n_docs) b[k] = (int64_t)n_docs;
  }
  for (int k = 0; k < 4; k++) bounds[k] = (uint64_t)b[k];
}

void agpt_split_range(uint64_t n_docs, const double ratios[3], int which, uint64_t *begin, uint64_t *end) {
  AGPT_ASSERT(which >= 0 && which < 3);
  uint64_t b[4];
  agpt_split_bounds(n_docs, ratios, b);
  *begin = b[which];
  *end = b[which + 1];
}
