/* safetensors writer and validating reader; see safetensors.h. */
#include "ckpt/safetensors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "core/json.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors data is little-endian; this writer copies host bytes and needs a little-endian host"
#endif

/* Header sizes beyond this are refused, as the reference implementation does:
 * a corrupt length must not make us parse gigabytes as JSON. */
enum { ST_MAX_HEADER = 100 * 1000 * 1000 };

static const struct {
  const char *name;
  size_t size;
} dtypes[AGPT_ST_NDTYPES] = {
    [AGPT_ST_F64] = {"F64", 8}, [AGPT_ST_F32] = {"F32", 4}, [AGPT_ST_F16] = {"F16", 2},
    [AGPT_ST_BF16] = {"BF16", 2}, [AGPT_ST_I64] = {"I64", 8}, [AGPT_ST_I32] = {"I32", 4},
    [AGPT_ST_I16] = {"I16", 2}, [AGPT_ST_I8] = {"I8", 1}, [AGPT_ST_U64] = {"U64", 8},
    [AGPT_ST_U32] = {"U32", 4}, [AGPT_ST_U16] = {"U16", 2}, [AGPT_ST_U8] = {"U8", 1},
    [AGPT_ST_BOOL] = {"BOOL", 1},
};

const char *agpt_st_dtype_name(agpt_st_dtype d) {
  AGPT_ASSERT((unsigned)d < AGPT_ST_NDTYPES);
  return dtypes[d].name;
}

size_t agpt_st_dtype_size(agpt_st_dtype d) {
  AGPT_ASSERT((unsigned)d < AGPT_ST_NDTYPES);
  return dtypes[d].size;
}

int agpt_st_dtype_parse(const char *name, agpt_st_dtype *out) {
  for (int i = 0; i < AGPT_ST_NDTYPES; i++)
    if (!strcmp(name, dtypes[i].name)) {
      *out = (agpt_st_dtype)i;
      return 0;
    }
  return -1;
}

/* prod(shape) * itemsize, or -1 on overflow or a negative dimension. */
static int64_t shape_nbytes(const int64_t *shape, int ndim, size_t itemsize) {
  uint64_t n = itemsize;
  for (int i = 0; i < ndim; i++) {
    if (shape[i] < 0) return -1;
    if (shape[i] != 0 && n > (uint64_t)INT64_MAX / (uint64_t)shape[i]) return -1;
    n *= (uint64_t)shape[i];
  }
  return (int64_t)n;
}

static void shape_str(char *buf, size_t cap, const int64_t *shape, int ndim) {
  size_t o = (size_t)snprintf(buf, cap, "[");
  for (int i = 0; i < ndim && o < cap; i++) o += (size_t)snprintf(buf + o, cap - o, "%s%lld", i ? ", " : "", (long long)shape[i]);
  if (o < cap) snprintf(buf + o, cap - o, "]");
}

/* ---- writer ---- */

static int cmp_name_idx(const void *a, const void *b, void *ctx) {
  const agpt_st_tensor *ts = ctx;
  return strcmp(ts[*(const int *)a].name, ts[*(const int *)b].name);
}

