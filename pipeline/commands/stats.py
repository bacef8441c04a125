"""`webtext stats`: the corpus funnel, what each stage kept and dropped and why."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "stats",
        help="per-stage funnel of a run: records in/out, drops by reason, end-to-end keep rate",
        description=(
            "Read the _stats.json, _job.json and _SUCCESS of every stage directory under each "
            "ROOT (up to --depth levels down) and show them in pipeline order: records in and "
            "out, the top drop reasons with their share of the input, repairs and stage "
            "figures (tokens per split, fetch retries), whether each stage is complete, in "
            "progress or not started, and links in -> tokens out end to end; dups/ as the "
            "documents removed by reason; train (steps, tokens seen, losses), eval (sets "
            "evaluated) and report (sections built, its page) from their own files. Stage "
            "directories given directly are shown together as one funnel. Exit status: 0, "
            "or 1 when a _stats.json is unreadable or does not balance "
            "(in != out + dropped), 2 when a path does not exist."
        ),
    )
    p.add_argument(
        "paths",
        nargs="+",
        metavar="ROOT_OR_STAGE_DIR",
        help="a run's root (e.g. the demo's --out) or stage directories (links/, pages/ ...)",
    )
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="machine-readable JSON (every reason)")
    fmt.add_argument("--markdown", action="store_true", help="Markdown tables for a report")
    p.add_argument("--all", action="store_true", help="every drop reason and error sample")
    p.add_argument("--top", type=int, default=3, help="drop reasons shown per stage (default: 3)")
    p.add_argument("--depth", type=int, default=3, help="levels searched below a root")
    p.set_defaults(handler=_run_stats)


def _run_stats(args: argparse.Namespace, extra: list[str]) -> int:
    from pipeline.funnel import load_funnel
    from pipeline.funnel_format import render_json, render_markdown, render_text

    if extra:
        raise ValueError(f"webtext stats: unrecognized arguments: {' '.join(extra)}")
    if args.top < 0 or args.depth < 0:
        raise ValueError("webtext stats: --top and --depth must be >= 0")
    funnels = load_funnel(args.paths, max_depth=args.depth)
    top = None if args.all else args.top
    if args.json:
        text = render_json(funnels)
    elif args.markdown:
        text = render_markdown(funnels, top=top)
    else:
        text = render_text(funnels, top=top)
    print(text, end="")
    return 1 if any(f.has_error for f in funnels) else 0
