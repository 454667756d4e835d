"""Interop of agpt's indexed datasets with Megatron's MMIDIDX format.

A reference reader and writer in numpy, written from the format as Megatron's
`MMapIndexedDataset.Index` lays it out (header, int32 sizes, int64 pointers as
the exclusive prefix sum of size x itemsize, int64 document index starting at
0 and ending at the sequence count; the builder's add_item/end_document), is
compared with agpt in both directions through tests/tools/idx_tool.
"""
import json
import os
import pathlib
import struct
import subprocess

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
MAGIC = b"MMIDIDX\x00\x00"
DTYPES = {1: np.uint8, 2: np.int8, 3: np.int16, 4: np.int32, 5: np.int64, 6: np.float64, 7: np.float32,
          8: np.uint16}
CODES = {np.dtype(v): k for k, v in DTYPES.items()}


# ---- numpy reference, Megatron's layout -------------------------------------------------------

class RefBuilder:
    """Megatron's MMapIndexedDatasetBuilder: add_item appends a sequence, end_document closes a
    document (doc_idx starts as [0] and gets len(sizes) appended)."""

    def __init__(self, prefix, dtype):
        self.prefix, self.dtype = str(prefix), np.dtype(dtype)
        self.data = open(self.prefix + ".bin", "wb")
        self.sizes, self.doc_idx = [], [0]

    def add_item(self, ids):
        arr = np.asarray(ids, dtype=self.dtype)
        self.data.write(arr.tobytes(order="C"))
        self.sizes.append(arr.size)

    def end_document(self):
        self.doc_idx.append(len(self.sizes))

    def finalize(self):
        self.data.close()
        sizes = np.asarray(self.sizes, dtype=np.int32)
        pointers = np.zeros(len(sizes), dtype=np.int64)
        if len(sizes) > 1:
            pointers[1:] = np.cumsum(sizes[:-1].astype(np.int64) * self.dtype.itemsize)
        with open(self.prefix + ".idx", "wb") as f:
            f.write(MAGIC)
            f.write(struct.pack("<Q", 1))
            f.write(struct.pack("<B", CODES[self.dtype]))
            f.write(struct.pack("<Q", len(sizes)))
            f.write(struct.pack("<Q", len(self.doc_idx)))
            f.write(sizes.tobytes(order="C"))
            f.write(pointers.tobytes(order="C"))
            f.write(np.asarray(self.doc_idx, dtype=np.int64).tobytes(order="C"))


def ref_read(prefix, meta=False):
    """Megatron's Index reader plus token reads by pointer and size."""
    prefix = str(prefix)
    buf = open(prefix + ".idx", "rb").read()
    assert buf[:9] == MAGIC
    assert struct.unpack("<Q", buf[9:17]) == (1,)
    code = buf[17]
    n, d = struct.unpack("<QQ", buf[18:34])
    off = 34
    sizes = np.frombuffer(buf, dtype=np.int32, count=n, offset=off)
    pointers = np.frombuffer(buf, dtype=np.int64, count=n, offset=off + sizes.nbytes)
    doc_idx = np.frombuffer(buf, dtype=np.int64, count=d, offset=off + sizes.nbytes + pointers.nbytes)
    out = {"dtype": code, "sizes": sizes.tolist(), "pointers": pointers.tolist(), "doc_idx": doc_idx.tolist()}
    if not meta:
        data = np.memmap(prefix + ".bin", mode="r", dtype=np.uint8)
        out["tokens"] = [np.frombuffer(data, dtype=DTYPES[code], count=int(s), offset=int(p)).tolist()
                         for s, p in zip(sizes, pointers)]
    return out


# ---- agpt side --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def idx_tool():
    tools = os.environ.get("AGPT_TOOLS", str(ROOT / "build" / "tools"))
    path = os.path.join(tools, "idx_tool")
    assert os.path.exists(path), f"{path} is missing: run `make` first"
    return path


