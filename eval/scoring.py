"""Per-token log-likelihood of token sequences under a GPT-2, in batched (sliding) windows.

A document is scored as the model saw training text: ``<|endoftext|>`` first, then its tokens,
so every token of the document is predicted (the first one from the end-of-text token alone).
A document longer than the context is cut into windows:

* stride == context (the default): disjoint windows, each token scored once with the context
  since its window began;
* stride < context (sliding window): window j ends ``stride`` targets after window j-1 and
  reaches back a full context; only the targets it adds are scored, so every target after the
  first window sees at least ``context - stride`` tokens of context.

Windows of all documents go through the model in batches of similar length, right-padded
(causal attention: padding after a position cannot change it) and masked out of the scores.
The log-probabilities are computed in float32 whatever the autocast dtype.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from model.gpt2 import GPT2


@dataclass(frozen=True)
class Window:
    """Input ``seq[start:end]`` of sequence ``seq_index``; targets ``seq[start+1:end+1]``, of
    which those with index >= ``score_from`` are scored."""

    seq_index: int
    start: int
    end: int
    score_from: int


def make_windows(n_targets: int, context: int, stride: int, seq_index: int = 0) -> list[Window]:
    """Windows over a sequence of ``n_targets + 1`` ids (targets at positions 1..n_targets)."""
    if context < 1:
        raise ValueError(f"context must be at least 1 token, got {context}")
    if not 1 <= stride <= context:
        raise ValueError(f"stride must be in [1, context={context}], got {stride}")
    windows: list[Window] = []
    scored = 0  # targets 1..scored are done
    end = min(context, n_targets)
    while scored < n_targets:
        start = max(0, end - context)
        windows.append(Window(seq_index, start, end, scored + 1))
        scored = end
        end = min(end + stride, n_targets)
    return windows


class Progress:
    """One status line on stderr (rewritten in place on a terminal, every ~10 s otherwise)."""

    def __init__(self, label: str, total: int, enabled: bool = True) -> None:
        self.label, self.total, self.enabled = label, total, enabled
        self.done = 0
        self.started = self.last = time.monotonic()
        self.tty = sys.stderr.isatty()

    def update(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if not self.enabled or (
            now - self.last < (0.5 if self.tty else 10.0) and self.done < self.total
        ):
            return
        self.last = now
        rate = self.done / max(now - self.started, 1e-9)
        line = f"{self.label}: {self.done:,}/{self.total:,} tokens ({rate:,.0f} tok/s)"
        sys.stderr.write(("\r" + line) if self.tty else line + "\n")
        if self.tty and self.done >= self.total:
            sys.stderr.write("\n")
        sys.stderr.flush()


@torch.no_grad()
def score_sequences(
    model: GPT2,
    sequences: Sequence[Sequence[int]],
    context: int,
    stride: int | None = None,
    batch_size: int = 8,
    device: str | torch.device = "cpu",
    autocast_dtype: torch.dtype | None = None,
    progress: Progress | None = None,
    score_only_last: Sequence[int] | None = None,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """For each sequence (ids, the first one conditioning only), the log-probability (nats)
    of every target ``seq[1:]`` and whether it was the model's top choice (greedy).

    ``score_only_last[i] = k`` scores only the last k targets of sequence i (LAMBADA's target
    word); its windows are then the last context-sized slice only.
    """
    if context > model.config.block_size:
        raise ValueError(
            f"context {context} exceeds the model's {model.config.block_size} positions"
        )
    stride = stride or context
    windows: list[Window] = []
    for i, seq in enumerate(sequences):
        n = len(seq) - 1
        if n < 1:
            raise ValueError(f"sequence {i} has no target token")
        if score_only_last is not None:
            k = score_only_last[i]
            if not 1 <= k <= min(n, context):
                raise ValueError(f"sequence {i}: cannot score its last {k} tokens")
            windows.append(Window(i, max(0, n - context), n, n - k + 1))
        else:
            windows.extend(make_windows(n, context, stride, i))
    logp = [np.zeros(len(s) - 1, dtype=np.float64) for s in sequences]
    top = [np.zeros(len(s) - 1, dtype=bool) for s in sequences]
    order = sorted(range(len(windows)), key=lambda w: windows[w].end - windows[w].start)
    model.eval()
    for b in range(0, len(order), batch_size):
        batch = [windows[w] for w in order[b : b + batch_size]]
        width = max(w.end - w.start for w in batch)
        ids = torch.zeros((len(batch), width + 1), dtype=torch.long)
        for r, w in enumerate(batch):
            row = torch.as_tensor(sequences[w.seq_index][w.start : w.end + 1], dtype=torch.long)
            ids[r, : len(row)] = row
        ids = ids.to(device)
        if autocast_dtype is not None:
            with torch.autocast(torch.device(device).type, dtype=autocast_dtype):
                logits = model.logits(model.hidden_states(ids[:, :-1]))
        else:
            logits = model.logits(model.hidden_states(ids[:, :-1]))
        logprobs = F.log_softmax(logits.float(), dim=-1)
        targets = ids[:, 1:]
        picked = logprobs.gather(-1, targets.unsqueeze(-1)).squeeze(-1).double().cpu().numpy()
        greedy = (logprobs.argmax(-1) == targets).cpu().numpy()
        for r, w in enumerate(batch):
            lo = w.score_from - w.start - 1  # column of the first scored target
            hi = w.end - w.start
            logp[w.seq_index][w.score_from - 1 : w.end] = picked[r, lo:hi]
            top[w.seq_index][w.score_from - 1 : w.end] = greedy[r, lo:hi]
            if progress is not None:
                progress.update(hi - lo)
    return list(zip(logp, top, strict=True))
