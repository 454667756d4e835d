/* Fuzz target: Megatron indexed datasets (data/indexed.c), PREFIX.idx and
 * PREFIX.bin. The input is a 4-byte little-endian length L, then L bytes of
 * .idx, then the .bin. After an open that succeeds, every token of every
 * sequence must be readable; the metadata-only open is tried as well. */
#include "fuzz_util.h"

#include "data/indexed.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 4) return 0;
  uint32_t l;
  memcpy(&l, data, 4);
  size_t rest = size - 4, nidx = l % (rest + 1);
  char prefix[600], pidx[640], pbin[640];
  fuzz_path(prefix, sizeof prefix, "ds");
  snprintf(pidx, sizeof pidx, "%s.idx", prefix);
  snprintf(pbin, sizeof pbin, "%s.bin", prefix);
  fuzz_write_file(pidx, data + 4, nidx);
  fuzz_write_file(pbin, data + 4 + nidx, rest - nidx);
  agpt_indexed ds;
  if (agpt_indexed_open(prefix, 0, &ds) == AGPT_OK) {
    int32_t buf[256];
    for (uint64_t s = 0; s < ds.n_seqs; s++) {
      uint64_t n = (uint64_t)ds.sizes[s];
      for (uint64_t off = 0; off < n; off += 256) agpt_indexed_read(&ds, s, off, n - off < 256 ? n - off : 256, buf);
    }
    agpt_indexed_close(&ds);
  }
  if (agpt_indexed_open(prefix, 1, &ds) == AGPT_OK) agpt_indexed_close(&ds);
  return 0;
}
