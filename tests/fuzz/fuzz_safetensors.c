/* Fuzz target: the safetensors reader (ckpt/safetensors.c). A file that
 * opens hands out every tensor; each is converted to float32 (except BOOL,
 * which must fail cleanly), the metadata is read, and the file is read as
 * the parameter table of a tiny model, which must fail or succeed with a
 * status. */
#include "fuzz_util.h"

#include "ckpt/safetensors.h"
#include "model/model.h"

static agpt_param_table table;
static int have_table;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!have_table) {
    agpt_model_config c;
    if (agpt_model_preset("llama-demo", &c) != AGPT_OK) abort();
    c.n_layer = 1, c.hidden = 16, c.n_head = 2, c.n_kv_head = 1, c.ffn = 32, c.vocab = 8, c.padded_vocab = 0;
    c.max_seq = 8;
    if (agpt_param_table_build(&c, &table) != AGPT_OK) abort();
    have_table = 1;
  }
  char path[600];
  fuzz_path(path, sizeof path, "x.safetensors");
  fuzz_write_file(path, data, size);
  agpt_st_file *f = NULL;
  if (agpt_st_open(path, &f) != AGPT_OK) return 0;
  for (int i = 0; i < agpt_st_count(f); i++) {
    const agpt_st_tensor *t = agpt_st_at(f, i);
    if (agpt_st_find(f, t->name) == NULL) abort();
    size_t n = agpt_st_dtype_size(t->dtype) ? t->nbytes / agpt_st_dtype_size(t->dtype) : 0;
    float *out = malloc((n ? n : 1) * sizeof *out);
    if (!out) abort();
    agpt_status st = agpt_st_to_f32(t, out);
    if ((st == AGPT_OK) == (t->dtype == AGPT_ST_BOOL)) abort();
    free(out);
  }
  for (int i = 0; i < agpt_st_meta_count(f); i++) {
    const agpt_st_meta *m = agpt_st_meta_at(f, i);
    if (agpt_st_meta_get(f, m->key) == NULL) abort();
  }
  float *flat = calloc(table.total, sizeof *flat);
  if (!flat) abort();
  (void)agpt_st_read_table_from(f, &table, "", flat);
  (void)agpt_st_read_table_from(f, &table, "exp_avg.", flat);
  free(flat);
  agpt_st_close(f);
  return 0;
}