agpt_status agpt_st_write(const char *path, const agpt_st_tensor *tensors, int n, const agpt_st_meta *meta,
                          int n_meta, uint32_t *crc_out, uint64_t *size_out) {
  for (int i = 0; i < n; i++) {
    const agpt_st_tensor *t = &tensors[i];
    if (!t->name || !t->name[0] || !strcmp(t->name, "__metadata__"))
      return agpt_fail("%s: tensor %d: name is empty or reserved (give it a parameter name)", path, i);
    if ((unsigned)t->dtype >= AGPT_ST_NDTYPES) return agpt_fail("%s: %s: unknown dtype %d", path, t->name, (int)t->dtype);
    if (t->ndim < 0 || t->ndim > AGPT_ST_MAX_DIMS)
      return agpt_fail("%s: %s: %d dimensions (0 to %d are supported)", path, t->name, t->ndim, AGPT_ST_MAX_DIMS);
    int64_t nb = shape_nbytes(t->shape, t->ndim, dtypes[t->dtype].size);
    if (nb < 0 || (uint64_t)nb != (uint64_t)t->nbytes) {
      char s[256];
      shape_str(s, sizeof s, t->shape, t->ndim);
      return agpt_fail("%s: %s: %zu bytes given for %s %s (expected prod(shape) * itemsize = %lld)", path, t->name,
                       t->nbytes, dtypes[t->dtype].name, s, (long long)nb);
    }
    if (t->nbytes && !t->data) return agpt_fail("%s: %s: no data for %zu bytes", path, t->name, t->nbytes);
  }
  for (int i = 0; i < n_meta; i++)
    if (!meta[i].key || !meta[i].value || !strcmp(meta[i].key, "__metadata__"))
      return agpt_fail("%s: metadata entry %d: key and value must be strings", path, i);

  /* names distinct: sort indices by name */
  int *byname = agpt_xmalloc((size_t)(n ? n : 1) * sizeof *byname);
  for (int i = 0; i < n; i++) byname[i] = i;
  qsort_r(byname, (size_t)n, sizeof *byname, cmp_name_idx, (void *)tensors);
  for (int i = 1; i < n; i++)
    if (!strcmp(tensors[byname[i]].name, tensors[byname[i - 1]].name)) {
      agpt_status st = agpt_fail("%s: tensor %s is given twice (names must be distinct)", path, tensors[byname[i]].name);
      free(byname);
      return st;
    }
  free(byname);

  /* data order: item size descending, stable, so each tensor stays aligned */
  int *order = agpt_xmalloc((size_t)(n ? n : 1) * sizeof *order);
  int k = 0;
  for (size_t sz = 8; sz >= 1; sz /= 2)
    for (int i = 0; i < n; i++)
      if (dtypes[tensors[i].dtype].size == sz) order[k++] = i;
  AGPT_ASSERT(k == n);

  agpt_sb h = {0};
  agpt_sb_puts(&h, "{");
  int first = 1;
  if (n_meta > 0) {
    agpt_sb_puts(&h, "\"__metadata__\":{");
    for (int i = 0; i < n_meta; i++) {
      if (i) agpt_sb_puts(&h, ",");
      agpt_sb_json_str(&h, meta[i].key, strlen(meta[i].key));
      agpt_sb_puts(&h, ":");
      agpt_sb_json_str(&h, meta[i].value, strlen(meta[i].value));
    }
    agpt_sb_puts(&h, "}");
    first = 0;
  }
  uint64_t off = 0;
  for (int k2 = 0; k2 < n; k2++) {
    const agpt_st_tensor *t = &tensors[order[k2]];
    if (!first) agpt_sb_puts(&h, ",");
    first = 0;
    agpt_sb_json_str(&h, t->name, strlen(t->name));
    agpt_sb_printf(&h, ":{\"dtype\":\"%s\",\"shape\":[", dtypes[t->dtype].name);
    for (int d = 0; d < t->ndim; d++) agpt_sb_printf(&h, "%s%lld", d ? "," : "", (long long)t->shape[d]);
    agpt_sb_printf(&h, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)off,
                   (unsigned long long)(off + t->nbytes));
    off += t->nbytes;
  }
  agpt_sb_puts(&h, "}");
  while (h.len % 8) agpt_sb_puts(&h, " ");

  unsigned char len8[8];
  for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)h.len >> (8 * i));
  uint32_t crc = agpt_crc32c(0, len8, 8);
  crc = agpt_crc32c(crc, h.data, h.len);

  agpt_wfile *f = NULL;
  agpt_status st = agpt_wfile_open(path, &f);
  if (st == AGPT_OK) st = agpt_wfile_write(f, len8, 8);
  if (st == AGPT_OK) st = agpt_wfile_write(f, h.data, h.len);
  for (int k2 = 0; k2 < n && st == AGPT_OK; k2++) {
    const agpt_st_tensor *t = &tensors[order[k2]];
    if (!t->nbytes) continue;
    st = agpt_wfile_write(f, t->data, t->nbytes);
    if (crc_out) crc = agpt_crc32c(crc, t->data, t->nbytes);
  }
  uint64_t size = 8 + h.len + off;
  agpt_sb_free(&h);
  free(order);
  if (st != AGPT_OK) {
    agpt_wfile_abort(f);
    return AGPT_ERR;
  }
  AGPT_ASSERT(agpt_wfile_size(f) == size);
  AGPT_TRY(agpt_wfile_commit(f));
  if (crc_out) *crc_out = crc;
  if (size_out) *size_out = size;
  return AGPT_OK;
}