def agpt_dump(tool, prefix, meta=False, check=True):
    p = subprocess.run([tool, "dump", str(prefix)] + (["meta"] if meta else []), capture_output=True, text=True)
    if not check:
        return p
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def agpt_write(tool, prefix, dtype_code, docs):
    text = "".join(" ".join(map(str, d)) + "\n" for d in docs)
    p = subprocess.run([tool, "write", str(prefix), str(dtype_code)], input=text, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr


def random_docs(rng, n, vocab):
    docs = []
    for i in range(n):
        length = 0 if i % 9 == 4 else int(rng.integers(1, 200))
        docs.append(rng.integers(0, vocab, size=length).tolist())
    docs[0][:1] = [vocab - 1]
    return docs


@pytest.mark.parametrize("code,vocab", [(8, 65535), (4, 1 << 20)])
def test_agpt_files_read_by_reference(tmp_path, idx_tool, code, vocab):
    rng = np.random.default_rng(code)
    docs = random_docs(rng, 120, vocab)
    prefix = tmp_path / "agpt"
    agpt_write(idx_tool, prefix, code, docs)
    ref = ref_read(prefix)
    assert ref["dtype"] == code
    assert ref["sizes"] == [len(d) for d in docs]
    assert ref["doc_idx"] == list(range(len(docs) + 1))
    assert ref["tokens"] == docs
    itemsize = np.dtype(DTYPES[code]).itemsize
    assert os.path.getsize(str(prefix) + ".bin") == sum(map(len, docs)) * itemsize
    assert os.path.getsize(str(prefix) + ".idx") == 34 + 12 * len(docs) + 8 * (len(docs) + 1)
    # The byte layout is exactly the reference writer's for the same documents.
    b = RefBuilder(tmp_path / "ref", DTYPES[code])
    for d in docs:
        b.add_item(d)
        b.end_document()
    b.finalize()
    for ext in (".bin", ".idx"):
        assert open(str(prefix) + ext, "rb").read() == open(str(tmp_path / "ref") + ext, "rb").read()


@pytest.mark.parametrize("code", [1, 2, 3, 4, 5, 8])
def test_reference_files_read_by_agpt(tmp_path, idx_tool, code):
    dtype = DTYPES[code]
    info = np.iinfo(dtype)
    rng = np.random.default_rng(100 + code)
    b = RefBuilder(tmp_path / "ref", dtype)
    seqs, doc_idx = [], [0]
    # Documents of several sequences (Megatron's --split-sentences), single ones and empty ones.
    for d in range(40):
        for _ in range(int(rng.integers(0, 4))):
            seq = rng.integers(max(info.min, -(2 ** 31)), min(info.max, 2 ** 31 - 1) + 1,
                               size=int(rng.integers(0, 50))).tolist()
            b.add_item(seq)
            seqs.append(seq)
        b.end_document()
        doc_idx.append(len(seqs))
    b.finalize()
    got = agpt_dump(idx_tool, tmp_path / "ref")
    assert got["dtype"] == code
    assert got["n_seqs"] == len(seqs) and got["n_docs"] == len(doc_idx)
    assert got["doc_idx"] == doc_idx
    assert got["sizes"] == [len(s) for s in seqs]
    assert got["tokens"] == seqs
    assert got["n_tokens"] == sum(map(len, seqs))
    ref = ref_read(tmp_path / "ref")
    assert got["pointers"] == ref["pointers"]


def test_meta_only_files(tmp_path, idx_tool):
    sizes = [5, 0, 17, 3, 2048]
    p = subprocess.run([idx_tool, "meta", str(tmp_path / "m"), "4", *map(str, sizes)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert not os.path.exists(tmp_path / "m.bin")
    ref = ref_read(tmp_path / "m", meta=True)
    assert ref["dtype"] == 4 and ref["sizes"] == sizes
    assert ref["pointers"] == [0, 20, 20, 88, 100]
    assert ref["doc_idx"] == list(range(len(sizes) + 1))
    got = agpt_dump(idx_tool, tmp_path / "m", meta=True)
    assert got["n_tokens"] == sum(sizes)
    # Without meta the missing .bin is an error naming it.
    p = agpt_dump(idx_tool, tmp_path / "m", check=False)
    assert p.returncode == 1 and "m.bin" in p.stderr


def test_corrupt_reference_files_rejected(tmp_path, idx_tool):
    b = RefBuilder(tmp_path / "c", np.uint16)
    for d in ([1, 2, 3], [4, 5], [6]):
        b.add_item(d)
        b.end_document()
    b.finalize()
    idx = bytearray(open(tmp_path / "c.idx", "rb").read())
    n = 3

    def rejected(blob, want):
        open(tmp_path / "c.idx", "wb").write(bytes(blob))
        p = agpt_dump(idx_tool, tmp_path / "c", check=False)
        assert p.returncode == 1, f"accepted a file that should fail with {want!r}"
        assert want in p.stderr and "c.idx" in p.stderr, p.stderr

    bad = bytearray(idx)
    bad[34 + 4 * n + 8 * 2:34 + 4 * n + 8 * 3] = struct.pack("<q", 5)
    rejected(bad, "pointers[2] = 5, expected 10")
    bad = bytearray(idx)
    bad[34 + 12 * n + 8 * 3:] = struct.pack("<q", 2)
    rejected(bad, "doc_idx[3] = 2")
    bad = bytearray(idx)
    bad[17] = 11
    rejected(bad, "dtype code = 11")
    rejected(idx[:-3], "counts")
