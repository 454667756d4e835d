"""Inputs the commands must not take quietly: a --json-keys field no line
has (an empty dataset), malformed JSONL lines (one rule for preprocess and
tokenizer train), output paths in directories that do not exist yet, and
`agpt tokenizer info FILE`."""
import json
import os

import pytest

TEXT = ("The quick brown fox jumps over the lazy dog. Pack my box with five dozen liquor jugs! "
        "Sphinx of black quartz, judge my vow. How vexingly quick daft zebras jump. ") * 20


@pytest.fixture
def tok(tmp_path, run_agpt):
    src = tmp_path / "corpus.txt"
    src.write_text(TEXT)
    out = tmp_path / "tok.json"
    run_agpt("tokenizer", "train", "--input", src, "--vocab-size", "300", "--output", out, "--quiet")
    return out


def write_jsonl(path, rows):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def outputs(d, prefix):
    return sorted(f for f in os.listdir(d) if f.startswith(prefix))


def test_json_key_no_line_has_is_an_error_and_keeps_earlier_outputs(tmp_path, run_agpt, tok):
    data = write_jsonl(tmp_path / "in.jsonl", [{"text": "hello there"}, {"text": "general kenobi"}])
    prefix = tmp_path / "ds"
    run_agpt("preprocess", "--input", data, "--output-prefix", prefix, "--tokenizer", tok)
    before = {f: (tmp_path / f).read_bytes() for f in outputs(tmp_path, "ds")}
    assert sorted(before) == ["ds_text_document.bin", "ds_text_document.idx"]
    # The same prefix with a field no line has: the run fails and the earlier dataset stays as it was.
    p = run_agpt("preprocess", "--input", data, "--output-prefix", prefix, "--tokenizer", tok, "--json-keys", "text",
                 "--json-keys", "body", check=False)
    p2 = run_agpt("preprocess", "--input", data, "--output-prefix", tmp_path / "ds", "--tokenizer", tok,
                  "--json-keys", "body", check=False)
    for q in (p, p2):
        assert q.returncode != 0, q.stderr
        assert "no documents" in q.stderr and "--json-keys" in q.stderr, q.stderr
    assert outputs(tmp_path, "ds") == sorted(before)
    for f, b in before.items():
        assert (tmp_path / f).read_bytes() == b
    # A fresh prefix gets nothing at all.
    p = run_agpt("preprocess", "--input", data, "--output-prefix", tmp_path / "fresh", "--tokenizer", tok,
                 "--json-keys", "body", check=False)
    assert p.returncode != 0 and outputs(tmp_path, "fresh") == []


def test_only_malformed_lines_is_an_error(tmp_path, run_agpt, tok):
    data = write_jsonl(tmp_path / "bad.jsonl", ['{"text": "cut', "[1, 2]"])
    p = run_agpt("preprocess", "--input", data, "--output-prefix", tmp_path / "o", "--tokenizer", tok, check=False)
    assert p.returncode != 0 and "no documents" in p.stderr, p.stderr
    assert outputs(tmp_path, "o_") == []


MIXED = [{"text": TEXT}, '{"text": "truncated', {"body": "no text field"}, "", {"text": TEXT[::-1]}]


def test_malformed_jsonl_one_rule_for_preprocess_and_tokenizer_train(tmp_path, run_agpt, tok):
    data = write_jsonl(tmp_path / "mixed.jsonl", MIXED)
    # preprocess and tokenizer train both report lines 2 and 3, skip them and go on ...
    p = run_agpt("preprocess", "--input", data, "--output-prefix", tmp_path / "m", "--tokenizer", tok)
    t = run_agpt("tokenizer", "train", "--input", data, "--vocab-size", "280", "--output", tmp_path / "t.json")
    for q in (p, t):
        assert "mixed.jsonl:2:" in q.stderr and "mixed.jsonl:3:" in q.stderr, q.stderr
        assert "mixed.jsonl:1:" not in q.stderr and "mixed.jsonl:4:" not in q.stderr
        assert "skipped 2 malformed lines" in q.stdout + q.stderr, q.stderr
    assert (tmp_path / "t.json").exists()
    # ... and both stop at the first one under --strict.
    p = run_agpt("preprocess", "--input", data, "--output-prefix", tmp_path / "s", "--tokenizer", tok, "--strict",
                 check=False)
    t = run_agpt("tokenizer", "train", "--input", data, "--vocab-size", "280", "--output", tmp_path / "s.json",
                 "--strict", check=False)
    for q in (p, t):
        assert q.returncode != 0 and "mixed.jsonl:2:" in q.stderr and "mixed.jsonl:3:" not in q.stderr, q.stderr
    assert not (tmp_path / "s.json").exists() and outputs(tmp_path, "s_") == []


def test_tokenizer_train_without_any_text_fails(tmp_path, run_agpt):
    data = write_jsonl(tmp_path / "x.jsonl", [{"body": "a"}, {"body": "b"}])
    p = run_agpt("tokenizer", "train", "--input", data, "--vocab-size", "280", "--output", tmp_path / "t.json",
                 check=False)
    assert p.returncode != 0 and "--json-key" in p.stderr, p.stderr
    assert not (tmp_path / "t.json").exists()


def test_outputs_create_their_directories(tmp_path, run_agpt, tok):
    data = write_jsonl(tmp_path / "in.jsonl", [{"text": "hello there"}])
    run_agpt("preprocess", "--input", data, "--output-prefix", tmp_path / "data" / "web" / "shard", "--tokenizer", tok)
    assert outputs(tmp_path / "data" / "web", "shard") == ["shard_text_document.bin", "shard_text_document.idx"]
    src = tmp_path / "c.txt"
    src.write_text(TEXT)
    run_agpt("tokenizer", "train", "--input", src, "--vocab-size", "280", "--output", tmp_path / "tk" / "a" / "t.json",
             "--quiet")
    assert (tmp_path / "tk" / "a" / "t.json").exists()


def test_tokenizer_info_takes_the_file_as_a_word(run_agpt, tok):
    by_word = run_agpt("tokenizer", "info", tok)
    by_flag = run_agpt("tokenizer", "info", "--tokenizer", tok)
    assert by_word.stdout == by_flag.stdout and "vocab_size" in by_word.stdout
    for args in ([], [tok, tok], [tok, "--tokenizer", tok]):
        p = run_agpt("tokenizer", "info", *args, check=False)
        assert p.returncode == 2, p.stderr