/* ---- reader ---- */

struct agpt_st_file {
  char *path;
  agpt_mmap map;
  agpt_st_tensor *tensors; /* header order; names owned */
  int n;
  int *byname; /* indices sorted by name, for agpt_st_find */
  agpt_st_meta *meta;      /* keys and values owned */
  int n_meta;
};

void agpt_st_close(agpt_st_file *f) {
  if (!f) return;
  for (int i = 0; i < f->n; i++) free((char *)f->tensors[i].name);
  for (int i = 0; i < f->n_meta; i++) {
    free((char *)f->meta[i].key);
    free((char *)f->meta[i].value);
  }
  free(f->tensors);
  free(f->byname);
  free(f->meta);
  agpt_mmap_close(&f->map);
  free(f->path);
  free(f);
}

static char *dup_n(const char *s, size_t n) {
  char *d = agpt_xmalloc(n + 1);
  memcpy(d, s, n);
  d[n] = '\0';
  return d;
}

typedef struct {
  uint64_t begin, end;
  int idx;
} span;

static int cmp_span(const void *a, const void *b) {
  const span *x = a, *y = b;
  if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
  if (x->end != y->end) return x->end < y->end ? -1 : 1;
  return 0;
}

static agpt_status parse_tensor(const char *path, const char *name, const agpt_json *e, uint64_t data_size,
                                agpt_st_tensor *t, span *sp) {
  if (agpt_json_type(e) != AGPT_JSON_OBJECT)
    return agpt_fail("%s: tensor %s: entry is not an object with dtype, shape and data_offsets", path, name);
  const char *ds = agpt_json_str(agpt_json_get(e, "dtype"), NULL);
  if (!ds) return agpt_fail("%s: tensor %s: dtype is missing or not a string", path, name);
  if (agpt_st_dtype_parse(ds, &t->dtype) != 0)
    return agpt_fail("%s: tensor %s: unknown dtype \"%s\" (supported: F64 F32 F16 BF16 I64 I32 I16 I8 U64 U32 U16 U8 BOOL)",
                     path, name, ds);
  const agpt_json *shape = agpt_json_get(e, "shape");
  if (agpt_json_type(shape) != AGPT_JSON_ARRAY) return agpt_fail("%s: tensor %s: shape is missing or not an array", path, name);
  if (agpt_json_len(shape) > AGPT_ST_MAX_DIMS)
    return agpt_fail("%s: tensor %s: shape has %zu dimensions (at most %d are supported)", path, name,
                     agpt_json_len(shape), AGPT_ST_MAX_DIMS);
  t->ndim = (int)agpt_json_len(shape);
  for (int d = 0; d < t->ndim; d++) {
    int64_t v;
    if (agpt_json_int(agpt_json_at(shape, (size_t)d), &v) != AGPT_OK || v < 0)
      return agpt_fail("%s: tensor %s: shape[%d] is not a non-negative integer", path, name, d);
    t->shape[d] = v;
  }
  const agpt_json *offs = agpt_json_get(e, "data_offsets");
  int64_t b, en;
  if (agpt_json_type(offs) != AGPT_JSON_ARRAY || agpt_json_len(offs) != 2 ||
      agpt_json_int(agpt_json_at(offs, 0), &b) != AGPT_OK || agpt_json_int(agpt_json_at(offs, 1), &en) != AGPT_OK ||
      b < 0 || en < 0)
    return agpt_fail("%s: tensor %s: data_offsets must be [begin, end] with non-negative integers", path, name);
  if (b > en) return agpt_fail("%s: tensor %s: data_offsets [%lld, %lld] end before they begin", path, name, (long long)b, (long long)en);
  if ((uint64_t)en > data_size)
    return agpt_fail("%s: tensor %s: data_offsets [%lld, %lld] reach past the %llu data bytes of the file (truncated?)",
                     path, name, (long long)b, (long long)en, (unsigned long long)data_size);
  int64_t nb = shape_nbytes(t->shape, t->ndim, dtypes[t->dtype].size);
  if (nb < 0 || nb != en - b) {
    char s[256];
    shape_str(s, sizeof s, t->shape, t->ndim);
    return agpt_fail("%s: tensor %s: data_offsets span %lld bytes but %s %s needs %lld", path, name,
                     (long long)(en - b), ds, s, (long long)nb);
  }
  t->nbytes = (size_t)(en - b);
  sp->begin = (uint64_t)b;
  sp->end = (uint64_t)en;
  return AGPT_OK;
}

