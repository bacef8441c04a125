"""`webtext train | sample | convert` end to end, and the demo's model step."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from synthetic import write_token_shards
from test_model_train import _tokens_dir

from model.checkpoint import load_checkpoint
from pipeline.cli import main

REPO = Path(__file__).resolve().parent.parent
TRAIN = [
    "--model",
    "tiny",
    "--batch-tokens",
    "64",
    "--micro-batch",
    "2",
    "--seq-len",
    "16",
    "--device",
    "cpu",
    "--eval-interval",
    "2",
    "--eval-batches",
    "2",
    "--lr",
    "3e-3",
]


def test_train_sample_convert_round_trip(tmp_path, capsys):
    tokens = _tokens_dir(tmp_path / "tokens")
    run = str(tmp_path / "run")
    assert main(["train", str(tokens), "--out", run, "--steps", "3", *TRAIN]) == 0
    assert "step 3, loss" in capsys.readouterr().out
    assert main(["train", str(tokens), "--out", run, "--steps", "4", *TRAIN]) == 2  # no --resume
    assert main(["train", str(tokens), "--out", run, "--steps", "4", "--resume", *TRAIN]) == 0
    assert load_checkpoint(run)["step"] == 4
    capsys.readouterr()

    sample = [
        "sample",
        run,
        "--prompt-ids",
        "1,2,3",
        "--max-new-tokens",
        "12",
        "--seed",
        "4",
        "--num-samples",
        "2",
    ]
    assert main(sample) == 0
    rows = capsys.readouterr().out.strip().splitlines()
    assert len(rows) == 2
    ids = [[int(t) for t in row.split(",") if t] for row in rows]
    assert all(len(r) <= 12 and all(0 <= t < 63 for t in r) for r in ids)  # 63 = eot, cut

    pytest.importorskip("safetensors")
    assert main(["convert", run, "--to-hf", str(tmp_path / "hf")]) == 0
    assert (tmp_path / "hf" / "model.safetensors").exists()
    assert (
        main(["convert", "--from-hf", str(tmp_path / "hf"), "--out", str(tmp_path / "back")]) == 0
    )
    capsys.readouterr()
    assert main([*sample[:1], str(tmp_path / "back"), *sample[2:]]) == 0
    assert capsys.readouterr().out.strip().splitlines() == rows  # same weights, same samples
    # an imported, weights-only run cannot be resumed as training state
    assert main(["train", str(tokens), "--out", str(tmp_path / "back"), "--resume", *TRAIN]) == 2
    assert main(["convert", run]) == 2  # neither --to-hf nor --from-hf


@pytest.mark.slow
def test_demo_step_trains_and_samples(tmp_path, shared_file, capsys):
    tok_mod = pytest.importorskip("model.tokenizer")
    from pipeline.demo.train_sample import train_sample_step

    gpt2 = shared_file("gpt2")
    tokens = tmp_path / "tokens"
    shutil.copytree(gpt2, tokens / "_tokenizer", ignore=shutil.ignore_patterns("SOURCE*"))
    tokenizer = tok_mod.load_tokenizer(tokens / "_tokenizer")
    text = shared_file("testsets", "wikitext-2-raw", "wiki.test.raw").read_text()[:60_000]
    paras = [p for p in text.split("\n") if len(p) > 200]
    docs = [
        (
            f"d{i}",
            "val" if i % 10 == 0 else "train",
            np.array(tokenizer.encode(p) + [tokenizer.eot_id]),
        )
        for i, p in enumerate(paras)
    ]
    write_token_shards(tokens, docs)
    train_sample_step(tmp_path, [], steps=40)  # `webtext demo` trains DEMO_STEPS (test_cli.py)
    out = capsys.readouterr().out
    assert "[demo] model: tiny GPT-2 trained 40 steps" in out
    assert out.count("[demo] sample") == 2
    assert load_checkpoint(tmp_path / "runs" / "demo")["step"] == 40
    train_sample_step(tmp_path, [], steps=40)  # a rerun reuses the finished run
    assert "already trained" in capsys.readouterr().out
    run = str(tmp_path / "runs" / "demo")
    args = ["sample", run, "--prompt", "The city", "--max-new-tokens", "8", "--seed", "3"]
    assert main(args) == 0
    first = capsys.readouterr().out
    assert first.startswith("===== sample 1 =====\nThe city")
    assert main(args) == 0 and capsys.readouterr().out == first  # seeded: repeatable


def test_model_package_imports_without_beam_pipeline_or_transformers():
    # Of the pipeline package only the foundation (pipeline.io: stdlib, pyarrow, numpy).
    code = (
        "import sys\n"
        "import model, model.gpt2, model.data, model.checkpoint, model.train, model.sample, "
        "model.hf_convert\n"
        "bad = [m for m in ('apache_beam', 'transformers', 'safetensors', 'xxhash')"
        " if m in sys.modules]\n"
        "bad += [m for m in sys.modules if m.startswith('pipeline.') and"
        " not m.startswith('pipeline.io')]\n"
        "assert not bad, bad\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
