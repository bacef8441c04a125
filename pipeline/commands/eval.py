"""`webtext eval`: perplexity, bits per byte/char and LAMBADA accuracy of a run's model."""

from __future__ import annotations

import argparse

from eval.eval_config import EvalConfig  # no numpy/torch: cheap at parse time
from pipeline.io.options import add_options, config_from_args


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval",
        help="score test sets with RUN_DIR's model (loss, perplexity, bits/byte, LAMBADA)",
        description=(
            "Score each test set with the run's checkpoint and tokenizer: loss and perplexity "
            "per token and per canonical unit (word, where WikiText/PTB count one <eos> per "
            "line; byte for enwik8, character for text8), bits per UTF-8 byte of the original "
            "text for every set, LAMBADA last-word accuracy and perplexity. WikiText/PTB text "
            "is de-tokenized first (invertibly; per-word figures count the original words). "
            "Writes EVAL_DIR/examples/NAME.parquet (one row per document) and "
            "EVAL_DIR/summary.json (with the settings used, --prefix-eot among them)."
        ),
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="a training run (checkpoint + tokenizer)")
    p.add_argument("--out", required=True, metavar="EVAL_DIR", help="output directory (required)")
    add_options(p, EvalConfig)  # every other option: declared once, in EvalConfig
    p.set_defaults(handler=_run_eval)


def _run_eval(args: argparse.Namespace, extra: list[str]) -> int:
    from eval.evaluate import format_summary, run_eval
    from pipeline.io.locks import output_lock

    if extra:
        raise ValueError(f"webtext eval: unrecognized arguments: {' '.join(extra)}")
    config = config_from_args(EvalConfig, args, run_dir=args.run_dir, out_dir=args.out)

    with output_lock(args.out, "webtext eval"):
        summary = run_eval(config)
    print(format_summary(summary))
    print(f"-> {args.out}/summary.json, {args.out}/examples/")
    return 0
