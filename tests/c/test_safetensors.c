/* Tests of the safetensors writer and reader: round trips of every common
 * dtype (scalar and empty tensors included), the exact bytes of a small file
 * against a hand-written one, rejection of corrupt headers with messages that
 * name the file and the tensor, and the parameter-table helpers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ckpt/safetensors.h"
#include "core/file.h"

static char dir[256];

static void path_in(char *out, size_t cap, const char *name) { snprintf(out, cap, "%s/%s", dir, name); }

static void test_round_trip(void) {
  float f32[6] = {1.5f, -2.0f, 3.25f, 0.0f, 1e-30f, -7.0f};
  uint16_t bf16[5] = {0x3f80, 0xc000, 0x0000, 0x7f80, 0x4049};
  uint16_t f16[3] = {0x3c00, 0x0001, 0xfc00};
  int32_t i32[4] = {1, -2, 2147483647, -2147483647 - 1};
  int64_t i64[3] = {INT64_MAX, -1, 42};
  uint8_t u8[7] = {0, 1, 2, 3, 254, 255, 7};
  double f64[2] = {0.1, -1e300};
  float scalar = 3.0f;
  agpt_st_tensor ts[] = {
      {.name = "bytes", .dtype = AGPT_ST_U8, .ndim = 1, .shape = {7}, .data = u8, .nbytes = 7},
      {.name = "w.f32", .dtype = AGPT_ST_F32, .ndim = 2, .shape = {2, 3}, .data = f32, .nbytes = 24},
      {.name = "w.bf16", .dtype = AGPT_ST_BF16, .ndim = 1, .shape = {5}, .data = bf16, .nbytes = 10},
      {.name = "w.f16", .dtype = AGPT_ST_F16, .ndim = 3, .shape = {1, 3, 1}, .data = f16, .nbytes = 6},
      {.name = "i32", .dtype = AGPT_ST_I32, .ndim = 2, .shape = {2, 2}, .data = i32, .nbytes = 16},
      {.name = "i64", .dtype = AGPT_ST_I64, .ndim = 1, .shape = {3}, .data = i64, .nbytes = 24},
      {.name = "scalar", .dtype = AGPT_ST_F32, .ndim = 0, .data = &scalar, .nbytes = 4},
      {.name = "empty", .dtype = AGPT_ST_F32, .ndim = 2, .shape = {0, 4}, .data = NULL, .nbytes = 0},
      {.name = "f64", .dtype = AGPT_ST_F64, .ndim = 1, .shape = {2}, .data = f64, .nbytes = 16},
      {.name = "ünïcode \"quoted\"", .dtype = AGPT_ST_U8, .ndim = 1, .shape = {1}, .data = u8, .nbytes = 1},
  };
  int n = (int)(sizeof ts / sizeof ts[0]);
  agpt_st_meta meta[] = {{"format", "pt"}, {"note", "line\nbreak"}};
  char p[512];
  path_in(p, sizeof p, "rt.safetensors");
  uint32_t crc = 0;
  uint64_t size = 0;
  CHECK(agpt_st_write(p, ts, n, meta, 2, &crc, &size) == AGPT_OK);
  char *raw;
  size_t rn;
  CHECK(agpt_file_read_all(p, &raw, &rn) == AGPT_OK);
  CHECK(rn == size && agpt_crc32c(0, raw, rn) == crc);
  uint64_t hl = 0;
  for (int i = 0; i < 8; i++) hl |= (uint64_t)(unsigned char)raw[i] << (8 * i);
  CHECK(hl % 8 == 0 && raw[8] == '{');
  free(raw);

  agpt_st_file *f = NULL;
  CHECK(agpt_st_open(p, &f) == AGPT_OK);
  if (!f) {
    fprintf(stderr, "%s\n", agpt_errmsg());
    return;
  }
  CHECK(agpt_st_count(f) == n);
  for (int i = 0; i < n; i++) {
    const agpt_st_tensor *t = agpt_st_find(f, ts[i].name);
    CHECK_MSG(t != NULL, "tensor %s", ts[i].name);
    if (!t) continue;
    CHECK(t->dtype == ts[i].dtype && t->ndim == ts[i].ndim && t->nbytes == ts[i].nbytes);
    for (int d = 0; d < t->ndim; d++) CHECK(t->shape[d] == ts[i].shape[d]);
    CHECK(t->nbytes == 0 || memcmp(t->data, ts[i].data, t->nbytes) == 0);
    CHECK_MSG((uintptr_t)t->data % agpt_st_dtype_size(t->dtype) == 0, "%s aligned", t->name);
  }
  CHECK(agpt_st_find(f, "nope") == NULL);
  CHECK(agpt_st_meta_count(f) == 2);
  CHECK(agpt_st_meta_get(f, "format") && !strcmp(agpt_st_meta_get(f, "format"), "pt"));
  CHECK(agpt_st_meta_get(f, "note") && !strcmp(agpt_st_meta_get(f, "note"), "line\nbreak"));
  CHECK(agpt_st_meta_get(f, "absent") == NULL);

  /* conversions to float32 against hand-decoded values */
  float out[8];
  CHECK(agpt_st_to_f32(agpt_st_find(f, "w.bf16"), out) == AGPT_OK);
  CHECK(out[0] == 1.0f && out[1] == -2.0f && out[2] == 0.0f && isinf(out[3]) && out[4] == 3.140625f);
  CHECK(agpt_st_to_f32(agpt_st_find(f, "w.f16"), out) == AGPT_OK);
  CHECK(out[0] == 1.0f && out[1] == 5.9604644775390625e-8f && isinf(out[2]) && out[2] < 0);
  CHECK(agpt_st_to_f32(agpt_st_find(f, "i32"), out) == AGPT_OK);
  CHECK(out[0] == 1.0f && out[1] == -2.0f);
  CHECK(agpt_st_to_f32(agpt_st_find(f, "bytes"), out) == AGPT_OK && out[5] == 255.0f);
  CHECK(agpt_st_to_f32(agpt_st_find(f, "f64"), out) == AGPT_OK && out[0] == 0.1f);
  agpt_st_close(f);

  /* writer input errors */
  agpt_st_tensor bad = {.name = "x", .dtype = AGPT_ST_F32, .ndim = 1, .shape = {3}, .data = f32, .nbytes = 8};
  CHECK(agpt_st_write(p, &bad, 1, NULL, 0, NULL, NULL) == AGPT_ERR && strstr(agpt_errmsg(), "x: 8 bytes"));
  agpt_st_tensor dup[2] = {ts[1], ts[1]};
  CHECK(agpt_st_write(p, dup, 2, NULL, 0, NULL, NULL) == AGPT_ERR && strstr(agpt_errmsg(), "w.f32 is given twice"));
  /* the failed writes left the earlier file as it was */
  CHECK(agpt_st_open(p, &f) == AGPT_OK && agpt_st_count(f) == n);
  agpt_st_close(f);
}

