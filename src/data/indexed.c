/* Megatron MMIDIDX indexed datasets: open with validation, read, write.
 * See indexed.h for the layout and the promises.
 *
 * Validation design. Megatron's own reader trusts the .idx; we do not,
 * because a truncated copy or a bit flip would otherwise surface hours later
 * as a crash or as silently wrong tokens in the middle of a run. The checks:
 *   1. header: length >= 34, magic, version 1, a known dtype code;
 *   2. counts: 34 + 12 N + 8 D == .idx length (the newer Megatron-LM may
 *      append N one-byte sequence modes for multimodal data; that exact tail
 *      is accepted and ignored), computed without overflow;
 *   3. sizes[i] >= 0, pointers[0] == 0, pointers[i+1] - pointers[i] ==
 *      sizes[i] * itemsize (with 3 and pointers[0] == 0 this is exactly
 *      "pointers is the exclusive prefix sum", and each index checks
 *      independently, so the pass runs in parallel);
 *   4. doc_idx[0] == 0, doc_idx[D-1] == N, non-decreasing (documents may be
 *      empty: Megatron-LM's newer writer records a document whose text gave
 *      no tokens as two equal boundaries);
 *   5. .bin length == pointers[N-1] + sizes[N-1] * itemsize.
 * Above AGPT_IDX_FULL_CHECK_MAX entries, 3 and 4 run on the first and last
 * 2^20 entries and 2^20 evenly spaced ones (plus monotonicity between the
 * samples), so opening a metadata file of billions of sequences costs
 * milliseconds instead of a full read; AGPT_IDX_CHECK=full forces the full
 * pass (AGPT_IDX_CHECK=sampled the sampled one, for tests). The first
 * failing index is reported, so the message does not depend on the thread
 * count. */
#include "data/indexed.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char idx_magic[9] = {'M', 'M', 'I', 'D', 'I', 'D', 'X', 0, 0};

size_t agpt_indexed_itemsize(int dtype) {
  switch (dtype) {
  case AGPT_IDX_U8: case AGPT_IDX_I8: return 1;
  case AGPT_IDX_I16: case AGPT_IDX_U16: return 2;
  case AGPT_IDX_I32: case AGPT_IDX_F32: return 4;
  case AGPT_IDX_I64: case AGPT_IDX_F64: return 8;
  default: return 0;
  }
}

const char *agpt_indexed_dtype_name(int dtype) {
  switch (dtype) {
  case AGPT_IDX_U8: return "uint8";
  case AGPT_IDX_I8: return "int8";
  case AGPT_IDX_I16: return "int16";
  case AGPT_IDX_I32: return "int32";
  case AGPT_IDX_I64: return "int64";
  case AGPT_IDX_F64: return "float64";
  case AGPT_IDX_F32: return "float32";
  case AGPT_IDX_U16: return "uint16";
  default: return "?";
  }
}

int agpt_indexed_dtype_for_vocab(size_t vocab_size) { return vocab_size < 65500 ? AGPT_IDX_U16 : AGPT_IDX_I32; }

/* "PREFIX" from "PREFIX", "PREFIX.bin" or "PREFIX.idx"; owned by the caller. */
static char *strip_prefix(const char *p) {
  char *s = agpt_xstrdup(p);
  size_t n = strlen(s);
  if (n > 4 && (!strcmp(s + n - 4, ".bin") || !strcmp(s + n - 4, ".idx"))) s[n - 4] = '\0';
  return s;
}

static char *with_ext(const char *prefix, const char *ext) {
  size_t n = strlen(prefix) + strlen(ext) + 1;
  char *s = agpt_xmalloc(n);
  snprintf(s, n, "%s%s", prefix, ext);
  return s;
}

static uint64_t rd_u64(const unsigned char *p) {
  uint64_t v;
  memcpy(&v, p, 8);
  return v;
}

/* ---------------------------------------------------------------- checks */

/* Index i is bad when sizes[i] < 0 or (i + 1 < N and the step from
 * pointers[i] to pointers[i+1] is not sizes[i] * itemsize). */
