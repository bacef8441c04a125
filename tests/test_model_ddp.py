"""Several processes (torchrun, gloo on CPU) give the losses of one process.

DDP replicates the model; FSDP shards it. Both must match a single process that runs the
same global batch with more gradient-accumulation steps, and an FSDP run interrupted and
resumed must continue exactly.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from test_model_train import _cfg, _tokens_dir

from model.checkpoint import load_checkpoint
from model.train import read_metrics, train

REPO = Path(__file__).resolve().parent.parent


def _torchrun(tokens: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
        "-m", "pipeline.cli", "train", str(tokens), "--out", str(out),
        "--model", "tiny", "--steps", "6", "--batch-tokens", str(8 * 16), "--micro-batch", "2",
        "--seq-len", "16", "--lr", "3e-3", "--warmup-steps", "2", "--eval-interval", "3",
        "--eval-batches", "2", "--ckpt-interval", "3", "--device", "cpu", "--seed", "5", *extra,
    ]  # fmt: skip
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def _assert_same_run(single: Path, multi: Path, rel: float = 1e-5) -> None:
    a, b = read_metrics(single), read_metrics(multi)
    assert [m["step"] for m in a] == [m["step"] for m in b]
    for ma, mb in zip(a, b, strict=True):
        for key in ("loss", "val_loss"):
            if key in ma:
                assert mb[key] == pytest.approx(ma[key], rel=rel, abs=1e-6), (ma["step"], key)
    sa, sb = load_checkpoint(single), load_checkpoint(multi)
    assert sb["data"] == sa["data"] and len(sb["rng"]) == 2
    for name, tensor in sa["model"].items():
        torch.testing.assert_close(sb["model"][name], tensor, atol=1e-5, rtol=max(rel, 1e-4))
    for i, state in sa["optimizer"]["state"].items():
        torch.testing.assert_close(sb["optimizer"]["state"][i]["exp_avg"], state["exp_avg"],
                                   atol=1e-6, rtol=1e-4)  # fmt: skip


@pytest.mark.slow
def test_ddp_and_fsdp_match_one_process(tmp_path):
    tokens = _tokens_dir(tmp_path / "tokens", n_docs=90)
    common = dict(steps=6, batch_tokens=8 * 16, micro_batch=2, seq_len=16, dropout=0.0,
                  eval_interval=3, ckpt_interval=3)  # fmt: skip
    train(_cfg(tokens, tmp_path / "single", **common))  # 4 micro-steps in one process

    proc = _torchrun(tokens, tmp_path / "ddp")
    assert "on cpu x2 (DDP)" in proc.stderr and "x 2 accum x 2 procs" in proc.stderr
    assert proc.stdout.count("train -> ") == 1  # rank 0 reports
    _assert_same_run(tmp_path / "single", tmp_path / "ddp")

    # FSDP, interrupted after step 3 and resumed: still the single-process run
    proc = _torchrun(tokens, tmp_path / "fsdp", "--fsdp", "--stop-at", "3")
    assert "on cpu x2 (FSDP)" in proc.stderr
    assert load_checkpoint(tmp_path / "fsdp")["step"] == 3
    _torchrun(tokens, tmp_path / "fsdp", "--fsdp", "--resume")
    _assert_same_run(tmp_path / "single", tmp_path / "fsdp")


@pytest.mark.slow
def test_compiled_ddp_matches_one_process(tmp_path):
    """torch.compile over the DDP wrapper (graph split at gradient buckets) with no_sync during
    accumulation: the same losses and weights as one eager process."""
    tokens = _tokens_dir(tmp_path / "tokens", n_docs=90)
    common = dict(steps=6, batch_tokens=8 * 16, micro_batch=2, seq_len=16, dropout=0.0,
                  eval_interval=3, ckpt_interval=3)  # fmt: skip
    train(_cfg(tokens, tmp_path / "single", **common))
    proc = _torchrun(tokens, tmp_path / "ddp-compiled", "--compile")
    assert "on cpu x2 (DDP)" in proc.stderr
    _assert_same_run(tmp_path / "single", tmp_path / "ddp-compiled", rel=1e-4)
