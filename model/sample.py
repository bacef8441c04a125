"""Text generation from a GPT-2 checkpoint (``webtext sample``).

Autoregressive sampling with temperature, top-k and top-p (nucleus) filtering, a seed that
makes runs repeatable, and a key/value cache so each new token costs one position's forward
pass. ``<|endoftext|>`` ends a sample. Past the model's context the oldest tokens are dropped
and the cache refilled from the last ``block_size`` tokens, exactly as recomputing without a
cache would do.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from model.gpt2 import GPT2, KVCache

log = logging.getLogger("webtext.sample")


@dataclass(frozen=True)
class SamplingConfig:
    """How to pick each next token. ``temperature == 0`` is greedy decoding."""

    max_new_tokens: int = 200
    temperature: float = 1.0
    top_k: int | None = 40
    top_p: float = 1.0
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.max_new_tokens < 0:
            raise ValueError(f"max_new_tokens must be >= 0, got {self.max_new_tokens}")
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if self.top_k is not None and self.top_k < 1:
            raise ValueError(f"top_k must be >= 1 (or None), got {self.top_k}")
        if not 0.0 < self.top_p <= 1.0:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")


def filter_logits(logits: torch.Tensor, top_k: int | None, top_p: float) -> torch.Tensor:
    """Set logits outside the top-k and outside the top-p probability mass to -inf.

    Top-p keeps the smallest set of most likely tokens whose probabilities sum to at least
    ``top_p`` (always at least the most likely token).
    """
    logits = logits.clone()
    if top_k is not None and top_k < logits.size(-1):
        kth = torch.topk(logits, top_k, dim=-1).values[..., -1:]
        logits[logits < kth] = float("-inf")
    if top_p < 1.0:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
        probs = torch.softmax(sorted_logits, dim=-1)
        mass_before = probs.cumsum(dim=-1) - probs
        drop_sorted = mass_before >= top_p
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        logits[drop] = float("-inf")
    return logits


def pick_next(
    logits: torch.Tensor, cfg: SamplingConfig, generator: torch.Generator | None
) -> torch.Tensor:
    """Next token ids (B, 1) from last-position logits (B, V)."""
    if cfg.temperature == 0:
        return logits.argmax(dim=-1, keepdim=True)
    logits = filter_logits(logits.float() / cfg.temperature, cfg.top_k, cfg.top_p)
    probs = torch.softmax(logits, dim=-1)
    return torch.multinomial(probs, num_samples=1, generator=generator)


@torch.no_grad()
def generate(
    model: GPT2,
    prompt: list[int],
    num_samples: int = 1,
    cfg: SamplingConfig | None = None,
    eot_id: int | None = None,
    use_cache: bool = True,
) -> list[list[int]]:
    """Continue ``prompt`` ``num_samples`` times; each continuation stops before <|endoftext|>.

    An empty prompt starts from <|endoftext|> (GPT-2's unconditional samples). Returns the new
    tokens only. ``use_cache=False`` recomputes the whole context each step (the reference the
    cache is tested against).
    """
    cfg = cfg or SamplingConfig()
    if not prompt:
        if eot_id is None:
            raise ValueError("an empty prompt needs eot_id to start from <|endoftext|>")
        prompt = [eot_id]
    vocab = model.config.vocab_size
    bad = [t for t in prompt if not 0 <= t < vocab]
    if bad:
        raise ValueError(f"prompt token ids {bad[:5]} are outside the vocabulary of {vocab}")
    if num_samples < 1:
        raise ValueError(f"num_samples must be >= 1, got {num_samples}")
    was_training = model.training
    model.eval()
    device = model.wte.weight.device
    block = model.config.block_size
    generator = None
    if cfg.seed is not None:
        generator = torch.Generator(device=device)
        generator.manual_seed(cfg.seed)

    idx = torch.tensor([prompt] * num_samples, dtype=torch.long, device=device)
    if idx.size(1) > block:
        log.warning("prompt of %d tokens cut to its last %d (the context)", idx.size(1), block)
        idx = idx[:, -block:]
    cache = (
        KVCache(model.config, num_samples, block, device, model.wte.weight.dtype)
        if use_cache
        else None
    )
    logits, _ = model(idx, cache=cache, last_only=True)
    finished = torch.zeros(num_samples, dtype=torch.bool, device=device)
    new_tokens: list[torch.Tensor] = []
    for step in range(cfg.max_new_tokens):
        token = pick_next(logits[:, -1], cfg, generator)
        new_tokens.append(token)
        idx = torch.cat([idx, token], dim=1)
        if eot_id is not None:
            finished |= token.squeeze(1) == eot_id
            if bool(finished.all()):
                break
        if step == cfg.max_new_tokens - 1:
            break
        if cache is None:
            logits, _ = model(idx[:, -block:], last_only=True)
        elif cache.length >= block:
            cache.length = 0  # context full: refill from the last `block` tokens
            logits, _ = model(idx[:, -block:], cache=cache, last_only=True)
        else:
            logits, _ = model(token, cache=cache, last_only=True)
    model.train(was_training)

    out = torch.cat(new_tokens, dim=1).tolist() if new_tokens else [[] for _ in range(num_samples)]
    if eot_id is not None:
        out = [row[: row.index(eot_id)] if eot_id in row else row for row in out]
    return out


def load_run_model(run_dir: str | os.PathLike[str], device: str = "cpu") -> GPT2:
    """The model of a run directory's checkpoint (weights only, safely loaded)."""
    from model.checkpoint import load_checkpoint, model_from_checkpoint

    return model_from_checkpoint(load_checkpoint(run_dir), device=device)


def sample_texts(
    run_dir: str | os.PathLike[str],
    prompt: str = "",
    num_samples: int = 1,
    cfg: SamplingConfig | None = None,
    tokenizer_dir: str | os.PathLike[str] | None = None,
    device: str = "cpu",
) -> list[str]:
    """Encode ``prompt``, sample, decode: the text path of ``webtext sample``."""
    from model.tokenizer import load_tokenizer

    tok_dir = Path(tokenizer_dir) if tokenizer_dir else Path(run_dir) / "tokenizer"
    if not tok_dir.is_dir():
        raise FileNotFoundError(
            f"no tokenizer at {tok_dir}: pass --tokenizer DIR (encoder.json + vocab.bpe)"
        )
    tokenizer = load_tokenizer(tok_dir)
    model = load_run_model(run_dir, device)
    if tokenizer.vocab_size != model.config.vocab_size:
        raise ValueError(
            f"tokenizer at {tok_dir} has {tokenizer.vocab_size} ids, the model "
            f"{model.config.vocab_size}"
        )
    ids = tokenizer.encode(prompt) if prompt else []
    rows = generate(model, ids, num_samples, cfg, eot_id=tokenizer.eot_id)
    return [tokenizer.decode(row) for row in rows]
