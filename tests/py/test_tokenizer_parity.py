"""agpt's byte-level BPE against the Hugging Face `tokenizers` library.

(1) tokenizer.json files trained and saved by `tokenizers` (GPT-2 regex with
and without add_prefix_space, a Llama-3 Split regex with ignore_merges, and
the older "a b" merges encoding) are loaded by agpt and give the same ids on
a multilingual text set and on a sweep over Unicode code points.
(2) a tokenizer.json trained and saved by agpt loads in `tokenizers` and
gives the same ids and the same decoded text, and with add_special_tokens
the same BOS in front (test_tokenizer_special.py covers the other
post-processors).
(3) agpt alone: encode/decode round trip on invalid UTF-8 and random bytes.
"""
import json
import pathlib
import random
import subprocess

import pytest

tokenizers = pytest.importorskip("tokenizers")
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]

GPT2_RE = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
LLAMA3_RE = (r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|"""
             r"""\s*[\r\n]+|\s+(?!\S)|\s+""")

TEXTS = [
    "The quick brown fox jumps over the lazy dog. It's 3:45pm and we're late; they'll wait, won't they?",
    "I'M SURE HE'D SAY IT'S FINE. You'VE got TO be kidding, DON'T you'LL see.",
    "日本語のテキストも正しく分割されるべきです。東京は2024年に3,000万人を超えました。",
    "Le cœur a ses raisons que la raison ne connaît point. « Où êtes-vous ? » demanda-t-elle à l'élève.",
    "Größere Straßen führen über die Brücke; Äpfel, Öl und Übermut — 100 % schön.",
    "¿Dónde está la biblioteca? ¡Mañana será otro día! El niño comió piñas y jalapeños.",
    "def f(x):\n    return {'a': [1, 2, 3], \"b\": x ** 2}  # comment\n\tif x != 0:\n\t\tprint(f\"{x:>8.3f}\")\n",
    "int main(void) {\n  for (size_t i = 0; i < n; i++) sum += a[i] * b[i];\n  return sum >= 0 ? 0 : -1;\n}\n",
    r"\begin{equation} E = mc^2, \quad \int_0^\infty e^{-x^2}\,dx = \frac{\sqrt{\pi}}{2} \end{equation}",
    "Emoji 😀😃🤖👩‍👩‍👧‍👦 and flags 🇫🇷🇯🇵, skin tones 👍🏽, hearts ❤️💙 mixed with text🙂.",
    "   leading spaces, trailing spaces   \n\n\n  \t \t\n\r\n\r\n    \n mixed\u3000ideographic\u00a0nbsp  end  ",
    "\t\t\ttabs\t \t then \n\n\n\n\n many newlines \r\r\r carriage   \u2003 em space \u2028 line sep",
    "Numbers: 0 1 12 123 1234 12345 123456789 3.14159 -2.5e-10 1,000,000 ١٢٣٤ ४५६ 零一二",
    "Contractions: don't can't won't shouldn't I'd you'll we've they're it's 'tis rock'n'roll O'Neil’s",
    "Mixed scripts: Ελληνικά, русский язык, العربية, עברית, हिन्दी, 한국어, ไทย, ქართული.",
    "<|endoftext|>special tokens in <|endoftext|> the middle<|endoftext|><|endoftext|> and at the end<|endoftext|>",
    "Zero\u200bwidth\u200djoiner, soft\u00adhyphen, combining e\u0301 n\u0303, control \x01\x02\x7f chars.",
    "x" * 300 + " " + "ab" * 200 + " " + " " * 100 + "end",
    "",
    " ",
    "\n",
    "a",
]


def corpus_lines():
    """A few hundred KB: the texts plus the repository's C sources."""
    lines = TEXTS * 20
    for p in sorted((ROOT / "src").rglob("*.[ch]"))[:60]:
        lines.extend(p.read_text(errors="replace").splitlines(keepends=True))
    return lines


def sweep_texts():
    """Every code point of planes 0 and 1 and a stride of the rest, each in a
    few contexts that exercise the class boundaries of the regexes."""
    cps = [c for c in range(0x110000) if not 0xD800 <= c < 0xE000 and (c < 0x20000 or c % 97 == 0)]
    out = []
    for i in range(0, len(cps), 64):
        parts = []
        for c in cps[i:i + 64]:
            ch = chr(c)
            parts.append(f"{ch}a{ch} {ch}1{ch}'S{ch}\n{ch}  ")
        out.append("".join(parts))
    return out


def hf_train(path, kind, lines):
    if kind == "llama3":
        tok = Tokenizer(models.BPE(ignore_merges=True))
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(LLAMA3_RE), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ])
        special = ["<|begin_of_text|>", "<|end_of_text|>", "<|pad|>"]
    else:
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=(kind == "gpt2_prefix"))
        special = ["<|endoftext|>"]
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=1200, special_tokens=special, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(lines, trainer)
    tok.save(str(path))
    if kind == "gpt2_strings":
        # the older encoding of merges: "a b" strings
        j = json.loads(path.read_text())
        j["model"]["merges"] = [" ".join(m) if isinstance(m, list) else m for m in j["model"]["merges"]]
        path.write_text(json.dumps(j, ensure_ascii=False))
    return Tokenizer.from_file(str(path))