static int cmp_tensor_name(const void *a, const void *b, void *ctx) {
  const agpt_st_file *f = ctx;
  return strcmp(f->tensors[*(const int *)a].name, f->tensors[*(const int *)b].name);
}

static agpt_status st_parse(agpt_st_file *f) {
  const char *path = f->path;
  const unsigned char *base = f->map.data;
  uint64_t size = f->map.size;
  if (size < 8)
    return agpt_fail("%s: file has %llu bytes, fewer than the 8-byte header length (truncated or not safetensors)", path,
                     (unsigned long long)size);
  uint64_t hl = 0;
  for (int i = 0; i < 8; i++) hl |= (uint64_t)base[i] << (8 * i);
  if (hl > size - 8)
    return agpt_fail("%s: header length %llu exceeds the %llu bytes after it (truncated or not safetensors)", path,
                     (unsigned long long)hl, (unsigned long long)(size - 8));
  if (hl > ST_MAX_HEADER)
    return agpt_fail("%s: header length %llu is larger than the %d bytes accepted (corrupt file?)", path,
                     (unsigned long long)hl, ST_MAX_HEADER);
  if (hl < 2 || base[8] != '{')
    return agpt_fail("%s: header does not start with '{' (not a safetensors file)", path);
  uint64_t data_size = size - 8 - hl;
  const unsigned char *data = base + 8 + hl;

  agpt_json *root;
  if (agpt_json_parse((const char *)base + 8, (size_t)hl, &root) != AGPT_OK)
    return agpt_fail_prefix("%s: header JSON", path);
  agpt_status st = AGPT_OK;
  if (agpt_json_type(root) != AGPT_JSON_OBJECT) {
    agpt_json_free(root);
    return agpt_fail("%s: header JSON is not an object", path);
  }
  size_t members = agpt_json_len(root);
  if (members > (size_t)INT32_MAX / 2) {
    agpt_json_free(root);
    return agpt_fail("%s: header lists %zu entries (too many)", path, members);
  }
  f->tensors = agpt_xcalloc(members ? members : 1, sizeof *f->tensors);
  span *spans = agpt_xmalloc((members ? members : 1) * sizeof *spans);
  int have_meta = 0;
  for (size_t i = 0; i < members && st == AGPT_OK; i++) {
    size_t kl;
    const char *key = agpt_json_key_at(root, i, &kl);
    const agpt_json *e = agpt_json_at(root, i);
    if (strlen(key) != kl) {
      st = agpt_fail("%s: header: a tensor name contains a NUL character", path);
      break;
    }
    if (!strcmp(key, "__metadata__")) {
      if (have_meta++) {
        st = agpt_fail("%s: header: __metadata__ appears twice", path);
        break;
      }
      if (agpt_json_type(e) != AGPT_JSON_OBJECT) {
        st = agpt_fail("%s: header: __metadata__ is not an object of strings", path);
        break;
      }
      size_t nm = agpt_json_len(e);
      f->meta = agpt_xcalloc(nm ? nm : 1, sizeof *f->meta);
      for (size_t m = 0; m < nm; m++) {
        size_t mkl, mvl;
        const char *mk = agpt_json_key_at(e, m, &mkl);
        const char *mv = agpt_json_str(agpt_json_at(e, m), &mvl);
        if (!mv) {
          st = agpt_fail("%s: header: __metadata__.%s is not a string", path, mk);
          break;
        }
        f->meta[f->n_meta].key = dup_n(mk, mkl);
        f->meta[f->n_meta].value = dup_n(mv, mvl);
        f->n_meta++;
      }
      continue;
    }
    agpt_st_tensor *t = &f->tensors[f->n];
    st = parse_tensor(path, key, e, data_size, t, &spans[f->n]);
    if (st != AGPT_OK) break;
    t->name = dup_n(key, kl);
    t->data = data + spans[f->n].begin;
    spans[f->n].idx = f->n;
    f->n++;
  }
  agpt_json_free(root);
  if (st == AGPT_OK) {
    /* names distinct (JSON allows repeated keys; the format does not) */
    f->byname = agpt_xmalloc((size_t)(f->n ? f->n : 1) * sizeof *f->byname);
    for (int i = 0; i < f->n; i++) f->byname[i] = i;
    qsort_r(f->byname, (size_t)f->n, sizeof *f->byname, cmp_tensor_name, f);
    for (int i = 1; i < f->n && st == AGPT_OK; i++)
      if (!strcmp(f->tensors[f->byname[i]].name, f->tensors[f->byname[i - 1]].name))
        st = agpt_fail("%s: header: tensor %s appears twice", path, f->tensors[f->byname[i]].name);
  }
  if (st == AGPT_OK) {
    /* the tensors must tile [0, data_size) exactly */
    qsort(spans, (size_t)f->n, sizeof *spans, cmp_span);
    uint64_t expect = 0;
    for (int i = 0; i < f->n && st == AGPT_OK; i++) {
      const char *nm = f->tensors[spans[i].idx].name;
      if (spans[i].begin < expect)
        st = agpt_fail("%s: tensor %s: data_offsets [%llu, %llu] overlap tensor %s (corrupt header)", path, nm,
                       (unsigned long long)spans[i].begin, (unsigned long long)spans[i].end,
                       f->tensors[spans[i - 1].idx].name);
      else if (spans[i].begin > expect)
        st = agpt_fail("%s: tensor %s: data_offsets begin at %llu, leaving a gap after byte %llu (corrupt header)", path,
                       nm, (unsigned long long)spans[i].begin, (unsigned long long)expect);
      expect = spans[i].end;
    }
    if (st == AGPT_OK && expect != data_size)
      st = agpt_fail("%s: %llu data bytes follow the last tensor's end at %llu (corrupt header or extra data)", path,
                     (unsigned long long)(data_size - expect), (unsigned long long)expect);
  }
  free(spans);
  return st;
}

