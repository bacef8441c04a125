"""GPT-2 as the paper and OpenAI's release describe it, in one readable module.

Architecture (Radford et al. 2019, and the released ``model.py``):
  - decoder-only Transformer with learned absolute position embeddings;
  - pre-norm blocks: LayerNorm at the input of the attention and MLP sub-blocks, plus a final
    LayerNorm after the last block;
  - GELU in its tanh form; MLP width 4 x d_model; biases everywhere;
  - input and output embeddings tied;
  - init: weights N(0, 0.02), position embeddings N(0, 0.01) as in the released code, residual
    output projections N(0, 0.02 / sqrt(2 * n_layer)), biases zero.

Two engineering choices that do not change the function computed:
  - the vocabulary is padded to a multiple of ``vocab_pad_multiple`` (50,257 -> 50,304) so the
    embedding and output matmuls get tensor-core friendly shapes; the padding rows start at
    zero, are never indexed, and the logits are sliced back to ``vocab_size`` columns, so the
    softmax and the loss are over the real vocabulary only;
  - attention goes through ``torch.nn.functional.scaled_dot_product_attention`` (flash / cuDNN /
    memory-efficient kernels on GPU, the math kernel on CPU).

Sampling uses a preallocated key/value cache (:class:`KVCache`).
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from model.names import ATTENTION_BACKENDS, MODEL_NAMES


@dataclass(frozen=True)
class GPT2Config:
    """Shape of a GPT-2 model. ``vocab_size`` is the real vocabulary (50,257 for GPT-2's BPE)."""

    n_layer: int = 12
    n_head: int = 12
    n_embd: int = 768
    block_size: int = 1024
    vocab_size: int = 50257
    dropout: float = 0.0
    layer_norm_eps: float = 1e-5
    vocab_pad_multiple: int = 64

    def __post_init__(self) -> None:
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd={self.n_embd} is not divisible by n_head={self.n_head}")
        for name in ("n_layer", "n_head", "n_embd", "block_size", "vocab_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"GPT2Config.{name} must be positive, got {getattr(self, name)}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")

    @property
    def padded_vocab_size(self) -> int:
        m = max(1, self.vocab_pad_multiple)
        return (self.vocab_size + m - 1) // m * m

    @property
    def head_dim(self) -> int:
        return self.n_embd // self.n_head

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GPT2Config:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown GPT2Config fields: {sorted(unknown)}")
        return cls(**data)


# The four released sizes (the paper counts 117M/345M/762M/1542M parameters) and small ones
# for tests, the demo and the CPU study: tiny (2 x 64), mini (4 x 128), midi (6 x 256, 17.7M
# parameters, ~2.5x mini's cost per token: the largest that trains in minutes on two cores).
CONFIGS: dict[str, GPT2Config] = {
    "gpt2": GPT2Config(n_layer=12, n_head=12, n_embd=768),
    "gpt2-medium": GPT2Config(n_layer=24, n_head=16, n_embd=1024),
    "gpt2-large": GPT2Config(n_layer=36, n_head=20, n_embd=1280),
    "gpt2-xl": GPT2Config(n_layer=48, n_head=25, n_embd=1600),
    "midi": GPT2Config(n_layer=6, n_head=8, n_embd=256, block_size=256),
    "mini": GPT2Config(n_layer=4, n_head=4, n_embd=128, block_size=256),
    "tiny": GPT2Config(n_layer=2, n_head=2, n_embd=64, block_size=128),
}
assert tuple(CONFIGS) == MODEL_NAMES, "model/names.py lists the names of CONFIGS"


def config_for(name: str, **overrides: Any) -> GPT2Config:
    """A named config with some fields replaced (e.g. ``vocab_size`` of the tokenizer)."""
    if name not in CONFIGS:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(CONFIGS)}")
    return replace(CONFIGS[name], **overrides)


def attention_backend(name: str) -> contextlib.AbstractContextManager:
    """Context that restricts SDPA to one kernel family (``nullcontext`` for "auto").

    Enter it around the forward pass (also the first, traced call of a compiled model: the
    kernel is chosen when the graph is traced). A kernel that cannot run the given inputs makes
    SDPA raise instead of silently falling back, so a pinned choice is really what runs.
    """
    if name == "auto":
        return contextlib.nullcontext()
    if name not in ATTENTION_BACKENDS:
        raise ValueError(f"unknown attention backend {name!r}; choose from {ATTENTION_BACKENDS}")
    from torch.nn.attention import SDPBackend, sdpa_kernel

    backend = {
        "flash": SDPBackend.FLASH_ATTENTION,
        "cudnn": SDPBackend.CUDNN_ATTENTION,
        "efficient": SDPBackend.EFFICIENT_ATTENTION,
        "math": SDPBackend.MATH,
    }[name]
    return sdpa_kernel(backend)


class KVCache:
    """Keys and values of past positions for every layer, preallocated to ``max_len``."""

    def __init__(
        self,
        config: GPT2Config,
        batch_size: int,
        max_len: int,
        device: torch.device | str,
        dtype: torch.dtype,
    ) -> None:
        shape = (config.n_layer, batch_size, config.n_head, max_len, config.head_dim)
        self.keys = torch.zeros(shape, device=device, dtype=dtype)
        self.values = torch.zeros(shape, device=device, dtype=dtype)
        self.max_len = max_len
        self.length = 0  # positions filled, the same for every layer once a forward finishes

    def append(
        self, layer: int, k: torch.Tensor, v: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Store this layer's new keys/values; return all keys/values so far."""
        start, end = self.length, self.length + k.size(2)
        if end > self.max_len:
            raise ValueError(f"KV cache full: {end} positions > max_len {self.max_len}")
        self.keys[layer, :, :, start:end] = k
        self.values[layer, :, :, start:end] = v
        return self.keys[layer, :, :, :end], self.values[layer, :, :, :end]


class CausalSelfAttention(nn.Module):
    def __init__(self, config: GPT2Config) -> None:
        super().__init__()
        self.n_head = config.n_head
        self.n_embd = config.n_embd
        self.dropout = config.dropout
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd)
        self.resid_dropout = nn.Dropout(config.dropout)

    def forward(
        self, x: torch.Tensor, cache: KVCache | None = None, layer: int = 0
    ) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        past = 0
        if cache is not None:
            past = cache.length
            k, v = cache.append(layer, k, v)
        dropout_p = self.dropout if self.training else 0.0
        if past == 0:
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, is_causal=True)
        else:
            # New queries sit at positions past..past+T-1 and may see every key up to their own.
            S = k.size(2)
            mask = torch.ones(T, S, dtype=torch.bool, device=x.device).tril(diagonal=S - T)
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p)
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):
    def __init__(self, config: GPT2Config) -> None:
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd)
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.c_proj(F.gelu(self.c_fc(x), approximate="tanh")))


