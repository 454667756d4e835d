/* st_tool: drives agpt's safetensors reader and writer for the Python interop
 * tests (tests/py/test_safetensors_interop.py).
 *
 *   st_tool list FILE              one line per tensor: name dtype shape(d0,d1,..|-) nbytes;
 *                                  then "meta KEY VALUE" lines
 *   st_tool dump FILE NAME OUT     tensor NAME as raw float32 (little-endian) into OUT
 *   st_tool write OUT              a file with one tensor of each common dtype (values below)
 *   st_tool write-table OUT        a parameter table: params and "exp_avg." states
 *   st_tool check FILE             opens and validates; prints the error and exits 1 on failure
 *
 * Values written by `write` (i = element index): f32 [3,4] = i*0.25-1;
 * f64 [3] = i/3; bf16 [5] bits 0x3f80+i*0x80; f16 [2,3] bits 0x3c00+i*0x100;
 * i32 [4] = (i-2)*1000003; i64 [2,2] = i*2^40-7; u8 [7] = i*37; i8 [3] = i*50-100;
 * scalar [] = 2.5; empty [0,3]. Metadata: format=pt, producer=agpt. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt/safetensors.h"

static int fail(void) {
  fprintf(stderr, "st_tool: %s\n", agpt_errmsg());
  return 1;
}

static int cmd_list(const char *path) {
  agpt_st_file *f;
  if (agpt_st_open(path, &f) != AGPT_OK) return fail();
  for (int i = 0; i < agpt_st_count(f); i++) {
    const agpt_st_tensor *t = agpt_st_at(f, i);
    printf("%s %s ", t->name, agpt_st_dtype_name(t->dtype));
    if (!t->ndim) printf("-");
    for (int d = 0; d < t->ndim; d++) printf("%s%lld", d ? "," : "", (long long)t->shape[d]);
    printf(" %zu\n", t->nbytes);
  }
  for (int i = 0; i < agpt_st_meta_count(f); i++) printf("meta %s %s\n", agpt_st_meta_at(f, i)->key, agpt_st_meta_at(f, i)->value);
  agpt_st_close(f);
  return 0;
}

static int cmd_dump(const char *path, const char *name, const char *out) {
  agpt_st_file *f;
  if (agpt_st_open(path, &f) != AGPT_OK) return fail();
  const agpt_st_tensor *t = agpt_st_find(f, name);
  if (!t) {
    fprintf(stderr, "st_tool: %s: no tensor %s\n", path, name);
    agpt_st_close(f);
    return 1;
  }
  size_t n = t->nbytes / agpt_st_dtype_size(t->dtype);
  float *buf = malloc((n ? n : 1) * sizeof *buf);
  int rc = 1;
  if (agpt_st_to_f32(t, buf) == AGPT_OK) {
    FILE *fp = fopen(out, "wb");
    if (fp && fwrite(buf, sizeof *buf, n, fp) == n && fclose(fp) == 0) rc = 0;
    else fprintf(stderr, "st_tool: %s: cannot write\n", out);
  } else {
    fail();
  }
  free(buf);
  agpt_st_close(f);
  return rc;
}

static int cmd_write(const char *out) {
  float f32[12], scalar = 2.5f;
  double f64[3];
  uint16_t bf16[5], f16[6];
  int32_t i32[4];
  int64_t i64[4];
  uint8_t u8[7];
  int8_t i8[3];
  for (int i = 0; i < 12; i++) f32[i] = (float)i * 0.25f - 1.0f;
  for (int i = 0; i < 3; i++) f64[i] = (double)i / 3.0, i8[i] = (int8_t)(i * 50 - 100);
  for (int i = 0; i < 5; i++) bf16[i] = (uint16_t)(0x3f80 + i * 0x80);
  for (int i = 0; i < 6; i++) f16[i] = (uint16_t)(0x3c00 + i * 0x100);
  for (int i = 0; i < 4; i++) i32[i] = (i - 2) * 1000003, i64[i] = (int64_t)i * ((int64_t)1 << 40) - 7;
  for (int i = 0; i < 7; i++) u8[i] = (uint8_t)(i * 37);
  agpt_st_tensor ts[] = {
      {.name = "f32", .dtype = AGPT_ST_F32, .ndim = 2, .shape = {3, 4}, .data = f32, .nbytes = sizeof f32},
      {.name = "f64", .dtype = AGPT_ST_F64, .ndim = 1, .shape = {3}, .data = f64, .nbytes = sizeof f64},
      {.name = "bf16", .dtype = AGPT_ST_BF16, .ndim = 1, .shape = {5}, .data = bf16, .nbytes = sizeof bf16},
      {.name = "f16", .dtype = AGPT_ST_F16, .ndim = 2, .shape = {2, 3}, .data = f16, .nbytes = sizeof f16},
      {.name = "i32", .dtype = AGPT_ST_I32, .ndim = 1, .shape = {4}, .data = i32, .nbytes = sizeof i32},
      {.name = "i64", .dtype = AGPT_ST_I64, .ndim = 2, .shape = {2, 2}, .data = i64, .nbytes = sizeof i64},
      {.name = "u8", .dtype = AGPT_ST_U8, .ndim = 1, .shape = {7}, .data = u8, .nbytes = sizeof u8},
      {.name = "i8", .dtype = AGPT_ST_I8, .ndim = 1, .shape = {3}, .data = i8, .nbytes = sizeof i8},
      {.name = "scalar", .dtype = AGPT_ST_F32, .ndim = 0, .data = &scalar, .nbytes = 4},
      {.name = "empty", .dtype = AGPT_ST_F32, .ndim = 2, .shape = {0, 3}, .data = NULL, .nbytes = 0},
  };
  agpt_st_meta meta[] = {{"format", "pt"}, {"producer", "agpt"}};
  if (agpt_st_write(out, ts, (int)(sizeof ts / sizeof ts[0]), meta, 2, NULL, NULL) != AGPT_OK) return fail();
  return 0;
}

/* Parameters p[i] = 0.5 * i + 1 and exp_avg m[i] = -i over the flat index,
 * with padding between tensors set to 999 (it must not appear in the file). */
