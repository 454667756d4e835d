"""Encode throughput of agpt's byte-level BPE against Hugging Face `tokenizers`.

Both run single-threaded on the same text and the same tokenizer.json
(trained by `tokenizers` on that text), in one run. The text is built from
files found on any Debian machine: English prose (the common licenses and
package changelogs) and source code (the Python standard library), cut to
--size-mb. Prints one RESULT line per pre-tokenizer pattern:

  RESULT tokenizer agpt_mb_s=<x> hf_mb_s=<y> ratio=<x/y>          (GPT-2 regex)
  RESULT tokenizer_llama3 agpt_mb_s=<x> hf_mb_s=<y> ratio=<x/y>   (Llama-3 Split regex)

hf_mb_s is the faster of `tokenizers` encoding the text as one document
and as a batch of lines, both with one thread.

usage: python bench/tokenizer/bench.py [--agpt build/agpt] [--size-mb 4] [--vocab-size 32000]
"""
import argparse
import gzip
import os
import pathlib
import re
import subprocess
import sys
import tempfile
import time

os.environ["RAYON_NUM_THREADS"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
LLAMA3_RE = (r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|"""
             r"""\s*[\r\n]+|\s+(?!\S)|\s+""")


def build_text(size):
    prose, code = [], []
    for p in sorted(pathlib.Path("/usr/share/common-licenses").glob("*")):
        if p.is_file():
            prose.append(p.read_text(errors="replace"))
    for p in sorted(pathlib.Path("/usr/share/doc").rglob("changelog*.gz")):
        try:
            prose.append(gzip.decompress(p.read_bytes()).decode("utf-8", errors="replace"))
        except (OSError, EOFError):
            continue
        if sum(map(len, prose)) > size:
            break
    for p in sorted(pathlib.Path(sys.base_prefix, "lib").glob("python3*/*.py")):
        code.append(p.read_text(errors="replace"))
        if sum(map(len, code)) > size:
            break
    half = size // 2
    text = "".join(prose)[:half] + "".join(code)[:half]
    return text


def hf_tokenizer(kind, text, vocab_size, path):
    tok = Tokenizer(models.BPE())
    if kind == "llama3":
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(LLAMA3_RE), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    else:
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<|endoftext|>"], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(text.splitlines(keepends=True), trainer)
    tok.save(str(path))
    return Tokenizer.from_file(str(path))


def best_of(n, fn):
    best = float("inf")
    out = None
    for _ in range(n):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--agpt", default=str(ROOT / "build" / "agpt"))
    ap.add_argument("--size-mb", type=float, default=4.0)
    ap.add_argument("--vocab-size", type=int, default=32000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        text = build_text(int(args.size_mb * 1e6))
        sample = tmp / "sample.txt"
        sample.write_text(text)
        nbytes = sample.stat().st_size
        lines = text.splitlines(keepends=True)
        print(f"sample: {nbytes / 1e6:.2f} MB ({len(lines)} lines), prose from /usr/share/common-licenses and "
              f"/usr/share/doc changelogs, code from the Python {sys.version_info.major}.{sys.version_info.minor} "
              f"standard library")
        for kind, label in (("gpt2", "tokenizer"), ("llama3", "tokenizer_llama3")):
            path = tmp / f"{kind}.json"
            hf = hf_tokenizer(kind, text, args.vocab_size, path)
            t_doc, enc = best_of(args.repeat, lambda: hf.encode(text, add_special_tokens=False))
            t_batch, _ = best_of(args.repeat, lambda: hf.encode_batch(lines, add_special_tokens=False))
            hf_mb_s = nbytes / 1e6 / min(t_doc, t_batch)
            p = subprocess.run([args.agpt, "tokenizer", "encode", "--tokenizer", str(path), "--input", str(sample),
                                "--threads", "1", "--benchmark", "--repeat", str(args.repeat)],
                               capture_output=True, text=True, check=True)
            m = re.search(r"tokens=(\d+).*mb_s=([0-9.]+)", p.stdout)
            agpt_tokens, agpt_mb_s = int(m.group(1)), float(m.group(2))
            same = "same" if agpt_tokens == len(enc.ids) else f"DIFFERENT ({agpt_tokens} vs {len(enc.ids)})"
            print(f"{kind}: vocab {hf.get_vocab_size()}, {len(enc.ids)} tokens ({same} count in agpt); "
                  f"hf one document {nbytes / 1e6 / t_doc:.2f} MB/s, hf batch of lines {nbytes / 1e6 / t_batch:.2f} "
                  f"MB/s, agpt {agpt_mb_s:.2f} MB/s")
            print(f"RESULT {label} agpt_mb_s={agpt_mb_s:.2f} hf_mb_s={hf_mb_s:.2f} ratio={agpt_mb_s / hf_mb_s:.2f}")


if __name__ == "__main__":
    main()
