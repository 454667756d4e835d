"""The PyTorch side of bench/train_cpu: trains the same shapes as agpt with
AdamW on random tokens and prints the steady-state tokens per second.

Written for speed on CPU (fused QKV and gate/up projections, in-place ops
where torch allows, no autocast on CPU); run it with OpenBLAS and jemalloc as
run.sh does, which is how PyTorch trains fastest on this kind of machine.
"""
import argparse
import json
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class RMSNorm(nn.Module):
    def __init__(self, c, eps=1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(c))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rope_cache(T, hs, theta):
    inv = 1.0 / (theta ** (torch.arange(0, hs, 2).float() / hs))
    f = torch.outer(torch.arange(T).float(), inv)
    emb = torch.cat([f, f], dim=-1)
    return emb.cos(), emb.sin()


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat([-x[..., h:], x[..., :h]], dim=-1)


class Block(nn.Module):
    def __init__(self, a):
        super().__init__()
        C, self.nh, self.kvh = a.hidden, a.heads, a.kv_heads
        self.hs = C // self.nh
        self.llama = a.arch == "llama"
        norm = (lambda: RMSNorm(C)) if self.llama else (lambda: nn.LayerNorm(C))
        self.ln1, self.ln2 = norm(), norm()
        bias = not self.llama
        self.qkv = nn.Linear(C, (self.nh + 2 * self.kvh) * self.hs, bias=bias)
        self.o = nn.Linear(C, C, bias=bias)
        if self.llama:
            self.gate_up = nn.Linear(C, 2 * a.ffn, bias=False)
            self.down = nn.Linear(a.ffn, C, bias=False)
        else:
            self.fc = nn.Linear(C, 4 * C)
            self.proj = nn.Linear(4 * C, C)

    def forward(self, x, cos, sin, mask):
        B, T, C = x.shape
        qkv = self.qkv(self.ln1(x))
        q, k, v = qkv.split([self.nh * self.hs, self.kvh * self.hs, self.kvh * self.hs], dim=-1)
        q = q.view(B, T, self.nh, self.hs).transpose(1, 2)
        k = k.view(B, T, self.kvh, self.hs).transpose(1, 2)
        v = v.view(B, T, self.kvh, self.hs).transpose(1, 2)
        if self.llama:
            q = q * cos + rotate_half(q) * sin
            k = k * cos + rotate_half(k) * sin
        if self.kvh != self.nh:
            k = k.repeat_interleave(self.nh // self.kvh, dim=1)
            v = v.repeat_interleave(self.nh // self.kvh, dim=1)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(self.hs))
        att = att.masked_fill(mask, float("-inf")).softmax(-1)
        y = (att @ v).transpose(1, 2).reshape(B, T, C)
        x = x + self.o(y)
        h = self.ln2(x)
        if self.llama:
            g, u = self.gate_up(h).chunk(2, dim=-1)
            h = self.down(F.silu(g) * u)
        else:
            h = self.proj(F.gelu(self.fc(h), approximate="tanh"))
        return x + h


class Model(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.a = a
        self.wte = nn.Embedding(a.vocab, a.hidden)
        if a.arch == "gpt2":
            self.wpe = nn.Embedding(a.seq, a.hidden)
        self.blocks = nn.ModuleList([Block(a) for _ in range(a.layers)])
        self.lnf = RMSNorm(a.hidden) if a.arch == "llama" else nn.LayerNorm(a.hidden)
        self.head = nn.Linear(a.hidden, a.vocab, bias=False)
        if a.arch == "gpt2":
            self.head.weight = self.wte.weight
        for p in self.parameters():
            if p.dim() == 2:
                nn.init.normal_(p, std=0.02)
        cos, sin = rope_cache(a.seq, a.hidden // a.heads, 10000.0)
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)
        self.register_buffer("mask", torch.ones(a.seq, a.seq, dtype=torch.bool).triu(1), persistent=False)

    def forward(self, idx, targets):
        T = idx.shape[1]
        x = self.wte(idx)
        if self.a.arch == "gpt2":
            x = x + self.wpe(torch.arange(T))
        cos, sin, mask = self.cos[:T], self.sin[:T], self.mask[:T, :T]
        for b in self.blocks:
            x = b(x, cos, sin, mask)
        logits = self.head(self.lnf(x))
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.reshape(-1))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--arch", choices=["gpt2", "llama"], required=True)
    p.add_argument("--layers", type=int, default=12)
    p.add_argument("--hidden", type=int, default=768)
    p.add_argument("--heads", type=int, default=12)
    p.add_argument("--kv-heads", type=int, default=12)
    p.add_argument("--ffn", type=int, default=2048)
    p.add_argument("--vocab", type=int, default=50257)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--seq", type=int, default=64)
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    m = Model(a)
    opt = torch.optim.AdamW(m.parameters(), lr=1e-4, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1)
    g = torch.Generator().manual_seed(1)
    times = []
    for step in range(a.warmup + a.steps):
        x = torch.randint(0, a.vocab, (a.batch, a.seq + 1), generator=g)
        t0 = time.perf_counter()
        loss = m(x[:, :-1], x[:, 1:])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        opt.step()
        dt = time.perf_counter() - t0
        if step >= a.warmup:
            times.append(dt)
    times.sort()
    med = times[len(times) // 2]
    print(json.dumps({"tok_s": a.batch * a.seq / med, "step_s": med,
                      "params": sum(p.numel() for p in m.parameters())}))


if __name__ == "__main__":
    main()