/* The exact bytes agpt writes for a small file, spelled out by hand. */
static void test_exact_bytes(void) {
  float a[2] = {1.0f, 2.0f};
  uint16_t b[1] = {0x3f80};
  agpt_st_tensor ts[] = {
      {.name = "b", .dtype = AGPT_ST_BF16, .ndim = 1, .shape = {1}, .data = b, .nbytes = 2},
      {.name = "a", .dtype = AGPT_ST_F32, .ndim = 1, .shape = {2}, .data = a, .nbytes = 8},
  };
  agpt_st_meta meta = {"format", "pt"};
  char p[512];
  path_in(p, sizeof p, "exact.safetensors");
  CHECK(agpt_st_write(p, ts, 2, &meta, 1, NULL, NULL) == AGPT_OK);
  const char *hdr =
      "{\"__metadata__\":{\"format\":\"pt\"},\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
      "\"b\":{\"dtype\":\"BF16\",\"shape\":[1],\"data_offsets\":[8,10]}}";
  size_t hl = strlen(hdr), padded = (hl + 7) / 8 * 8;
  char want[512];
  memset(want, ' ', sizeof want);
  for (int i = 0; i < 8; i++) want[i] = (char)((padded >> (8 * i)) & 0xff);
  memcpy(want + 8, hdr, hl);
  memcpy(want + 8 + padded, a, 8);
  memcpy(want + 8 + padded + 8, b, 2);
  size_t wn = 8 + padded + 10;
  char *raw = NULL;
  size_t rn = 0;
  CHECK(agpt_file_read_all(p, &raw, &rn) == AGPT_OK);
  CHECK_MSG(rn == wn && memcmp(raw, want, wn) == 0, "got %zu bytes: %.*s", rn, (int)(rn > 8 ? rn - 8 : 0),
            raw ? raw + 8 : "");
  free(raw);
}

