"""The `megatron` sample index against a numpy reference of Megatron-DeepSpeed.

Small synthetic corpora are written as MMIDIDX files; the megatron_dump tool
builds agpt's index and writes every array as .npy; megatron_ref.py computes
the same arrays with numpy's RandomState. Arrays must be equal element for
element, and the tokens of samples must be equal."""
import os
import pathlib
import struct
import subprocess

import numpy as np
import pytest

import megatron_ref as ref

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def dump_bin():
    tools = os.environ.get("AGPT_TOOLS", str(ROOT / "build" / "tools"))
    path = os.path.join(tools, "megatron_dump")
    assert os.path.exists(path), f"{path} is missing: run `make` first"
    return path


def make_corpus(path, n_docs, seed, lo=1, hi=40, vocab=50000):
    rng = np.random.default_rng(seed)
    docs = [rng.integers(0, vocab, size=int(rng.integers(lo, hi))) for _ in range(n_docs)]
    sizes = ref.write_indexed(str(path), docs)
    return sizes, docs


def run_dump(dump_bin, out, args):
    out.mkdir(parents=True, exist_ok=True)
    p = subprocess.run([dump_bin, str(out), *map(str, args)], capture_output=True, text=True, timeout=120,
                       env={**os.environ, "OMP_NUM_THREADS": "2"})
    assert p.returncode == 0, p.stderr
    return out


def load(out, name):
    return np.load(out / name)


def check_file(out, f, want):
    doc_idx = load(out, f"f{f}_doc_idx.npy")
    sample_idx = load(out, f"f{f}_sample_idx.npy")
    shuffle_idx = load(out, f"f{f}_shuffle_idx.npy")
    meta = dict(line.split() for line in (out / f"f{f}_meta.txt").read_text().splitlines())
    assert int(meta["doc_begin"]) == want["doc_begin"] and int(meta["doc_end"]) == want["doc_end"]
    assert int(meta["tokens_per_epoch"]) == want["tokens"]
    assert int(meta["num_epochs"]) == want["epochs"]
    assert int(meta["separate_last_epoch"]) == int(want["separate"])
    assert int(meta["num_samples"]) == want["num_samples"]
    assert doc_idx.dtype == np.int32 and np.array_equal(doc_idx, want["doc_idx"])
    assert np.array_equal(sample_idx, want["sample_idx"].astype(np.int64))
    assert shuffle_idx.dtype == want["shuffle_idx"].dtype
    assert np.array_equal(shuffle_idx, want["shuffle_idx"])


def check_samples(out, built, docs_of_file, seq, layout):
    """Every sample of the blend: the index keeps only the served form of the
    arrays, so this is where that form is checked."""
    samples = load(out, "samples.npy")
    origins = load(out, "origins.npy")
    assert samples.shape[0] == built["size"]
    for i in range(samples.shape[0]):
        f, toks = ref.sample_of(built, lambda fi, s: docs_of_file[fi][s], i, seq, layout)
        assert origins[i, 0] == f
        assert np.array_equal(samples[i], toks.astype(np.int32)), f"sample {i}"


SINGLE_CASES = [
    # (seed, seq, split, split_index, num_samples, n_docs)
    (1234, 16, "1", 0, 40, 60),        # one epoch
    (7, 8, "98,2,0", 0, 300, 50),       # three epochs, last one short: separate last epoch
    (7, 8, "98,2,0", 0, 339, 50),       # three epochs, last one >= 80%: shuffled together
    (0, 32, "90,5,5", 1, 30, 200),      # valid split, several epochs of a small range
    (4321, 5, "1", 0, 205, 40),        # epochs > 1 with a short last epoch (separate)
    (99, 64, "1", 0, 3, 500),          # few samples from a large file
]


@pytest.mark.parametrize("seed,seq,split,k,n,n_docs", SINGLE_CASES)
def test_single_file(tmp_path, dump_bin, seed, seq, split, k, n, n_docs):
    sizes, docs = make_corpus(tmp_path / "a", n_docs, seed)
    out = run_dump(dump_bin, tmp_path / "out", ["--data-path", tmp_path / "a", "--split", split, "--split-index", k,
                                                "--seq-length", seq, "--num-samples", n, "--seed", seed,
                                                "--samples", "all"])
    want = ref.gpt_dataset(sizes, split, k, n, seq, seed)
    check_file(out, 0, want)
    built = dict(files=[want], size=n, top=None)
    check_samples(out, built, [docs], seq, "plain")


