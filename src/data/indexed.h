/* Megatron indexed datasets (MMIDIDX): PREFIX.bin holds the token ids of all
 * sequences back to back; PREFIX.idx holds, little-endian,
 *
 *   magic "MMIDIDX\0\0" (9 bytes), version u64 = 1, dtype code u8,
 *   N = number of sequences u64, D = number of document-index entries u64,
 *   sizes N x int32, pointers N x int64, document index D x int64
 *
 * where pointers[i] is the byte offset of sequence i in .bin (the exclusive
 * prefix sum of sizes x itemsize) and the document index lists the sequence
 * each document starts at, beginning with 0 and ending with N (so a corpus of
 * one-sequence documents has D = N + 1). Files written by Megatron-LM and
 * Megatron-DeepSpeed open here unchanged, and files written here open there.
 *
 * Promises: opening validates every field against the file lengths and never
 * reads outside the maps, whatever the bytes (a bad file is an AGPT_ERR naming
 * the file, the field and the index); the writers produce .bin and .idx
 * atomically (.bin first, then .idx, so a present .idx implies a complete
 * .bin); reading tokens after a successful open cannot fail. (For files too
 * large for the full check, see agpt_indexed_open, a corrupt entry the
 * sampled check missed stops agpt_indexed_read with an assertion rather than
 * a read outside the map.) */
#ifndef AGPT_DATA_INDEXED_H
#define AGPT_DATA_INDEXED_H

#include <stddef.h>
#include <stdint.h>

#include "core/file.h"
#include "core/status.h"

/* Megatron dtype codes. */
enum {
  AGPT_IDX_U8 = 1,
  AGPT_IDX_I8 = 2,
  AGPT_IDX_I16 = 3,
  AGPT_IDX_I32 = 4,
  AGPT_IDX_I64 = 5,
  AGPT_IDX_F64 = 6,
  AGPT_IDX_F32 = 7,
  AGPT_IDX_U16 = 8,
};

/* Bytes before the sizes array: 9 magic + 8 version + 1 dtype + 8 N + 8 D. */
#define AGPT_IDX_HEADER_BYTES 34

/* The arrays of a .idx start at byte 34, so in the map they are not aligned
 * to their element size. These element types tell the compiler so (it then
 * never emits aligned vector loads for them): index the arrays through the
 * struct fields below, and do not copy the field into a plain `const int32_t *`
 * or `const int64_t *`, which would promise an alignment the map lacks. */
typedef int32_t agpt_i32_unaligned __attribute__((aligned(1)));
typedef int64_t agpt_i64_unaligned __attribute__((aligned(1)));

typedef struct {
  agpt_mmap idx, bin;       /* core/file.h; bin is empty when meta_only */
  int dtype;                /* Megatron dtype code: 1 u8, 2 i8, 3 i16, 4 i32, 5 i64, 6 f64, 7 f32, 8 u16 */
  size_t itemsize;
  uint64_t n_seqs, n_docs;  /* n_docs = number of entries of the document index (boundaries incl. 0 and n_seqs) */
  const agpt_i32_unaligned *sizes;    /* (n_seqs) tokens per sequence, into the map */
  const agpt_i64_unaligned *pointers; /* (n_seqs) byte offsets into .bin */
  const agpt_i64_unaligned *doc_idx;  /* (n_docs) */
  uint64_t n_tokens;        /* sum of sizes */
  char *prefix;             /* owned */
  int meta_only;            /* opened without .bin */
} agpt_indexed;

/* Opens PREFIX.idx (and PREFIX.bin unless meta_only) and validates them.
 * A trailing ".bin" or ".idx" on prefix is accepted and dropped.
 * Validation of the O(N) arrays: sizes and pointers are checked in full
 * (a sequential pass, about 1 s per 10^9 sequences) unless N exceeds
 * AGPT_IDX_FULL_CHECK_MAX, in which case the first and last 2^20 entries and
 * 2^20 evenly spaced ones are checked; the document index is always checked
 * in full when D <= AGPT_IDX_FULL_CHECK_MAX, sampled likewise otherwise.
 * Setting AGPT_IDX_CHECK=full in the environment forces the full check
 * (AGPT_IDX_CHECK=sampled the sampled one).
 * On success ds owns the maps; on failure ds is left closed. */
#define AGPT_IDX_FULL_CHECK_MAX ((uint64_t)1 << 28)
agpt_status agpt_indexed_open(const char *prefix, int meta_only, agpt_indexed *ds);
void agpt_indexed_close(agpt_indexed *ds);

/* Copies tokens [offset, offset+len) of sequence seq into out as int32.
 * Bounds are the caller's invariant (assert). Float dtypes are truncated to
 * int32; 64-bit ids are narrowed (the open check does not scan .bin). */
void agpt_indexed_read(const agpt_indexed *ds, uint64_t seq, uint64_t offset, uint64_t len, int32_t *out);

/* 8 (uint16) when vocab_size < 65500, else 4 (int32), as Megatron chooses. */
int agpt_indexed_dtype_for_vocab(size_t vocab_size);
/* Bytes per token for a dtype code; 0 for an unknown code. */
size_t agpt_indexed_itemsize(int dtype);
/* "uint16", "int32", ... ; "?" for an unknown code. */
const char *agpt_indexed_dtype_name(int dtype);

/* Streaming writer: sizes stay in memory (4 bytes per sequence) until
 * finish; tokens go straight to the temporary .bin. *out is owned by the
 * caller until agpt_indexed_writer_finish() or agpt_indexed_writer_abort(),
 * which both free it. dtype must be an integer code (1, 2, 3, 4, 5, 8); ids
 * outside the dtype's range fail naming the document and position. */
typedef struct agpt_indexed_writer agpt_indexed_writer;
agpt_status agpt_indexed_writer_open(const char *prefix, int dtype, agpt_indexed_writer **out);
agpt_status agpt_indexed_writer_add_doc(agpt_indexed_writer *w, const int32_t *ids, size_t n); /* one sequence = one document */
agpt_status agpt_indexed_writer_finish(agpt_indexed_writer *w); /* atomic .bin then .idx; frees w */
void agpt_indexed_writer_abort(agpt_indexed_writer *w);
/* Documents and tokens added so far. */
uint64_t agpt_indexed_writer_docs(const agpt_indexed_writer *w);
uint64_t agpt_indexed_writer_tokens(const agpt_indexed_writer *w);

/* Metadata-only .idx (no .bin) for synthetic corpora in benchmarks and tests,
 * one sequence per document. Writes PREFIX.idx atomically; any existing
 * PREFIX.bin is left alone (open such files with meta_only = 1). */
agpt_status agpt_indexed_write_meta(const char *prefix, int dtype, const int32_t *sizes, uint64_t n);
/* The same without holding the sizes: fill(ctx, first, count, out) must
 * write sizes[first .. first+count) into out (count <= 1 << 20) and return
 * AGPT_OK, and must give the same values every time it is asked, because
 * the sizes are generated twice (once for the sizes array, once for the
 * pointers). Memory use is constant in n. */
typedef agpt_status (*agpt_indexed_sizes_fn)(void *ctx, uint64_t first, uint64_t count, int32_t *out);
agpt_status agpt_indexed_write_meta_fn(const char *prefix, int dtype, uint64_t n, agpt_indexed_sizes_fn fill,
                                       void *ctx);

#endif