/* Writes 8-byte length + header (padded) + data bytes. */
static void write_raw(const char *p, uint64_t declared_len, const char *hdr, const void *data, size_t dn) {
  FILE *fp = fopen(p, "wb");
  if (!fp) return;
  unsigned char l8[8];
  for (int i = 0; i < 8; i++) l8[i] = (unsigned char)(declared_len >> (8 * i));
  fwrite(l8, 1, 8, fp);
  fwrite(hdr, 1, strlen(hdr), fp);
  if (dn) fwrite(data, 1, dn, fp);
  fclose(fp);
}

static int open_fails(const char *p, const char *want1, const char *want2) {
  agpt_st_file *f = NULL;
  agpt_err_clear();
  if (agpt_st_open(p, &f) == AGPT_OK) {
    agpt_st_close(f);
    fprintf(stderr, "opened but should fail (%s)\n", want1);
    return 0;
  }
  const char *m = agpt_errmsg();
  if (!strstr(m, p) || !strstr(m, want1) || (want2 && !strstr(m, want2))) {
    fprintf(stderr, "message \"%s\" lacks the path, \"%s\" or \"%s\"\n", m, want1, want2 ? want2 : "");
    return 0;
  }
  return f == NULL;
}

static void test_corrupt(void) {
  char p[512];
  path_in(p, sizeof p, "bad.safetensors");
  unsigned char data[64] = {0};
  /* a valid baseline, to show the helper writes readable files */
  const char *ok = "{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
  write_raw(p, strlen(ok), ok, data, 8);
  agpt_st_file *f = NULL;
  CHECK(agpt_st_open(p, &f) == AGPT_OK && agpt_st_count(f) == 1);
  agpt_st_close(f);

  struct {
    const char *hdr;
    size_t dn;
    const char *want1, *want2;
  } cases[] = {
      {"[1, 2]", 0, "does not start with '{'", NULL},
      {"{\"t\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}", 8, "header JSON", "line 1"},
      {"{\"t\": 5}", 0, "tensor t", "not an object"},
      {"{\"t\":{\"dtype\":\"F33\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "tensor t", "unknown dtype \"F33\""},
      {"{\"t\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "tensor t", "dtype is missing"},
      {"{\"t\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8, "tensor t", "shape[0]"},
      {"{\"t\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,8]}}", 8, "tensor t", "shape[0]"},
      {"{\"t\":{\"dtype\":\"F32\",\"shape\":2,\"data_offsets\":[0,8]}}", 8, "tensor t", "shape is missing"},
      {"{\"t\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,2],\"data_offsets\":[0,8]}}", 8, "tensor t", "9 dimensions"},
      {"{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", 8, "tensor t", "data_offsets must be"},
      {"{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8, "tensor t", "end before they begin"},
      {"{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,16]}}", 8, "tensor t", "reach past"},
      {"{\"t\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, "tensor t", "needs 12"},
      {"{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
       "\"u\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
       12, "overlap tensor t", "tensor u"},
      {"{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
       "\"u\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[12,16]}}",
       16, "tensor u", "gap after byte 8"},
      {"{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 12, "4 data bytes follow", NULL},
      {"{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
       "\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
       8, "tensor t appears twice", NULL},
      {"{\"__metadata__\":{\"a\":1},\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
       "__metadata__.a", "not a string"},
      {"{\"__metadata__\":[],\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "__metadata__",
       "not an object"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    write_raw(p, strlen(cases[i].hdr), cases[i].hdr, data, cases[i].dn);
    CHECK_MSG(open_fails(p, cases[i].want1, cases[i].want2), "case %zu", i);
  }
  /* header length beyond the file, and a file too short to hold a length */
  write_raw(p, 1000, ok, data, 8);
  CHECK(open_fails(p, "header length 1000 exceeds", NULL));
  write_raw(p, (uint64_t)1 << 62, ok, data, 8);
  CHECK(open_fails(p, "exceeds", NULL));
  FILE *fp = fopen(p, "wb");
  if (fp) {
    fwrite("abc", 1, 3, fp);
    fclose(fp);
  }
  CHECK(open_fails(p, "fewer than the 8-byte header length", NULL));
  /* a truncated valid file */
  float v[4] = {1, 2, 3, 4};
  agpt_st_tensor t = {.name = "w", .dtype = AGPT_ST_F32, .ndim = 1, .shape = {4}, .data = v, .nbytes = 16};
  CHECK(agpt_st_write(p, &t, 1, NULL, 0, NULL, NULL) == AGPT_OK);
  char *raw;
  size_t rn;
  CHECK(agpt_file_read_all(p, &raw, &rn) == AGPT_OK);
  fp = fopen(p, "wb");
  if (fp) {
    fwrite(raw, 1, rn - 4, fp);
    fclose(fp);
  }
  free(raw);
  CHECK(open_fails(p, "tensor w", "reach past"));
  char missing[512];
  path_in(missing, sizeof missing, "does-not-exist.safetensors");
  CHECK(open_fails(missing, "cannot open", NULL));
}

/* Two layers of a toy model: offsets padded to 16 elements like the real table. */
static void make_table(agpt_param_table *t, agpt_param *ps, int with_extra, int swapped_shape) {
  const char *names[] = {"model.embed_tokens.weight", "model.layers.0.input_layernorm.weight", "model.norm.weight",
                         "lm_head.weight"};
  int64_t shapes[][2] = {{5, 3}, {3, 0}, {3, 0}, {5, 3}};
  int ndims[] = {2, 1, 1, 2};
  int n = with_extra ? 4 : 3;
  size_t off = 0;
  for (int i = 0; i < n; i++) {
    memset(&ps[i], 0, sizeof ps[i]);
    snprintf(ps[i].name, sizeof ps[i].name, "%s", names[i]);
    ps[i].ndim = ndims[i];
    ps[i].shape[0] = shapes[i][0];
    ps[i].shape[1] = shapes[i][1];
    if (swapped_shape && i == 0) ps[i].shape[0] = 3, ps[i].shape[1] = 5;
    ps[i].numel = (size_t)(ndims[i] == 2 ? shapes[i][0] * shapes[i][1] : shapes[i][0]);
    ps[i].offset = off;
    off += (ps[i].numel + 15) / 16 * 16;
  }
  t->params = ps;
  t->n = n;
  t->total = off;
}

static void test_table(void) {
  agpt_param ps[4], ps2[4];
  agpt_param_table t, t2;
  make_table(&t, ps, 0, 0);
  size_t total = t.total;
  float *w = calloc(total, sizeof *w), *m = calloc(total, sizeof *m), *v = calloc(total, sizeof *v);
  float *back = calloc(total, sizeof *back);
  for (size_t i = 0; i < total; i++) w[i] = (float)i * 0.5f, m[i] = -(float)i, v[i] = (float)i * (float)i;
  char p[512], po[512];
  path_in(p, sizeof p, "model.safetensors");
  path_in(po, sizeof po, "optim.safetensors");
  agpt_st_table_part model = {NULL, w};
  agpt_st_table_part optim[2] = {{"exp_avg.", m}, {"exp_avg_sq.", v}};
  CHECK(agpt_st_write_table(p, &t, &model, 1, NULL, 0, NULL, NULL) == AGPT_OK);
  CHECK(agpt_st_write_table(po, &t, optim, 2, NULL, 0, NULL, NULL) == AGPT_OK);

  CHECK(agpt_st_read_table(p, &t, "", back) == AGPT_OK);
  int bad = 0;
  for (int i = 0; i < t.n; i++)
    for (size_t k = 0; k < ps[i].numel; k++) bad += back[ps[i].offset + k] != w[ps[i].offset + k];
  CHECK(bad == 0);
  memset(back, 0, total * sizeof *back);
  CHECK(agpt_st_read_table(po, &t, "exp_avg_sq.", back) == AGPT_OK);
  bad = 0;
  for (int i = 0; i < t.n; i++)
    for (size_t k = 0; k < ps[i].numel; k++) bad += back[ps[i].offset + k] != v[ps[i].offset + k];
  CHECK(bad == 0);
  CHECK(agpt_st_read_table(po, &t, "exp_avg.", back) == AGPT_OK && back[ps[2].offset + 1] == m[ps[2].offset + 1]);

  /* the file's tensors are named as Hugging Face expects */
  agpt_st_file *f;
  CHECK(agpt_st_open(po, &f) == AGPT_OK && agpt_st_count(f) == 6);
  const agpt_st_tensor *e = agpt_st_find(f, "exp_avg.model.embed_tokens.weight");
  CHECK(e && e->ndim == 2 && e->shape[0] == 5 && e->shape[1] == 3 && e->dtype == AGPT_ST_F32);
  agpt_st_close(f);

  /* a table that expects one more tensor: missing, by name */
  make_table(&t2, ps2, 1, 0);
  float *big = calloc(t2.total, sizeof *big);
  CHECK(agpt_st_read_table(p, &t2, "", big) == AGPT_ERR);
  CHECK(strstr(agpt_errmsg(), p) && strstr(agpt_errmsg(), "1 missing (lm_head.weight)"));
  /* a table with one tensor less: the file's extra tensor, by name */
  t2.n = 2;
  CHECK(agpt_st_read_table(p, &t2, "", big) == AGPT_ERR);
  CHECK(strstr(agpt_errmsg(), "1 unexpected (model.norm.weight)"));
  /* a transposed shape: mismatched, with both shapes */
  make_table(&t2, ps2, 0, 1);
  CHECK(agpt_st_read_table(p, &t2, "", big) == AGPT_ERR);
  CHECK(strstr(agpt_errmsg(), "model.embed_tokens.weight is F32 [5, 3], expected F32 [3, 5]"));
  /* reading an optimizer file without its prefix: all six are unexpected, three missing */
  CHECK(agpt_st_read_table(po, &t, "", back) == AGPT_ERR);
  CHECK(strstr(agpt_errmsg(), "3 missing") && strstr(agpt_errmsg(), "6 unexpected"));
  /* a non-F32 tensor under the right name is a mismatch */
  uint16_t hb[3] = {0};
  float e15[15] = {0};
  agpt_st_tensor mixed[3] = {
      {.name = "model.embed_tokens.weight", .dtype = AGPT_ST_F32, .ndim = 2, .shape = {5, 3}, .data = e15, .nbytes = 60},
      {.name = "model.layers.0.input_layernorm.weight", .dtype = AGPT_ST_BF16, .ndim = 1, .shape = {3}, .data = hb, .nbytes = 6},
      {.name = "model.norm.weight", .dtype = AGPT_ST_F32, .ndim = 1, .shape = {3}, .data = e15, .nbytes = 12},
  };
  CHECK(agpt_st_write(p, mixed, 3, NULL, 0, NULL, NULL) == AGPT_OK);
  CHECK(agpt_st_read_table(p, &t, NULL, back) == AGPT_ERR);
  CHECK(strstr(agpt_errmsg(), "input_layernorm.weight is BF16 [3], expected F32 [3]"));
  free(big);
  free(w);
  free(m);
  free(v);
  free(back);
}

int main(void) {
  const char *tmp = getenv("TMPDIR");
  snprintf(dir, sizeof dir, "%s/agpt_test_st_XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(dir)) {
    perror("mkdtemp");
    return 1;
  }
  test_round_trip();
  test_exact_bytes();
  test_corrupt();
  test_table();
  agpt_rm_rf(dir);
  return check_done("test_safetensors");
}