def test_separate_last_epoch_cases_exist():
    """The cases above cover both branches of the 80% rule."""
    seen = set()
    for seed, seq, split, k, n, n_docs in SINGLE_CASES:
        rng = np.random.default_rng(seed)
        sz = np.array([len(rng.integers(0, 50000, size=int(rng.integers(1, 40)))) for _ in range(n_docs)])  # as make_corpus
        want = ref.gpt_dataset(sz, split, k, n, seq, seed)
        seen.add((want["epochs"] > 1, bool(want["separate"])))
    assert (True, True) in seen and (True, False) in seen and (False, False) in seen


def test_three_file_plain_blend(tmp_path, dump_bin):
    seed, seq, n = 5, 12, 400
    corpora = [make_corpus(tmp_path / f"p{i}", nd, 10 + i) for i, nd in enumerate([80, 30, 150])]
    weights = [0.3, 0.5, 0.2]
    args = ["--data-path"]
    for w, i in zip(weights, range(3)):
        args += [w, tmp_path / f"p{i}"]
    out = run_dump(dump_bin, tmp_path / "out", args + ["--split", "99,1,0", "--seq-length", seq, "--num-samples", n,
                                                        "--seed", seed, "--samples", "all"])
    built = ref.build_plain([c[0] for c in corpora], weights, "99,1,0", 0, n, seq, seed)
    for f in range(3):
        check_file(out, f, built["files"][f])
    assert np.array_equal(load(out, "blend_index.npy"), built["top"][0])
    assert np.array_equal(load(out, "blend_sample_index.npy"), built["top"][1])
    check_samples(out, built, [c[1] for c in corpora], seq, "plain")


@pytest.mark.parametrize("blend_in,shuffle_in", [(False, False), (True, True), (False, True)])
def test_data_file_list_two_corpora(tmp_path, dump_bin, blend_in, shuffle_in):
    seed, seq, n = 77, 10, 500
    spec = [(2.0, "books", 60), (1.0, "web", 90), (1.5, "books", 40), (0.5, "arxiv", 70)]
    files = []
    lines = []
    for i, (w, corpus, nd) in enumerate(spec):
        files.append(make_corpus(tmp_path / f"d{i}", nd, 100 + i))
        lines.append(f"{w} {tmp_path / f'd{i}'} {corpus}")
    (tmp_path / "list.txt").write_text("\n".join(lines) + "\n")
    extra = (["--blend-sample-in-corpus"] if blend_in else []) + (["--shuffle-sample-in-corpus"] if shuffle_in else [])
    out = run_dump(dump_bin, tmp_path / "out", ["--data-file-list", tmp_path / "list.txt", "--split", "990,10,0",
                                                "--seq-length", seq, "--num-samples", n, "--seed", seed,
                                                "--samples", "all", *extra])
    built = ref.build_corpus([f[0] for f in files], [s[0] for s in spec], [s[1] for s in spec], "990,10,0", 0, n,
                             seq, seed, blend_in, shuffle_in)
    for f in range(len(spec)):
        check_file(out, f, built["files"][f])
    info = (out / "info.txt").read_text().splitlines()
    assert int(info[0].split()[1]) == built["size"]
    names = [line.split()[1] for line in info if line.startswith("corpus ")]
    assert names == [c["name"] for c in built["corpora"]] == ["arxiv", "books", "web"]
    for c, corpus in enumerate(built["corpora"]):
        assert np.array_equal(load(out, f"corpus{c}_index.npy"), corpus["index"])
        assert np.array_equal(load(out, f"corpus{c}_sample_index.npy"), corpus["sample_index"])
        if shuffle_in:
            assert np.array_equal(load(out, f"corpus{c}_shuffle.npy"), corpus["shuffle"])
    assert np.array_equal(load(out, "blend_index.npy"), built["top"][0])
    assert np.array_equal(load(out, "blend_sample_index.npy"), built["top"][1])
    check_samples(out, built, [f[1] for f in files], seq, "corpus")


