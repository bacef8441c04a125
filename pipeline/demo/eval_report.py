"""The demo's eval + report step: eval the demo run, then write its report.

It scores the two test sets the dedup + overlap step wrote to root/overlap_input (held-out
corpus documents, and a file that copies training paragraphs next to held-out ones) with the
demo model into root/eval, so the report's bucket analysis has both clean and contaminated
examples, then writes root/report and prints its index.html.
"""

from __future__ import annotations

from pathlib import Path

from eval.evaluate import EvalConfig, format_summary, run_eval
from eval.report import write_report
from eval.report_sections import ReportInputs

DEMO_SAMPLES = 8
DEMO_SAMPLE_TOKENS = 48


def reference_domains() -> Path | None:
    """WebText's domain list (webtext/domains.txt of the shared data: $WEBTEXT_SHARED_DATA, else
    ../shared/data beside the repository) when it is there, for the corpus card; else None."""
    import os

    shared = os.environ.get("WEBTEXT_SHARED_DATA")
    base = Path(shared) if shared else Path(__file__).resolve().parents[3] / "shared" / "data"
    path = base / "webtext" / "domains.txt"
    return path if path.is_file() else None


def eval_report_step(root: Path, beam_args: list[str]) -> None:
    """root/runs/demo on root/overlap_input's test sets -> root/eval, then root/report."""
    del beam_args  # neither eval nor the report is a Beam job
    root = Path(root)
    run_dir = root / "runs" / "demo"
    inputs = root / "overlap_input"
    tests = [
        spec
        for spec, path in (
            (f"heldout:jsonl={inputs / 'heldout.jsonl'}", inputs / "heldout.jsonl"),
            (f"contaminated:text={inputs / 'contaminated.txt'}", inputs / "contaminated.txt"),
        )
        if path.exists()
    ]
    eval_dir = root / "eval"
    if tests:
        summary = run_eval(
            EvalConfig(
                run_dir=str(run_dir),
                tests=tests,
                out_dir=str(eval_dir),
                device="cpu",
                progress=False,
            )  # fmt: skip
        )
        print(f"[demo] eval -> {eval_dir}")
        print(format_summary(summary))
    else:
        print("[demo] eval skipped: the overlap step wrote no test sets")
    report = root / "report"
    data = write_report(
        ReportInputs(
            run_dir=run_dir,
            corpus_dir=root / "corpus",
            overlap_dir=root / "overlap",
            eval_dir=eval_dir if tests else None,
            num_samples=DEMO_SAMPLES,
            sample_tokens=DEMO_SAMPLE_TOKENS,
            reference_domains=reference_domains(),
        ),
        report,
    )
    for sid, reason in data["not_built"].items():
        print(f"[demo] report section {sid} not built: {reason}")
    print(f"[demo] report: {report / 'index.html'}")