static int seq_bad(const agpt_indexed *ds, uint64_t i) {
  int32_t s = ds->sizes[i];
  if (s < 0) return 1;
  if (i + 1 < ds->n_seqs &&
      (uint64_t)ds->pointers[i + 1] - (uint64_t)ds->pointers[i] != (uint64_t)s * ds->itemsize)
    return 1;
  return 0;
}

static agpt_status seq_fail(const agpt_indexed *ds, const char *path, uint64_t i) {
  if (ds->sizes[i] < 0)
    return agpt_fail("%s: sizes[%llu] = %d is negative (the file is corrupt: regenerate it)", path,
                     (unsigned long long)i, (int)ds->sizes[i]);
  return agpt_fail("%s: pointers[%llu] = %lld, expected %lld = pointers[%llu] + sizes[%llu] * %zu (the file is "
                   "corrupt: regenerate it)",
                   path, (unsigned long long)(i + 1), (long long)ds->pointers[i + 1],
                   (long long)((uint64_t)ds->pointers[i] + (uint64_t)ds->sizes[i] * ds->itemsize),
                   (unsigned long long)i, (unsigned long long)i, ds->itemsize);
}

static int doc_bad(const agpt_indexed *ds, uint64_t i) {
  return i + 1 < ds->n_docs && ds->doc_idx[i + 1] < ds->doc_idx[i];
}

static agpt_status doc_fail(const agpt_indexed *ds, const char *path, uint64_t i) {
  return agpt_fail("%s: doc_idx[%llu] = %lld is below doc_idx[%llu] = %lld (document boundaries must not decrease; "
                   "the file is corrupt: regenerate it)",
                   path, (unsigned long long)(i + 1), (long long)ds->doc_idx[i + 1], (unsigned long long)i,
                   (long long)ds->doc_idx[i]);
}

/* Lowest i in [0, n) with bad(ds, i), or n when none; parallel. */
static uint64_t first_bad_full(const agpt_indexed *ds, uint64_t n, int (*bad)(const agpt_indexed *, uint64_t)) {
  uint64_t first = n;
  const int64_t block = 1 << 16;
  int64_t nblocks = (int64_t)((n + (uint64_t)block - 1) / (uint64_t)block);
#pragma omp parallel for schedule(static) reduction(min : first) if (nblocks > 4)
  for (int64_t b = 0; b < nblocks; b++) {
    uint64_t lo = (uint64_t)(b * block), hi = lo + (uint64_t)block < n ? lo + (uint64_t)block : n;
    if (lo >= first) continue;
    int any = 0;
    for (uint64_t i = lo; i < hi; i++) any |= bad(ds, i);
    if (!any) continue;
    for (uint64_t i = lo; i < hi; i++)
      if (bad(ds, i)) {
        if (i < first) first = i;
        break;
      }
  }
  return first;
}

enum { SAMPLE_RUN = 1 << 20 };

/* Sampled check for huge arrays: runs at the start and the end plus evenly
 * spaced single entries. Returns the lowest bad index found, or n. */
static uint64_t first_bad_sampled(const agpt_indexed *ds, uint64_t n, int (*bad)(const agpt_indexed *, uint64_t)) {
  for (uint64_t i = 0; i < SAMPLE_RUN && i < n; i++)
    if (bad(ds, i)) return i;
  uint64_t step = n / SAMPLE_RUN;
  for (uint64_t k = 1; k < SAMPLE_RUN && step; k++)
    if (bad(ds, k * step)) return k * step;
  for (uint64_t i = n > SAMPLE_RUN ? n - SAMPLE_RUN : 0; i < n; i++)
    if (bad(ds, i)) return i;
  return n;
}

static int want_full_check(uint64_t n) {
  const char *e = getenv("AGPT_IDX_CHECK");
  if (e && !strcmp(e, "full")) return 1;
  if (e && !strcmp(e, "sampled")) return 0;
  return n <= AGPT_IDX_FULL_CHECK_MAX;
}

