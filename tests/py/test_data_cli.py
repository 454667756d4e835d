"""`agpt data blend` and `agpt data sample` against an independent Python
reading of the same .idx/.bin files: split token counts by Megatron's split
rule, achieved shares against the weights, a sample's tokens against the
file's token stream at the printed origin, and the error messages for a bad
data-file-list line and a missing file."""
import re
import struct

import numpy as np
import pytest

MAGIC = b"MMIDIDX\x00\x00"


def write_dataset(prefix, docs):
    """MMIDIDX with uint16 tokens, one sequence per document."""
    sizes = np.array([len(d) for d in docs], dtype=np.int32)
    pointers = np.zeros(len(docs), dtype=np.int64)
    if len(docs) > 1:
        pointers[1:] = np.cumsum(sizes[:-1].astype(np.int64) * 2)
    with open(f"{prefix}.bin", "wb") as f:
        for d in docs:
            f.write(np.asarray(d, dtype=np.uint16).tobytes())
    doc_idx = np.arange(len(docs) + 1, dtype=np.int64)
    with open(f"{prefix}.idx", "wb") as f:
        f.write(MAGIC + struct.pack("<Q", 1) + struct.pack("<B", 8))
        f.write(struct.pack("<Q", len(docs)) + struct.pack("<Q", len(doc_idx)))
        f.write(sizes.tobytes() + pointers.tobytes() + doc_idx.tobytes())


def megatron_split(splits_string, size):
    splits = [float(s) for s in splits_string.split(",")]
    while len(splits) < 3:
        splits.append(0.0)
    total = sum(splits)
    splits = [s / total for s in splits[:3]]
    idx = [0]
    for i, s in enumerate(splits):
        idx.append(idx[i] + int(round(s * float(size))))
    diff = idx[-1] - size
    return [idx[0]] + [x - diff for x in idx[1:]]


@pytest.fixture
def blend(tmp_path):
    rng = np.random.default_rng(0)
    files = {}
    for name, ndocs, base in [("web0", 120, 1000), ("web1", 80, 2000), ("code", 60, 3000)]:
        docs = [list(base + rng.integers(0, 900, size=int(rng.integers(1, 50)))) for _ in range(ndocs)]
        write_dataset(tmp_path / name, docs)
        files[name] = docs
    lst = tmp_path / "list.txt"
    lst.write_text(f"# test blend\n0.4 {tmp_path}/web0.bin web\n0.2 {tmp_path}/web1 web\n\n"
                   f"0.4 {tmp_path}/code code\n")
    return tmp_path, lst, files


def parse_table(out, header):
    lines = out.splitlines()
    start = next(i for i, l in enumerate(lines) if l.split()[:1] == [header])
    rows = []
    for l in lines[start + 1:]:
        if not l.strip():
            break
        rows.append(l.split())
    return rows


def test_blend_report(run_agpt, blend):
    tmp, lst, files = blend
    n = 3000
    p = run_agpt("data", "blend", "--data-file-list", lst, "--seq-length", 8, "--num-samples", n,
                 "--split", "90,5,5", "--seed", 7)
    corpora = {r[0]: r for r in parse_table(p.stdout, "corpus")}
    assert set(corpora) == {"web", "code"}
    assert int(corpora["web"][1]) == 2 and int(corpora["code"][1]) == 1
    assert float(corpora["web"][3]) == pytest.approx(0.6) and float(corpora["code"][3]) == pytest.approx(0.4)
    # Within one sample of weight x n (plus the 1e-6 weight quantization).
    for name, w in [("web", 0.6), ("code", 0.4)]:
        assert abs(int(corpora[name][4]) - w * n) <= 1.0
        assert float(corpora[name][5]) == pytest.approx(int(corpora[name][4]) / n)
    frows = parse_table(p.stdout, "file")
    assert [r[1] for r in frows] == ["web", "web", "code"]
    assert frows[0][-1] == f"{tmp}/web0"  # .bin dropped
    for r, name in zip(frows, ["web0", "web1", "code"]):
        docs = files[name]
        b, e = megatron_split("90,5,5", len(docs))[0:2]
        assert int(r[2]) == sum(len(d) for d in docs[b:e])
    assert sum(int(r[4]) for r in frows) == n
    # web0 : web1 = 2 : 1 inside the corpus.
    assert abs(int(frows[0][4]) - 2 * int(frows[1][4])) <= 3


