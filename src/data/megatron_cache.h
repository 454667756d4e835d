/* The on-disk cache of a `megatron` index (--data-cache-path): one file per
 * (blend, options), named by a hash of a description of both, that holds
 * the served arrays so that a later run maps them instead of building.
 *
 * File layout (little-endian):
 *   "AGPTMIX1" | u32 version | u32 crc | u64 desc_len | u64 n_table |
 *   desc bytes | u64 table[n_table] | padding to 4096 | data sections
 * crc is CRC-32C of everything in the header after the crc field (desc and
 * table included). The table is the caller's: offsets and lengths of its
 * sections. The description is stored whole and compared on load, so a
 * hash collision cannot hand back the wrong arrays.
 *
 * Promises: a cache file appears under its final name only complete (it is
 * written as NAME.tmp.PID, the header last, then renamed); any number of
 * builders may race (the last rename wins, every candidate is complete); a
 * file that fails a check is reported and rebuilt, never used. Data
 * sections are not checksummed on load (that would read them all); a
 * damaged data page would go unnoticed, as with Megatron's .npy caches. */
#ifndef AGPT_DATA_MEGATRON_CACHE_H
#define AGPT_DATA_MEGATRON_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "core/file.h"
#include "core/status.h"

typedef struct agpt_mt_cache_writer agpt_mt_cache_writer;

/* The cache file path for desc under dir (malloc'd). */
char *agpt_mt_cache_path(const char *dir, const char *desc);

/* Maps PATH when it is a complete cache for desc with n_table table
 * entries: *found = 1, table copied to table[], *map owns the mapping
 * (close with agpt_mmap_close). A missing file gives *found = 0 and
 * AGPT_OK; a damaged or foreign one is logged, gives *found = 0 and AGPT_OK
 * so the caller rebuilds it. */
agpt_status agpt_mt_cache_load(const char *path, const char *desc, uint64_t n_table, uint64_t *table, agpt_mmap *map,
                               int *found);

/* Starts writing PATH (creating its directory). Data sections are placed
 * with agpt_mt_cache_reserve and written with agpt_mt_cache_write from any
 * thread; agpt_mt_cache_commit writes the header and renames the file into
 * place; agpt_mt_cache_abort removes it. Both free w. */
agpt_status agpt_mt_cache_begin(const char *path, const char *desc, uint64_t n_table, agpt_mt_cache_writer **out);
/* Offset of a fresh section of `bytes` bytes (thread-safe, 64-aligned). */
uint64_t agpt_mt_cache_reserve(agpt_mt_cache_writer *w, uint64_t bytes);
/* Writes n bytes at offset off; returns 0 or an errno (thread-safe; records
 * no message, so it can run on worker threads). */
int agpt_mt_cache_write(agpt_mt_cache_writer *w, uint64_t off, const void *data, size_t n);
agpt_status agpt_mt_cache_commit(agpt_mt_cache_writer *w, const uint64_t *table);
void agpt_mt_cache_abort(agpt_mt_cache_writer *w);
/* The path being written (for messages). */
const char *agpt_mt_cache_writer_path(const agpt_mt_cache_writer *w);

#endif