static agpt_status validate_arrays(const agpt_indexed *ds, const char *path) {
  uint64_t N = ds->n_seqs, D = ds->n_docs;
  if (N > 0 && ds->pointers[0] != 0)
    return agpt_fail("%s: pointers[0] = %lld, expected 0 (the file is corrupt: regenerate it)", path,
                     (long long)ds->pointers[0]);
  int full = want_full_check(N);
  uint64_t b = full ? first_bad_full(ds, N, seq_bad) : first_bad_sampled(ds, N, seq_bad);
  if (b < N) return seq_fail(ds, path, b);
  if (!full) {
    /* Between samples, pointers must still rise, or .bin reads could go
     * backwards past the start of the file. */
    uint64_t step = N / SAMPLE_RUN;
    for (uint64_t k = 1; k < SAMPLE_RUN && step; k++)
      if (ds->pointers[k * step] < ds->pointers[(k - 1) * step])
        return agpt_fail("%s: pointers[%llu] = %lld is below pointers[%llu] = %lld (the file is corrupt: regenerate "
                         "it)",
                         path, (unsigned long long)(k * step), (long long)ds->pointers[k * step],
                         (unsigned long long)((k - 1) * step), (long long)ds->pointers[(k - 1) * step]);
  }
  if (D == 0)
    return agpt_fail("%s: document count is 0, expected at least 1 (the document index starts with 0; the file is "
                     "corrupt: regenerate it)",
                     path);
  if (ds->doc_idx[0] != 0)
    return agpt_fail("%s: doc_idx[0] = %lld, expected 0 (the file is corrupt: regenerate it)", path,
                     (long long)ds->doc_idx[0]);
  if (ds->doc_idx[D - 1] != (int64_t)N)
    return agpt_fail("%s: doc_idx[%llu] = %lld, expected the sequence count %llu (the last document must end at "
                     "the last sequence; the file is corrupt: regenerate it)",
                     path, (unsigned long long)(D - 1), (long long)ds->doc_idx[D - 1], (unsigned long long)N);
  full = want_full_check(D);
  b = full ? first_bad_full(ds, D, doc_bad) : first_bad_sampled(ds, D, doc_bad);
  if (b < D) return doc_fail(ds, path, b);
  return AGPT_OK;
}

/* ------------------------------------------------------------------ open */

static agpt_status open_idx(agpt_indexed *ds, const char *path) {
  const unsigned char *p = ds->idx.data;
  size_t len = ds->idx.size;
  if (len < AGPT_IDX_HEADER_BYTES)
    return agpt_fail("%s: file is %zu bytes, shorter than the 34-byte header (truncated or not an index: "
                     "regenerate it)",
                     path, len);
  if (memcmp(p, idx_magic, 9) != 0)
    return agpt_fail("%s: magic: not \"MMIDIDX\" (not a Megatron mmap index; only the MMIDIDX format is "
                     "supported: convert it with Megatron's tools or regenerate it with agpt preprocess)",
                     path);
  uint64_t version = rd_u64(p + 9);
  if (version != 1)
    return agpt_fail("%s: version = %llu, expected 1 (written by an unsupported tool version)", path,
                     (unsigned long long)version);
  ds->dtype = p[17];
  ds->itemsize = agpt_indexed_itemsize(ds->dtype);
  if (!ds->itemsize)
    return agpt_fail("%s: dtype code = %d, expected 1-8 (1 uint8, 2 int8, 3 int16, 4 int32, 5 int64, 6 float64, "
                     "7 float32, 8 uint16; the file is corrupt)",
                     path, ds->dtype);
  uint64_t N = rd_u64(p + 18), D = rd_u64(p + 26);
  uint64_t body = len - AGPT_IDX_HEADER_BYTES;
  if (N > body / 12 || D > body / 8 || 12 * N + 8 * D > body)
    return agpt_fail("%s: counts: %llu sequences and %llu document entries need %s bytes, the file has %zu "
                     "(truncated or corrupt: regenerate it)",
                     path, (unsigned long long)N, (unsigned long long)D,
                     (N > body / 12 || D > body / 8) ? "more than the file's" : "more", len);
  uint64_t need = 12 * N + 8 * D;
  if (body != need && body != need + N)
    return agpt_fail("%s: counts: %llu sequences and %llu document entries need %llu bytes, the file has %zu (%llu "
                     "trailing bytes; a concatenation or a corrupt file: regenerate it)",
                     path, (unsigned long long)N, (unsigned long long)D,
                     (unsigned long long)(need + AGPT_IDX_HEADER_BYTES), len, (unsigned long long)(body - need));
  ds->n_seqs = N;
  ds->n_docs = D;
  ds->sizes = (const agpt_i32_unaligned *)(p + AGPT_IDX_HEADER_BYTES);
  ds->pointers = (const agpt_i64_unaligned *)(p + AGPT_IDX_HEADER_BYTES + 4 * N);
  ds->doc_idx = (const agpt_i64_unaligned *)(p + AGPT_IDX_HEADER_BYTES + 12 * N);
  AGPT_TRY(validate_arrays(ds, path));
  ds->n_tokens = 0;
  if (N > 0) {
    uint64_t last = (uint64_t)ds->pointers[N - 1];
    if (ds->pointers[N - 1] < 0 || last % ds->itemsize != 0)
      return agpt_fail("%s: pointers[%llu] = %lld is not a valid byte offset for %zu-byte tokens (the file is "
                       "corrupt: regenerate it)",
                       path, (unsigned long long)(N - 1), (long long)ds->pointers[N - 1], ds->itemsize);
    ds->n_tokens = last / ds->itemsize + (uint64_t)ds->sizes[N - 1];
  }
  return AGPT_OK;
}