def test_data_path_form(run_agpt, blend):
    tmp, _, _ = blend
    p = run_agpt("data", "blend", "--data-path", "1", tmp / "web0", "3", tmp / "code", "--seq-length", 8,
                 "--num-samples", 1000)
    corpora = parse_table(p.stdout, "corpus")
    assert len(corpora) == 2
    assert abs(int(corpora[1][4]) - 750) <= 1


def test_sample_tokens_match_stream(run_agpt, blend):
    tmp, lst, files = blend
    seq = 8
    args = ["--data-file-list", lst, "--seq-length", seq, "--num-samples", 500, "--split", "90,5,5"]
    p = run_agpt("data", "sample", "--index", 17, "--count", 20, *args)
    names = ["web0", "web1", "code"]
    blocks = re.findall(r"sample (\d+): corpus (\S+), file (\d+) (\S+), document (\d+), offset (\d+), "
                        r"epoch (\d+), window (\d+)\ntokens((?: \d+)+)", p.stdout)
    assert len(blocks) == 20
    for i, corpus, f, prefix, doc, off, epoch, window, toks in blocks:
        docs = files[names[int(f)]]
        stream = np.concatenate([np.asarray(d) for d in docs])
        starts = np.concatenate([[0], np.cumsum([len(d) for d in docs])])
        pos = starts[int(doc)] + int(off)
        got = [int(t) for t in toks.split()]
        assert len(got) == seq + 1
        assert got == list(stream[pos:pos + seq + 1])
        # The window grid starts at the split's first document.
        b = megatron_split("90,5,5", len(docs))[0]
        assert (pos - starts[b]) % seq == 0 and (pos - starts[b]) // seq == int(window)
        assert corpus == ("code" if names[int(f)] == "code" else "web")
    # The order is a pure function of the flags.
    again = run_agpt("data", "sample", "--index", 17, "--count", 20, *args)
    assert again.stdout == p.stdout
    other = run_agpt("data", "sample", "--index", 17, "--count", 20, "--seed", 99, *args)
    assert other.stdout != p.stdout


def test_megatron_mode_report(run_agpt, blend):
    _, lst, _ = blend
    p = run_agpt("data", "blend", "--data-file-list", lst, "--seq-length", 8, "--num-samples", 400,
                 "--index-mode", "megatron")
    corpora = {r[0]: r for r in parse_table(p.stdout, "corpus")}
    assert sum(int(r[4]) for r in corpora.values()) == 400
    assert abs(int(corpora["code"][4]) - 160) <= 2


def test_bad_line_is_named(run_agpt, blend):
    tmp, _, _ = blend
    lst = tmp / "bad.txt"
    lst.write_text(f"0.5 {tmp}/web0 web\n# fine\n0.5 {tmp}/code\n")
    p = run_agpt("data", "blend", "--data-file-list", lst, "--seq-length", 8, check=False)
    assert p.returncode == 1
    assert f"{lst}:3: expected 3 fields" in p.stderr
    lst.write_text(f"0.5 {tmp}/web0 web\nheavy {tmp}/code code\n")
    p = run_agpt("data", "blend", "--data-file-list", lst, "--seq-length", 8, check=False)
    assert p.returncode == 1 and f"{lst}:2: weight 'heavy'" in p.stderr


def test_missing_file_is_named(run_agpt, blend):
    tmp, _, _ = blend
    lst = tmp / "missing.txt"
    lst.write_text(f"0.5 {tmp}/web0 web\n\n0.5 {tmp}/nothere code\n")
    p = run_agpt("data", "sample", "--data-file-list", lst, "--seq-length", 8, check=False)
    assert p.returncode == 1
    assert f"{lst}:3: {tmp}/nothere.idx does not exist" in p.stderr
    p = run_agpt("data", "blend", "--data-file-list", tmp / "nolist.txt", check=False)
    assert p.returncode == 1 and "nolist.txt" in p.stderr


def test_usage_errors(run_agpt, blend):
    _, lst, _ = blend
    p = run_agpt("data", "frobnicate", check=False)
    assert p.returncode == 2 and "blend or sample" in p.stderr
    p = run_agpt("data", "blend", "--data-file-list", lst, "--index-mode", "slow", check=False)
    assert p.returncode == 2 and "--index-mode" in p.stderr
    p = run_agpt("data", "sample", "--data-file-list", lst, "--seq-length", 8, "--num-samples", 10, "--index", 10,
                 check=False)
    assert p.returncode == 1 and "out of range" in p.stderr
    p = run_agpt("data", "blend", "--help")
    assert "--data-file-list" in p.stdout