def test_many_corpora_blend_weights(tmp_path, dump_bin):
    """Enough corpora that np.sum's pairwise order matters, with uneven weights."""
    seed, seq, n = 3, 4, 3000
    rng = np.random.default_rng(11)
    lines, sizes = [], []
    for i in range(20):
        sz, _ = make_corpus(tmp_path / f"m{i}", 30, 200 + i, lo=1, hi=12)
        sizes.append(sz)
        w = float(rng.choice([1e-3, 0.1, 0.7, 3.0, 10.0]))
        lines.append((w, f"c{i % 13:02d}"))
    (tmp_path / "list.txt").write_text("".join(f"{w!r} {tmp_path / f'm{i}'} {c}\n" for i, (w, c) in enumerate(lines)))
    out = run_dump(dump_bin, tmp_path / "out", ["--data-file-list", tmp_path / "list.txt", "--seq-length", seq,
                                                "--num-samples", n, "--seed", seed])
    built = ref.build_corpus(sizes, [w for w, _ in lines], [c for _, c in lines], "1", 0, n, seq, seed)
    assert np.array_equal(load(out, "blend_index.npy"), built["top"][0])
    assert np.array_equal(load(out, "blend_sample_index.npy"), built["top"][1])
    for f in range(len(lines)):
        check_file(out, f, built["files"][f])


def test_reference_split_matches_megatron_examples():
    # Hand-computed from get_train_valid_test_split_.
    assert ref.split_bounds("990,10,0", 1000) == [0, 990, 1000, 1000]
    assert ref.split_bounds("98,2,0", 50) == [0, 49, 50, 50]
    assert ref.split_bounds("1", 7) == [0, 7, 7, 7]
    # 27 + round(1.5) = 29, + round(1.5) = 31: one too many, taken off every boundary after the first.
    assert ref.split_bounds("90,5,5", 30) == [0, 26, 28, 30]
    # round(2.5) = 2 twice (half to even), + 5 = 9: one short, added to every boundary after the first.
    assert ref.split_bounds("1,1,2", 10) == [0, 3, 5, 10]


def test_errors_name_the_file(tmp_path, dump_bin):
    make_corpus(tmp_path / "tiny", 3, 1)
    p = subprocess.run([dump_bin, str(tmp_path), "--data-path", str(tmp_path / "tiny"), "--split", "1,0,0",
                        "--split-index", "1", "--num-samples", "5"], capture_output=True, text=True)
    assert p.returncode != 0 and "tiny" in p.stderr and "split" in p.stderr
    p = subprocess.run([dump_bin, str(tmp_path), "--data-path", str(tmp_path / "tiny"), "--seed", str(2**32)],
                       capture_output=True, text=True)
    assert p.returncode != 0 and "--seed" in p.stderr


def dump_files(out):
    return {p.name: p.read_bytes() for p in out.iterdir() if p.suffix == ".npy"}


