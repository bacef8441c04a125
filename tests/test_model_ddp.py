"""DDP: two CPU processes (gloo, launched by torchrun) give the losses of one process."""

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


@pytest.mark.slow
def test_two_gloo_processes_match_one_process(tmp_path):
    tokens = _tokens_dir(tmp_path / "tokens", n_docs=90)
    common = dict(
        steps=6,
        batch_tokens=8 * 16,
        micro_batch=2,
        seq_len=16,
        dropout=0.0,
        eval_interval=3,
        ckpt_interval=3,
    )
    train(_cfg(tokens, tmp_path / "single", **common))  # 4 micro-steps in one process

    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        "-m",
        "pipeline.cli",
        "train",
        str(tokens),
        "--out",
        str(tmp_path / "ddp"),
        "--model",
        "tiny",
        "--steps",
        "6",
        "--batch-tokens",
        str(8 * 16),
        "--micro-batch",
        "2",
        "--seq-len",
        "16",
        "--lr",
        "3e-3",
        "--warmup-steps",
        "2",
        "--eval-interval",
        "3",
        "--eval-batches",
        "2",
        "--ckpt-interval",
        "3",
        "--device",
        "cpu",
        "--seed",
        "5",
    ]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "x 2 accum x 2 procs" in proc.stderr  # the progress display
    assert proc.stdout.count("train -> ") == 1  # rank 0 reports

    single, ddp = read_metrics(tmp_path / "single"), read_metrics(tmp_path / "ddp")
    assert [m["step"] for m in single] == [m["step"] for m in ddp]
    for a, b in zip(single, ddp, strict=True):
        for key in ("loss", "val_loss"):
            if key in a:
                assert b[key] == pytest.approx(a[key], rel=1e-5, abs=1e-6), (a["step"], key)
    sa = load_checkpoint(tmp_path / "single")
    sb = load_checkpoint(tmp_path / "ddp")
    assert sb["data"] == sa["data"] and len(sb["rng"]) == 2
    for name, tensor in sa["model"].items():
        torch.testing.assert_close(sb["model"][name], tensor, atol=1e-5, rtol=1e-4)
