/* The checkpoint directory protocol: how a checkpoint is written so that a
 * crash at any instant leaves the last committed one loadable, and how it is
 * found and checked before anything is loaded from it.
 *
 * Layout of a save directory (--save):
 *   SAVE_DIR/latest                       "iter_0000200\n", rewritten atomically, last
 *   SAVE_DIR/iter_0000200/model.safetensors, optim.safetensors, config.json, ...
 *   SAVE_DIR/iter_0000200/manifest.json   every other file: name, size, crc32c
 *   SAVE_DIR/iter_0000300.tmp.<pid>/      a save in progress (or a crashed one)
 * Iterations are written with at least 7 digits (iter_%07lld, as Megatron).
 *
 * manifest.json is ordinary JSON:
 *   {"format": "agpt-checkpoint", "version": 1, "iteration": 200,
 *    "files": [{"name": "model.safetensors", "size": 123, "crc32c": "1a2b3c4d"}, ...],
 *    "manifest_crc32c": "89abcdef"}
 * The last member protects the manifest itself: it is the CRC-32C of every
 * byte before the line that holds it, and the file must end with exactly
 * that line and "}\n". A flipped byte anywhere in the manifest is therefore
 * caught whether the checkpoint is reached through `latest` or directly.
 *
 * Design note: the states of one save and the invariants that hold in each.
 *   begin  -> SAVE_DIR/iter_N.tmp.<pid> exists, empty.
 *   add_*  -> each file appears there whole (agpt_wfile: temporary name,
 *             fsync, rename, fsync of the directory); its size and CRC are
 *             recorded in memory, computed from the bytes as written.
 *   commit -> manifest.json written last in the temporary directory; the
 *             directory renamed to iter_N; SAVE_DIR fsynced; `latest`
 *             rewritten atomically; then older directories pruned.
 *   abort  -> the temporary directory removed; nothing else touched.
 * Invariants:
 *   1. `latest` only ever names a directory that is complete and durable:
 *      every file and the manifest were fsynced, the directory was renamed
 *      into place, and SAVE_DIR was fsynced, all before `latest` was written.
 *   2. A directory named exactly iter_<digits> is complete: it only gets that
 *      name by one rename after its manifest is durable, and it is never
 *      modified in place. Re-saving an iteration that already exists swaps
 *      the two directories in one atomic rename (RENAME_EXCHANGE); file
 *      systems without it fall back to two renames, which leaves a short
 *      window in which a crash makes `latest` name a missing directory
 *      (resolve then says so; the old copy is under iter_N.tmp.<pid>.old).
 *   3. The manifest is the last file written into a checkpoint and lists
 *      every other file; a checkpoint without a valid manifest is not one.
 *   4. Pruning starts only after `latest` is durable, never removes the
 *      directory just committed, and removes only iter_<digits> directories
 *      and leftovers of interrupted saves (names starting with "iter_" or
 *      "latest" that contain ".tmp."). A pruned directory is first renamed to
 *      a .tmp. name, so a crash while deleting never leaves a partial
 *      directory under a committed name.
 *   5. Nothing is loaded before it is checked: resolve validates `latest` and
 *      the manifest, and every read checks the file's size and CRC-32C
 *      against the manifest first.
 *   6. One job writes to a save directory at a time: commit deletes every
 *      interrupted save it finds there, whichever process left it.
 * Several ranks, later: every rank writes its files into the same temporary
 * directory (its name agreed on by broadcast instead of taken from the pid),
 * returns their (name, size, crc32c) entries, and after a barrier rank 0
 * gathers the entries, writes the manifest and commits. Invariants 1-5 hold
 * unchanged because only the commit step publishes anything. */
#ifndef AGPT_CKPT_CHECKPOINT_H
#define AGPT_CKPT_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "ckpt/safetensors.h"
#include "core/status.h"
#include "model/params.h"

typedef struct agpt_ckpt_writer agpt_ckpt_writer;

/* Starts a save of `iteration` (>= 0) under save_dir (created if needed).
 * *out is owned by the caller until agpt_ckpt_commit() or agpt_ckpt_abort(),
 * which both free it. */
agpt_status agpt_ckpt_begin(const char *save_dir, int64_t iteration, agpt_ckpt_writer **out);
/* The temporary directory files are being written to. */
const char *agpt_ckpt_writer_dir(const agpt_ckpt_writer *w);