def test_cache_is_reused_and_damage_is_rebuilt(tmp_path, dump_bin):
    """--data-cache-path: the first build writes the cache, the second maps it
    and serves identical samples; a damaged or foreign cache file is rebuilt;
    a changed input gets its own cache file."""
    seed, seq, n = 21, 6, 400
    spec = [(1.0, "web", 70), (2.0, "code", 40), (0.5, "web", 30)]
    files = [make_corpus(tmp_path / f"c{i}", nd, 300 + i) for i, (_, _, nd) in enumerate(spec)]
    (tmp_path / "list.txt").write_text("".join(f"{w} {tmp_path / f'c{i}'} {c}\n" for i, (w, c, _) in enumerate(spec)))
    cache = tmp_path / "cache"
    args = ["--data-file-list", tmp_path / "list.txt", "--seq-length", seq, "--num-samples", n, "--seed", seed,
            "--samples", "all", "--blend-sample-in-corpus", "--shuffle-sample-in-corpus", "--cache", cache]
    nocache = run_dump(dump_bin, tmp_path / "mem", args[:-2])
    first = run_dump(dump_bin, tmp_path / "first", args)
    second = run_dump(dump_bin, tmp_path / "second", args)
    info = lambda out: dict(l.split(None, 1) for l in (out / "info.txt").read_text().splitlines() if " " in l)
    assert info(nocache)["from_cache"] == "0" and info(first)["from_cache"] == "2" and info(second)["from_cache"] == "1"
    assert dump_files(first) == dump_files(second) == dump_files(nocache)
    built = ref.build_corpus([f[0] for f in files], [s[0] for s in spec], [s[1] for s in spec], "1", 0, n, seq, seed,
                             True, True)
    check_samples(second, built, [f[1] for f in files], seq, "corpus")
    (cfile,) = list(cache.iterdir())
    assert cfile.name.endswith(".agix")
    # A flipped header byte: reported, rebuilt, same samples.
    data = bytearray(cfile.read_bytes())
    data[40] ^= 0xFF
    cfile.write_bytes(bytes(data))
    (tmp_path / "third").mkdir()
    p = subprocess.run([dump_bin, str(tmp_path / "third"), *map(str, args)], capture_output=True, text=True)
    assert p.returncode == 0 and "checksum" in p.stderr and "rebuilding" in p.stderr, p.stderr
    assert info(tmp_path / "third")["from_cache"] == "2"
    assert dump_files(tmp_path / "third") == dump_files(nocache)
    # Another seed: another cache file next to the first.
    run_dump(dump_bin, tmp_path / "other", [a if a != seed else seed + 1 for a in args])
    assert len(list(cache.glob("*.agix"))) == 2 and not list(cache.glob("*.tmp.*"))


def test_cache_errors_name_the_path(tmp_path, dump_bin):
    make_corpus(tmp_path / "a", 20, 5)
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("x")
    p = subprocess.run([dump_bin, str(tmp_path), "--data-path", str(tmp_path / "a"), "--num-samples", "10",
                        "--cache", str(blocker / "sub")], capture_output=True, text=True)
    assert p.returncode != 0 and "not_a_dir" in p.stderr, p.stderr


def test_cli_data_cache_path(tmp_path, run_agpt):
    """`agpt data sample --index-mode megatron --data-cache-path` writes the
    cache once and serves the same samples from it."""
    for i, nd in enumerate([60, 45]):
        make_corpus(tmp_path / f"k{i}", nd, 400 + i)
    lst = tmp_path / "list.txt"
    lst.write_text(f"1.0 {tmp_path / 'k0'} prose\n3.0 {tmp_path / 'k1'} code\n")
    args = ["data", "sample", "--data-file-list", lst, "--seq-length", 8, "--num-samples", 200, "--index", 3,
            "--count", 40, "--index-mode", "megatron"]
    plain = run_agpt(*args)
    first = run_agpt(*args, "--data-cache-path", tmp_path / "c")
    assert len(list((tmp_path / "c").glob("*.agix"))) == 1
    second = run_agpt(*args, "--data-cache-path", tmp_path / "c")
    assert plain.stdout == first.stdout == second.stdout
    flags = ["--blend-sample-in-corpus", "--shuffle-sample-in-corpus"]
    shuffled = run_agpt(*args, *flags)
    assert shuffled.stdout != plain.stdout
    assert run_agpt(*args, *flags, "--data-cache-path", tmp_path / "c").stdout == shuffled.stdout
    assert run_agpt(*args, *flags, "--data-cache-path", tmp_path / "c").stdout == shuffled.stdout
    assert len(list((tmp_path / "c").glob("*.agix"))) == 2


def cache_layout(data):
    """The regions of an index cache file (megatron_cache.h): the header, each
    section's (offset, length) and the chunk checksums; None for a file of
    another version."""
    if data[:8] != b"AGPTMIX1" or struct.unpack_from("<I", data, 8)[0] != 2:
        return None
    desc_len, n_table, n_sect, _chunk, sums_off, n_chunks = struct.unpack_from("<6Q", data, 16)
    at = 72 + desc_len + 8 * n_table
    sections = [struct.unpack_from("<2Q", data, at + 16 * k) for k in range(n_sect)]
    return dict(header=(0, at + 16 * n_sect), sections=[s for s in sections if s[1] > 0],
                sums=(sums_off, 4 * n_chunks))


