/* See sample.h. */
#include "serve/sample.h"

#include <math.h>
#include <stdlib.h>

static int32_t argmax(const float *x, int n) {
  int32_t best = 0;
  for (int i = 1; i < n; i++)
    if (x[i] > x[best]) best = i;
  return best;
}

static _Thread_local const float *sort_key; /* qsort has no context argument */
static int by_prob_desc(const void *a, const void *b) {
  float pa = sort_key[*(const int32_t *)a], pb = sort_key[*(const int32_t *)b];
  if (pa != pb) return pa < pb ? 1 : -1;
  return *(const int32_t *)a - *(const int32_t *)b; /* ties by id: deterministic */
}

int32_t agpt_sample_token(const float *logits, int V, const agpt_sample_opts *o, float u, float *p, int32_t *idx) {
  if (o->temperature <= 0) return argmax(logits, V);
  float mx = logits[argmax(logits, V)];
  double sum = 0;
  for (int i = 0; i < V; i++) {
    p[i] = expf((logits[i] - mx) / o->temperature);
    sum += p[i];
    idx[i] = i;
  }
  for (int i = 0; i < V; i++) p[i] = (float)(p[i] / sum);
  int n = V;
  if ((o->top_k > 0 && o->top_k < V) || o->top_p < 1.0f) {
    sort_key = p;
    qsort(idx, (size_t)V, sizeof *idx, by_prob_desc);
    if (o->top_k > 0 && o->top_k < n) n = o->top_k;
    if (o->top_p < 1.0f) {
      double keep = 0, total = 0;
      for (int i = 0; i < n; i++) total += p[idx[i]];
      int m = 0;
      while (m < n) {
        keep += p[idx[m]] / total;
        m++;
        if (keep >= o->top_p) break;
      }
      n = m;
    }
  }
  double mass = 0;
  for (int i = 0; i < n; i++) mass += p[idx[i]];
  double target = (double)u * mass, acc = 0;
  for (int i = 0; i < n; i++) {
    acc += p[idx[i]];
    if (acc > target) return idx[i];
  }
  return idx[n - 1];
}
