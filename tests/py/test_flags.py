"""Flag domains: every number and choice of every command is checked when it
is parsed, refused with exit 2 and a message naming the flag, and shown in
--help; values on the edge of a domain are accepted. Also: every `--flag`
named in a message of the sources is a flag some command accepts."""
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]

# Every command and subcommand whose --help prints a flag table.
COMMANDS = [["train"], ["generate"], ["info"], ["preprocess"], ["data", "blend"], ["tokenizer", "train"],
            ["tokenizer", "encode"], ["tokenizer", "decode"], ["tokenizer", "info"]]

# (command, extra args, the flag the message must name). Each value lies
# outside its flag's domain, or breaks a rule between flags.
BAD = [
    (["train"], ["--lr", "nan"], "lr"),
    (["train"], ["--lr", "inf"], "lr"),
    (["train"], ["--lr", "-1e-3"], "lr"),
    (["train"], ["--lr", "1e-4", "--min-lr", "1e-3"], "min-lr"),
    (["train"], ["--adam-beta1", "1.5"], "adam-beta1"),
    (["train"], ["--adam-beta2", "1"], "adam-beta2"),
    (["train"], ["--adam-eps", "-1e-8"], "adam-eps"),
    (["train"], ["--weight-decay", "-0.1"], "weight-decay"),
    (["train"], ["--clip-grad", "-1"], "clip-grad"),
    (["train"], ["--save-interval", "-5"], "save-interval"),
    (["train"], ["--exit-interval", "-1"], "exit-interval"),
    (["train"], ["--keep-last", "-1"], "keep-last"),
    (["train"], ["--train-iters", "1e30"], "train-iters"),
    (["train"], ["--train-iters", "0"], "train-iters"),
    (["train"], ["--train-iters", "2.5"], "train-iters"),
    (["train"], ["--seed", "9223372036854775808"], "seed"),
    (["train"], ["--seed", "-1"], "seed"),
    (["train"], ["--micro-batch-size", "0"], "micro-batch-size"),
    (["train"], ["--micro-batch-size", "4", "--global-batch-size", "6"], "global-batch-size"),
    (["train"], ["--seq-length", "99999999999"], "seq-length"),
    (["train"], ["--num-layers", "0"], "num-layers"),
    (["train"], ["--lr-warmup-fraction", "1.5"], "lr-warmup-fraction"),
    (["train"], ["--lr-warmup-iters", "5", "--lr-warmup-fraction", "0.1"], "lr-warmup-fraction"),
    (["train"], ["--lr-decay-style", "cosin"], "lr-decay-style"),
    (["train"], ["--data-index-mode", "slow"], "data-index-mode"),
    (["train"], ["--arch", "gpt3"], "arch"),
    (["train"], ["--log-interval", "0"], "log-interval"),
    (["train"], ["--max-skipped-steps", "-1"], "max-skipped-steps"),
    (["train"], ["--rope-theta", "-inf"], "rope-theta"),
    (["train"], ["--split", "90,x,1"], "split"),
    (["generate", "--load", "/nonexistent"], ["--top-p", "2"], "top-p"),
    (["generate", "--load", "/nonexistent"], ["--top-p", "0"], "top-p"),
    (["generate", "--load", "/nonexistent"], ["--top-k", "-5"], "top-k"),
    (["generate", "--load", "/nonexistent"], ["--temperature", "nan"], "temperature"),
    (["generate", "--load", "/nonexistent"], ["--temperature", "-1"], "temperature"),
    (["generate", "--load", "/nonexistent"], ["--max-new-tokens", "-1"], "max-new-tokens"),
    (["generate", "--load", "/nonexistent"], ["--seed", "1e30"], "seed"),
    (["info"], ["--micro-batch-size", "0"], "micro-batch-size"),
    (["info"], ["--seq-length", "-1"], "seq-length"),
    (["info"], ["--preset", "llama-demo", "--rope-theta", "nan"], "rope-theta"),
    (["info"], ["--preset", "llama-demo", "--num-layers", "-2"], "num-layers"),
    (["tokenizer", "train", "--input", "/nonexistent", "--output", "/nonexistent/t.json"], ["--vocab-size", "100"],
     "vocab-size"),
    (["tokenizer", "train", "--input", "/nonexistent", "--output", "/nonexistent/t.json"], ["--pattern", "foo"],
     "pattern"),
    (["tokenizer", "train", "--input", "/nonexistent", "--output", "/nonexistent/t.json"], ["--threads", "-1"],
     "threads"),
    (["tokenizer", "train", "--input", "/nonexistent", "--output", "/nonexistent/t.json"], ["--min-frequency", "-1"],
     "min-frequency"),
    (["tokenizer", "encode", "--tokenizer", "/nonexistent", "--text", "x"], ["--threads", "0"], "threads"),
    (["tokenizer", "encode", "--tokenizer", "/nonexistent", "--text", "x"], ["--repeat", "0"], "repeat"),
    (["preprocess", "--input", "/nonexistent", "--output-prefix", "/nonexistent/p", "--tokenizer", "/nonexistent"],
     ["--workers", "-1"], "workers"),
    (["preprocess", "--input", "/nonexistent", "--output-prefix", "/nonexistent/p", "--tokenizer", "/nonexistent"],
     ["--txt-split", "para"], "txt-split"),
    (["preprocess", "--input", "/nonexistent", "--output-prefix", "/nonexistent/p", "--tokenizer", "/nonexistent"],
     ["--dtype", "float"], "dtype"),
    (["preprocess", "--input", "/nonexistent", "--output-prefix", "/nonexistent/p", "--tokenizer", "/nonexistent"],
     ["--log-interval", "-1"], "log-interval"),
    (["data", "blend", "--data-path", "/nonexistent"], ["--seq-length", "0"], "seq-length"),
    (["data", "blend", "--data-path", "/nonexistent"], ["--num-samples", "0"], "num-samples"),
    (["data", "blend", "--data-path", "/nonexistent"], ["--subset", "dev"], "subset"),
    (["data", "blend", "--data-path", "/nonexistent"], ["--index-mode", "slow"], "index-mode"),
    (["data", "sample", "--data-path", "/nonexistent"], ["--index", "-1"], "index"),
    (["data", "sample", "--data-path", "/nonexistent"], ["--count", "0"], "count"),
]


