"""Baseline for bench/train_throughput.py: GPT-2 set up the way nanoGPT publishes its run.

Written for this project (not copied): a plain GPT-2 with the settings of nanoGPT's
``train_gpt2`` configuration, i.e. vocabulary padded to 50,304 with the loss taken over all
50,304 columns, fused QKV projection, ``scaled_dot_product_attention(is_causal=True)``, tied
embeddings, biases, and (in the benchmark) ``torch.compile``, bf16 autocast and fused AdamW.
GELU uses the tanh form so that the architecture is the same as ours.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class _Attention(nn.Module):
    def __init__(self, d: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(d, 3 * d)
        self.out = nn.Linear(d, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.heads, C // self.heads).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.out(y.transpose(1, 2).contiguous().view(B, T, C))


class _Layer(nn.Module):
    def __init__(self, d: int, heads: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(d)
        self.attn = _Attention(d, heads)
        self.norm2 = nn.LayerNorm(d)
        self.up = nn.Linear(d, 4 * d)
        self.down = nn.Linear(4 * d, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.down(F.gelu(self.up(self.norm2(x)), approximate="tanh"))


class BaselineGPT(nn.Module):
    """``forward(idx, targets) -> (logits, loss)`` with logits over the padded vocabulary."""

    def __init__(
        self, n_layer: int, n_head: int, n_embd: int, block_size: int = 1024, vocab: int = 50304
    ) -> None:
        super().__init__()
        self.tok = nn.Embedding(vocab, n_embd)
        self.pos = nn.Embedding(block_size, n_embd)
        self.layers = nn.ModuleList(_Layer(n_embd, n_head) for _ in range(n_layer))
        self.norm = nn.LayerNorm(n_embd)
        self.head = nn.Linear(n_embd, vocab, bias=False)
        self.head.weight = self.tok.weight
        for name, p in self.named_parameters():
            if name.endswith("down.weight") or name.endswith("attn.out.weight"):
                nn.init.normal_(p, std=0.02 / math.sqrt(2 * n_layer))
            elif p.dim() == 2:
                nn.init.normal_(p, std=0.02)
            elif name.endswith("bias"):
                nn.init.zeros_(p)

    def forward(
        self, idx: torch.Tensor, targets: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        pos = torch.arange(idx.size(1), device=idx.device)
        x = self.tok(idx) + self.pos(pos)
        for layer in self.layers:
            x = layer(x)
        logits = self.head(self.norm(x))
        loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))
        return logits, loss

    @torch.no_grad()
    def load_from_gpt2(self, ours: nn.Module) -> None:
        """Copy the weights of a ``model.gpt2.GPT2`` of the same shape (the two models then
        compute the same function: the benchmark times two implementations of one model)."""
        pairs = [(self.tok, ours.wte), (self.pos, ours.wpe), (self.norm, ours.ln_f)]
        for mine, theirs in zip(self.layers, ours.blocks, strict=True):
            pairs += [
                (mine.norm1, theirs.ln_1),
                (mine.attn.qkv, theirs.attn.c_attn),
                (mine.attn.out, theirs.attn.c_proj),
                (mine.norm2, theirs.ln_2),
                (mine.up, theirs.mlp.c_fc),
                (mine.down, theirs.mlp.c_proj),
            ]
        for mine, theirs in pairs:
            for name, tensor in theirs.named_parameters(recurse=False):
                getattr(mine, name).copy_(tensor)

    def optimizer(self, lr: float, fused: bool) -> torch.optim.AdamW:
        decay = [p for p in self.parameters() if p.dim() >= 2]
        rest = [p for p in self.parameters() if p.dim() < 2]
        groups = [{"params": decay, "weight_decay": 0.1}, {"params": rest, "weight_decay": 0.0}]
        return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.95), fused=fused)
