"""agpt's transformer against the PyTorch reference in torch_ref.py.

tests/tools/model_tool initializes a tiny model, runs forward, backward and
cached inference, and writes its weights, logits, loss and gradients. The
same weights go into the torch model, run in float64 (the truth) and float32.
Metric per tensor: max |agpt - torch64| / max |torch64|; it must stay below
1e-4 for logits, loss and every parameter gradient. Recomputation must give
byte-identical results.
"""
import json
import os
import pathlib
import subprocess

import numpy as np
import pytest
import torch

import torch_ref

ROOT = pathlib.Path(__file__).resolve().parents[2]
TOL = 1e-4

CASES = {
    # Llama, grouped-query attention (2 query heads per kv head), untied, some targets ignored
    "llama_gqa": dict(arch="llama", layers=2, hidden=32, heads=4, kv_heads=2, ffn=48, vocab=67, seq=9, batch=2,
                      tie=0, bias=0, theta=10000, ignore_every=5),
    # Llama, full multi-head, tied embeddings, biases, head size 16, small theta so every pair rotates a lot
    "llama_mha_tied_bias": dict(arch="llama", layers=2, hidden=64, heads=4, kv_heads=4, ffn=64, vocab=53, seq=8,
                                batch=2, tie=1, bias=1, theta=100),
    # Llama, one kv head (multi-query), padded vocabulary
    "llama_mqa_padded": dict(arch="llama", layers=3, hidden=48, heads=6, kv_heads=1, ffn=40, vocab=61,
                             padded_vocab=64, seq=7, batch=3, tie=0, bias=0, theta=500),
    # GPT-2: tied, biases
    "gpt2_tied": dict(arch="gpt2", layers=2, hidden=32, heads=4, kv_heads=4, ffn=128, vocab=71, seq=8, batch=2,
                      tie=1, bias=1, ignore_every=4),
    # GPT-2: untied, no biases, padded vocabulary
    "gpt2_untied_nobias": dict(arch="gpt2", layers=2, hidden=48, heads=3, kv_heads=3, ffn=96, vocab=50,
                               padded_vocab=64, seq=6, batch=2, tie=0, bias=0),
}


def tool_path():
    d = os.environ.get("AGPT_TOOLS", str(ROOT / "build" / "tools"))
    p = pathlib.Path(d) / "model_tool"
    assert p.exists(), f"{p} is missing: run `make` first"
    return p


def run_tool(outdir, case, **extra):
    outdir.mkdir(parents=True, exist_ok=True)
    args = {**case, "std": 0.1, "seed": 3, **extra}
    cmd = [str(tool_path()), str(outdir)] + [f"{k}={v}" for k, v in args.items()]
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", "2")
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 0, p.stderr
    return torch_ref.load_agpt_dir(outdir)


def rel_err(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    denom = max(np.abs(b).max(), 1e-30)
    return float(np.abs(a - b).max() / denom)


@pytest.mark.parametrize("name", sorted(CASES))
def test_against_torch(tmp_path, name):
    case = CASES[name]
    meta, params, agrads = run_tool(tmp_path / "a", case)
    cfg = meta["config"]
    B, T, V, Vp = cfg["batch"], cfg["seq"], cfg["vocab"], cfg["padded_vocab"]
    tokens = torch.from_numpy(np.fromfile(tmp_path / "a" / "tokens.bin", dtype=np.int32).reshape(B, T)).long()
    targets = torch.from_numpy(np.fromfile(tmp_path / "a" / "targets.bin", dtype=np.int32).reshape(B, T)).long()
    a_logits = np.fromfile(tmp_path / "a" / "logits.bin", dtype=np.float32).reshape(B, T, Vp)
    a_cached = np.fromfile(tmp_path / "a" / "cached.bin", dtype=np.float32).reshape(B, T, V)
    if case.get("ignore_every"):
        assert (targets < 0).any()

    results = {}
    for dtype in (torch.float64, torch.float32):
        P = {k: v.to(dtype).clone().requires_grad_(True) for k, v in params.items()}
        logits, loss = torch_ref.forward(cfg, P, tokens, targets)
        loss.backward()
        results[dtype] = (logits.detach().double().numpy(), float(loss), {k: p.grad.double().numpy() for k, p in P.items()})
    t_logits, t_loss, t_grads = results[torch.float64]

    errs = {"logits": rel_err(a_logits, t_logits), "cached_logits": rel_err(a_cached, t_logits[..., :V]),
            "loss": abs(meta["loss"] - t_loss) / abs(t_loss)}
    for k, g in t_grads.items():
        errs["grad " + k] = rel_err(agrads[k].numpy(), g)
    # float32 torch against float64 torch: the scale of rounding error agpt is measured against
    f_logits, f_loss, f_grads = results[torch.float32]
    f32 = max([rel_err(f_logits, t_logits)] + [rel_err(f_grads[k], t_grads[k]) for k in t_grads])
    worst = max(errs, key=errs.get)
    print(f"{name}: worst agpt error {errs[worst]:.2e} ({worst}); torch float32 worst {f32:.2e}; "
          f"loss agpt {meta['loss']:.6f} torch {t_loss:.6f}")
    bad = {k: e for k, e in errs.items() if not e <= TOL}
    assert not bad, f"relative errors above {TOL}: {bad}"
    assert set(t_grads) == {p["name"] for p in meta["params"]}
    # every gradient is exercised (a silently zero gradient would pass the metric only if torch's is zero too)
    for k, g in t_grads.items():
        assert np.abs(g).max() > 0, k


@pytest.mark.parametrize("name", ["llama_gqa", "gpt2_tied"])
def test_recompute_identical(tmp_path, name):
    run_tool(tmp_path / "a", CASES[name], recompute=0)
    run_tool(tmp_path / "b", CASES[name], recompute=1)
    for f in ("grads.bin", "logits.bin", "params.bin"):
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f
    la = json.loads((tmp_path / "a" / "table.json").read_text())["loss"]
    lb = json.loads((tmp_path / "b" / "table.json").read_text())["loss"]
    assert la == lb


def test_rope_pairing_is_checked(tmp_path):
    """The comparison can tell Hugging Face's half-split pairing from interleaved pairs."""
    meta, params, _ = run_tool(tmp_path / "a", CASES["llama_gqa"])
    cfg = meta["config"]
    B, T, Vp = cfg["batch"], cfg["seq"], cfg["padded_vocab"]
    tokens = torch.from_numpy(np.fromfile(tmp_path / "a" / "tokens.bin", dtype=np.int32).reshape(B, T)).long()
    a_logits = np.fromfile(tmp_path / "a" / "logits.bin", dtype=np.float32).reshape(B, T, Vp)
    with torch.no_grad():
        good, _ = torch_ref.forward(cfg, params, tokens)
        wrong, _ = torch_ref.forward(cfg, params, tokens, interleaved_rope=True)
    assert rel_err(a_logits, good.numpy()) <= TOL
    assert rel_err(a_logits, wrong.numpy()) > 100 * TOL
