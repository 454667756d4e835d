"""`agpt preprocess` end to end against the Hugging Face `tokenizers` library.

A small byte-level BPE tokenizer.json is trained here with `tokenizers`; the
documents agpt writes (read back with numpy, following Megatron's MMIDIDX
layout) must equal `tokenizers`' ids plus the EOD id per document, in input
order, for any worker count. Malformed JSONL lines are reported with their
line number and skipped; --strict fails and leaves no output behind.
"""
import json
import os
import struct

import numpy as np
import pytest

tokenizers = pytest.importorskip("tokenizers")

EOS = "<|endoftext|>"
CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "Pack my box with five dozen liquor jugs!",
    "Grüße aus Köln — naïve café, 東京 and emoji 🙂 too.",
    "  leading spaces, tabs\tand\nnew lines\n\n",
    "numbers 1234567890 and symbols #$%&*()[]{}",
    "It's a dog's life; they'll've done it, you're sure?",
]


@pytest.fixture(scope="module")
def tok_path(tmp_path_factory):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=[EOS],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(CORPUS * 20, trainer=trainer)
    path = tmp_path_factory.mktemp("tok") / "tokenizer.json"
    tok.save(str(path))
    return path


@pytest.fixture(scope="module")
def hf(tok_path):
    return tokenizers.Tokenizer.from_file(str(tok_path))


def read_dataset(prefix):
    """Megatron's layout, read with numpy: (dtype code, doc_idx, list of token lists)."""
    buf = open(f"{prefix}.idx", "rb").read()
    assert buf[:9] == b"MMIDIDX\x00\x00" and struct.unpack("<Q", buf[9:17])[0] == 1
    code = buf[17]
    n, d = struct.unpack("<QQ", buf[18:34])
    assert len(buf) == 34 + 12 * n + 8 * d
    sizes = np.frombuffer(buf, np.int32, n, 34)
    pointers = np.frombuffer(buf, np.int64, n, 34 + 4 * n)
    doc_idx = np.frombuffer(buf, np.int64, d, 34 + 12 * n).tolist()
    dtype = {8: np.uint16, 4: np.int32}[code]
    data = open(f"{prefix}.bin", "rb").read()
    assert len(data) == int(sizes.sum()) * np.dtype(dtype).itemsize
    docs = [np.frombuffer(data, dtype, int(s), int(p)).tolist() for s, p in zip(sizes, pointers)]
    return code, doc_idx, docs


def expected(hf, texts, eod=True):
    eos = hf.token_to_id(EOS)
    out = []
    for t in texts:
        ids = hf.encode(t).ids
        if ids:
            out.append(ids + ([eos] if eod else []))
    return out