agpt_status agpt_indexed_open(const char *prefix, int meta_only, agpt_indexed *ds) {
  memset(ds, 0, sizeof *ds);
  ds->prefix = strip_prefix(prefix);
  ds->meta_only = meta_only;
  char *idx_path = with_ext(ds->prefix, ".idx");
  agpt_status st = agpt_mmap_open(idx_path, &ds->idx);
  if (st == AGPT_OK) st = open_idx(ds, idx_path);
  if (st == AGPT_OK && !meta_only) {
    char *bin_path = with_ext(ds->prefix, ".bin");
    st = agpt_mmap_open(bin_path, &ds->bin);
    uint64_t want = ds->n_tokens * ds->itemsize;
    if (st == AGPT_OK && ds->bin.size != want)
      st = agpt_fail("%s: length is %zu bytes, the index %s describes %llu tokens of %zu bytes = %llu bytes (%s: "
                     "regenerate both files together)",
                     bin_path, ds->bin.size, idx_path, (unsigned long long)ds->n_tokens, ds->itemsize,
                     (unsigned long long)want, ds->bin.size < want ? "truncated" : "the .bin and .idx do not match");
    free(bin_path);
  }
  free(idx_path);
  if (st != AGPT_OK) agpt_indexed_close(ds);
  return st;
}

void agpt_indexed_close(agpt_indexed *ds) {
  agpt_mmap_close(&ds->idx);
  agpt_mmap_close(&ds->bin);
  free(ds->prefix);
  memset(ds, 0, sizeof *ds);
}

void agpt_indexed_read(const agpt_indexed *ds, uint64_t seq, uint64_t offset, uint64_t len, int32_t *out) {
  AGPT_ASSERT(!ds->meta_only);
  AGPT_ASSERT(seq < ds->n_seqs);
  AGPT_ASSERT(offset <= (uint64_t)ds->sizes[seq] && len <= (uint64_t)ds->sizes[seq] - offset);
  /* Holds by validation when the full check ran; with the sampled check an
   * unchecked corrupt pointer stops here instead of reading past the map. */
  uint64_t at = (uint64_t)ds->pointers[seq] + offset * ds->itemsize;
  AGPT_ASSERT(at <= ds->bin.size && len * ds->itemsize <= ds->bin.size - at);
  const unsigned char *src = (const unsigned char *)ds->bin.data + at;
  switch (ds->dtype) {
  case AGPT_IDX_U16:
    for (uint64_t i = 0; i < len; i++) {
      uint16_t v;
      memcpy(&v, src + 2 * i, 2);
      out[i] = v;
    }
    break;
  case AGPT_IDX_I32:
    if (len) memcpy(out, src, len * 4);
    break;
  case AGPT_IDX_U8:
    for (uint64_t i = 0; i < len; i++) out[i] = src[i];
    break;
  case AGPT_IDX_I8:
    for (uint64_t i = 0; i < len; i++) out[i] = (int8_t)src[i];
    break;
  case AGPT_IDX_I16:
    for (uint64_t i = 0; i < len; i++) {
      int16_t v;
      memcpy(&v, src + 2 * i, 2);
      out[i] = v;
    }
    break;
  case AGPT_IDX_I64:
    for (uint64_t i = 0; i < len; i++) {
      int64_t v;
      memcpy(&v, src + 8 * i, 8);
      out[i] = (int32_t)v;
    }
    break;
  case AGPT_IDX_F32:
    for (uint64_t i = 0; i < len; i++) {
      float v;
      memcpy(&v, src + 4 * i, 4);
      out[i] = (v >= -2147483648.0f && v < 2147483648.0f) ? (int32_t)v : -1;
    }
    break;
  case AGPT_IDX_F64:
    for (uint64_t i = 0; i < len; i++) {
      double v;
      memcpy(&v, src + 8 * i, 8);
      out[i] = (v >= -2147483648.0 && v < 2147483648.0) ? (int32_t)v : -1;
    }
    break;
  default:
    AGPT_ASSERT(0 && "dtype validated at open");
  }
}