agpt_status agpt_st_open(const char *path, agpt_st_file **out) {
  *out = NULL;
  agpt_st_file *f = agpt_xcalloc(1, sizeof *f);
  f->path = agpt_xstrdup(path);
  if (agpt_mmap_open(path, &f->map) != AGPT_OK || st_parse(f) != AGPT_OK) {
    agpt_st_close(f);
    return AGPT_ERR;
  }
  *out = f;
  return AGPT_OK;
}

const char *agpt_st_path(const agpt_st_file *f) { return f->path; }
int agpt_st_count(const agpt_st_file *f) { return f->n; }

const agpt_st_tensor *agpt_st_at(const agpt_st_file *f, int i) {
  return i >= 0 && i < f->n ? &f->tensors[i] : NULL;
}

const agpt_st_tensor *agpt_st_find(const agpt_st_file *f, const char *name) {
  int lo = 0, hi = f->n - 1;
  while (lo <= hi) {
    int mid = lo + (hi - lo) / 2;
    int c = strcmp(name, f->tensors[f->byname[mid]].name);
    if (!c) return &f->tensors[f->byname[mid]];
    if (c < 0)
      hi = mid - 1;
    else
      lo = mid + 1;
  }
  return NULL;
}

int agpt_st_meta_count(const agpt_st_file *f) { return f->n_meta; }
const agpt_st_meta *agpt_st_meta_at(const agpt_st_file *f, int i) {
  return i >= 0 && i < f->n_meta ? &f->meta[i] : NULL;
}
const char *agpt_st_meta_get(const agpt_st_file *f, const char *key) {
  for (int i = 0; i < f->n_meta; i++)
    if (!strcmp(f->meta[i].key, key)) return f->meta[i].value;
  return NULL;
}

