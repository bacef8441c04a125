"""One `webtext train` per run directory; leftovers of a killed save are cleaned on resume."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from test_model_train import _tokens_dir

from model.checkpoint import load_checkpoint

REPO = Path(__file__).resolve().parent.parent
TRAIN = ["--model", "tiny", "--batch-tokens", "64", "--micro-batch", "2", "--seq-len", "16",
         "--eval-interval", "4", "--eval-batches", "1", "--device", "cpu"]  # fmt: skip


def _webtext(*args: str, **kw) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "pipeline.cli", *args]
    return subprocess.Popen(cmd, cwd=REPO, env=env, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, **kw)  # fmt: skip


def test_a_second_run_on_one_run_directory_is_refused(tmp_path):
    tokens = _tokens_dir(tmp_path / "tokens")
    run = tmp_path / "run"
    first = _webtext("train", str(tokens), "--out", str(run), "--steps", "100000", *TRAIN)
    try:
        deadline = time.monotonic() + 120
        while not (run / "metrics.jsonl").exists():  # the first run is training
            assert first.poll() is None, first.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.2)
        second = _webtext("train", str(tokens), "--out", str(run), "--steps", "10", *TRAIN)
        out, err = second.communicate(timeout=120)
        assert second.returncode == 2, err
        lines = err.strip().splitlines()
        assert len(lines) == 1 and "is being written by pid" in lines[0], err
        assert f"pid {first.pid}" in lines[0] and "webtext train" in lines[0]
        assert first.poll() is None  # the first run goes on
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()


def test_resume_removes_the_temporary_file_of_a_killed_save(tmp_path):
    tokens = _tokens_dir(tmp_path / "tokens")
    run = tmp_path / "run"
    proc = _webtext("train", str(tokens), "--out", str(run), "--steps", "8", "--stop-at", "4",
                    *TRAIN)  # fmt: skip
    assert proc.wait(timeout=120) == 0, proc.communicate()
    leftover = run / ".checkpoint.pt.tmp-999999"  # what a kill during torch.save leaves
    leftover.write_bytes(b"")
    proc = _webtext("train", str(tokens), "--out", str(run), "--steps", "8", "--resume", *TRAIN)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert not leftover.exists() and "left by a save that was interrupted" in err
    assert load_checkpoint(run)["step"] == 8
    assert not (run / "_lock").exists()  # released at the end
