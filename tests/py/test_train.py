"""End-to-end training through the CLI: bitwise resume, crash safety of
checkpoints, rejection of damaged checkpoints, non-finite steps, and ten
AdamW steps against PyTorch from the very same initial weights and batches."""
import json
import math
import os
import pathlib
import random
import signal
import subprocess
import time

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file

import torch_ref
from agpt_data import write_random_dataset

ROOT = pathlib.Path(__file__).resolve().parents[2]
TINY = ["--preset", "llama-demo", "--num-layers", "2", "--hidden-size", "64", "--num-attention-heads", "4",
        "--num-key-value-heads", "2", "--ffn-hidden-size", "128", "--vocab-size", "256", "--seq-length", "16"]


@pytest.fixture
def data(tmp_path):
    return write_random_dataset(str(tmp_path / "rand"), vocab=256)


def base_args(data, iters, save, extra=()):
    return [*TINY, "--data-path", data, "--split", "100,0,0", "--micro-batch-size", "2", "--global-batch-size", "4",
            "--train-iters", str(iters), "--lr", "1e-2", "--lr-warmup-iters", "2", "--log-interval", "1",
            "--save", str(save), "--quiet", *extra]


def losses(save):
    rows = [json.loads(l) for l in open(pathlib.Path(save) / "metrics.jsonl")]
    return {r["step"]: r["loss"] for r in rows if "loss" in r}


def test_resume_is_bitwise(run_agpt, data, tmp_path):
    a, b = tmp_path / "straight", tmp_path / "resumed"
    run_agpt("train", *base_args(data, 12, a))
    run_agpt("train", *base_args(data, 12, b, ["--exit-interval", "6"]))
    assert (b / "latest").read_text().strip() == "iter_0000006"
    run_agpt("train", *base_args(data, 12, b, ["--load", str(b)]))
    la, lb = losses(a), losses(b)
    assert sorted(la) == list(range(1, 13)) and sorted(lb) == list(range(1, 13))
    assert all(la[s] == lb[s] for s in la), (la, lb)  # bitwise: exact float equality
    for f in ("model.safetensors", "optim.safetensors"):
        assert (a / "iter_0000012" / f).read_bytes() == (b / "iter_0000012" / f).read_bytes(), f
    state = json.loads((b / "iter_0000012" / "state.json").read_text())
    assert state["consumed_samples"] == 48 and state["iteration"] == 12


def test_recompute_gives_identical_losses(run_agpt, data, tmp_path):
    run_agpt("train", *base_args(data, 4, tmp_path / "a"))
    run_agpt("train", *base_args(data, 4, tmp_path / "b", ["--recompute-activations"]))
    assert losses(tmp_path / "a") == losses(tmp_path / "b")


