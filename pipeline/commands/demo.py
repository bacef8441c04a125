"""`webtext demo`: every stage, offline, on the embedded default input."""

from __future__ import annotations

import argparse

from pipeline.commands import BEAM_EPILOG


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="run the pipeline offline on the embedded default input",
        description="Generate the embedded demo input and run every stage on it, offline.",
        epilog=BEAM_EPILOG,
    )
    p.add_argument("--out", default="demo_out", help="working directory (default: demo_out)")
    p.set_defaults(handler=_run_demo)


def _run_demo(args: argparse.Namespace, beam_args: list[str]) -> int:
    from pipeline.demo import run_demo

    run_demo(args.out, beam_args)
    return 0
