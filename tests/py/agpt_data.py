"""Small Megatron MMIDIDX datasets for tests, written with numpy from the
format description (independent of agpt's writer)."""
import struct

import numpy as np


def write_random_dataset(prefix, vocab, n_docs=60, min_len=20, max_len=200, seed=0):
    rng = np.random.default_rng(seed)
    sizes = rng.integers(min_len, max_len, size=n_docs).astype(np.int32)
    dtype, code = (np.uint16, 8) if vocab < 65500 else (np.int32, 4)
    tokens = rng.integers(0, vocab, size=int(sizes.sum())).astype(dtype)
    tokens.tofile(f"{prefix}.bin")
    pointers = np.zeros(n_docs, dtype=np.int64)
    pointers[1:] = np.cumsum(sizes.astype(np.int64) * tokens.itemsize)[:-1]
    with open(f"{prefix}.idx", "wb") as f:
        f.write(b"MMIDIDX\x00\x00" + struct.pack("<QBQQ", 1, code, n_docs, n_docs + 1))
        f.write(sizes.tobytes() + pointers.tobytes() + np.arange(n_docs + 1, dtype=np.int64).tobytes())
    return prefix