def agpt_encode(run_agpt, tok_path, texts, tmp_path, *flags):
    f = tmp_path / "texts.jsonl"
    f.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    out = run_agpt("tokenizer", "encode", "--tokenizer", tok_path, "--input", f, *flags).stdout
    lines = out.split("\n")
    assert lines[-1] == ""
    lines = lines[:-1]
    assert len(lines) == len(texts)
    return [[int(x) for x in line.split()] for line in lines]


def compare(hf, ours, texts):
    bad = 0
    for t, o in zip(texts, ours):
        ref = hf.encode(t, add_special_tokens=False).ids
        if ref != o:
            bad += 1
            if bad <= 3:
                print("text:", repr(t[:200]))
                print("hf  :", ref[:60])
                print("agpt:", o[:60])
    assert bad == 0, f"{bad} of {len(texts)} texts tokenize differently"


@pytest.fixture(scope="module")
def lines():
    return corpus_lines()


@pytest.mark.parametrize("kind", ["gpt2", "gpt2_prefix", "gpt2_strings", "llama3"])
def test_hf_trained_loads_in_agpt(kind, lines, run_agpt, tmp_path):
    path = tmp_path / "tokenizer.json"
    hf = hf_train(path, kind, lines)
    texts = TEXTS + lines[-50:]
    compare(hf, agpt_encode(run_agpt, path, texts, tmp_path), texts)
    info = run_agpt("tokenizer", "info", "--tokenizer", path).stdout
    assert f"vocab_size   {hf.get_vocab_size()}" in info
    if kind == "llama3":
        assert "bos          1200" not in info  # ids of specials come from the file, not from guesses
        assert f"bos          {hf.token_to_id('<|begin_of_text|>')} <|begin_of_text|>" in info
        assert f"pad          {hf.token_to_id('<|pad|>')} <|pad|>" in info


@pytest.mark.parametrize("kind", ["gpt2", "llama3"])
def test_codepoint_sweep(kind, lines, run_agpt, tmp_path):
    path = tmp_path / "tokenizer.json"
    hf = hf_train(path, kind, lines)
    texts = sweep_texts()
    compare(hf, agpt_encode(run_agpt, path, texts, tmp_path), texts)


