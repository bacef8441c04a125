"""`webtext eval`: perplexity, bits per byte/char and LAMBADA accuracy of a run's model."""

from __future__ import annotations

import argparse

from pipeline.commands.overlap import TEST_HELP


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval",
        help="score test sets with RUN_DIR's model (loss, perplexity, bits/byte, LAMBADA)",
        description=(
            "Score each test set with the run's checkpoint and tokenizer: loss and perplexity "
            "per token and per canonical unit (word; byte for enwik8, character for text8), "
            "LAMBADA last-word accuracy and perplexity. WikiText/PTB text is de-tokenized first "
            "(invertibly; per-word figures count the original words). Writes "
            "EVAL_DIR/examples/NAME.parquet (one row per document) and EVAL_DIR/summary.json."
        ),
    )
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument(
        "--test", action="append", required=True, metavar="SPEC", help=TEST_HELP + ", enwik8, text8"
    )
    p.add_argument("--out", required=True, metavar="EVAL_DIR")
    p.add_argument("--context", type=int, help="tokens per window (default: the model's context)")
    p.add_argument(
        "--stride",
        type=int,
        help="sliding window: new tokens scored per window (default: = context, disjoint windows)",
    )
    p.add_argument(
        "--batch-size", type=int, default=8, help="windows per forward pass (default: 8)"
    )
    p.add_argument("--device", default="auto", help="auto (GPU when present), cpu, cuda, cuda:N")
    p.add_argument(
        "--detokenize",
        choices=["auto", "none"],
        default="auto",
        help="auto: de-tokenize WikiText and PTB formats (default); none: score the text as is",
    )
    p.add_argument("--max-docs", type=int, help="only the first N documents of each set")
    p.add_argument("--tokenizer", help="tokenizer folder (default: RUN_DIR/tokenizer)")
    p.add_argument("--no-progress", action="store_true", help="no progress line on stderr")
    p.set_defaults(handler=_run_eval)


def _run_eval(args: argparse.Namespace, extra: list[str]) -> int:
    from eval.evaluate import EvalConfig, format_summary, run_eval

    if extra:
        raise ValueError(f"webtext eval: unrecognized arguments: {' '.join(extra)}")
    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be at least 1, got {args.batch_size}")
    summary = run_eval(
        EvalConfig(
            run_dir=args.run_dir,
            tests=args.test,
            out_dir=args.out,
            context=args.context,
            stride=args.stride,
            batch_size=args.batch_size,
            device=args.device,
            detokenize=args.detokenize,
            max_docs=args.max_docs,
            progress=not args.no_progress,
            tokenizer_dir=args.tokenizer,
        )
    )
    print(format_summary(summary))
    print(f"-> {args.out}/summary.json, {args.out}/examples/")
    return 0
