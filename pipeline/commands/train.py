"""`webtext train`: GPT-2 on a tokens/ directory (one process, or many under torchrun)."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
from collections.abc import Iterator

log = logging.getLogger("webtext.train")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train GPT-2 on tokens/ shards (resumable; torchrun for several GPUs/nodes)",
        description=(
            "Train a GPT-2 on the train split of TOKENS_DIR, writing checkpoint.pt, "
            "metrics.jsonl and the tokenizer to RUN_DIR. Several GPUs or nodes: "
            "torchrun --nproc_per_node=8 -m pipeline.cli train ..."
        ),
    )
    p.add_argument("tokens_dir", metavar="TOKENS_DIR", help="tokens/ directory (webtext tokenize)")
    p.add_argument(
        "--out", required=True, metavar="RUN_DIR", help="run directory for checkpoint and metrics"
    )
    p.add_argument(
        "--model",
        default="gpt2",
        choices=["gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl", "mini", "tiny"],
        help="size (default: gpt2, 124M)",
    )
    p.add_argument("--steps", type=int, default=1000, help="optimizer steps")
    p.add_argument("--resume", action="store_true", help="continue RUN_DIR's checkpoint")
    p.add_argument(
        "--batch-tokens",
        type=int,
        default=512 * 1024,
        help="global batch in tokens (default: %(default)s = 512 x 1024, the paper's)",
    )
    p.add_argument(
        "--micro-batch", type=int, default=16, help="sequences per forward pass and process"
    )
    p.add_argument("--seq-len", type=int, help="sequence length (default: the model's context)")
    p.add_argument("--lr", type=float, default=6e-4, help="peak learning rate")
    p.add_argument(
        "--min-lr-ratio", type=float, default=0.1, help="final lr / peak lr of the cosine decay"
    )
    p.add_argument("--warmup-steps", type=int, help="default: min(2000, steps // 10)")
    p.add_argument(
        "--weight-decay", type=float, default=0.1, help="AdamW weight decay on weight matrices"
    )
    p.add_argument(
        "--grad-clip", type=float, default=1.0, help="clip the global gradient norm to this"
    )
    p.add_argument("--dropout", type=float, default=0.0, help="dropout probability")
    p.add_argument(
        "--eval-interval", type=int, default=250, help="steps between val-loss evaluations"
    )
    p.add_argument(
        "--eval-batches",
        type=int,
        default=20,
        help="micro-batches of the fixed val set per evaluation",
    )
    p.add_argument("--ckpt-interval", type=int, default=500, help="steps between checkpoints")
    p.add_argument("--log-interval", type=int, default=10, help="steps between progress lines")
    p.add_argument("--seed", type=int, default=1337, help="seed of weights and data order")
    p.add_argument("--device", default="auto", help="auto (GPU when present), cpu, cuda")
    p.add_argument(
        "--dtype",
        default="auto",
        choices=["auto", "bfloat16", "float32"],
        help="auto: bf16 autocast on CUDA, float32 on CPU",
    )
    p.add_argument("--compile", action="store_true", help="torch.compile the model")
    p.add_argument(
        "--loss-chunks",
        type=int,
        default=1,
        help="compute the loss in N slices without holding all logits (saves GPU memory)",
    )
    p.add_argument(
        "--attention",
        default="auto",
        choices=["auto", "flash", "cudnn", "efficient", "math"],
        help="attention kernel (default auto: PyTorch's choice; cudnn is often fastest on "
        "H100; cudnn and efficient need CUDA)",
    )
    p.add_argument(
        "--fsdp",
        action="store_true",
        help="under torchrun: shard weights, gradients and optimizer state (FSDP) for models "
        "that do not fit one GPU with DDP",
    )
    p.add_argument(
        "--init-from",
        metavar="RUN_DIR",
        help="start from the weights of another run or of `webtext convert --from-hf` "
        "(fine-tuning; the optimizer and schedule start fresh)",
    )
    p.add_argument("--vocab-size", type=int, help="default: from TOKENS_DIR/tokenizer")
    p.add_argument("--stop-at", type=int, help="stop after this step with a checkpoint")
    p.add_argument("--peak-tflops", type=float, help="chip's bf16 peak for MFU (default: by name)")
    p.set_defaults(handler=_run_train)


@contextlib.contextmanager
def _run_dir_lock(run_dir: str) -> Iterator[None]:
    """One training run per run directory: rank 0 (the only writer) holds the directory's lock
    for the whole run, so a second `webtext train --out` on it is refused in one line. Inside the
    lock no other process is saving, so temporary files a killed save left are removed."""
    if os.environ.get("RANK", "0") != "0":
        yield
        return
    from model.checkpoint import remove_stale_temporaries
    from pipeline.io.locks import output_lock

    with output_lock(run_dir, "webtext train"):
        for path in remove_stale_temporaries(run_dir):
            log.info("removed %s, left by a save that was interrupted", path)
        yield


def _run_train(args: argparse.Namespace, extra: list[str]) -> int:
    from model.data import other_stage_message
    from model.train import TrainConfig, TrainingError, train

    # Another stage's directory (a corpus/, say) is named before any model or device is set up.
    wrong_input = other_stage_message(args.tokens_dir)
    if wrong_input:
        raise ValueError(wrong_input)
    # The progress display is this logger's INFO output: give it the requested level even if
    # the root logger was set stricter (it is, by logconf's quieting of noisy libraries).
    log.setLevel(args.log_level.upper())
    for name in (
        "steps",
        "micro_batch",
        "batch_tokens",
        "eval_interval",
        "ckpt_interval",
        "log_interval",
        "loss_chunks",
    ):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be at least 1")
    cfg = TrainConfig(
        tokens_dir=args.tokens_dir,
        out_dir=args.out,
        model=args.model,
        steps=args.steps,
        batch_tokens=args.batch_tokens,
        micro_batch=args.micro_batch,
        seq_len=args.seq_len,
        lr=args.lr,
        min_lr_ratio=args.min_lr_ratio,
        warmup_steps=args.warmup_steps,
        weight_decay=args.weight_decay,
        grad_clip=args.grad_clip,
        dropout=args.dropout,
        eval_interval=args.eval_interval,
        eval_batches=args.eval_batches,
        ckpt_interval=args.ckpt_interval,
        log_interval=args.log_interval,
        seed=args.seed,
        device=args.device,
        dtype=args.dtype,
        compile=args.compile,
        loss_chunks=args.loss_chunks,
        attention=args.attention,
        vocab_size=args.vocab_size,
        resume=args.resume,
        stop_at=args.stop_at,
        peak_tflops=args.peak_tflops,
        fsdp=args.fsdp,
        init_from=args.init_from,
    )
    try:
        with _run_dir_lock(args.out):
            result = train(cfg)
    except TrainingError as exc:
        log.error("%s", exc)
        return 3
    if os.environ.get("RANK", "0") != "0":
        return 0  # under torchrun, rank 0 reports
    val = f"{result.val_loss:.4f}" if result.val_loss is not None else "n/a"
    loss = f"{result.loss:.4f}" if result.loss is not None else "n/a"
    print(f"train -> {result.run_dir}: step {result.step}, loss {loss}, val loss {val}")
    return 0
