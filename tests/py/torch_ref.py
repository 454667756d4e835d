"""The agpt transformer written plainly in PyTorch, as the reference.

Weights are a dict from Hugging Face names to tensors (the names of agpt's
parameter table), so the same flat buffer agpt initialized can be loaded
here. Written from the Hugging Face conventions, not from agpt's code:
Llama (RMSNorm, RoPE pairing j with j + head_dim/2, SwiGLU, grouped-query
attention via repeat_interleave of the key/value heads, weights (out, in))
and GPT-2 (LayerNorm, learned positions, tanh GELU, Conv1D weights (in, out)).
"""
import json
import math
import pathlib

import numpy as np
import torch
import torch.nn.functional as F


def load_agpt_dir(d, dtype=torch.float64):
    """Reads what tests/tools/model_tool wrote: (meta, params, grads, ...)."""
    d = pathlib.Path(d)
    meta = json.loads((d / "table.json").read_text())
    flat = np.fromfile(d / "params.bin", dtype=np.float32)
    gflat = np.fromfile(d / "grads.bin", dtype=np.float32)
    assert flat.size == meta["total"] and gflat.size == meta["total"]
    params, grads = {}, {}
    for p in meta["params"]:
        o, n, shape = p["offset"], p["numel"], p["shape"]
        params[p["name"]] = torch.tensor(flat[o:o + n].reshape(shape), dtype=dtype)
        grads[p["name"]] = torch.tensor(gflat[o:o + n].reshape(shape), dtype=torch.float64)
    return meta, params, grads


def rope(x, theta, interleaved=False):
    """x: (B, H, T, HS). Hugging Face rotate_half pairing unless interleaved."""
    B, H, T, HS = x.shape
    inv = 1.0 / (theta ** (torch.arange(0, HS, 2, dtype=torch.float64) / HS))
    ang = torch.arange(T, dtype=torch.float64)[:, None] * inv[None, :]  # (T, HS/2)
    if interleaved:  # the GPT-J/Meta pairing (2j, 2j+1): only used to show the test can tell them apart
        cos, sin = ang.cos().to(x.dtype), ang.sin().to(x.dtype)
        x1, x2 = x[..., 0::2], x[..., 1::2]
        out = torch.stack([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)
        return out.flatten(-2)
    emb = torch.cat([ang, ang], dim=-1)
    cos, sin = emb.cos().to(x.dtype), emb.sin().to(x.dtype)
    half = HS // 2
    rot = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
    return x * cos + rot * sin


def attention(q, k, v, n_head, n_kv):
    """q (B, NH, T, HS), k, v (B, KVH, T, HS): causal softmax attention."""
    rep = n_head // n_kv
    k = k.repeat_interleave(rep, dim=1)
    v = v.repeat_interleave(rep, dim=1)
    T, HS = q.shape[2], q.shape[3]
    s = (q @ k.transpose(-1, -2)) / math.sqrt(HS)
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    s = s.masked_fill(~mask, float("-inf"))
    return torch.softmax(s, dim=-1) @ v


def rmsnorm(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def forward(cfg, P, tokens, targets=None, interleaved_rope=False):
    """Returns (logits (B, T, Vp), mean loss over targets >= 0 or None)."""
    B, T = tokens.shape
    C, NH, KVH = cfg["hidden"], cfg["heads"], cfg["kv_heads"]
    HS = C // NH
    eps = cfg["eps"]

    def split_heads(t, h):
        return t.view(B, T, h, HS).transpose(1, 2)

    def merge(t):
        return t.transpose(1, 2).reshape(B, T, -1)

    if cfg["arch"] == "llama":
        def lin(x, name):
            y = x @ P[name + ".weight"].T
            b = P.get(name + ".bias")
            return y + b if b is not None else y

        x = P["model.embed_tokens.weight"][tokens]
        for l in range(cfg["layers"]):
            p = f"model.layers.{l}."
            h = rmsnorm(x, P[p + "input_layernorm.weight"], eps)
            q = split_heads(lin(h, p + "self_attn.q_proj"), NH)
            k = split_heads(lin(h, p + "self_attn.k_proj"), KVH)
            v = split_heads(lin(h, p + "self_attn.v_proj"), KVH)
            q, k = rope(q, cfg["theta"], interleaved_rope), rope(k, cfg["theta"], interleaved_rope)
            x = x + lin(merge(attention(q, k, v, NH, KVH)), p + "self_attn.o_proj")
            h = rmsnorm(x, P[p + "post_attention_layernorm.weight"], eps)
            x = x + lin(F.silu(lin(h, p + "mlp.gate_proj")) * lin(h, p + "mlp.up_proj"), p + "mlp.down_proj")
        h = rmsnorm(x, P["model.norm.weight"], eps)
        head = P["model.embed_tokens.weight"] if cfg["tie"] else P["lm_head.weight"]
    else:
        def conv1d(x, name):
            y = x @ P[name + ".weight"]
            b = P.get(name + ".bias")
            return y + b if b is not None else y

        def ln(x, name):
            return F.layer_norm(x, (C,), P[name + ".weight"], P[name + ".bias"], eps)

        x = P["transformer.wte.weight"][tokens] + P["transformer.wpe.weight"][:T][None]
        for l in range(cfg["layers"]):
            p = f"transformer.h.{l}."
            qkv = conv1d(ln(x, p + "ln_1"), p + "attn.c_attn")
            q, k, v = qkv.split(C, dim=-1)
            a = attention(split_heads(q, NH), split_heads(k, NH), split_heads(v, NH), NH, NH)
            x = x + conv1d(merge(a), p + "attn.c_proj")
            m = F.gelu(conv1d(ln(x, p + "ln_2"), p + "mlp.c_fc"), approximate="tanh")
            x = x + conv1d(m, p + "mlp.c_proj")
        h = ln(x, "transformer.ln_f")
        head = P["transformer.wte.weight"] if cfg["tie"] else P["lm_head.weight"]
    logits = h @ head.T
    loss = None
    if targets is not None:
        loss = F.cross_entropy(logits.reshape(B * T, -1), targets.reshape(-1).long(), ignore_index=-1)
    return logits, loss
