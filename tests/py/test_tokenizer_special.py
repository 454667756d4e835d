"""Special tokens from the post_processor, against the Hugging Face `tokenizers` library.

(1) tokenizer.json files built by `tokenizers` with each post-processor a
byte-level BPE file can carry (TemplateProcessing with BOS, with BOS and EOS,
with a special token of two ids, Llama-3's Sequence[ByteLevel, Template],
nested Sequences, Roberta, Bert, ByteLevel, none): `agpt tokenizer encode
--add-special-tokens` gives the ids of `tokenizers`' encode(text,
add_special_tokens=True), and without the flag those of
add_special_tokens=False.
(2) files written by `agpt tokenizer train` load in `tokenizers`, whose
default encode then puts BOS first exactly when a BOS token was configured.
(3) post-processors agpt cannot reproduce are refused naming file and field.
"""
import json

import pytest

tokenizers = pytest.importorskip("tokenizers")
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers  # noqa: E402

LLAMA3_RE = (r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|"""
             r"""\s*[\r\n]+|\s+(?!\S)|\s+""")
BOS, EOS, PAD = "<|begin_of_text|>", "<|end_of_text|>", "<|pad|>"

CORPUS = [
    "The quick brown fox jumps over the lazy dog. It's 3:45pm and we're late; they'll wait.",
    "Grüße aus Köln — naïve café, 東京 and emoji 🙂 too. ¿Dónde está la biblioteca?",
    "def f(x):\n    return {'a': [1, 2, 3], \"b\": x ** 2}  # comment\n",
    "Numbers: 0 1 12 123 1234 12345 3.14159 -2.5e-10 1,000,000",
]
TEXTS = CORPUS + [
    "",
    " ",
    "a",
    BOS + "already has a BOS" + EOS,
    "special " + PAD + " in the middle",
    "   leading spaces and trailing   \n\n",
]


def base_tokenizer(path):
    tok = Tokenizer(models.BPE(ignore_merges=True))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_RE), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=600, special_tokens=[BOS, EOS, PAD], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(CORPUS * 30, trainer)
    return tok


def template(single, ids, pair=None):
    return processors.TemplateProcessing(single=single, pair=pair, special_tokens=ids)


def post_processor(kind, tok):
    bos, eos = (BOS, tok.token_to_id(BOS)), (EOS, tok.token_to_id(EOS))
    if kind == "bos":
        return template(f"{BOS} $A", [bos], pair=f"{BOS} $A {BOS}:1 $B:1")
    if kind == "bos_eos":
        return template(f"{BOS} $A {EOS}", [bos, eos], pair=f"{BOS} $A {EOS} $B:1 {EOS}:1")
    if kind == "llama3":
        return processors.Sequence([processors.ByteLevel(trim_offsets=False),
                                    template(f"{BOS} $A", [bos], pair=f"{BOS} $A {BOS}:1 $B:1")])
    if kind == "nested":
        # `tokenizers` gives the inner template the two encodings of the outer one: its pair form, $A $B
        return processors.Sequence([template(f"{BOS} $A", [bos]),
                                    processors.Sequence([template(f"$A {EOS}", [eos]), processors.ByteLevel()])])
    if kind == "roberta":
        return processors.RobertaProcessing(eos, bos)
    if kind == "bert":
        return processors.BertProcessing(eos, bos)
    if kind == "chain":
        # the first template hands two encodings on: the later stages take their pair forms
        return processors.Sequence([template(f"{BOS} $A", [bos]), processors.RobertaProcessing(eos, bos),
                                    template(f"$A {PAD}", [(PAD, tok.token_to_id(PAD))], pair=f"$B {PAD} $A")])
    if kind == "bytelevel":
        return processors.ByteLevel()
    if kind == "two_ids":
        # one name standing for two ids, and $A twice
        return processors.TemplateProcessing(
            single="<pair> $A <pair> $A", pair="$A $B",
            special_tokens=[{"id": "<pair>", "ids": [bos[1], eos[1]], "tokens": [BOS, EOS]}])
    assert kind == "none"
    return None


def agpt_encode(run_agpt, tok_path, texts, tmp_path, *flags):
    f = tmp_path / "texts.jsonl"
    f.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    out = run_agpt("tokenizer", "encode", "--tokenizer", tok_path, "--input", f, *flags).stdout
    lines = out.split("\n")
    assert lines[-1] == "" and len(lines) == len(texts) + 1
    return [[int(x) for x in line.split()] for line in lines[:-1]]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    path = tmp_path_factory.mktemp("base") / "tokenizer.json"
    tok = base_tokenizer(path)
    tok.save(str(path))
    return path


KINDS = ["bos", "bos_eos", "llama3", "nested", "roberta", "bert", "chain", "bytelevel", "two_ids", "none"]


@pytest.mark.parametrize("kind", KINDS)
def test_add_special_tokens_matches_tokenizers(kind, trained, run_agpt, tmp_path):
    tok = Tokenizer.from_file(str(trained))
    pp = post_processor(kind, tok)
    if pp is not None:
        tok.post_processor = pp
    path = tmp_path / "tokenizer.json"
    tok.save(str(path))
    saved = json.loads(path.read_text())
    if kind == "none":
        assert saved["post_processor"] is None
    hf = Tokenizer.from_file(str(path))
    with_special = agpt_encode(run_agpt, path, TEXTS, tmp_path, "--add-special-tokens")
    without = agpt_encode(run_agpt, path, TEXTS, tmp_path)
    for t, a, b in zip(TEXTS, with_special, without):
        assert a == hf.encode(t, add_special_tokens=True).ids, (kind, t)
        assert b == hf.encode(t, add_special_tokens=False).ids, (kind, t)
    # the template is visible, and is really there for the kinds that add ids
    bos_id = tok.token_to_id(BOS)
    adds = kind not in ("bytelevel", "none")
    assert (with_special[0] != without[0]) == adds
    if kind in ("bos", "llama3", "bos_eos", "nested"):
        assert all(ids[0] == bos_id for ids in with_special)
    info = run_agpt("tokenizer", "info", "--tokenizer", path).stdout
    line = next(x for x in info.splitlines() if x.startswith("template"))
    assert (f"{BOS}({bos_id})" in line) == adds and "$A" in line, line


@pytest.mark.parametrize("pattern", ["gpt2", "llama3"])
def test_agpt_trained_template_loads_in_hf(pattern, run_agpt, tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("".join(t + "\n" for t in CORPUS * 30))
    cases = {
        "guessed": ["--special-tokens", BOS, EOS, PAD],             # BOS recognised by its name
        "explicit": ["--special-tokens", "<s>", "</s>", "--bos", "<s>", "--eos", "</s>"],
        "off": ["--special-tokens", BOS, EOS, "--bos-template=false"],
        "no_bos": [],                                               # the default <|endoftext|> only
    }
    for name, flags in cases.items():
        path = tmp_path / f"{name}.json"
        run_agpt("tokenizer", "train", "--input", corpus, "--vocab-size", 500, "--output", path,
                 "--pattern", pattern, "--quiet", *flags)
        hf = Tokenizer.from_file(str(path))
        bos = {"guessed": BOS, "explicit": "<s>"}.get(name)
        ours = agpt_encode(run_agpt, path, TEXTS, tmp_path, "--add-special-tokens")
        plain = agpt_encode(run_agpt, path, TEXTS, tmp_path)
        for t, a, p in zip(TEXTS, ours, plain):
            ref = hf.encode(t).ids  # add_special_tokens=True is the library's default
            assert a == ref, (name, t)
            assert p == hf.encode(t, add_special_tokens=False).ids, (name, t)
            assert a == ([hf.token_to_id(bos)] if bos else []) + p, (name, t)
        pp = json.loads(path.read_text())["post_processor"]
        if bos:
            # Meta's Llama-3 form, pair template included
            assert pp["type"] == "Sequence" and [p["type"] for p in pp["processors"]] == ["ByteLevel",
                                                                                          "TemplateProcessing"]
            assert hf.encode("x", "y").ids == [hf.token_to_id(bos), *hf.encode("x", add_special_tokens=False).ids,
                                               hf.token_to_id(bos), *hf.encode("y", add_special_tokens=False).ids]
        else:
            assert pp["type"] == "ByteLevel"


def write_with_post(src, dst, pp):
    j = json.loads(src.read_text())
    j["post_processor"] = pp
    dst.write_text(json.dumps(j))


def test_refused_post_processors(trained, run_agpt, tmp_path):
    bos_id = Tokenizer.from_file(str(trained)).token_to_id(BOS)
    tpl = {"type": "TemplateProcessing", "pair": [],
           "special_tokens": {BOS: {"id": BOS, "ids": [bos_id], "tokens": [BOS]}}}
    cases = [
        ({"type": "Mystery"}, "post_processor.type: 'Mystery'"),
        ({"type": "Sequence", "processors": [{"type": "ByteLevel"}, {"type": "Mystery"}]},
         "post_processor.processors[1].type"),
        (dict(tpl, single=[{"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "<q>", "type_id": 0}}]),
         "post_processor.single[1]: special token '<q>'"),
        (dict(tpl, single=[{"Sequence": {"id": "B", "type_id": 0}}]), "post_processor.single[0]"),
        (dict(tpl, single=[{"SpecialToken": {"id": BOS, "type_id": 0}}],
              special_tokens={BOS: {"id": BOS, "ids": [99999], "tokens": [BOS]}}),
         f"post_processor.special_tokens['{BOS}'].ids[0]: id 99999"),
        ({"type": "RobertaProcessing", "sep": ["</s>"], "cls": ["<s>", 0]}, "post_processor.sep"),
    ]
    for i, (pp, msg) in enumerate(cases):
        path = tmp_path / f"bad{i}.json"
        write_with_post(trained, path, pp)
        p = run_agpt("tokenizer", "encode", "--tokenizer", path, "--text", "hi", check=False)
        assert p.returncode == 1, (pp, p.stdout)
        assert f"bad{i}.json" in p.stderr and msg in p.stderr, (msg, p.stderr)