@pytest.mark.parametrize("cmd,args,flag", BAD, ids=[f"{' '.join(c[:2])} {' '.join(a)}" for c, a, _ in BAD])
def test_out_of_domain_is_a_usage_error(run_agpt, cmd, args, flag):
    p = run_agpt(*cmd, *args, check=False)
    assert p.returncode == 2, (p.returncode, p.stderr)
    first = p.stderr.splitlines()[0] if p.stderr else ""
    assert f"--{flag}" in first, p.stderr


def test_edges_of_the_domains_are_accepted(run_agpt):
    # Every flag passes; the run stops only at the missing data.
    p = run_agpt("train", "--lr", "0", "--min-lr", "0", "--adam-beta1", "0", "--adam-beta2", "0.9999",
                 "--clip-grad", "0", "--weight-decay", "0", "--keep-last", "0", "--save-interval", "0",
                 "--train-iters", "1e3", "--lr-warmup-fraction", "1", "--seed", "9223372036854775807",
                 "--lr-decay-style", "constant", "--data-index-mode", "megatron", "--arch", "gpt2", check=False)
    assert p.returncode == 2 and "no training data" in p.stderr, p.stderr
    p = run_agpt("generate", "--load", "/nonexistent", "--top-p", "1", "--top-k", "0", "--temperature", "0",
                 "--max-new-tokens", "0", check=False)
    assert p.returncode == 1, p.stderr  # parsed; the checkpoint is missing


def test_integer_overflow_between_flags(run_agpt):
    p = run_agpt("train", "--train-iters", "9223372036854775807", "--micro-batch-size", "4", check=False)
    assert p.returncode == 2 and "--train-iters" in p.stderr, p.stderr


def help_entries(run_agpt, cmd):
    """{flag: (argument word, the rest of its help text)} from `agpt CMD --help`."""
    out = run_agpt(*cmd, "--help").stdout
    entries, cur = {}, None
    for line in out.splitlines():
        m = re.match(r"^  --([a-z0-9-]+)(?: (\S+))?\s*(.*)$", line)
        if m:
            cur = m.group(1)
            entries[cur] = [m.group(2) or "", m.group(3)]
            alias = re.search(r"\(also --([a-z0-9-]+)\)", line)
            if alias:
                entries[alias.group(1)] = entries[cur]
        elif cur and line.startswith("    "):
            entries[cur][1] += " " + line.strip()
            alias = re.search(r"\(also --([a-z0-9-]+)\)", line)
            if alias:
                entries[alias.group(1)] = entries[cur]
        else:
            cur = None
    assert entries, out
    return entries


@pytest.mark.parametrize("cmd", COMMANDS, ids=[" ".join(c) for c in COMMANDS])
def test_help_shows_every_domain(run_agpt, cmd):
    for flag, (arg, text) in help_entries(run_agpt, cmd).items():
        if arg in ("INT", "FLOAT"):
            assert re.search(r"\[[^\]]*\bx [<>]=? ", text), f"--{flag}: no range in --help: {text}"


@pytest.mark.parametrize("cmd,flag,words", [
    (["train"], "lr-decay-style", "cosine|linear|constant"), (["train"], "data-index-mode", "fast|megatron"),
    (["train"], "arch", "llama|gpt2"), (["preprocess"], "txt-split", "file|blank|line"),
    (["preprocess"], "dtype", "auto|uint16|int32"), (["data", "blend"], "subset", "train|valid|test"),
    (["data", "blend"], "index-mode", "fast|megatron"), (["tokenizer", "train"], "pattern", "gpt2|llama3")])
def test_help_shows_choices(run_agpt, cmd, flag, words):
    assert help_entries(run_agpt, cmd)[flag][0] == words


def string_literals(text):
    """The C string literals of a source, comments left out."""
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    out = []
    for m in re.finditer(r"//[^\n]*|'(?:\\.|[^'\\])'|\"((?:\\.|[^\"\\])*)\"", text):
        if m.group(0).startswith('"'):
            out.append(m.group(1))
    return out


def test_every_flag_named_in_a_message_exists(run_agpt):
    known = {"help"}  # taken by the parser of every command (flags.c)
    for cmd in COMMANDS:
        known |= set(help_entries(run_agpt, cmd))
    missing = {}
    for path in sorted((ROOT / "src").rglob("*.[ch]")) + sorted((ROOT / "src").rglob("*.cu")):
        for lit in string_literals(path.read_text(encoding="utf-8", errors="replace")):
            for name in re.findall(r"(?<![A-Za-z0-9-])--([a-z][a-z0-9]*(?:-[a-z0-9]+)*)", lit):
                if name not in known:
                    missing.setdefault(f"--{name}", []).append(str(path.relative_to(ROOT)))
    assert not missing, f"flags named in messages that no command accepts: {missing}"