/* --------------------------------------------------------------- writing */

enum { META_CHUNK = 1 << 20 };

/* Writes a complete .idx to f from the size generator (called twice). */
static agpt_status write_idx_body(agpt_wfile *f, const char *path, int dtype, uint64_t n, agpt_indexed_sizes_fn fill,
                                  void *ctx) {
  size_t itemsize = agpt_indexed_itemsize(dtype);
  unsigned char hdr[AGPT_IDX_HEADER_BYTES];
  memcpy(hdr, idx_magic, 9);
  uint64_t version = 1, D = n + 1;
  memcpy(hdr + 9, &version, 8);
  hdr[17] = (unsigned char)dtype;
  memcpy(hdr + 18, &n, 8);
  memcpy(hdr + 26, &D, 8);
  AGPT_TRY(agpt_wfile_write(f, hdr, sizeof hdr));
  int32_t *sizes = malloc(sizeof(int32_t) * META_CHUNK);
  int64_t *buf = malloc(sizeof(int64_t) * META_CHUNK);
  if (!sizes || !buf) {
    free(sizes);
    free(buf);
    return agpt_fail("%s: out of memory for a %d-entry write buffer", path, META_CHUNK);
  }
  agpt_status st = AGPT_OK;
  for (uint64_t i = 0; i < n && st == AGPT_OK; i += META_CHUNK) {
    uint64_t c = n - i < META_CHUNK ? n - i : META_CHUNK;
    st = fill(ctx, i, c, sizes);
    for (uint64_t k = 0; k < c && st == AGPT_OK; k++)
      if (sizes[k] < 0)
        st = agpt_fail("%s: sizes[%llu] = %d is negative (sequence lengths must be >= 0)", path,
                       (unsigned long long)(i + k), (int)sizes[k]);
    if (st == AGPT_OK) st = agpt_wfile_write(f, sizes, c * sizeof(int32_t));
  }
  uint64_t ptr = 0;
  for (uint64_t i = 0; i < n && st == AGPT_OK; i += META_CHUNK) {
    uint64_t c = n - i < META_CHUNK ? n - i : META_CHUNK;
    st = fill(ctx, i, c, sizes);
    for (uint64_t k = 0; k < c && st == AGPT_OK; k++) {
      if (sizes[k] < 0) {
        st = agpt_fail("%s: the size generator gave sizes[%llu] = %d on its second pass (it must be deterministic)",
                       path, (unsigned long long)(i + k), (int)sizes[k]);
        break;
      }
      buf[k] = (int64_t)ptr;
      ptr += (uint64_t)sizes[k] * itemsize;
      if (ptr > (uint64_t)INT64_MAX) st = agpt_fail("%s: more than 2^63 bytes of tokens", path);
    }
    if (st == AGPT_OK) st = agpt_wfile_write(f, buf, c * sizeof(int64_t));
  }
  for (uint64_t i = 0; i < D && st == AGPT_OK; i += META_CHUNK) {
    uint64_t c = D - i < META_CHUNK ? D - i : META_CHUNK;
    for (uint64_t k = 0; k < c; k++) buf[k] = (int64_t)(i + k);
    st = agpt_wfile_write(f, buf, c * sizeof(int64_t));
  }
  free(sizes);
  free(buf);
  return st;
}