static int cmd_write_table(const char *out) {
  agpt_param ps[3] = {0};
  const char *names[3] = {"model.embed_tokens.weight", "model.layers.0.input_layernorm.weight", "lm_head.weight"};
  int64_t rows[3] = {10, 6, 10}, cols[3] = {6, 0, 6};
  size_t off = 0;
  for (int i = 0; i < 3; i++) {
    snprintf(ps[i].name, sizeof ps[i].name, "%s", names[i]);
    ps[i].ndim = cols[i] ? 2 : 1;
    ps[i].shape[0] = rows[i];
    ps[i].shape[1] = cols[i];
    ps[i].numel = (size_t)(rows[i] * (cols[i] ? cols[i] : 1));
    ps[i].offset = off;
    off += (ps[i].numel + 15) / 16 * 16;
  }
  agpt_param_table t = {.params = ps, .n = 3, .total = off};
  float *p = malloc(off * sizeof *p), *m = malloc(off * sizeof *m);
  for (size_t i = 0; i < off; i++) p[i] = 999.0f, m[i] = 999.0f;
  for (int k = 0; k < 3; k++)
    for (size_t i = ps[k].offset; i < ps[k].offset + ps[k].numel; i++) p[i] = 0.5f * (float)i + 1.0f, m[i] = -(float)i;
  agpt_st_table_part parts[2] = {{"", p}, {"exp_avg.", m}};
  agpt_status st = agpt_st_write_table(out, &t, parts, 2, NULL, 0, NULL, NULL);
  free(p);
  free(m);
  return st == AGPT_OK ? 0 : fail();
}

static int cmd_check(const char *path) {
  agpt_st_file *f;
  if (agpt_st_open(path, &f) != AGPT_OK) return fail();
  printf("ok %d tensors\n", agpt_st_count(f));
  agpt_st_close(f);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 3 && !strcmp(argv[1], "list")) return cmd_list(argv[2]);
  if (argc == 5 && !strcmp(argv[1], "dump")) return cmd_dump(argv[2], argv[3], argv[4]);
  if (argc == 3 && !strcmp(argv[1], "write")) return cmd_write(argv[2]);
  if (argc == 3 && !strcmp(argv[1], "write-table")) return cmd_write_table(argv[2]);
  if (argc == 3 && !strcmp(argv[1], "check")) return cmd_check(argv[2]);
  fprintf(stderr, "usage: st_tool list FILE | dump FILE NAME OUT | write OUT | write-table OUT | check FILE\n");
  return 2;
}
