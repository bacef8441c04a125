"""Checkpoints of a run directory: written atomically, loaded without unpickling code.

A checkpoint is one ``torch.save`` file holding only tensors and plain Python containers:

    format, version        identify the file
    model_config           GPT2Config as a dict
    model                  state dict (padded vocabulary rows included)
    optimizer              AdamW state dict, or None for a weights-only checkpoint
    step                   optimizer steps done
    data                   {"epoch", "cursor"} of the training stream
    rng                    per-rank torch CPU (and CUDA) generator states
    train_config           the TrainConfig it was written under
    tokenizer              {"vocab_size", "fingerprint"} of the tokens it was trained on

It is written to a temporary file in the same directory, flushed to disk and renamed over
``checkpoint.pt``, so a crash leaves the previous checkpoint intact. Loading uses
``torch.load(weights_only=True)``: a file that needs arbitrary unpickling is refused.
"""

from __future__ import annotations

import errno
import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from model.gpt2 import GPT2, GPT2Config

CHECKPOINT_NAME = "checkpoint.pt"
FORMAT = "webtext-gpt2"
VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint is missing, truncated, foreign, or of another model configuration."""


def checkpoint_path(run_dir: str | os.PathLike[str]) -> Path:
    return Path(run_dir) / CHECKPOINT_NAME


def remove_stale_temporaries(run_dir: str | os.PathLike[str]) -> list[Path]:
    """Delete the temporary files a killed save left in ``run_dir`` (``.NAME.tmp-PID``).

    Only for a caller that holds the run directory's lock: then no other process is saving, and
    every such file is a leftover. Returns what was removed.
    """
    removed = []
    for tmp in Path(run_dir).glob(".*.tmp-*"):
        if tmp.is_file():
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def _disk_full(path: Path, exc: BaseException) -> bool:
    """Whether a failed write of ``path`` ran out of space (asked before the partial file is
    removed, which frees the space again)."""
    if "No space left" in str(exc):
        return True
    try:
        stat = os.statvfs(path.parent)
    except OSError:
        return False
    return stat.f_bavail * stat.f_frsize < 1 << 20


def save_checkpoint(path: str | os.PathLike[str], state: dict[str, Any]) -> None:
    """Write ``state`` (plus format/version) atomically: temp file, fsync, rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as fh:
            torch.save({"format": FORMAT, "version": VERSION, **state}, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except RuntimeError as exc:
        # torch's zip writer reports a short write as "[enforce fail at inline_container.cc]
        # ... unexpected pos N vs M", naming no file: say what it is, with the path.
        if _disk_full(tmp, exc):
            raise OSError(errno.ENOSPC, "No space left on device", str(tmp)) from exc
        raise
    finally:
        tmp.unlink(missing_ok=True)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a checkpoint safely; clear errors for missing, truncated and foreign files."""
    path = Path(path)
    if path.is_dir():
        path = checkpoint_path(path)
    if not path.exists():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError) as exc:
        raise CheckpointError(
            f"checkpoint {path} is truncated or corrupt ({type(exc).__name__}: {exc})"
        ) from exc
    except pickle.UnpicklingError as exc:
        raise CheckpointError(
            f"checkpoint {path} holds objects that need arbitrary unpickling; refusing to load "
            f"it (weights_only): {exc}"
        ) from exc
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a webtext GPT-2 checkpoint")
    if state.get("version") != VERSION:
        raise CheckpointError(
            f"{path}: checkpoint version {state.get('version')} is not supported (want {VERSION})"
        )
    return state


def check_config(state: dict[str, Any], config: GPT2Config, source: str) -> None:
    """Refuse a checkpoint whose model configuration differs from ``config``, naming fields."""
    saved = GPT2Config.from_dict(state["model_config"])
    if saved == config:
        return
    diffs = [
        f"{k}: checkpoint {v!r} vs requested {config.to_dict()[k]!r}"
        for k, v in saved.to_dict().items()
        if config.to_dict()[k] != v and k != "dropout"
    ]
    if diffs:
        raise CheckpointError(
            f"{source} is a checkpoint of another model config: " + "; ".join(diffs)
        )


def model_from_checkpoint(
    state: dict[str, Any], device: torch.device | str = "cpu", dropout: float = 0.0
) -> GPT2:
    """Build the GPT2 a checkpoint describes and load its weights (strictly)."""
    from dataclasses import replace

    config = replace(GPT2Config.from_dict(state["model_config"]), dropout=dropout)
    model = GPT2(config)
    load_model_weights(model, state["model"], "checkpoint")
    return model.to(device)


def load_model_weights(model: GPT2, weights: dict[str, torch.Tensor], source: str) -> None:
    """Strict load with shape errors that name the tensor instead of a wall of text."""
    own = model.state_dict()
    missing = sorted(set(own) - set(weights))
    unexpected = sorted(set(weights) - set(own))
    if missing or unexpected:
        raise CheckpointError(
            f"{source}: weights do not fit the model (missing {missing[:5]}, "
            f"unexpected {unexpected[:5]})"
        )
    for name, tensor in weights.items():
        if tuple(tensor.shape) != tuple(own[name].shape):
            raise CheckpointError(
                f"{source}: tensor {name} has shape {tuple(tensor.shape)}, the model expects "
                f"{tuple(own[name].shape)} (a checkpoint of another config?)"
            )
    model.load_state_dict(weights)
