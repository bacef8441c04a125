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
from model.gpt2 import GPT2, GPT2Config
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


# Reduction order differs between one process and several (gradient all-reduce, bucketed
# backward, compiled kernels), so the runs agree only up to float32 rounding, amplified a little by
# six optimizer steps. Elementwise tolerances break on an element near zero (Adam turns a gradient
# at the noise floor into a full lr-sized step), so each quantity is compared as a whole, relative
# to its own scale:
#   weights     ||w_multi - w_single|| / ||w_single - w_init||  (the difference against the
#               distance training moved the weights: independent of the weights' own size)
#   Adam moment ||m_multi - m_single|| / ||m_single||           (the gradients' history, before
#               Adam's normalisation evens out their size)
#   loss, grad norm: relative difference per logged step.
# Measured on a 2-core AMD EPYC (gloo, compiled DDP): rounding noise gives 1e-7 for losses, grad
# norm and moment and 4e-4 for the weights (Adam amplifies gradients at the noise floor). Real bugs,
# made on purpose once: no all-reduce at all gives loss 4e-2, grad norm 0.4, weights 0.9, moment
# 1.3; a gradient scaled by the world size gives grad norm 1.0 (clipping then hides it from the
# moment and the weights). Each bound sits well over an order of magnitude from both sides.
DRIFT = {"loss": 1e-3, "val_loss": 1e-3, "grad_norm": 1e-3, "adam_m": 1e-3, "weights": 5e-2}


def _ratio(diff: torch.Tensor, scale: torch.Tensor) -> float:
    return float(diff.double().norm() / scale.double().norm().clamp_min(1e-30))


def _initial_weights(state: dict) -> dict[str, torch.Tensor]:
    """The weights the trainer starts from (seed, config and init as in Trainer.__init__)."""
    torch.manual_seed(state["train_config"]["seed"])  # rank 0 seeds with seed + 0
    model = GPT2(GPT2Config.from_dict(state["model_config"]))
    return model.state_dict()


def _drift(single: Path, multi: Path) -> dict[str, float]:
    """Each compared quantity's relative difference between the two runs (the largest over
    tensors or steps)."""
    a, b = read_metrics(single), read_metrics(multi)
    assert [m["step"] for m in a] == [m["step"] for m in b]
    drift = {"loss": 0.0, "val_loss": 0.0, "grad_norm": 0.0, "weights": 0.0, "adam_m": 0.0}
    for ma, mb in zip(a, b, strict=True):
        for key in ("loss", "val_loss", "grad_norm"):
            if key in ma:
                drift[key] = max(drift[key], abs(mb[key] - ma[key]) / abs(ma[key]))
    sa, sb = load_checkpoint(single), load_checkpoint(multi)
    assert sb["data"] == sa["data"] and len(sb["rng"]) == 2
    init = _initial_weights(sa)
    for name, w in sa["model"].items():
        drift["weights"] = max(drift["weights"], _ratio(sb["model"][name] - w, w - init[name]))
    for i, state in sa["optimizer"]["state"].items():
        m_multi = sb["optimizer"]["state"][i]["exp_avg"]
        drift["adam_m"] = max(drift["adam_m"], _ratio(m_multi - state["exp_avg"], state["exp_avg"]))
    return drift


def _assert_same_run(single: Path, multi: Path) -> None:
    drift = _drift(single, multi)
    print("relative drift multi vs single:", {k: f"{v:.2e}" for k, v in drift.items()})
    assert all(drift[k] <= DRIFT[k] for k in DRIFT), drift


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
    _assert_same_run(tmp_path / "single", tmp_path / "ddp-compiled")
