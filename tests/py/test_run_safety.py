"""A run never destroys another run's checkpoints, never loads a checkpoint
whose contents no training could have written, never changes its schedule
or shape silently on resume, and tells a scheduler how it ended."""
import json
import os
import pathlib
import signal
import subprocess
import time

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

import ckpt_edit
from agpt_data import write_random_dataset

ROOT = pathlib.Path(__file__).resolve().parents[2]
TINY = ["--preset", "llama-demo", "--num-layers", "2", "--hidden-size", "64", "--num-attention-heads", "4",
        "--num-key-value-heads", "2", "--ffn-hidden-size", "128", "--vocab-size", "256", "--seq-length", "16"]


@pytest.fixture
def data(tmp_path):
    return write_random_dataset(str(tmp_path / "rand"), vocab=256)


def args(data, iters, save, extra=()):
    return [*TINY, "--data-path", data, "--split", "100,0,0", "--micro-batch-size", "2", "--global-batch-size", "4",
            "--train-iters", str(iters), "--lr", "1e-2", "--lr-warmup-iters", "2", "--log-interval", "1",
            "--save", str(save), *extra]


def snapshot(d):
    """Every file under d with its bytes."""
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(pathlib.Path(d).rglob("*")) if p.is_file()}


def lrs(save):
    rows = [json.loads(l) for l in open(pathlib.Path(save) / "metrics.jsonl")]
    return {r["step"]: r["lr"] for r in rows if "lr" in r}


# ---- a save directory holding checkpoints is never written into silently ----

def test_missing_latest_refuses_then_recovers(run_agpt, data, tmp_path):
    save = tmp_path / "ck"
    run_agpt("train", *args(data, 4, save, ["--save-interval", "2", "--keep-last", "0"]))
    (save / "latest").unlink()
    before = snapshot(save)
    p = run_agpt("train", *args(data, 6, save, ["--load", save, "--lr-decay-iters", "4"]), check=False)
    assert p.returncode == 1, p.stderr
    assert "iter_0000004" in p.stderr and "iter_0000002" in p.stderr and "--recover-latest" in p.stderr, p.stderr
    assert snapshot(save) == before  # nothing written, nothing pruned
    # no --load at all: the same refusal
    p = run_agpt("train", *args(data, 6, save), check=False)
    assert p.returncode == 1 and "--recover-latest" in p.stderr, p.stderr
    assert snapshot(save) == before

    p = run_agpt("train", *args(data, 6, save, ["--recover-latest", "--lr-decay-iters", "4"]))
    assert "resumed from" in p.stderr + p.stdout and "iter_0000004" in p.stderr + p.stdout
    assert (save / "latest").read_text().strip() == "iter_0000006"
    state = json.loads((save / "iter_0000006" / "state.json").read_text())
    assert state["iteration"] == 6 and state["consumed_samples"] == 24