class Block(nn.Module):
    def __init__(self, config: GPT2Config) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_eps)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_eps)
        self.mlp = MLP(config)

    def forward(
        self, x: torch.Tensor, cache: KVCache | None = None, layer: int = 0
    ) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x), cache, layer)
        return x + self.mlp(self.ln_2(x))


class GPT2(nn.Module):
    """GPT-2 language model. ``forward(idx, targets)`` returns ``(logits, loss)``.

    ``loss_chunks > 1`` computes the loss over that many slices of the batch's tokens with
    :class:`_ChunkedLinearCrossEntropy`, so the float32 logits of the whole batch
    (micro_batch x seq x 50K) never exist at once; logits are then not returned.
    """

    def __init__(self, config: GPT2Config) -> None:
        super().__init__()
        self.config = config
        self.wte = nn.Embedding(config.padded_vocab_size, config.n_embd)
        self.wpe = nn.Embedding(config.block_size, config.n_embd)
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.n_embd, eps=config.layer_norm_eps)
        self.loss_chunks = 1
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """GPT-2's initialisation (see the module docstring)."""
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, mean=0.0, std=0.02)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        nn.init.normal_(self.wte.weight, mean=0.0, std=0.02)
        self.wte.weight[self.config.vocab_size :].zero_()
        nn.init.normal_(self.wpe.weight, mean=0.0, std=0.01)
        resid_std = 0.02 / math.sqrt(2 * self.config.n_layer)
        for block in self.blocks:
            nn.init.normal_(block.attn.c_proj.weight, mean=0.0, std=resid_std)
            nn.init.normal_(block.mlp.c_proj.weight, mean=0.0, std=resid_std)

    def num_params(self, include_position: bool = True, include_padding: bool = False) -> int:
        """Parameter count (the tied embedding counted once; padding rows excluded by default)."""
        n = sum(p.numel() for p in self.parameters())
        if not include_padding:
            n -= (self.config.padded_vocab_size - self.config.vocab_size) * self.config.n_embd
        if not include_position:
            n -= self.wpe.weight.numel()
        return n

    def hidden_states(self, idx: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        """Final-LayerNorm outputs (B, T, n_embd) for token ids ``idx`` (B, T)."""
        B, T = idx.shape
        start = cache.length if cache is not None else 0
        if start + T > self.config.block_size:
            raise ValueError(
                f"sequence of {start + T} positions exceeds the context of {self.config.block_size}"
            )
        pos = torch.arange(start, start + T, device=idx.device)
        x = self.drop(self.wte(idx) + self.wpe(pos))
        for i, block in enumerate(self.blocks):
            x = block(x, cache, i)
        if cache is not None:
            cache.length += T
        return self.ln_f(x)

    def logits(self, h: torch.Tensor, padded_matmul: bool | None = None) -> torch.Tensor:
        """Output logits over the real vocabulary (padding columns dropped).

        On GPU (``padded_matmul`` defaults to ``h.is_cuda``) the matmul runs over the padded,
        tensor-core friendly width and the padding columns are sliced off; on CPU the padding
        buys nothing, so the matmul uses only the real rows (a contiguous view) and the loss
        needs no copy of sliced logits. Both compute the same numbers.
        """
        if padded_matmul is None:
            padded_matmul = h.is_cuda
        if padded_matmul:
            return F.linear(h, self.wte.weight)[..., : self.config.vocab_size]
        return F.linear(h, self.wte.weight[: self.config.vocab_size])

    def forward(
        self,
        idx: torch.Tensor,
        targets: torch.Tensor | None = None,
        cache: KVCache | None = None,
        last_only: bool = False,
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        h = self.hidden_states(idx, cache)
        if targets is None:
            return self.logits(h[:, -1:] if last_only else h), None
        if self.loss_chunks > 1:
            return None, self._chunked_loss(h, targets)
        logits = self.logits(h)
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), targets.reshape(-1))
        return logits, loss

    def _chunked_loss(self, h: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        weight = self.wte.weight[: self.config.vocab_size]
        flat_h, flat_t = h.reshape(-1, h.size(-1)), targets.reshape(-1)
        if torch.is_grad_enabled() and (flat_h.requires_grad or weight.requires_grad):
            return _ChunkedLinearCrossEntropy.apply(flat_h, weight, flat_t, self.loss_chunks)
        slices = zip(flat_h.chunk(self.loss_chunks), flat_t.chunk(self.loss_chunks), strict=True)
        total = sum(_chunk_loss_sum(hc, weight, tc) for hc, tc in slices)
        return total / flat_t.numel()

    def flops_per_token(self, seq_len: int) -> float:
        """Training FLOPs per token: 6 x (matmul parameters) + attention scores and values.

        Counts the output projection (the tied embedding used as a matmul) but not the position
        table or the embedding lookup; attention adds 12 x n_layer x n_embd x seq_len.
        """
        c = self.config
        matmul_params = self.num_params(include_position=False, include_padding=True)
        return 6.0 * matmul_params + 12.0 * c.n_layer * c.n_embd * seq_len

    def optimizer_groups(self, weight_decay: float) -> list[dict[str, Any]]:
        """Weight decay on matrices (linear weights, embeddings) only; none on biases or norms."""
        decay = [p for p in self.parameters() if p.requires_grad and p.dim() >= 2]
        no_decay = [p for p in self.parameters() if p.requires_grad and p.dim() < 2]
        return [
            {"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ]


def _chunk_loss_sum(h: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    logits = F.linear(h, weight).float()
    return F.cross_entropy(logits, targets, reduction="sum")


class _ChunkedLinearCrossEntropy(torch.autograd.Function):
    """Mean cross-entropy of ``h @ weight.T`` computed slice by slice, gradients included.

    Each slice's logits are formed, turned into the slice's loss and into its gradient
    (softmax - one-hot) / N, which is multiplied straight into the gradients of ``h`` and
    ``weight``; then the slice's logits are dropped. Peak memory holds one slice of float32
    logits instead of all of them, and unlike activation checkpointing nothing is recomputed:
    the matmul FLOPs are those of the plain loss. Under autocast the matmuls run in its dtype
    as in the plain path, and the softmax in float32.
    """

    @staticmethod
    def forward(ctx, h, weight, targets, chunks):  # type: ignore[override]
        n = targets.numel()
        total = torch.zeros((), dtype=torch.float32, device=h.device)
        grad_h = torch.empty_like(h)
        grad_w = torch.zeros_like(weight, dtype=torch.float32)
        start = 0
        for hc, tc in zip(h.chunk(chunks), targets.chunk(chunks), strict=True):
            logits = F.linear(hc, weight).float()
            lse = torch.logsumexp(logits, dim=-1)
            total += (lse - logits.gather(1, tc[:, None]).squeeze(1)).sum()
            grad_logits = torch.exp(logits - lse[:, None])
            grad_logits.scatter_add_(1, tc[:, None], -torch.ones_like(lse[:, None]))
            grad_logits = (grad_logits / n).to(hc.dtype)
            grad_h[start : start + len(tc)] = grad_logits @ weight
            grad_w += (grad_logits.t() @ hc).float()
            start += len(tc)
        ctx.save_for_backward(grad_h, grad_w.to(weight.dtype))
        return total / n

    @staticmethod
    def backward(ctx, grad_loss):  # type: ignore[override]
        grad_h, grad_w = ctx.saved_tensors
        return grad_h * grad_loss, grad_w * grad_loss, None, None