static agpt_status write_idx(const char *prefix, int dtype, uint64_t n, agpt_indexed_sizes_fn fill, void *ctx) {
  if (!agpt_indexed_itemsize(dtype))
    return agpt_fail("%s.idx: dtype code %d is not one of 1-8", prefix, dtype);
  char *path = with_ext(prefix, ".idx");
  agpt_wfile *f;
  agpt_status st = agpt_wfile_open(path, &f);
  if (st == AGPT_OK) {
    st = write_idx_body(f, path, dtype, n, fill, ctx);
    if (st == AGPT_OK)
      st = agpt_wfile_commit(f);
    else
      agpt_wfile_abort(f);
  }
  free(path);
  return st;
}

static agpt_status fill_from_array(void *ctx, uint64_t first, uint64_t count, int32_t *out) {
  memcpy(out, (const int32_t *)ctx + first, count * sizeof(int32_t));
  return AGPT_OK;
}

agpt_status agpt_indexed_write_meta(const char *prefix, int dtype, const int32_t *sizes, uint64_t n) {
  char *p = strip_prefix(prefix);
  agpt_status st = write_idx(p, dtype, n, fill_from_array, (void *)sizes);
  free(p);
  return st;
}

agpt_status agpt_indexed_write_meta_fn(const char *prefix, int dtype, uint64_t n, agpt_indexed_sizes_fn fill,
                                       void *ctx) {
  char *p = strip_prefix(prefix);
  agpt_status st = write_idx(p, dtype, n, fill, ctx);
  free(p);
  return st;
}

/* Writer invariants:
 *   1. bin holds exactly the tokens of sizes[0..n) in order, plus the
 *      bytes waiting in out[0..out_len);
 *   2. nothing appears under the final names until finish, which commits
 *      .bin (after removing any old .idx, so an old index never describes
 *      a new .bin) and then .idx;
 *   3. after an error in add_doc the writer may only be aborted. */
struct agpt_indexed_writer {
  char *prefix;
  int dtype;
  size_t itemsize;
  agpt_wfile *bin;
  int32_t *sizes; /* (n) */
  uint64_t n, cap;
  uint64_t tokens;
  unsigned char *out; /* write buffer */
  size_t out_len;
  int failed;
};

enum { OUT_BUF = 1 << 20 };

agpt_status agpt_indexed_writer_open(const char *prefix, int dtype, agpt_indexed_writer **out) {
  char *p = strip_prefix(prefix);
  if (dtype == AGPT_IDX_F32 || dtype == AGPT_IDX_F64 || !agpt_indexed_itemsize(dtype)) {
    agpt_status st = agpt_fail("%s: dtype code %d cannot hold token ids (use 8 uint16 or 4 int32)", p, dtype);
    free(p);
    return st;
  }
  char *bin_path = with_ext(p, ".bin");
  agpt_wfile *bin;
  agpt_status st = agpt_wfile_open(bin_path, &bin);
  free(bin_path);
  if (st != AGPT_OK) {
    free(p);
    return st;
  }
  agpt_indexed_writer *w = agpt_xcalloc(1, sizeof *w);
  w->prefix = p;
  w->dtype = dtype;
  w->itemsize = agpt_indexed_itemsize(dtype);
  w->bin = bin;
  w->out = agpt_xmalloc(OUT_BUF);
  *out = w;
  return AGPT_OK;
}

static agpt_status flush_out(agpt_indexed_writer *w) {
  agpt_status st = agpt_wfile_write(w->bin, w->out, w->out_len);
  w->out_len = 0;
  return st;
}

static int id_fits(int dtype, int32_t v) {
  switch (dtype) {
  case AGPT_IDX_U8: return v >= 0 && v <= 255;
  case AGPT_IDX_I8: return v >= -128 && v <= 127;
  case AGPT_IDX_I16: return v >= -32768 && v <= 32767;
  case AGPT_IDX_U16: return v >= 0 && v <= 65535;
  default: return 1;
  }
}

