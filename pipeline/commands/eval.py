"""`webtext eval`: perplexity, bits per byte/char and LAMBADA accuracy of a run's model."""

from __future__ import annotations

import argparse

from eval.testsets import FORMATS  # standard library only: cheap to import at parse time

# eval.evaluate.PREFIX_EOT, written out: importing eval.evaluate would load numpy and pyarrow
# whenever any subcommand's parser is built (tests/test_eval_definitions.py checks they agree).
PREFIX_EOT_CHOICES = ("always", "empty-context")
TEST_HELP = (
    f"NAME[:FORMAT[:FIELD]]=PATH; formats {', '.join(FORMATS)} (detected from the file "
    "name when omitted); repeat for several test sets (required)"
)
PREFIX_EOT_HELP = (
    "when a context is conditioned on <|endoftext|>: 'always' (every LAMBADA context starts "
    "from it: the GPT-2 paper's setting as far as it is known, since OpenAI's GPT-2 code scored "
    "text with <|endoftext|> as the start token) or 'empty-context' (only an empty context "
    "gets it: lm-evaluation-harness's rule, under which its published GPT-2 numbers were "
    "computed). Documents "
    "scored for perplexity have an empty context and start from it either way "
    "(default: %(default)s)"
)


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
    p.add_argument("--test", action="append", required=True, metavar="SPEC", help=TEST_HELP)
    p.add_argument("--out", required=True, metavar="EVAL_DIR", help="output directory (required)")
    p.add_argument(
        "--context",
        type=int,
        metavar="N",
        help="tokens per window (default: the model's context, its block size)",
    )
    p.add_argument(
        "--stride",
        type=int,
        metavar="S",
        help="sliding window: new tokens scored per window (default: = context, disjoint windows)",
    )
    p.add_argument(
        "--batch-size",
        type=int,
        metavar="B",
        default=8,
        help="windows per forward pass (default: %(default)s)",
    )
    p.add_argument(
        "--device",
        default="auto",
        metavar="DEV",
        help="auto (GPU when present), cpu, cuda, cuda:N (default: %(default)s)",
    )
    p.add_argument(
        "--detokenize",
        choices=["auto", "none"],
        default="auto",
        help="auto: de-tokenize WikiText and PTB formats; none: score the text as is "
        "(default: %(default)s)",
    )
    p.add_argument(
        "--prefix-eot",
        choices=PREFIX_EOT_CHOICES,
        default="always",
        help=PREFIX_EOT_HELP,
    )
    p.add_argument(
        "--max-docs",
        type=int,
        metavar="N",
        help="only the first N documents of each set (default: every document)",
    )
    p.add_argument(
        "--tokenizer", metavar="DIR", help="tokenizer folder (default: RUN_DIR/tokenizer)"
    )
    p.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress line on stderr (default: a progress line is shown)",
    )
    p.set_defaults(handler=_run_eval)


def _run_eval(args: argparse.Namespace, extra: list[str]) -> int:
    from eval.evaluate import EvalConfig, format_summary, run_eval

    if extra:
        raise ValueError(f"webtext eval: unrecognized arguments: {' '.join(extra)}")
    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be at least 1, got {args.batch_size}")
    config = EvalConfig(
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
        prefix_eot=args.prefix_eot,
    )
    from pipeline.io.locks import output_lock

    with output_lock(args.out, "webtext eval"):
        summary = run_eval(config)
    print(format_summary(summary))
    print(f"-> {args.out}/summary.json, {args.out}/examples/")
    return 0
