#!/usr/bin/env python3
"""Writes the seed inputs of the fuzz targets into tests/fuzz/seeds/<name>/.

Each seed is a small valid input (or, for the targets that take several
files in one input, a valid combination), so that fuzzing starts from inputs
that reach past the first checks. The tokenizer seeds come from
`agpt tokenizer train`: pass the agpt binary as the first argument. Run it
again after a format changes and commit what it writes."""
import json
import os
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SEEDS = os.path.join(HERE, "seeds")


def put(target, name, data):
    d = os.path.join(SEEDS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def json_seeds():
    put("json", "object", '{"a": 1, "b": [true, false, null], "c": {"d": "e"}}')
    put("json", "numbers", "[0, -1, 1.5, -2.25e-3, 1E10, 9007199254740993, -9223372036854775808, 1e400]")
    put("json", "strings", r'["", "\"\\\/\b\f\n\r\t", "\u00e9\u65e5\ud83d\ude00", "nul\u0000inside", "caf\u00e9"]')
    put("json", "nested", '{"x": [[[{"y": [1, {"z": []}]}]]], "dup": 1, "dup": 2}')
    put("json", "state", json.dumps({"iteration": 200, "consumed_samples": 3200, "rng": {"seed": 1234},
                                     "loss": 3.25, "lr": 0.0003}, indent=2))


def idx_bytes(sizes, docs, dtype=8, itemsize=2):
    n = len(sizes)
    ptrs, p = [], 0
    for s in sizes:
        ptrs.append(p)
        p += s * itemsize
    head = b"MMIDIDX\x00\x00" + struct.pack("<QBQQ", 1, dtype, n, len(docs))
    return head + struct.pack("<%di" % n, *sizes) + struct.pack("<%dq" % n, *ptrs) + \
        struct.pack("<%dq" % len(docs), *docs), p


def indexed_seeds():
    for name, sizes, docs, dtype, item in [("u16", [3, 1, 4], [0, 1, 2, 3], 8, 2),
                                           ("i32_multi", [2, 5, 0, 1], [0, 2, 2, 4], 4, 4),
                                           ("u8_empty", [], [0], 1, 1),
                                           ("i64", [1, 2], [0, 2], 5, 8)]:
        idx, nbin = idx_bytes(sizes, docs, dtype, item)
        binb = bytes((7 * i + 3) % 256 for i in range(nbin))
        put("indexed", name, struct.pack("<I", len(idx)) + idx + binb)


def st_bytes(tensors, meta=None):
    header, data = {}, b""
    if meta is not None:
        header["__metadata__"] = meta
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    return struct.pack("<Q", len(h)) + h + data


def safetensors_seeds():
    put("safetensors", "f32", st_bytes([("w", "F32", [2], struct.pack("<2f", 1.0, 2.0))]))
    put("safetensors", "mixed", st_bytes([
        ("a", "F64", [1], struct.pack("<d", 0.5)),
        ("b", "I64", [2, 1], struct.pack("<2q", -1, 7)),
        ("c", "F32", [], struct.pack("<f", 3.0)),
        ("d", "BF16", [3], struct.pack("<3H", 0x3F80, 0xC000, 0x7FC0)),
        ("e", "F16", [2], struct.pack("<2H", 0x3C00, 0xFC00)),
        ("f", "U8", [2, 2], bytes([1, 2, 3, 4])),
        ("g", "BOOL", [1], bytes([1])),
        ("h", "I32", [0, 3], b""),
    ], meta={"format": "pt", "step": "10"}))
    put("safetensors", "empty", st_bytes([]))


def config(arch, **kw):
    c = {"arch": arch, "n_layer": 2, "hidden": 64, "n_head": 4, "n_kv_head": 2 if arch == "llama" else 4,
         "ffn": 128, "vocab": 300, "padded_vocab": 320, "max_seq": 64, "rope_theta": 10000.0, "norm_eps": 1e-5,
         "tie_embeddings": 0 if arch == "llama" else 1, "bias": 0 if arch == "llama" else 1, "init_std": 0.02}
    c.update(kw)
    return json.dumps({"architectures": ["X"], "model_type": arch, "agpt": c}, indent=2) + "\n"


def model_json_seeds():
    put("model_json", "llama", config("llama"))
    put("model_json", "gpt2", config("gpt2"))
    put("model_json", "llama_untied_pad0", config("llama", padded_vocab=0, tie_embeddings=1, n_kv_head=1))


MANIFEST_FILES = {
    "config.json": b'{"agpt": {}}\n',
    "model.safetensors": st_bytes([("w", "F32", [2], struct.pack("<2f", 1.0, 2.0))]),
}


def manifest(files, iteration=1):
    body = '{\n  "format": "agpt-checkpoint",\n  "version": 1,\n  "iteration": %d,\n  "files": [' % iteration
    body += ",".join('\n    {"name": "%s", "size": %d, "crc32c": "%08x"}' % (n, len(b), crc32c(b))
                     for n, b in files.items())
    body += "\n  ],\n"
    return body + '  "manifest_crc32c": "%08x"\n}\n' % crc32c(body.encode())


def manifest_seeds():
    assert len(MANIFEST_FILES["model.safetensors"]) == 72
    m = manifest(MANIFEST_FILES)
    put("manifest", "direct", m)
    put("manifest", "latest", b"iter_0000001\n\x00" + m.encode())
    put("manifest", "one_file", manifest({"config.json": MANIFEST_FILES["config.json"]}))
    put("manifest", "no_files", manifest({}, iteration=0))


def blend_seeds():
    put("blend", "list", "# weight prefix corpus\n0.7 a web\n0.3 b code\n\n")
    put("blend", "same_corpus", "1 a c\n1 b.bin c  # two files\n2e-1 a.idx d\n")
    put("blend", "data_path", "0.5 a 0.5 b")
    put("blend", "single", "a")


def preprocess_seeds():
    docs = [{"text": "the quick brown fox", "title": "fox"}, {"text": "Le renard\n\u00e9t\u00e9"},
            {"text": ""}, {"text": "<|endoftext|> special"}]
    jsonl = "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs) + "\n   \nnot json\n"
    put("preprocess", "jsonl", b"\x00" + jsonl.encode())
    put("preprocess", "jsonl_keys_eod", b"\x70" + jsonl.encode())
    text = "First document line.\nSame document.\n\nSecond document.\n\n\nThird.\n"
    put("preprocess", "txt_file", b"\x01" + text.encode())
    put("preprocess", "txt_blank", b"\x03" + text.encode())
    put("preprocess", "txt_line", b"\x45" + text.encode())


def tokenizer_seeds(agpt):
    corpus = ("the quick brown fox jumps over the lazy dog 12345\n"
              "Le renard brun saute par-dessus le chien paresseux. caf\u00e9 \u65e5\u672c\u8a9e\n") * 20
    with tempfile.TemporaryDirectory() as d:
        inp = os.path.join(d, "in.txt")
        with open(inp, "w") as f:
            f.write(corpus)
        runs = {
            "gpt2": ["--pattern", "gpt2", "--vocab-size", "280"],
            "llama3": ["--pattern", "llama3", "--vocab-size", "290", "--special-tokens", "<|begin_of_text|>",
                       "<|end_of_text|>", "--bos", "<|begin_of_text|>", "--eos", "<|end_of_text|>", "--bos-template"],
        }
        for name, flags in runs.items():
            out = os.path.join(d, name + ".json")
            subprocess.run([agpt, "tokenizer", "train", "--input", inp, "--output", out, "--quiet"] + flags,
                           check=True)
            with open(out, "rb") as f:
                put("tokenizer", name, f.read())
    # merges as pairs, a Split with a String pattern, a Roberta post-processor
    vocab = {chr(c) if 33 <= c <= 126 else "\u0100" + str(c): c for c in range(256)}
    vocab = {k: i for i, k in enumerate(sorted(vocab, key=lambda k: vocab[k]))}
    vocab["th"] = 256
    vocab["the"] = 257
    tok = {"version": "1.0", "truncation": None, "padding": None,
           "added_tokens": [{"id": 258, "content": "<s>", "single_word": False, "lstrip": False, "rstrip": False,
                             "normalized": False, "special": True},
                            {"id": 259, "content": "</s>", "single_word": False, "lstrip": False, "rstrip": False,
                             "normalized": False, "special": True}],
           "normalizer": None,
           "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
               {"type": "Split", "pattern": {"String": " "}, "behavior": "Isolated", "invert": False},
               {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]},
           "post_processor": {"type": "RobertaProcessing", "sep": ["</s>", 259], "cls": ["<s>", 258],
                              "trim_offsets": True, "add_prefix_space": False},
           "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
           "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                     "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
                     "ignore_merges": False, "vocab": vocab, "merges": [["t", "h"], ["th", "e"]]}}
    put("tokenizer", "pairs_split_roberta", json.dumps(tok, ensure_ascii=False))


if __name__ == "__main__":
    json_seeds()
    indexed_seeds()
    safetensors_seeds()
    model_json_seeds()
    manifest_seeds()
    blend_seeds()
    preprocess_seeds()
    if len(sys.argv) > 1:
        tokenizer_seeds(sys.argv[1])
