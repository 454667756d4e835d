/* The on-disk cache of a `megatron` index (--data-cache-path): one file per
 * (blend, options), named by a hash of a description of both, that holds
 * the served arrays so that a later run maps them instead of building.
 *
 * File layout (little-endian):
 *   "AGPTMIX1" | u32 version (2) | u32 crc | u64 desc_len | u64 n_table |
 *   u64 n_sect | u64 chunk_bytes | u64 sums_off | u64 n_chunks |
 *   u32 sums_crc | u32 0 | desc bytes | u64 table[n_table] |
 *   (u64 offset, u64 bytes)[n_sect] | padding to 4096 | data sections |
 *   u32 sums[n_chunks] at sums_off
 * crc is CRC-32C of everything in the header after the crc field (desc,
 * table and section directory included). Every section is cut into chunks
 * of chunk_bytes (the last one shorter) and sums holds the CRC-32C of each
 * chunk, section after section; sums_crc is the CRC-32C of sums. The table
 * is the caller's (sizes it needs to interpret the sections); sections are
 * numbered by the caller too, and an absent one has offset and length 0.
 * The description is stored whole and compared on load, so a hash
 * collision cannot hand back the wrong arrays.
 *
 * Promises: a cache file appears under its final name only complete (it is
 * written as NAME.tmp.PID, the header last, then renamed); any number of
 * builders may race (the last rename wins, every candidate is complete).
 * Loading checks the header and the chunk sums (a few kilobytes per
 * gigabyte), never the data: a mapped cache opens in milliseconds whatever
 * its size. Data is checked where it is used: agpt_mt_cache_check verifies
 * the chunks under a byte range the first time any of them is asked for,
 * so every byte is checked before it is served, and each chunk once per
 * process. What the caller does with a damaged range (megatron_index.c
 * rebuilds what it lost from the data files) is the caller's. */
#ifndef AGPT_DATA_MEGATRON_CACHE_H
#define AGPT_DATA_MEGATRON_CACHE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/file.h"
#include "core/status.h"

typedef struct agpt_mt_cache_writer agpt_mt_cache_writer;

/* A loaded cache: the map, its section directory and the check state of
 * every chunk (0 not yet checked, 1 good, 2 damaged). The state is the only
 * thing that changes after loading; it is atomic, so any number of threads
 * may call agpt_mt_cache_check on a shared (const) cache. */
typedef struct {
  agpt_mmap map;
  char *path;
  uint64_t n_sect;
  uint64_t *off, *bytes; /* (n_sect) */
  uint64_t *chunk0;      /* (n_sect + 1) first chunk of each section */
  const unsigned char *sums;
  _Atomic(unsigned char) *state; /* (n_chunks) */
  dev_t dev;                     /* the mapped file, for agpt_mt_cache_discard */
  ino_t ino;
  int same_file; /* the path still named the mapped file after mapping it */
} agpt_mt_cache;

/* The cache file path for desc under dir (malloc'd). */
char *agpt_mt_cache_path(const char *dir, const char *desc);

/* Maps PATH when it is a complete cache for desc with n_table table entries
 * and n_sect sections: *found = 1, table copied to table[], *c owns the map
 * (close with agpt_mt_cache_close). A missing file gives *found = 0 and
 * AGPT_OK; a damaged or foreign one is logged, gives *found = 0 and AGPT_OK
 * so the caller rebuilds it. Reads the header and the chunk sums only. */
agpt_status agpt_mt_cache_load(const char *path, const char *desc, uint64_t n_table, uint64_t *table, uint64_t n_sect,
                               agpt_mt_cache *c, int *found);
/* Section k in the map and its length in bytes (NULL, 0 when absent). */
const void *agpt_mt_cache_section(const agpt_mt_cache *c, uint64_t k, uint64_t *bytes);
/* 1 when bytes [from, to) of section k (to <= its length) match their
 * checksums, 0 when a chunk under them does not. Each chunk is checked the
 * first time a range over it is asked for; later calls cost a byte load. */
int agpt_mt_cache_check(const agpt_mt_cache *c, uint64_t k, uint64_t from, uint64_t to);
/* Removes the cache file when its name still refers to the mapped file (a
 * newer complete file under the name is left alone); the map stays valid.
 * Returns 1 when it removed the file. */
int agpt_mt_cache_discard(const agpt_mt_cache *c);
/* Safe on a zeroed or closed cache. */
void agpt_mt_cache_close(agpt_mt_cache *c);

/* Starts writing PATH (creating its directory) with n_sect sections.
 * Sections are written with agpt_mt_cache_put from any thread;
 * agpt_mt_cache_commit writes the sums and the header and renames the file
 * into place; agpt_mt_cache_abort removes it. Both free w. */
agpt_status agpt_mt_cache_begin(const char *path, const char *desc, uint64_t n_table, uint64_t n_sect,
                                agpt_mt_cache_writer **out);
/* Writes section k (each k at most once): places it, checksums its chunks
 * and writes it. Thread-safe; returns 0 or an errno and records no message,
 * so it can run on worker threads. */
int agpt_mt_cache_put(agpt_mt_cache_writer *w, uint64_t k, const void *data, size_t n);
agpt_status agpt_mt_cache_commit(agpt_mt_cache_writer *w, const uint64_t *table);
void agpt_mt_cache_abort(agpt_mt_cache_writer *w);
/* The path being written (for messages). */
const char *agpt_mt_cache_writer_path(const agpt_mt_cache_writer *w);

#endif