def test_sigkill_during_checkpoint_writes(agpt_bin, run_agpt, data, tmp_path):
    save = tmp_path / "ck"
    # a wider model so that writing a checkpoint takes a noticeable part of each step
    wide = ["--hidden-size", "256", "--ffn-hidden-size", "512", "--vocab-size", "256"]
    rng = random.Random(7)
    env = dict(os.environ, OMP_NUM_THREADS="2")
    kills = 0
    for round_ in range(4):
        # the decay length is fixed so that the shorter resumed runs below keep the schedule
        args = base_args(data, 400, save, [*wide, "--save-interval", "1", "--keep-last", "2", "--load", str(save),
                                           "--lr-decay-iters", "400"])
        p = subprocess.Popen([agpt_bin, "train", *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.time() + 60
        while not (save / "latest").exists() and time.time() < deadline and p.poll() is None:
            time.sleep(0.02)
        time.sleep(rng.uniform(0.05, 0.6))
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)
            kills += 1
        p.wait()
        # whatever was being written, the committed checkpoint loads and training resumes from it
        latest = (save / "latest").read_text().split()[0]
        it = int(latest.split("_")[1])
        out = run_agpt("train", *base_args(data, it + 1, save, [*wide, "--load", str(save), "--lr-decay-iters", "400"]))
        assert (save / "latest").read_text().split()[0] == f"iter_{it + 1:07d}", out.stdout
    assert kills >= 3


def test_damaged_checkpoint_is_rejected(run_agpt, data, tmp_path):
    save = tmp_path / "ck"
    decay = ["--lr-decay-iters", "4"]
    run_agpt("train", *base_args(data, 2, save, decay))
    d = save / "iter_0000002"
    for name, damage in (("model.safetensors", "flip"), ("optim.safetensors", "truncate"), ("state.json", "flip")):
        f = d / name
        orig = f.read_bytes()
        if damage == "flip":
            buf = bytearray(orig)
            buf[len(buf) // 2] ^= 0x10
            f.write_bytes(bytes(buf))
        else:
            f.write_bytes(orig[:-100])
        p = run_agpt("train", *base_args(data, 4, save, ["--load", str(save), *decay]), check=False)
        assert p.returncode != 0
        assert name in p.stderr, p.stderr
        f.write_bytes(orig)
    run_agpt("train", *base_args(data, 3, save, ["--load", str(save), *decay]))


def test_bad_flags_fail_clearly(run_agpt, data, tmp_path):
    p = run_agpt("train", *base_args(data, 2, tmp_path / "x", ["--global-batch-size", "3"]), check=False)
    assert p.returncode != 0 and "--global-batch-size" in p.stderr
    p = run_agpt("train", *TINY, "--train-iters", "2", check=False)
    assert p.returncode == 2 and "--data-path" in p.stderr
    p = run_agpt("train", *base_args(data, 2, tmp_path / "y", ["--lr-decay-style", "cubic"]), check=False)
    assert p.returncode != 0 and "cubic" in p.stderr
    p = run_agpt("train", *base_args(str(tmp_path / "missing"), 2, tmp_path / "z"), check=False)
    assert p.returncode != 0 and "missing" in p.stderr
    p = run_agpt("train", "--help")
    for flag in ("--num-layers", "--hidden-size", "--ffn-hidden-size", "--num-attention-heads", "--num-key-value-heads",
                 "--seq-length", "--max-position-embeddings", "--micro-batch-size", "--global-batch-size",
                 "--train-iters", "--lr", "--min-lr", "--lr-warmup-iters", "--lr-decay-style", "--weight-decay",
                 "--adam-beta1", "--adam-beta2", "--adam-eps", "--clip-grad", "--seed", "--save", "--load",
                 "--save-interval", "--log-interval", "--data-path", "--data-file-list", "--recompute-activations"):
        assert flag in p.stdout, flag


def test_non_finite_steps_are_skipped_and_stop_the_run(run_agpt, data, tmp_path):
    # an absurd learning rate drives the weights to inf within a few steps
    save = tmp_path / "nan"
    p = run_agpt("train", *base_args(data, 60, save, ["--lr", "1e30", "--lr-warmup-iters", "0", "--clip-grad", "0",
                                                         "--max-skipped-steps", "3"]), check=False)
    assert p.returncode == 1 and "consecutive" in p.stderr, p.stderr
    events = [json.loads(l) for l in open(save / "metrics.jsonl") if '"event"' in l]
    assert len(events) >= 3 and all(e["event"] == "skip" for e in events)


def lr_at(step, lr, min_lr, warmup, decay):
    if warmup and step <= warmup:
        return lr * step / warmup
    ratio = (step - warmup) / (decay - warmup)
    return min_lr + 0.5 * (math.cos(math.pi * ratio) + 1) * (lr - min_lr)


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
def test_ten_adamw_steps_match_torch(run_agpt, data, tmp_path, arch):
    tools = pathlib.Path(os.environ.get("AGPT_TOOLS", ROOT / "build" / "tools"))
    shape = dict(layers=2, hidden=64, heads=4, kv_heads=2 if arch == "llama" else 4, ffn=128, vocab=256, seq=16)
    std, seed, steps, lr, min_lr, warmup, wd, clip = 0.05, 77, 10, 3e-3, 3e-4, 3, 0.1, 0.5
    init = tmp_path / "init"
    init.mkdir()
    tool_args = {**shape, "arch": arch, "std": std, "seed": seed, "batch": 1,
                 "tie": int(arch == "gpt2"), "bias": int(arch == "gpt2")}
    subprocess.run([str(tools / "model_tool"), str(init)] + [f"{k}={v}" for k, v in tool_args.items()], check=True,
                   capture_output=True)
    meta, params, _ = torch_ref.load_agpt_dir(init, dtype=torch.float64)

    save, batches = tmp_path / "ck", tmp_path / "batches.bin"
    flags = ["--arch", arch, "--num-layers", "2", "--hidden-size", "64", "--num-attention-heads", "4",
             "--num-key-value-heads", str(shape["kv_heads"]), "--ffn-hidden-size", "128", "--vocab-size", "256",
             "--seq-length", "16", "--max-position-embeddings", "16", "--init-method-std", str(std), "--seed", str(seed),
             "--data-path", data, "--split", "100,0,0", "--micro-batch-size", "2", "--global-batch-size", "4",
             "--train-iters", str(steps), "--lr", str(lr), "--min-lr", str(min_lr), "--lr-warmup-iters", str(warmup),
             "--lr-decay-style", "cosine", "--weight-decay", str(wd), "--adam-beta1", "0.9", "--adam-beta2", "0.95",
             "--adam-eps", "1e-8", "--clip-grad", str(clip), "--log-interval", "1", "--save", str(save),
             "--log-batches", str(batches), "--quiet"]
    run_agpt("train", *flags)
    a_losses = losses(save)
    ids = np.fromfile(batches, dtype=np.int32).reshape(steps, 2, 2, 2, 16)  # step, micro, tokens|labels, B, T

    cfg = meta["config"]
    P = {k: v.clone().requires_grad_(True) for k, v in params.items()}
    decay = [P[p["name"]] for p in meta["params"] if p["decay"]]
    no_decay = [P[p["name"]] for p in meta["params"] if not p["decay"]]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": wd}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=lr, betas=(0.9, 0.95), eps=1e-8)
    t_losses = {}
    for s in range(steps):
        for g in opt.param_groups:
            g["lr"] = lr_at(s + 1, lr, min_lr, warmup, steps)
        opt.zero_grad()
        total = 0.0
        for micro in range(2):
            tok = torch.from_numpy(ids[s, micro, 0].astype(np.int64))
            lab = torch.from_numpy(ids[s, micro, 1].astype(np.int64))
            _, loss = torch_ref.forward(cfg, P, tok, lab)
            (loss / 2).backward()
            total += float(loss) / 2
        torch.nn.utils.clip_grad_norm_(list(P.values()), clip)
        opt.step()
        t_losses[s + 1] = total
    for s in range(1, steps + 1):
        assert abs(a_losses[s] - t_losses[s]) <= 1e-4 * abs(t_losses[s]), (s, a_losses[s], t_losses[s])
    # Weights: Adam divides by sqrt(v), so a component whose gradient is
    # near zero moves by about lr whatever its sign, and rounding can decide
    # the sign. Hence the bound is 1e-4 of the largest weight over the whole
    # model, and 1e-3 of each tensor's own largest value.
    final = load_file(str(save / f"iter_{steps:07d}" / "model.safetensors"))
    scale = max(float(np.abs(p.detach().numpy()).max()) for p in P.values())
    for name, p in P.items():
        ref, got = p.detach().numpy(), final[name]
        if name.endswith("c_attn.bias"):
            # The key bias adds the same q.b to every score of a row, which the
            # softmax ignores: its true gradient is 0, so both implementations
            # step on rounding noise. Compare the query and value parts only.
            C = shape["hidden"]
            ref, got = np.concatenate([ref[:C], ref[2 * C:]]), np.concatenate([got[:C], got[2 * C:]])
        diff = float(np.abs(got - ref).max())
        assert diff <= 1e-4 * scale, (name, diff, scale)
        assert diff <= 1e-3 * max(float(np.abs(ref).max()), 1e-30), (name, diff)