def test_recover_skips_and_keeps_a_damaged_newest(run_agpt, data, tmp_path):
    save = tmp_path / "ck"
    run_agpt("train", *args(data, 4, save, ["--save-interval", "2", "--keep-last", "0"]))
    (save / "latest").unlink()
    f = save / "iter_0000004" / "model.safetensors"
    buf = bytearray(f.read_bytes())
    buf[len(buf) // 2] ^= 1
    f.write_bytes(bytes(buf))
    p = run_agpt("train", *args(data, 3, save, ["--recover-latest", "--lr-decay-iters", "4"]))
    out = p.stdout + p.stderr
    assert "iter_0000004" in out and "model.safetensors" in out, out  # the damage is named
    aside = [d.name for d in save.iterdir() if d.name.startswith("iter_0000004.damaged.")]
    assert len(aside) == 1, sorted(os.listdir(save))
    assert (save / aside[0] / "model.safetensors").read_bytes() == bytes(buf)  # kept as it was
    assert (save / "latest").read_text().strip() == "iter_0000003"


def test_a_new_run_does_not_write_into_another_runs_directory(run_agpt, data, tmp_path):
    save, other = tmp_path / "ck", tmp_path / "other"
    run_agpt("train", *args(data, 2, save))
    run_agpt("train", *args(data, 2, other))
    before = snapshot(save)
    for extra in ([], ["--load", other]):
        p = run_agpt("train", *args(data, 4, save, extra), check=False)
        assert p.returncode == 1 and "already holds a run" in p.stderr and "--load" in p.stderr, p.stderr
        assert snapshot(save) == before


def test_loading_an_older_checkpoint_into_its_own_directory_is_refused(run_agpt, data, tmp_path):
    save = tmp_path / "ck"
    run_agpt("train", *args(data, 4, save, ["--save-interval", "2", "--keep-last", "0"]))
    before = snapshot(save)
    p = run_agpt("train", *args(data, 4, save, ["--load", save / "iter_0000002"]), check=False)
    assert p.returncode == 1 and "already holds a run" in p.stderr, p.stderr
    assert snapshot(save) == before
    # its latest checkpoint, named directly, continues the run
    run_agpt("train", *args(data, 5, save, ["--load", save / "iter_0000004", "--lr-decay-iters", "4"]))
    assert (save / "latest").read_text().strip() == "iter_0000005"


def test_demo_rerun_resumes_instead_of_mixing_runs(tmp_path):
    env = dict(os.environ, AGPT_DEMO_OUT=str(tmp_path / "demo"), AGPT_DEMO_ITERS="2", OMP_NUM_THREADS="2")
    build = pathlib.Path(os.environ.get("AGPT_BIN", ROOT / "build" / "agpt")).parent
    for _ in range(2):
        p = subprocess.run(["bash", "scripts/demo.sh", str(build)], cwd=ROOT, env=env, capture_output=True,
                           timeout=600, text=True, errors="replace")  # samples of 2 steps are not always UTF-8
        assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert "resumed from" in p.stdout + p.stderr
    rows = [json.loads(l) for l in open(tmp_path / "demo" / "metrics.jsonl") if '"loss"' in l]
    assert [r["step"] for r in rows] == [1, 2]  # the second run trained nothing again


# ---- checkpoint contents are validated, not just checksummed ----

STATE_CASES = [
    ({"iteration": -2}, "iteration"),
    ({"iteration": 3}, "iteration"),
    ({"adam_step": 7}, "adam_step"),
    ({"adam_step": -5}, "adam_step"),
    ({"skipped_total": 9}, "skipped_total"),
    ({"skipped_consecutive": 1}, "skipped_consecutive"),
    ({"consumed_samples": 1}, "consumed_samples"),
    ({"consumed_samples": 2 ** 62}, "consumed_samples"),
    ({"micro_batch_size": 0}, "micro_batch_size"),
    ({"global_batch_size": 5}, "global_batch_size"),
    ({"seq_length": 100000}, "seq_length"),
    ({"train_iters": 0}, "train_iters"),
    ({"seed": -1}, "seed"),
    ({"index_mode": "random"}, "index_mode"),
    ({"split": "a,b"}, "split"),
    ({"lr": -1.0}, "lr"),
    ({"min_lr": 1.0}, "min_lr"),
    ({"lr_decay_iters": 0}, "lr_decay_iters"),
    ({"lr_decay_style": "cubic"}, "lr_decay_style"),
    ({"iteration": "2"}, "iteration"),
]


@pytest.fixture
def ckpt2(run_agpt, data, tmp_path):
    save = tmp_path / "ck"
    run_agpt("train", *args(data, 2, save))
    d = save / "iter_0000002"
    # the helper reproduces agpt's manifest byte for byte
    before = (d / "manifest.json").read_bytes()
    ckpt_edit.rewrite(d, "state.json", (d / "state.json").read_bytes())
    assert (d / "manifest.json").read_bytes() == before
    return save, d


@pytest.mark.parametrize("change,field", STATE_CASES, ids=[next(iter(c)) + "=" + str(next(iter(c.values())))
                                                           for c, _ in STATE_CASES])
def test_state_json_out_of_range_is_refused(run_agpt, data, ckpt2, change, field):
    save, d = ckpt2
    ckpt_edit.edit_json(d, "state.json", **change)
    before = snapshot(save)
    p = run_agpt("train", *args(data, 4, save, ["--load", save, "--lr-decay-iters", "2"]), check=False)
    assert p.returncode == 1, p.stderr + p.stdout
    assert "state.json" in p.stderr and f'"{field}"' in p.stderr, p.stderr
    assert snapshot(save) == before


@pytest.mark.parametrize("file,prefix,value", [("optim.safetensors", "exp_avg_sq.", -1.0),
                                               ("optim.safetensors", "exp_avg.", float("nan")),
                                               ("model.safetensors", "", float("inf"))])
def test_tensor_values_no_training_writes_are_refused(run_agpt, data, ckpt2, file, prefix, value):
    save, d = ckpt2
    tensors = load_file(str(d / file))
    name = prefix + "model.layers.1.mlp.down_proj.weight"
    t = tensors[name].copy()
    t.flat[5] = value
    tensors[name] = t
    tmp = d.parent / "tmp.safetensors"
    save_file(tensors, str(tmp), metadata={"format": "pt", "producer": "agpt"})
    ckpt_edit.rewrite(d, file, tmp.read_bytes())
    tmp.unlink()
    p = run_agpt("train", *args(data, 4, save, ["--load", save, "--lr-decay-iters", "2"]), check=False)
    assert p.returncode == 1, p.stderr
    assert file in p.stderr and name in p.stderr and "element 5" in p.stderr, p.stderr


def test_manifest_and_state_iterations_must_agree(run_agpt, data, ckpt2):
    save, d = ckpt2
    ckpt_edit.edit_json(d, "state.json", iteration=1, adam_step=1, consumed_samples=4)
    p = run_agpt("train", *args(data, 4, save, ["--load", save, "--lr-decay-iters", "2"]), check=False)
    assert p.returncode == 1 and "manifest.json says 2" in p.stderr, p.stderr


# ---- resuming keeps the schedule and the shape unless told otherwise ----

def test_resume_with_other_train_iters_keeps_or_refuses_the_schedule(run_agpt, data, tmp_path):
    straight, resumed = tmp_path / "a", tmp_path / "b"
    run_agpt("train", *args(data, 12, straight))
    run_agpt("train", *args(data, 12, resumed, ["--exit-interval", "6"]))
    p = run_agpt("train", *args(data, 20, resumed, ["--load", resumed]), check=False)
    assert p.returncode == 1, p.stderr
    assert "--use-checkpoint-opt-param-scheduler" in p.stderr and "decay over 20" in p.stderr, p.stderr
    assert (resumed / "latest").read_text().strip() == "iter_0000006"
    run_agpt("train", *args(data, 14, resumed, ["--load", resumed, "--use-checkpoint-opt-param-scheduler"]))
    a, b = lrs(straight), lrs(resumed)
    assert all(a[s] == b[s] for s in range(1, 13)), (a, b)  # the schedule went on as if never stopped
    assert b[13] == b[14] == 0.0  # past the decay: min-lr


def test_override_follows_the_new_schedule(run_agpt, data, tmp_path):
    save = tmp_path / "ck"
    run_agpt("train", *args(data, 12, save, ["--exit-interval", "6"]))
    p = run_agpt("train", *args(data, 20, save, ["--load", save, "--override-opt-param-scheduler"]))
    assert "schedule changes" in p.stderr, p.stderr
    assert lrs(save)[7] > lrs(save)[6] * 0.9  # decaying over 20 iterations now, slower than over 12


def test_resume_with_another_seq_length(run_agpt, data, tmp_path):
    save = tmp_path / "ck"
    run_agpt("train", *args(data, 2, save, ["--max-position-embeddings", "32"]))
    cfg = json.loads((save / "iter_0000002" / "config.json").read_text())
    assert cfg["max_position_embeddings"] == 32  # --seq-length no longer overrides it
    # no shape flags: the shape and the sequence length come from the checkpoint
    run_agpt("train", "--data-path", data, "--split", "100,0,0", "--micro-batch-size", "2", "--global-batch-size", "4",
             "--train-iters", "3", "--lr", "1e-2", "--lr-warmup-iters", "2", "--lr-decay-iters", "2",
             "--save", save, "--load", save)
    assert json.loads((save / "iter_0000003" / "state.json").read_text())["seq_length"] == 16
    p = run_agpt("train", *args(data, 4, save, ["--load", save, "--seq-length", "32", "--lr-decay-iters", "2"]))
    assert "--seq-length was 16, now 32" in p.stderr, p.stderr
    assert json.loads((save / "iter_0000004" / "state.json").read_text())["seq_length"] == 32
    p = run_agpt("train", *args(data, 5, save, ["--load", save, "--seq-length", "64", "--lr-decay-iters", "2"]),
                 check=False)
    assert p.returncode == 1 and "--seq-length 64 exceeds" in p.stderr, p.stderr


def test_a_conflicting_shape_flag_on_resume_is_an_error(run_agpt, data, tmp_path):
    save = tmp_path / "ck"
    run_agpt("train", *args(data, 2, save))
    before = snapshot(save)
    p = run_agpt("train", *args(data, 4, save, ["--load", save, "--hidden-size", "128", "--lr-decay-iters", "2"]),
                 check=False)
    assert p.returncode == 1 and "--hidden-size" in p.stderr, p.stderr
    assert snapshot(save) == before


def test_hidden_size_on_a_preset_derives_the_ffn_width(run_agpt, data, tmp_path):
    save = tmp_path / "ck"
    run_agpt("train", "--preset", "llama-demo", "--num-layers", "1", "--hidden-size", "64", "--vocab-size", "256",
             "--seq-length", "16", "--data-path", data, "--split", "100,0,0", "--micro-batch-size", "1",
             "--train-iters", "1", "--save", save)
    cfg = json.loads((save / "iter_0000001" / "config.json").read_text())
    assert cfg["intermediate_size"] == 128  # Megatron: int(4 * 64 * 2 / 3 / 64) * 64, not the preset's 688


# ---- signals: the exit status says the run was stopped ----

def wait_for_steps(save, n, p, deadline=60):
    end = time.time() + deadline
    while time.time() < end and p.poll() is None:
        m = save / "metrics.jsonl"
        if m.exists() and sum('"loss"' in l for l in open(m)) >= n:
            return
        time.sleep(0.02)
    raise AssertionError("training did not reach the step in time")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_saves_and_exits_128_plus_signal(agpt_bin, data, tmp_path, sig):
    save = tmp_path / "ck"
    p = subprocess.Popen([agpt_bin, "train", *args(data, 100000, save, ["--lr-decay-iters", "100"])],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env=dict(os.environ, OMP_NUM_THREADS="1"))
    wait_for_steps(save, 2, p)
    p.send_signal(sig)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 128 + sig, (p.returncode, err[-2000:])
    it = int((save / "latest").read_text().strip().split("_")[1])
    assert it >= 2 and "stopping after iteration %d" % it in out + err, (out + err)[-2000:]


def test_a_second_sigint_aborts_at_once_and_keeps_the_previous_checkpoint(agpt_bin, run_agpt, data, tmp_path):
    save = tmp_path / "ck"
    # big enough that a step and its save take far longer than the gap between the two signals
    wide = ["--num-layers", "4", "--hidden-size", "512", "--ffn-hidden-size", "1376", "--lr-decay-iters", "100"]
    p = subprocess.Popen([agpt_bin, "train", *args(data, 100000, save, [*wide, "--save-interval", "1"])],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                         env=dict(os.environ, OMP_NUM_THREADS="1"))
    wait_for_steps(save, 2, p)
    p.send_signal(signal.SIGINT)
    time.sleep(0.05)  # two signals sent at once may arrive as one
    p.send_signal(signal.SIGINT)
    p.communicate(timeout=60)
    assert p.returncode == -signal.SIGINT  # ended by the signal itself, not by a finished save
    it = int((save / "latest").read_text().strip().split("_")[1])
    # the checkpoint `latest` names is whole and training continues from it
    run_agpt("train", *args(data, it + 1, save, [*wide, "--load", save, "--save-interval", "1"]))
    assert (save / "latest").read_text().strip() == f"iter_{it + 1:07d}"


def test_info_and_train_build_the_same_model_from_the_same_flags(run_agpt, data, tmp_path):
    flags = ["--preset", "llama-demo", "--num-layers", "1", "--num-attention-heads", "8", "--hidden-size", "128",
             "--vocab-size", "256"]
    info = run_agpt("info", *flags).stdout
    assert "8 key-value heads" in info and "ffn           320" in info, info
    save = tmp_path / "ck"
    run_agpt("train", *flags, "--seq-length", "16", "--data-path", data, "--split", "100,0,0", "--micro-batch-size",
             "1", "--train-iters", "1", "--save", save)
    cfg = json.loads((save / "iter_0000001" / "config.json").read_text())
    assert cfg["num_key_value_heads"] == 8 and cfg["intermediate_size"] == 320, cfg