static void put_ids(agpt_indexed_writer *w, const int32_t *ids, size_t n) {
  unsigned char *o = w->out + w->out_len;
  switch (w->dtype) {
  case AGPT_IDX_U16:
    for (size_t i = 0; i < n; i++) {
      uint16_t v = (uint16_t)ids[i];
      memcpy(o + 2 * i, &v, 2);
    }
    break;
  case AGPT_IDX_I16:
    for (size_t i = 0; i < n; i++) {
      int16_t v = (int16_t)ids[i];
      memcpy(o + 2 * i, &v, 2);
    }
    break;
  case AGPT_IDX_I32: memcpy(o, ids, n * 4); break;
  case AGPT_IDX_U8:
  case AGPT_IDX_I8:
    for (size_t i = 0; i < n; i++) o[i] = (unsigned char)ids[i];
    break;
  case AGPT_IDX_I64:
    for (size_t i = 0; i < n; i++) {
      int64_t v = ids[i];
      memcpy(o + 8 * i, &v, 8);
    }
    break;
  default: AGPT_ASSERT(0 && "dtype checked at open");
  }
  w->out_len += n * w->itemsize;
}

agpt_status agpt_indexed_writer_add_doc(agpt_indexed_writer *w, const int32_t *ids, size_t n) {
  AGPT_ASSERT(!w->failed);
  if (n > INT32_MAX) {
    w->failed = 1;
    return agpt_fail("%s.bin: document %llu has %zu tokens, more than the format's int32 size field holds (split "
                     "it)",
                     w->prefix, (unsigned long long)w->n, n);
  }
  for (size_t i = 0; i < n; i++)
    if (!id_fits(w->dtype, ids[i])) {
      w->failed = 1;
      return agpt_fail("%s.bin: document %llu, token %zu: id %d does not fit %s (choose a wider dtype: int32)",
                       w->prefix, (unsigned long long)w->n, i, (int)ids[i], agpt_indexed_dtype_name(w->dtype));
    }
  if (w->n == w->cap) {
    uint64_t cap = w->cap ? 2 * w->cap : 1024;
    int32_t *s = realloc(w->sizes, cap * sizeof(int32_t));
    if (!s) {
      w->failed = 1;
      return agpt_fail("%s.idx: out of memory for %llu sequence sizes", w->prefix, (unsigned long long)cap);
    }
    w->sizes = s;
    w->cap = cap;
  }
  w->sizes[w->n++] = (int32_t)n;
  size_t per = OUT_BUF / w->itemsize;
  while (n > 0) {
    size_t room = (OUT_BUF - w->out_len) / w->itemsize;
    if (room == 0) {
      if (flush_out(w) != AGPT_OK) {
        w->failed = 1;
        return AGPT_ERR;
      }
      room = per;
    }
    size_t c = n < room ? n : room;
    put_ids(w, ids, c);
    ids += c;
    n -= c;
    w->tokens += c;
  }
  return AGPT_OK;
}

uint64_t agpt_indexed_writer_docs(const agpt_indexed_writer *w) { return w->n; }
uint64_t agpt_indexed_writer_tokens(const agpt_indexed_writer *w) { return w->tokens; }

static void writer_free(agpt_indexed_writer *w) {
  free(w->prefix);
  free(w->sizes);
  free(w->out);
  free(w);
}

agpt_status agpt_indexed_writer_finish(agpt_indexed_writer *w) {
  AGPT_ASSERT(!w->failed);
  agpt_status st = flush_out(w);
  if (st != AGPT_OK) {
    agpt_indexed_writer_abort(w);
    return st;
  }
  char *idx_path = with_ext(w->prefix, ".idx");
  if (agpt_file_exists(idx_path) && remove(idx_path) != 0) {
    st = agpt_fail("%s: cannot remove the old index before replacing its .bin (check permissions)", idx_path);
    free(idx_path);
    agpt_indexed_writer_abort(w);
    return st;
  }
  free(idx_path);
  st = agpt_wfile_commit(w->bin);
  w->bin = NULL;
  if (st == AGPT_OK) st = write_idx(w->prefix, w->dtype, w->n, fill_from_array, w->sizes);
  writer_free(w);
  return st;
}

void agpt_indexed_writer_abort(agpt_indexed_writer *w) {
  if (!w) return;
  agpt_wfile_abort(w->bin);
  writer_free(w);
}
