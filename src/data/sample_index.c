/* The sample-index dispatcher (sample_index.h): one handle over the two
 * modes, `fast` (fast_index.c) and `megatron` (megatron_index.c), so the
 * loader and the CLI never branch on the mode. It validates the sample
 * number once for both: a sample outside the index is bad input (it comes
 * from flags such as --index), not a bug. */
#include "data/sample_index.h"

#include <stdlib.h>

#include "data/fast_index.h"
#include "data/megatron_index.h"

struct agpt_sample_index {
  agpt_index_mode mode;
  agpt_fast_index *fast;         /* mode FAST */
  agpt_megatron_index *megatron; /* mode MEGATRON */
  uint64_t size;                 /* samples the index serves */
};

agpt_status agpt_sample_index_build(const agpt_blend *b, const agpt_index_opts *o, agpt_sample_index **out) {
  *out = NULL;
  agpt_sample_index *ix = agpt_xcalloc(1, sizeof *ix);
  ix->mode = o->mode;
  switch (o->mode) {
  case AGPT_INDEX_FAST:
    if (agpt_fast_index_build(b, o, &ix->fast) != AGPT_OK) {
      free(ix);
      return AGPT_ERR;
    }
    ix->size = agpt_fast_index_num_samples(ix->fast);
    break;
  case AGPT_INDEX_MEGATRON:
    if (agpt_megatron_index_build_ex(b, o,
                                     &(agpt_megatron_opts){.blend_sample_in_corpus = o->blend_sample_in_corpus,
                                                           .shuffle_sample_in_corpus = o->shuffle_sample_in_corpus},
                                     &ix->megatron) != AGPT_OK) {
      free(ix);
      return AGPT_ERR;
    }
    ix->size = agpt_megatron_index_size(ix->megatron);
    break;
  default:
    free(ix);
    return agpt_fail("--index-mode: unknown mode %d (use fast or megatron)", (int)o->mode);
  }
  *out = ix;
  return AGPT_OK;
}

static agpt_status check_range(const agpt_sample_index *ix, uint64_t i) {
  if (i < ix->size) return AGPT_OK;
  return agpt_fail("sample %llu: out of range (the index holds %llu samples; raise --num-samples)",
                   (unsigned long long)i, (unsigned long long)ix->size);
}

agpt_status agpt_sample_index_get(const agpt_sample_index *ix, uint64_t i, int32_t *out) {
  AGPT_TRY(check_range(ix, i));
  return ix->mode == AGPT_INDEX_FAST ? agpt_fast_index_get(ix->fast, i, out)
                                     : agpt_megatron_index_get(ix->megatron, i, out);
}

agpt_status agpt_sample_index_origin(const agpt_sample_index *ix, uint64_t i, agpt_sample_origin *out) {
  AGPT_TRY(check_range(ix, i));
  return ix->mode == AGPT_INDEX_FAST ? agpt_fast_index_origin(ix->fast, i, out)
                                     : agpt_megatron_index_origin(ix->megatron, i, out);
}

void agpt_sample_index_free(agpt_sample_index *ix) {
  if (!ix) return;
  if (ix->fast) agpt_fast_index_free(ix->fast);
  if (ix->megatron) agpt_megatron_index_free(ix->megatron);
  free(ix);
}