static float half_to_f32(uint16_t h) {
  uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (man << 13);
  } else if (exp) {
    bits = sign | ((exp + 112) << 23) | (man << 13);
  } else if (!man) {
    bits = sign;
  } else { /* subnormal: renormalize */
    int e = -1;
    do {
      e++;
      man <<= 1;
    } while (!(man & 0x400));
    bits = sign | ((uint32_t)(112 - e) << 23) | ((man & 0x3ff) << 13);
  }
  float f;
  memcpy(&f, &bits, 4);
  return f;
}

agpt_status agpt_st_to_f32(const agpt_st_tensor *t, float *out) {
  size_t isz = dtypes[t->dtype].size, n = t->nbytes / isz;
  const unsigned char *p = t->data;
  if (t->dtype == AGPT_ST_F32) {
    if (n) memcpy(out, p, n * 4);
    return AGPT_OK;
  }
  for (size_t i = 0; i < n; i++, p += isz) {
    union {
      uint8_t u8;
      int8_t i8;
      uint16_t u16;
      int16_t i16;
      uint32_t u32;
      int32_t i32;
      uint64_t u64;
      int64_t i64;
      double f64;
    } v;
    memcpy(&v, p, isz);
    switch (t->dtype) {
      case AGPT_ST_F64: out[i] = (float)v.f64; break;
      case AGPT_ST_F16: out[i] = half_to_f32(v.u16); break;
      case AGPT_ST_BF16: {
        uint32_t bits = (uint32_t)v.u16 << 16;
        memcpy(&out[i], &bits, 4);
        break;
      }
      case AGPT_ST_I64: out[i] = (float)v.i64; break;
      case AGPT_ST_I32: out[i] = (float)v.i32; break;
      case AGPT_ST_I16: out[i] = (float)v.i16; break;
      case AGPT_ST_I8: out[i] = (float)v.i8; break;
      case AGPT_ST_U64: out[i] = (float)v.u64; break;
      case AGPT_ST_U32: out[i] = (float)v.u32; break;
      case AGPT_ST_U16: out[i] = (float)v.u16; break;
      case AGPT_ST_U8: out[i] = (float)v.u8; break;
      default: return agpt_fail("%s: dtype %s cannot be converted to float32", t->name, dtypes[t->dtype].name);
    }
  }
  return AGPT_OK;
}

/* ---- parameter tables ---- */

static char *prefixed(const char *prefix, const char *name) {
  size_t a = prefix ? strlen(prefix) : 0, b = strlen(name);
  char *s = agpt_xmalloc(a + b + 1);
  if (a) memcpy(s, prefix, a);
  memcpy(s + a, name, b + 1);
  return s;
}

agpt_status agpt_st_write_table(const char *path, const agpt_param_table *table, const agpt_st_table_part *parts,
                                int n_parts, const agpt_st_meta *meta, int n_meta, uint32_t *crc_out,
                                uint64_t *size_out) {
  int n = table->n * n_parts;
  agpt_st_tensor *ts = agpt_xcalloc((size_t)(n ? n : 1), sizeof *ts);
  for (int p = 0; p < n_parts; p++)
    for (int i = 0; i < table->n; i++) {
      const agpt_param *pr = &table->params[i];
      agpt_st_tensor *t = &ts[p * table->n + i];
      AGPT_ASSERT(pr->ndim >= 0 && pr->ndim <= AGPT_PARAM_MAX_DIMS && pr->offset + pr->numel <= table->total);
      t->name = prefixed(parts[p].prefix, pr->name);
      t->dtype = AGPT_ST_F32;
      t->ndim = pr->ndim;
      for (int d = 0; d < pr->ndim; d++) t->shape[d] = pr->shape[d];
      t->data = parts[p].flat + pr->offset;
      t->nbytes = pr->numel * sizeof(float);
    }
  agpt_status st = agpt_st_write(path, ts, n, meta, n_meta, crc_out, size_out);
  for (int i = 0; i < n; i++) free((char *)ts[i].name);
  free(ts);
  return st;
}

static int cmp_param_idx(const void *a, const void *b, void *ctx) {
  const agpt_param_table *t = ctx;
  return strcmp(t->params[*(const int *)a].name, t->params[*(const int *)b].name);
}

/* Collects up to a few names per category into a message, with counts. */
typedef struct {
  agpt_sb sb;
  int count;
} name_list;

