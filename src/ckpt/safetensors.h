/* safetensors: the tensor file format of the Hugging Face ecosystem.
 *
 * Layout: u64 little-endian header length N, N bytes of JSON mapping tensor
 * names to {"dtype", "shape", "data_offsets": [begin, end]} (plus an optional
 * "__metadata__" object of string -> string), padded with spaces to a
 * multiple of 8, then the raw little-endian data; offsets are relative to the
 * end of the header.
 *
 * Promises:
 * - The writer goes through agpt_wfile: a file appears complete under its
 *   name or not at all. Tensors are laid out largest item size first (stable
 *   in the given order otherwise), so every tensor is aligned to its item size
 *   and the data stays contiguous, as the format requires.
 * - The reader maps the file and validates all of it before handing out a
 *   tensor: header length within the file, JSON, known dtypes, shapes,
 *   offsets in bounds, nbytes == prod(shape) * itemsize, and tensors that tile
 *   the data region exactly (contiguous, no overlap, no gap, nothing after).
 *   Every failure names the file and the tensor or field.
 * - Data is host byte order, which must be little-endian (checked at build
 *   time). */
#ifndef AGPT_CKPT_SAFETENSORS_H
#define AGPT_CKPT_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "model/params.h"

typedef enum {
  AGPT_ST_F64,
  AGPT_ST_F32,
  AGPT_ST_F16,
  AGPT_ST_BF16,
  AGPT_ST_I64,
  AGPT_ST_I32,
  AGPT_ST_I16,
  AGPT_ST_I8,
  AGPT_ST_U64,
  AGPT_ST_U32,
  AGPT_ST_U16,
  AGPT_ST_U8,
  AGPT_ST_BOOL,
  AGPT_ST_NDTYPES
} agpt_st_dtype;

/* "F32", "BF16", ... as written in the header. */
const char *agpt_st_dtype_name(agpt_st_dtype d);
size_t agpt_st_dtype_size(agpt_st_dtype d);
/* Returns 0 and sets *out for a known name, -1 otherwise. */
int agpt_st_dtype_parse(const char *name, agpt_st_dtype *out);

enum { AGPT_ST_MAX_DIMS = 8 };

typedef struct {
  const char *name;
  agpt_st_dtype dtype;
  int ndim; /* 0 for a scalar */
  int64_t shape[AGPT_ST_MAX_DIMS];
  /* Writer: the caller's bytes (nbytes of them). Reader: points into the
   * file's map, valid until agpt_st_close(); may be unaligned only if the
   * file was written by a tool that does not align (never by agpt). */
  const void *data;
  size_t nbytes;
} agpt_st_tensor;

typedef struct {
  const char *key, *value;
} agpt_st_meta;

/* Writes tensors[0..n) and meta[0..n_meta) to `path` atomically. nbytes of
 * each tensor must equal prod(shape) * itemsize and names must be distinct
 * and not "__metadata__" (checked: AGPT_ERR naming the tensor). If crc_out
 * is not NULL it receives the CRC-32C of the whole file and size_out its
 * length in bytes, computed while writing. */
agpt_status agpt_st_write(const char *path, const agpt_st_tensor *tensors, int n, const agpt_st_meta *meta,
                          int n_meta, uint32_t *crc_out, uint64_t *size_out);

/* An open, validated file. */
typedef struct agpt_st_file agpt_st_file;

/* Maps and validates `path`. *out is owned by the caller; release it with
 * agpt_st_close(). */
agpt_status agpt_st_open(const char *path, agpt_st_file **out);
void agpt_st_close(agpt_st_file *f); /* safe with NULL */
const char *agpt_st_path(const agpt_st_file *f);
/* Tensors in header order; the returned pointers live as long as f. */
int agpt_st_count(const agpt_st_file *f);
const agpt_st_tensor *agpt_st_at(const agpt_st_file *f, int i);
/* NULL if absent. */
const agpt_st_tensor *agpt_st_find(const agpt_st_file *f, const char *name);
int agpt_st_meta_count(const agpt_st_file *f);
const agpt_st_meta *agpt_st_meta_at(const agpt_st_file *f, int i);
/* NULL if absent. */
const char *agpt_st_meta_get(const agpt_st_file *f, const char *key);

/* Converts a tensor's elements to float32 (F32, F16, BF16, F64 and the
 * integer types; values are widened or rounded to nearest). out holds
 * prod(shape) floats. Fails naming the tensor for BOOL. */
agpt_status agpt_st_to_f32(const agpt_st_tensor *t, float *out);

/* ---- the parameter table (model/params.h) ---- */

/* One flat float32 host buffer laid out by the table (table->total elements),
 * written or read under names prefix + param name ("" or NULL: no prefix;
 * e.g. "exp_avg." for an optimizer state). */
typedef struct {
  const char *prefix;
  const float *flat;
} agpt_st_table_part;

/* Writes every parameter of every part as an F32 tensor of the parameter's
 * shape. crc_out and size_out as in agpt_st_write (may be NULL). */
agpt_status agpt_st_write_table(const char *path, const agpt_param_table *table, const agpt_st_table_part *parts,
                                int n_parts, const agpt_st_meta *meta, int n_meta, uint32_t *crc_out,
                                uint64_t *size_out);

/* Fills flat (table->total floats, caller-owned; padding between tensors is
 * left as it was) from the tensors named prefix + param name of an open
 * file. Every parameter must be present as F32 with exactly its shape, and
 * no other tensor whose name starts with the prefix may exist (with an empty
 * prefix: no other tensor at all). On failure nothing is promised about
 * flat, and the message lists the missing, extra and mismatched tensors by
 * name (the first few of each, with counts). */
agpt_status agpt_st_read_table_from(const agpt_st_file *f, const agpt_param_table *table, const char *prefix,
                                    float *flat);
/* Opens path, reads one prefix, closes. */
agpt_status agpt_st_read_table(const char *path, const agpt_param_table *table, const char *prefix, float *flat);

#endif
