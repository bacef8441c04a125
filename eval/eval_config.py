"""The settings of ``webtext eval``, each declared once: field, default, help and bounds.

Kept apart from eval/evaluate.py so the command line builds its options without loading numpy,
pyarrow or torch.
"""

from __future__ import annotations

from dataclasses import dataclass

from eval.testsets import FORMATS
from pipeline.io.options import check_options, option

# When a context is conditioned on <|endoftext|>: every time (OpenAI's GPT-2 scoring, the
# default), or only when it is empty (lm-evaluation-harness).
PREFIX_EOT = ("always", "empty-context")


@dataclass(frozen=True)
class EvalConfig:
    run_dir: str
    out_dir: str
    tests: list[str] = option(
        [],
        f"NAME[:FORMAT[:FIELD]]=PATH; formats {', '.join(FORMATS)} (detected from the file name "
        "when omitted); repeat for several test sets",
        flag="--test",
        metavar="SPEC",
        required=True,
    )
    context: int | None = option(
        None, "tokens per window (default: the model's context, its block size)",
        metavar="N", min_value=1,
    )  # fmt: skip
    stride: int | None = option(
        None, "sliding window: new tokens scored per window (default: = context, disjoint "
        "windows)", metavar="S", min_value=1,
    )  # fmt: skip
    batch_size: int = option(8, "windows per forward pass", metavar="B", min_value=1)
    device: str = option("auto", "auto (GPU when present), cpu, cuda, cuda:N", metavar="DEV")
    detokenize: str = option(
        "auto",
        "auto: de-tokenize WikiText and PTB formats; none: score the text as is",
        choices=("auto", "none"),
    )
    prefix_eot: str = option(
        "always",
        "when a context is conditioned on <|endoftext|>: 'always' (every LAMBADA context starts "
        "from it: the GPT-2 paper's setting as far as it is known, since OpenAI's GPT-2 code "
        "scored text with <|endoftext|> as the start token) or 'empty-context' (only an empty "
        "context gets it: lm-evaluation-harness's rule, under which its published GPT-2 numbers "
        "were computed). Documents scored for perplexity have an empty context and start from "
        "it either way",
        choices=PREFIX_EOT,
    )
    max_docs: int | None = option(
        None, "only the first N documents of each set (default: every document)",
        metavar="N", min_value=1,
    )  # fmt: skip
    tokenizer_dir: str | None = option(
        None, "tokenizer folder (default: RUN_DIR/tokenizer)", flag="--tokenizer", metavar="DIR"
    )
    progress: bool = option(
        True, "no progress line on stderr (default: a progress line is shown)",
        flag="--no-progress",
    )  # fmt: skip

    def __post_init__(self) -> None:
        check_options(self)
