"""Sizes read from a file are bounded by what the file can hold.

Each test hands agpt a small file whose header or table claims far more than
the file holds, runs it under an address-space limit of 2 GiB, and expects a
clean error (a non-zero exit, not a signal) naming the file and the field,
where an unbounded reader would try to allocate gigabytes first."""
import json
import resource

import pytest

LIMIT = 2 << 30


def limited():
    resource.setrlimit(resource.RLIMIT_AS, (LIMIT, LIMIT))


def byte_vocab():
    # the 256 byte-level tokens, as GPT-2 numbers them
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): i for i, c in enumerate(cs)}


def tokenizer(vocab, added=()):
    return {"version": "1.0", "truncation": None, "padding": None, "added_tokens": list(added),
            "normalizer": None,
            "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
                              "use_regex": True},
            "post_processor": None, "decoder": {"type": "ByteLevel"},
            "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                      "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
                      "vocab": vocab, "merges": []}}


def expect_clean_error(p, *words):
    assert p.returncode > 0, f"exit {p.returncode} (a signal or success), stderr:\n{p.stderr[-2000:]}"
    for w in words:
        assert w in p.stderr, f"{w!r} not in the message:\n{p.stderr[-2000:]}"


def test_tokenizer_small_file_loads_under_the_limit(run_agpt, tmp_path):
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps(tokenizer(byte_vocab())))
    p = run_agpt("tokenizer", "info", "--tokenizer", path, preexec_fn=limited, timeout=60)
    assert "256" in p.stdout


@pytest.mark.parametrize("where", ["vocab", "added_tokens"])
def test_tokenizer_id_beyond_the_entries(run_agpt, tmp_path, where):
    vocab = byte_vocab()
    added = []
    if where == "vocab":
        vocab["huge"] = 1_000_000_000
        field = "model.vocab"
    else:
        added = [{"id": 1_000_000_000, "content": "<|huge|>", "single_word": False, "lstrip": False,
                  "rstrip": False, "normalized": False, "special": True}]
        field = "added_tokens[0].id"
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps(tokenizer(vocab, added)))
    p = run_agpt("tokenizer", "info", "--tokenizer", path, check=False, preexec_fn=limited, timeout=60)
    expect_clean_error(p, str(path), field, "1000000000")


def test_tokenizer_token_listed_twice(run_agpt, tmp_path):
    # Counted twice, a repeated token lets an id reach past the entries that
    # remain once the file is written back; each token is listed once.
    text = json.dumps(tokenizer(byte_vocab()))
    text = text.replace('"vocab": {', '"vocab": {"!": 0, ', 1)
    path = tmp_path / "tokenizer.json"
    path.write_text(text)
    p = run_agpt("tokenizer", "info", "--tokenizer", path, check=False, preexec_fn=limited, timeout=60)
    expect_clean_error(p, str(path), "model.vocab['!']", "listed twice")
