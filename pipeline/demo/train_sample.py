"""The demo's train + sample step: train a tiny GPT-2 on the demo's tokens, then sample.

It reads ``root/tokens`` (vocabulary size from ``tokens/_tokenizer/encoder.json``), trains the
``tiny`` configuration for 300 steps (4 x 64 tokens each, ~1 minute) on CPU into
``root/runs/demo`` (resuming if a previous demo run left a checkpoint there), and prints the
losses and two short samples.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import torch

from model.checkpoint import checkpoint_path, load_checkpoint
from model.data import read_split, tokenizer_vocab_size
from model.sample import SamplingConfig, generate, load_run_model
from model.tokenizer import load_tokenizer
from model.train import TrainConfig, read_metrics, train

DEMO_STEPS = 300
DEMO_SEQ_LEN = 64
DEMO_MICRO_BATCH = 4


def train_sample_step(
    root: Path, beam_args: list[str] | None = None, steps: int = DEMO_STEPS
) -> None:
    """Train the tiny demo model on ``root/tokens`` into ``root/runs/demo`` and sample."""
    del beam_args  # training is not a Beam job
    root = Path(root)
    tokens_dir = root / "tokens"
    run_dir = root / "runs" / "demo"
    vocab = tokenizer_vocab_size(tokens_dir)
    if vocab is None:
        raise FileNotFoundError(f"{tokens_dir}/_tokenizer/encoder.json is missing")
    n_train = len(read_split(tokens_dir, "train"))
    # Shrink the batch for a very small demo corpus: at least one global batch must fit.
    seq_len = DEMO_SEQ_LEN if n_train > 4 * DEMO_SEQ_LEN else max(8, n_train // 5)
    micro_batch = max(1, min(DEMO_MICRO_BATCH, (n_train - 1) // seq_len))
    resume = checkpoint_path(run_dir).exists()
    if resume and load_checkpoint(run_dir)["step"] >= steps:
        print(f"[demo] model: {run_dir} already trained ({steps} steps)")
    else:
        torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
        logging.getLogger("webtext.train").setLevel(logging.WARNING)
        train(
            TrainConfig(
                tokens_dir=str(tokens_dir),
                out_dir=str(run_dir),
                model="tiny",
                steps=steps,
                batch_tokens=micro_batch * seq_len,
                micro_batch=micro_batch,
                seq_len=seq_len,
                lr=3e-3,
                warmup_steps=20,
                eval_interval=max(1, steps // 6),  # six held-out points: enough for a trend
                eval_batches=4,
                ckpt_interval=steps,
                log_interval=steps,
                device="cpu",
                vocab_size=vocab,
                resume=resume,
            )
        )
    metrics = read_metrics(run_dir)
    losses = [m["loss"] for m in metrics if "loss" in m]
    vals = [m["val_loss"] for m in metrics if "val_loss" in m]
    val_text = f", val loss {vals[-1]:.3f}" if vals else ""
    print(
        f"[demo] model: tiny GPT-2 trained {len(losses)} steps on {n_train:,} tokens -> "
        f"{run_dir}; loss {losses[0]:.3f} -> {losses[-1]:.3f}{val_text} "
        f"(uniform guess: {math.log(vocab):.3f})"
    )

    tokenizer = load_tokenizer(run_dir / "tokenizer")
    model = load_run_model(run_dir)
    cfg = SamplingConfig(max_new_tokens=30, temperature=0.8, top_k=40, seed=0)
    prompt = "The"
    for i, row in enumerate(generate(model, tokenizer.encode(prompt), 2, cfg, tokenizer.eot_id)):
        text = (prompt + tokenizer.decode(row)).replace("\n", " ")
        print(f"[demo] sample {i + 1}: {text}")
