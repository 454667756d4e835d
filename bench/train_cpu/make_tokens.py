"""Writes a Megatron MMIDIDX dataset of uniformly random tokens for the
training benchmark (speed does not depend on what the tokens say)."""
import struct
import sys

import numpy as np

prefix, vocab, n_tokens = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(0)
dtype, code = (np.uint16, 8) if vocab < 65500 else (np.int32, 4)
sizes = rng.integers(500, 3000, size=max(1, n_tokens // 1500)).astype(np.int32)
tokens = rng.integers(0, vocab, size=int(sizes.sum())).astype(dtype)
tokens.tofile(prefix + ".bin")
pointers = np.concatenate([[0], np.cumsum(sizes.astype(np.int64) * tokens.itemsize)[:-1]]).astype(np.int64)
doc_idx = np.arange(len(sizes) + 1, dtype=np.int64)
with open(prefix + ".idx", "wb") as f:
    f.write(b"MMIDIDX\x00\x00")
    f.write(struct.pack("<Q", 1))
    f.write(struct.pack("<B", code))
    f.write(struct.pack("<Q", len(sizes)))
    f.write(struct.pack("<Q", len(doc_idx)))
    f.write(sizes.tobytes())
    f.write(pointers.tobytes())
    f.write(doc_idx.tobytes())
