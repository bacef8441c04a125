"""`webtext convert`: Hugging Face GPT-2 weights <-> a run directory."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "convert",
        help="import/export Hugging Face GPT2LMHeadModel weights",
        description=(
            "webtext convert --from-hf HF_DIR --out RUN_DIR   (import a local HF GPT-2 folder)\n"
            "webtext convert RUN_DIR --to-hf HF_DIR            (export for transformers)"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("run_dir", nargs="?", metavar="RUN_DIR", help="run to export")
    p.add_argument("--from-hf", metavar="HF_DIR", help="local Hugging Face folder to import")
    p.add_argument("--out", metavar="RUN_DIR", help="run directory to create (with --from-hf)")
    p.add_argument("--to-hf", metavar="HF_DIR", help="folder to write (with RUN_DIR)")
    p.add_argument(
        "--bin", action="store_true", help="export pytorch_model.bin instead of safetensors"
    )
    p.set_defaults(handler=_run_convert)


def _run_convert(args: argparse.Namespace, extra: list[str]) -> int:
    from model.hf_convert import export_run, import_to_run

    if args.from_hf:
        if not args.out or args.run_dir or args.to_hf:
            raise ValueError("usage: webtext convert --from-hf HF_DIR --out RUN_DIR")
        path = import_to_run(args.from_hf, args.out)
        print(f"convert: {args.from_hf} -> {path}")
        return 0
    if not args.run_dir or not args.to_hf or args.out:
        raise ValueError(
            "usage: webtext convert --from-hf HF_DIR --out RUN_DIR | "
            "webtext convert RUN_DIR --to-hf HF_DIR"
        )
    out = export_run(args.run_dir, args.to_hf, safetensors=not args.bin)
    print(f"convert: {args.run_dir} -> {out}")
    return 0
