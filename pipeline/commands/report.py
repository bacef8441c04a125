"""`webtext report`: the memorization-versus-generalization report (HTML, Markdown, JSON)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="write the memorization-vs-generalization report of RUN_DIR (HTML, Markdown, JSON)",
        description=(
            "A corpus card (documents, tokens and splits; the funnel from Reddit submissions to "
            "corpus documents with the top drop reasons; karma and post-time distributions; the "
            "domain mix, beside WebText's top domains with --reference-domains), then five "
            "sections: the overlap table (Table 6), the per-example overlap distribution, "
            "metrics by overlap bucket and excluding overlapping examples, train vs held-out "
            "loss over steps and model sizes, and memorization of generated samples. A section "
            "whose inputs are missing is reported as not built, with the reason."
        ),
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="training run (checkpoint, metrics.jsonl)")
    p.add_argument(
        "--out",
        required=True,
        metavar="REPORT_DIR",
        help="folder for index.html, report.md, report.json",
    )
    p.add_argument(
        "--corpus", metavar="DIR", help="corpus/ (webtext dedup): the corpus card, section 5"
    )
    p.add_argument(
        "--stages",
        metavar="DIR",
        help="the folder holding links/ pages/ docs/ corpus/ tokens/, for the corpus card's "
        "funnel and histograms (default: the folder holding --corpus)",
    )
    p.add_argument(
        "--reference-domains",
        metavar="PATH",
        help="WebText's domain list ('<count> <domain>' a line, e.g. OpenAI's domains.txt) to "
        "set beside the corpus's domain mix, with their rank correlation (default: not shown)",
    )
    p.add_argument("--overlap", metavar="DIR", help="webtext overlap output: sections 1-3, 5")
    p.add_argument("--eval", metavar="DIR", help="webtext eval output: section 3")
    p.add_argument(
        "--compare-run",
        action="append",
        default=[],
        metavar="RUN_DIR",
        help="another run (another model size) for section 4; repeatable",
    )
    p.add_argument("--num-samples", type=int, default=16, help="generated samples for section 5")
    p.add_argument("--sample-tokens", type=int, default=128, help="tokens per generated sample")
    p.add_argument("--seed", type=int, default=0, help="sampling seed")
    p.set_defaults(handler=_run_report)


def _run_report(args: argparse.Namespace, extra: list[str]) -> int:
    from pathlib import Path

    from eval.report import write_report
    from eval.report_sections import ReportInputs

    if args.num_samples < 1 or args.sample_tokens < 8:
        raise ValueError("--num-samples must be >= 1 and --sample-tokens >= 8")
    run_dir = Path(args.run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"run directory {run_dir} does not exist")

    def opt(p: str | None) -> Path | None:
        return Path(p) if p else None

    if args.reference_domains:
        from eval.domains import read_reference_domains

        read_reference_domains(Path(args.reference_domains))  # a bad file: one line, no report
    if args.stages and not Path(args.stages).is_dir():
        raise FileNotFoundError(f"--stages {args.stages}: no such directory")

    from pipeline.io.locks import output_lock

    with output_lock(args.out, "webtext report"):
        data = write_report(
            ReportInputs(
                run_dir=run_dir,
                corpus_dir=opt(args.corpus),
                overlap_dir=opt(args.overlap),
                eval_dir=opt(args.eval),
                compare_runs=tuple(Path(p) for p in args.compare_run),
                num_samples=args.num_samples,
                sample_tokens=args.sample_tokens,
                seed=args.seed,
                stages_dir=opt(args.stages),
                reference_domains=opt(args.reference_domains),
            ),
            args.out,
        )
    for sid, reason in data["not_built"].items():
        print(f"section {sid} not built: {reason}")
    print(f"report -> {Path(args.out) / 'index.html'}")
    return 0