/* Adds one file. name is a plain file name (no '/', not "manifest.json",
 * not starting with '.', not added before). After any add_* failure the
 * writer only accepts agpt_ckpt_abort(). */
agpt_status agpt_ckpt_add_file(agpt_ckpt_writer *w, const char *name, const void *data, size_t n);
agpt_status agpt_ckpt_add_safetensors(agpt_ckpt_writer *w, const char *name, const agpt_st_tensor *tensors, int n,
                                      const agpt_st_meta *meta, int n_meta);
/* Parameter-table tensors from flat float32 buffers (see agpt_st_write_table);
 * e.g. parts {"", params} for model.safetensors and {"exp_avg.", m},
 * {"exp_avg_sq.", v} for optim.safetensors. */
agpt_status agpt_ckpt_add_table(agpt_ckpt_writer *w, const char *name, const agpt_param_table *table,
                                const agpt_st_table_part *parts, int n_parts, const agpt_st_meta *meta, int n_meta);

/* Publishes the checkpoint (see the design note) and frees w, also on
 * failure. keep_last > 0 keeps that many iter_* directories, the one just
 * committed included (the others by highest iteration); keep_last <= 0 keeps
 * all. A failure before `latest` is rewritten leaves the previous checkpoint
 * as `latest`. Failing to prune is reported as a warning, not an error: the
 * checkpoint is committed by then. */
agpt_status agpt_ckpt_commit(agpt_ckpt_writer *w, int keep_last);
/* Removes the temporary directory and frees w. Safe with NULL. */
void agpt_ckpt_abort(agpt_ckpt_writer *w);

/* Finds the checkpoint to load. load_path is a save directory (its `latest`
 * is followed) or a checkpoint directory itself (one with manifest.json).
 * Writes the checkpoint directory to dir_out (cap bytes) and its iteration,
 * after checking `latest` and the manifest's own checksum; file contents are
 * checked by the read functions or agpt_ckpt_verify(). */
agpt_status agpt_ckpt_resolve(const char *load_path, char *dir_out, size_t cap, int64_t *iteration);

/* What a save directory holds, so that a run can decide whether it may
 * write there (a run that writes into a directory holding another history
 * would replace its iter_* directories and prune the rest).
 *   latest: the iteration `latest` names; -1 when there is no `latest`
 *           file; -2 when it exists but cannot be read as "iter_<digits>".
 *   dirs:   the iter_<digits> directories, highest iteration first
 *           (complete by invariant 2; not verified here).
 * A save directory that does not exist yet gives an empty listing. */
typedef struct {
  int64_t iteration;
  char name[64]; /* the directory's own name: iter_ and its digits */
} agpt_ckpt_dir;
typedef struct {
  int64_t latest;
  int n;
  agpt_ckpt_dir *dirs; /* owned; release with agpt_ckpt_listing_free */
} agpt_ckpt_listing;
agpt_status agpt_ckpt_list(const char *save_dir, agpt_ckpt_listing *out);
void agpt_ckpt_listing_free(agpt_ckpt_listing *l);

/* Recovery when `latest` is missing or names a damaged checkpoint: finds the
 * newest iter_* directory of save_dir whose manifest and every file verify,
 * writes its path to dir_out and its iteration to *iteration. Newer
 * directories that fail verification are renamed to iter_N.damaged.<pid>
 * (kept for inspection, never pruned, never loaded) and each is reported
 * with the reason. Fails when no directory verifies. */
agpt_status agpt_ckpt_recover(const char *save_dir, char *dir_out, size_t cap, int64_t *iteration);

/* Checks every file listed in dir/manifest.json: present, same size, same
 * CRC-32C. The error names the file and what differs. */
agpt_status agpt_ckpt_verify(const char *dir);

/* Reads one listed file after checking its size and CRC-32C. *data
 * (NUL-terminated, not counted in *n) is owned by the caller: free(). */
agpt_status agpt_ckpt_read_file(const char *dir, const char *name, char **data, size_t *n);
/* Opens one listed safetensors file after checking it; release *out with
 * agpt_st_close(). Use agpt_st_read_table_from() for each prefix. */
agpt_status agpt_ckpt_open_safetensors(const char *dir, const char *name, agpt_st_file **out);
/* Checks and reads one prefix of a table from one listed file into flat. */
agpt_status agpt_ckpt_read_table(const char *dir, const char *name, const agpt_param_table *table, const char *prefix,
                                 float *flat);

#endif