DAMAGE_CONFIGS = {
    # Every kind of section: files, the top blend, corpus blends and shuffles.
    "corpus": lambda tmp: (["--data-file-list", tmp / "list.txt", "--blend-sample-in-corpus",
                            "--shuffle-sample-in-corpus"]),
    # The top blend over files (its sample index is bounded by each file's).
    "plain": lambda tmp: ["--data-path", 1.0, tmp / "c0", 2.0, tmp / "c1", 0.5, tmp / "c2"],
}


def damage_setup(tmp_path, dump_bin, config):
    spec = [(1.0, "web", 70), (2.0, "code", 40), (0.5, "web", 30)]
    for i, (_, _, nd) in enumerate(spec):
        make_corpus(tmp_path / f"c{i}", nd, 300 + i)
    (tmp_path / "list.txt").write_text("".join(f"{w} {tmp_path / f'c{i}'} {c}\n" for i, (w, c, _) in enumerate(spec)))
    cache = tmp_path / "cache"
    args = [*DAMAGE_CONFIGS[config](tmp_path), "--seq-length", 6, "--num-samples", 400, "--seed", 21,
            "--samples", "all", "--cache", cache]
    clean = dump_files(run_dump(dump_bin, tmp_path / "mem", args[:-2]))
    run_dump(dump_bin, tmp_path / "first", args)
    (cfile,) = list(cache.glob("*.agix"))
    return args, clean, cfile, cfile.read_bytes()


def run_damaged(dump_bin, out, args, cfile, clean, what):
    """One run over a damaged cache: it must serve exactly the clean samples
    (having said what it rebuilt) or stop with an error that names the cache
    file; a crash or an abort fails. Returns stderr."""
    out.mkdir(parents=True, exist_ok=True)
    p = subprocess.run([dump_bin, str(out), *map(str, args)], capture_output=True, text=True, timeout=120,
                       env={**os.environ, "OMP_NUM_THREADS": "2"})
    assert p.returncode >= 0, f"{what}: killed by signal {-p.returncode}: {p.stderr[-2000:]}"
    if p.returncode != 0:
        assert cfile.name in p.stderr and "cache" in p.stderr, f"{what}: unclear error: {p.stderr[-2000:]}"
        return p.stderr
    assert dump_files(out) == clean, f"{what}: served other samples than a clean build; stderr: {p.stderr[-2000:]}"
    return p.stderr