@pytest.mark.parametrize("pattern", ["gpt2", "llama3"])
def test_agpt_trained_loads_in_hf(pattern, lines, run_agpt, tmp_path):
    txt = tmp_path / "corpus.txt"
    txt.write_text("".join(lines[: len(lines) // 2]))
    jsonl = tmp_path / "corpus.jsonl"
    jsonl.write_text("".join(json.dumps({"content": t}) + "\n" for t in lines[len(lines) // 2:]))
    path = tmp_path / "agpt_tok.json"
    special = ["<|begin_of_text|>", "<|end_of_text|>", "<|pad|>"]
    run_agpt("tokenizer", "train", "--input", txt, jsonl, "--json-key", "content", "--vocab-size", 1000,
             "--output", path, "--pattern", pattern, "--special-tokens", *special, "--quiet")
    hf = Tokenizer.from_file(str(path))
    assert hf.get_vocab_size() == 1000
    texts = TEXTS + [t.replace("<|endoftext|>", "<|end_of_text|>") for t in TEXTS] + lines[:40]
    ours = agpt_encode(run_agpt, path, texts, tmp_path)
    compare(hf, ours, texts)
    # decoding agrees too (special tokens kept as text by both)
    for t, ids in zip(texts, ours):
        assert hf.decode(ids, skip_special_tokens=False) == t
    # a BOS among the special tokens gives the file Llama-3's post_processor: BOS first under
    # add_special_tokens (the library's default), in `tokenizers` and in agpt alike
    with_bos = agpt_encode(run_agpt, path, texts[:20], tmp_path, "--add-special-tokens")
    for t, ids, b in zip(texts, ours, with_bos):
        assert hf.encode(t).ids == [997] + ids == b
    info = run_agpt("tokenizer", "info", "--tokenizer", path).stdout
    assert "bos          997 <|begin_of_text|>" in info
    assert "eos          998 <|end_of_text|>" in info
    assert "pad          999 <|pad|>" in info
    # training is deterministic across thread counts
    path2 = tmp_path / "agpt_tok1.json"
    run_agpt("tokenizer", "train", "--input", txt, jsonl, "--json-key", "content", "--vocab-size", 1000,
             "--output", path2, "--pattern", pattern, "--special-tokens", *special, "--quiet", "--threads", 1)
    assert path.read_bytes() == path2.read_bytes()


def test_round_trip_any_bytes(lines, run_agpt, agpt_bin, tmp_path):
    path = tmp_path / "tokenizer.json"
    hf_train(path, "llama3", lines)
    rng = random.Random(7)
    samples = [
        b"valid \xe6\x97\xa5\xe6\x9c\xac then invalid \xff\xfe\xc0\xaf lone \x80 cont, trunc \xe6\x97",
        b"\xed\xa0\x80 surrogate, \xf4\x90\x80\x80 too big, overlong \xe0\x80\xaf \xf0\x80\x80\xaf",
        b"<|end_of_text|>\xff<|pad|>\xfe" + "日本".encode() + b"\xe6",
        bytes(rng.randrange(256) for _ in range(5000)),
        bytes(rng.choice(b" \t\n\x80\xbf\xc3\xa9eA1'") for _ in range(5000)),
    ]
    for i, data in enumerate(samples):
        f = tmp_path / f"raw{i}.bin"
        f.write_bytes(data)
        ids = run_agpt("tokenizer", "encode", "--tokenizer", path, "--input", f).stdout.split()
        out = subprocess.run([agpt_bin, "tokenizer", "decode", "--tokenizer", str(path), "--ids", " ".join(ids)],
                             capture_output=True, check=True, timeout=60)
        assert out.stdout == data, f"sample {i} does not round-trip"


def test_errors_name_the_problem(run_agpt, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"model": {"type": "WordPiece", "vocab": {}}}))
    p = run_agpt("tokenizer", "info", "--tokenizer", bad, check=False)
    assert p.returncode == 1 and "model.type" in p.stderr and "bad.json" in p.stderr
    bad.write_text(json.dumps({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a b"]},
                               "pre_tokenizer": {"type": "ByteLevel"}}))
    p = run_agpt("tokenizer", "info", "--tokenizer", bad, check=False)
    assert p.returncode == 1 and "merges[0]" in p.stderr
    p = run_agpt("tokenizer", "decode", "--tokenizer", bad, "--ids", "5", check=False)
    assert p.returncode == 1
    p = run_agpt("tokenizer", "encode", "--help")
    assert "--benchmark" in p.stdout
