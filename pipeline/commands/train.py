"""`webtext train`: GPT-2 on a tokens/ directory (one process, or many under torchrun)."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
from collections.abc import Iterator

from model.train_config import TrainConfig
from pipeline.io.options import add_options, config_from_args

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
    add_options(p, TrainConfig)  # every other option: declared once, in TrainConfig
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
    from model.train import TrainingError, train

    # Another stage's directory (a corpus/, say) is named before any model or device is set up.
    wrong_input = other_stage_message(args.tokens_dir)
    if wrong_input:
        raise ValueError(wrong_input)
    # The progress display is this logger's INFO output: give it the requested level even if
    # the root logger was set stricter (it is, by logconf's quieting of noisy libraries).
    log.setLevel(args.log_level.upper())
    cfg = config_from_args(TrainConfig, args, tokens_dir=args.tokens_dir, out_dir=args.out)
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