def test_cache_damage_in_every_section_is_reported_and_rebuilt(tmp_path, dump_bin):
    """A byte flipped at the start, middle and end of every section of a real
    cache, in every field of its header and in its checksum table: each run
    reports the damage naming the file and serves exactly the samples of a
    clean build; the next run finds a good cache again."""
    for config in DAMAGE_CONFIGS:
        base = tmp_path / config
        base.mkdir()
        args, clean, cfile, good = damage_setup(base, dump_bin, config)
        lay = cache_layout(good)
        assert lay is not None, "the cache is not in the expected format"
        places = [(f"header byte {o}", o) for o in (0, 8, 12, 16, 24, 32, 40, 48, 56, 64, 72, lay["header"][1] - 1)]
        for k, (off, n) in enumerate(lay["sections"]):
            places += [(f"section {k} byte {o}", off + o) for o in sorted({0, n // 2, n - 1})]
        places += [("checksums", lay["sums"][0]), ("checksums end", sum(lay["sums"]) - 1)]
        assert len(lay["sections"]) >= (17 if config == "corpus" else 9)
        for r, (what, at) in enumerate(places):
            data = bytearray(good)
            data[at] ^= 0x5A
            cfile.write_bytes(bytes(data))
            err = run_damaged(dump_bin, base / f"r{r}", args, cfile, clean, what)
            assert cfile.name in err and ("damaged" in err or "rebuilding" in err), f"{what}: not reported: {err}"
            # The damaged file was replaced or removed: the next run is clean and quiet.
            err = run_damaged(dump_bin, base / f"n{r}", args, cfile, clean, what + " (next run)")
            assert "damaged" not in err and "rebuilding" not in err, f"{what}: still damaged: {err}"
            assert cfile.exists()
            cfile.write_bytes(good)


def test_cache_damage_at_random_places(tmp_path, dump_bin):
    """Bytes flipped at random anywhere in the file: never an abort, never
    other samples; damage to anything the file's checksums cover is reported."""
    args, clean, cfile, good = damage_setup(tmp_path, dump_bin, "corpus")
    lay = cache_layout(good)
    covered = lambda o: lay is not None and any(a <= o < a + n for a, n in [lay["header"], lay["sums"], *lay["sections"]])
    rng = np.random.default_rng(5)
    for r in range(40):
        places = [int(x) for x in rng.integers(0, len(good), size=int(rng.integers(1, 4)))]
        data = bytearray(good)
        for at in places:
            data[at] ^= int(rng.integers(1, 256))
        cfile.write_bytes(bytes(data))
        err = run_damaged(dump_bin, tmp_path / f"r{r}", args, cfile, clean, f"bytes {places}")
        if any(covered(o) and data[o] != good[o] for o in places):
            assert cfile.name in err and ("damaged" in err or "rebuilding" in err), f"{places}: not reported: {err}"
        cfile.write_bytes(good)


def _crc32c_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ (0x82F63B78 & -(c & 1))
        table.append(c)
    return table


CRC32C_TABLE = _crc32c_table()


def crc32c(data):
    """CRC-32C (Castagnoli), a byte at a time: the reference for the file's sums."""
    crc, t = 0xFFFFFFFF, CRC32C_TABLE
    for b in data:
        crc = (crc >> 8) ^ t[(crc ^ b) & 0xFF]
    return crc ^ 0xFFFFFFFF


def check_sums(good):
    lay = cache_layout(good)
    chunk = struct.unpack_from("<Q", good, 40)[0]
    want = []
    for off, n in lay["sections"]:
        want += [crc32c(good[off + a:off + min(a + chunk, n)]) for a in range(0, n, chunk)]
    sums_off, sums_len = lay["sums"]
    assert list(struct.unpack_from(f"<{sums_len // 4}I", good, sums_off)) == want
    assert struct.unpack_from("<I", good, 64)[0] == crc32c(good[sums_off:sums_off + sums_len])
    assert struct.unpack_from("<I", good, 12)[0] == crc32c(good[16:lay["header"][1]])
    return lay


def test_cache_checksums_are_crc32c_of_each_chunk(tmp_path, dump_bin):
    """The sums the writer computes (with the CPU's CRC instruction where
    there is one, several chunks at a time) are the standard CRC-32C of each
    chunk of each section, so a cache written on one machine checks on any
    other; a section of several chunks is checked chunk by chunk."""
    _, _, _, good = damage_setup(tmp_path, dump_bin, "corpus")
    check_sums(good)
    # One file asked for 120,000 samples: its sample starts (960 kB) span
    # several chunks; damage in the last one is found and rebuilt too.
    make_corpus(tmp_path / "big", 2000, 9)
    args = ["--data-path", tmp_path / "big", "--seq-length", 4, "--num-samples", 120000, "--seed", 3,
            "--samples", "all", "--cache", tmp_path / "bigcache"]
    clean = dump_files(run_dump(dump_bin, tmp_path / "bigmem", args[:-2]))
    run_dump(dump_bin, tmp_path / "bigfirst", args)
    (cfile,) = list((tmp_path / "bigcache").glob("*.agix"))
    good = cfile.read_bytes()
    lay = check_sums(good)
    chunk = struct.unpack_from("<Q", good, 40)[0]
    off, n = max(lay["sections"], key=lambda s: s[1])
    assert n > 3 * chunk
    data = bytearray(good)
    data[off + n - 5] ^= 1
    cfile.write_bytes(bytes(data))
    err = run_damaged(dump_bin, tmp_path / "bigdamaged", args, cfile, clean, "last chunk")
    assert "damaged" in err and "sample starts" in err, err
