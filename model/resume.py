"""What ``webtext train --resume`` may change, and how a run proves it continues on its own data.

Every TrainConfig field is in exactly one group (a test checks it):

* FIXED_ON_RESUME: the model's shape, the data and its order. A change is refused: continuing
  would silently train a different run.
* CHANGEABLE_ON_RESUME: optimisation and housekeeping. A change is applied from the resumed step
  on, logged ("lr 0.0006 -> 0.0003 at step 40"), and recorded in the checkpoint's history.
* PER_INVOCATION: what this call does (where, whether to resume, when to stop), not what the run
  is.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

FIXED_ON_RESUME = ("model", "batch_tokens", "seed", "seq_len", "vocab_size")
CHANGEABLE_ON_RESUME = (
    "steps", "lr", "min_lr_ratio", "warmup_steps", "weight_decay", "beta1", "beta2",
    "grad_clip", "dropout", "micro_batch", "eval_interval", "eval_batches", "ckpt_interval",
    "log_interval", "device", "dtype", "compile", "loss_chunks", "attention", "peak_tflops",
    "fsdp",
)  # fmt: skip
PER_INVOCATION = ("tokens_dir", "out_dir", "resume", "stop_at", "init_from", "extra")

# Blocks of tokens sampled for the data identity: enough to tell two corpora apart, cheap on
# billions of tokens (the whole split is not read again).
IDENTITY_BLOCKS = 64
IDENTITY_BLOCK_TOKENS = 4096


def config_changes(saved: Mapping[str, Any], current: Mapping[str, Any]) -> dict[str, list]:
    """``{name: [old, new]}`` for every changeable setting that differs (None is "default")."""
    return {
        key: [saved.get(key), current.get(key)]
        for key in CHANGEABLE_ON_RESUME
        if key in saved and saved.get(key) != current.get(key)
    }


def describe_changes(changes: Mapping[str, list], step: int) -> str:
    parts = ", ".join(f"{k} {old} -> {new}" for k, (old, new) in changes.items())
    return f"resumed at step {step} with changed settings, applied from here on: {parts}"


def token_identity(splits: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """A fingerprint of the token data a run trains on: the length of each split and a hash of
    evenly spaced blocks of it. Two tokenisations of different corpora differ in length or in
    the sampled blocks with overwhelming probability; reading 64 x 4096 tokens costs nothing
    next to loading the split."""
    identity: dict[str, Any] = {}
    for name, tokens in sorted(splits.items()):
        n = int(tokens.shape[0])
        digest = hashlib.blake2b(digest_size=8)
        if n:
            starts = np.linspace(0, max(0, n - IDENTITY_BLOCK_TOKENS), IDENTITY_BLOCKS)
            for start in np.unique(starts.astype(np.int64)):
                block = np.ascontiguousarray(tokens[start : start + IDENTITY_BLOCK_TOKENS])
                digest.update(block.astype("<u2", copy=False).tobytes())
        identity[name] = {"tokens": n, "sample_blake2b": digest.hexdigest()}
    return identity


def identity_mismatch(saved: Mapping[str, Any], current: Mapping[str, Any]) -> str | None:
    """Why two token identities differ, in words; None when they agree."""
    for split in sorted(set(saved) | set(current)):
        a, b = saved.get(split), current.get(split)
        if a == b:
            continue
        if a is None or b is None:
            return f"the {split} split exists in only one of them"
        if a["tokens"] != b["tokens"]:
            return f"{split} split of {a['tokens']:,} tokens then, {b['tokens']:,} now"
        return f"{split} split has the same length ({a['tokens']:,} tokens) but other tokens"
    return None


def unclassified_fields(names: Iterable[str]) -> list[str]:
    known = set(FIXED_ON_RESUME) | set(CHANGEABLE_ON_RESUME) | set(PER_INVOCATION)
    return sorted(set(names) - known)