static void list_add(name_list *l, const char *name, const char *detail) {
  if (l->count++ < 4) {
    if (l->sb.len) agpt_sb_puts(&l->sb, ", ");
    agpt_sb_printf(&l->sb, "%s%s", name, detail ? detail : "");
  } else if (l->count == 5) {
    agpt_sb_puts(&l->sb, ", ...");
  }
}

agpt_status agpt_st_read_table_from(const agpt_st_file *f, const agpt_param_table *table, const char *prefix,
                                    float *flat) {
  if (!prefix) prefix = "";
  size_t plen = strlen(prefix);
  name_list missing = {0}, extra = {0}, bad = {0};
  char name[AGPT_PARAM_NAME_MAX + 256];
  for (int i = 0; i < table->n; i++) {
    const agpt_param *pr = &table->params[i];
    snprintf(name, sizeof name, "%s%s", prefix, pr->name);
    const agpt_st_tensor *t = agpt_st_find(f, name);
    if (!t) {
      list_add(&missing, name, NULL);
      continue;
    }
    int same = t->dtype == AGPT_ST_F32 && t->ndim == pr->ndim;
    for (int d = 0; same && d < pr->ndim; d++) same = t->shape[d] == pr->shape[d];
    if (!same) {
      char detail[600], a[256], b[256];
      shape_str(a, sizeof a, t->shape, t->ndim);
      shape_str(b, sizeof b, pr->shape, pr->ndim);
      snprintf(detail, sizeof detail, " is %s %s, expected F32 %s", dtypes[t->dtype].name, a, b);
      list_add(&bad, name, detail);
      continue;
    }
    AGPT_ASSERT(t->nbytes == pr->numel * sizeof(float) && pr->offset + pr->numel <= table->total);
    if (t->nbytes) memcpy(flat + pr->offset, t->data, t->nbytes);
  }
  /* extra: tensors under the prefix that the table does not name */
  int *idx = agpt_xmalloc((size_t)(table->n ? table->n : 1) * sizeof *idx);
  for (int i = 0; i < table->n; i++) idx[i] = i;
  qsort_r(idx, (size_t)table->n, sizeof *idx, cmp_param_idx, (void *)table);
  for (int i = 0; i < agpt_st_count(f); i++) {
    const char *tn = agpt_st_at(f, i)->name;
    if (strncmp(tn, prefix, plen) != 0) continue;
    const char *rest = tn + plen;
    int lo = 0, hi = table->n - 1, found = 0;
    while (lo <= hi && !found) {
      int mid = lo + (hi - lo) / 2;
      int c = strcmp(rest, table->params[idx[mid]].name);
      if (!c)
        found = 1;
      else if (c < 0)
        hi = mid - 1;
      else
        lo = mid + 1;
    }
    if (!found) list_add(&extra, tn, NULL);
  }
  free(idx);
  agpt_status st = AGPT_OK;
  if (missing.count || extra.count || bad.count) {
    agpt_sb m = {0};
    if (missing.count) agpt_sb_printf(&m, "%d missing (%s)", missing.count, missing.sb.data);
    if (bad.count) agpt_sb_printf(&m, "%s%d mismatched (%s)", m.len ? "; " : "", bad.count, bad.sb.data);
    if (extra.count) agpt_sb_printf(&m, "%s%d unexpected (%s)", m.len ? "; " : "", extra.count, extra.sb.data);
    st = agpt_fail("%s: tensors%s%s%s do not match the model: %s (load a checkpoint written with the same model "
                   "configuration)",
                   f->path, plen ? " under \"" : "", prefix, plen ? "\"" : "", m.data);
    agpt_sb_free(&m);
  }
  agpt_sb_free(&missing.sb);
  agpt_sb_free(&extra.sb);
  agpt_sb_free(&bad.sb);
  return st;
}

agpt_status agpt_st_read_table(const char *path, const agpt_param_table *table, const char *prefix, float *flat) {
  agpt_st_file *f;
  AGPT_TRY(agpt_st_open(path, &f));
  agpt_status st = agpt_st_read_table_from(f, table, prefix, flat);
  agpt_st_close(f);
  return st;
}