def write_jsonl(path, rows, encoding="utf-8"):
    with open(path, "w", encoding=encoding) as f:
        for r in rows:
            f.write((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n")


def test_jsonl_matches_tokenizers(tmp_path, run_agpt, tok_path, hf):
    texts = CORPUS + ["", "x" * 3000, "\u0000 nul and \\ backslash \"quotes\"", EOS + " special inside"]
    write_jsonl(tmp_path / "a.jsonl", [{"id": i, "text": t} for i, t in enumerate(texts[:5])])
    # utf-8-sig: the second file starts with a byte-order mark, which is not text.
    write_jsonl(tmp_path / "b.json", [{"text": t, "meta": {"x": [1, 2]}} for t in texts[5:]], encoding="utf-8-sig")
    outs = []
    for workers in (1, 2):
        prefix = tmp_path / f"out{workers}"
        p = run_agpt("preprocess", "--input", tmp_path / "a.jsonl", tmp_path / "b.json", "--output-prefix", prefix,
                     "--tokenizer", tok_path, "--workers", workers, "--log-interval", 1)
        assert "documents" in p.stderr and "MB/s" in p.stderr and "ETA" in p.stderr
        code, doc_idx, docs = read_dataset(f"{prefix}_text_document")
        assert code == 8  # uint16 for a 400-token vocabulary
        assert docs == expected(hf, texts)
        assert doc_idx == list(range(len(docs) + 1))
        outs.append(open(f"{prefix}_text_document.bin", "rb").read() +
                    open(f"{prefix}_text_document.idx", "rb").read())
    assert outs[0] == outs[1]


def test_options(tmp_path, run_agpt, tok_path, hf):
    rows = [{"text": t, "title": t[:10]} for t in CORPUS]
    write_jsonl(tmp_path / "in.jsonl", rows)
    prefix = tmp_path / "o"
    run_agpt("preprocess", "--input", tmp_path / "in.jsonl", "--output-prefix", prefix, "--tokenizer", tok_path,
             "--json-keys", "text", "title", "--append-eod=false", "--dtype", "int32")
    code, _, docs = read_dataset(f"{prefix}_text_document")
    assert code == 4 and docs == expected(hf, CORPUS, eod=False)
    code, _, docs = read_dataset(f"{prefix}_title_document")
    assert code == 4 and docs == expected(hf, [t[:10] for t in CORPUS], eod=False)


@pytest.mark.parametrize("mode", ["file", "blank", "line"])
def test_plain_text(tmp_path, run_agpt, tok_path, hf, mode):
    body = "first paragraph\nstill first\n\n\nsecond one\n  \nthird\n"
    (tmp_path / "a.txt").write_text(body, encoding="utf-8")
    (tmp_path / "b.txt").write_text("another file", encoding="utf-8-sig")  # a byte-order mark is not text
    prefix = tmp_path / "t"
    run_agpt("preprocess", "--input", tmp_path / "a.txt", tmp_path / "b.txt", "--output-prefix", prefix,
             "--tokenizer", tok_path, "--txt-split", mode)
    want = {
        "file": [body, "another file"],
        "blank": ["first paragraph\nstill first", "second one", "third", "another file"],
        "line": ["first paragraph", "still first", "second one", "third", "another file"],
    }[mode]
    _, _, docs = read_dataset(f"{prefix}_text_document")
    assert docs == expected(hf, want)


def test_malformed_lines_skipped(tmp_path, run_agpt, tok_path, hf):
    lines = [
        json.dumps({"text": "good one"}),
        '{"text": "truncated',
        "",
        json.dumps(["not", "an", "object"]),
        json.dumps({"body": "no text field"}),
        json.dumps({"text": 42}),
        json.dumps({"text": "good two"}),
        '{"text": "bad escape \\q"}',
        json.dumps({"text": "good three"}),
    ]
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(lines), encoding="utf-8")  # no newline at the end
    prefix = tmp_path / "m"
    p = run_agpt("preprocess", "--input", path, "--output-prefix", prefix, "--tokenizer", tok_path)
    for line in (2, 4, 5, 6, 8):
        assert f"in.jsonl:{line}:" in p.stderr, p.stderr
    for line in (1, 3, 7, 9):
        assert f"in.jsonl:{line}:" not in p.stderr
    assert "skipped 5 malformed lines" in p.stdout + p.stderr
    _, _, docs = read_dataset(f"{prefix}_text_document")
    assert docs == expected(hf, ["good one", "good two", "good three"])


def test_strict_fails_and_writes_nothing(tmp_path, run_agpt, tok_path):
    good = tmp_path / "good.jsonl"
    write_jsonl(good, [{"text": t} for t in CORPUS])
    prefix = tmp_path / "s"
    run_agpt("preprocess", "--input", good, "--output-prefix", prefix, "--tokenizer", tok_path)
    before = {ext: open(f"{prefix}_text_document{ext}", "rb").read() for ext in (".bin", ".idx")}
    bad = tmp_path / "bad.jsonl"
    write_jsonl(bad, [{"text": "fine"}] * 3 + ['{"text": "cut off'] + [{"text": "more"}])
    p = run_agpt("preprocess", "--input", good, bad, "--output-prefix", prefix, "--tokenizer", tok_path, "--strict",
                 check=False)
    assert p.returncode != 0
    assert "bad.jsonl:4:" in p.stderr, p.stderr
    # The earlier dataset is untouched and no temporary file is left over.
    for ext, data in before.items():
        assert open(f"{prefix}_text_document{ext}", "rb").read() == data
    assert sorted(os.listdir(tmp_path)) == sorted(["good.jsonl", "bad.jsonl", "s_text_document.bin",
                                                   "s_text_document.idx"])
    # A fresh prefix gets nothing at all.
    p = run_agpt("preprocess", "--input", bad, "--output-prefix", tmp_path / "fresh", "--tokenizer", tok_path,
                 "--strict", check=False)
    assert p.returncode != 0
    assert not [f for f in os.listdir(tmp_path) if f.startswith("fresh")]


def test_bad_usage(tmp_path, run_agpt, tok_path):
    p = run_agpt("preprocess", "--input", tmp_path / "missing.jsonl", "--output-prefix", tmp_path / "x",
                 "--tokenizer", tok_path, check=False)
    assert p.returncode == 1 and "missing.jsonl" in p.stderr
    p = run_agpt("preprocess", "--output-prefix", tmp_path / "x", check=False)
    assert p.returncode == 2
    p = run_agpt("preprocess", "--help")
    assert "_document" in p.stdout and "append-eod" in p.stdout


def test_add_special_tokens(tmp_path, run_agpt, tok_path, hf):
    """--add-special-tokens: each document is BOS + ids + EOD for a Llama-3 style post_processor."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    bos, eos = "<|begin_of_text|>", "<|end_of_text|>"
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(CORPUS * 20, trainers.BpeTrainer(
        vocab_size=400, special_tokens=[bos, eos], show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    bos_id, eos_id = tok.token_to_id(bos), tok.token_to_id(eos)
    tok.post_processor = processors.Sequence([
        processors.ByteLevel(trim_offsets=False),
        processors.TemplateProcessing(single=f"{bos} $A", pair=f"{bos} $A {bos}:1 $B:1", special_tokens=[(bos, bos_id)]),
    ])
    llama = tmp_path / "llama.json"
    tok.save(str(llama))
    texts = CORPUS + ["", bos + " text that starts with a BOS of its own", "x" * 500]
    write_jsonl(tmp_path / "in.jsonl", [{"text": t} for t in texts])
    plain = [tok.encode(t, add_special_tokens=False).ids for t in texts]

    def run(prefix, *flags, tokenizer=llama):
        p = run_agpt("preprocess", "--input", tmp_path / "in.jsonl", "--output-prefix", tmp_path / prefix,
                     "--tokenizer", tokenizer, "--workers", 2, *flags)
        code, doc_idx, docs = read_dataset(tmp_path / f"{prefix}_text_document")
        assert doc_idx == list(range(len(docs) + 1))
        return p, docs

    _, docs = run("bos", "--add-special-tokens")
    # the empty text is skipped: a BOS alone is no document
    assert docs == [[bos_id] + ids + [eos_id] for ids in plain if ids]
    assert docs == [tok.encode(t).ids + [eos_id] for t in texts if t]  # `tokenizers`' default adds BOS too
    _, docs = run("bos_noeod", "--add-special-tokens", "--append-eod=false")
    assert docs == [[bos_id] + ids for ids in plain if ids]
    _, docs = run("plain")  # without the flag nothing changes
    assert docs == [ids + [eos_id] for ids in plain if ids]

    # a template that already ends in EOS: agpt warns about the second one
    tok.post_processor = processors.TemplateProcessing(single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} $B:1 {eos}:1",
                                                       special_tokens=[(bos, bos_id), (eos, eos_id)])
    both = tmp_path / "both.json"
    tok.save(str(both))
    p, docs = run("both", "--add-special-tokens", tokenizer=both)
    assert "--append-eod=false" in p.stderr
    assert docs == [[bos_id] + ids + [eos_id, eos_id] for ids in plain if ids]
    # a post_processor that adds nothing: a warning, and the same documents as without the flag
    p, docs = run("bl", "--add-special-tokens", tokenizer=tok_path)
    assert "adds no tokens" in p.stderr
    assert docs == expected(hf, texts)
