"""The evaluation stage of ``webtext demo``: eval the demo run, then write its report.

Wired into ``pipeline/demo.py`` by the lead as ``eval.demo:run_demo_step``. It scores the demo
overlap step's two test sets (held-out corpus documents, and a file that copies training
paragraphs next to held-out ones) with the demo model, so the report's bucket analysis has
both clean and contaminated examples, then writes root/report and prints its index.html.
"""

from __future__ import annotations

from pathlib import Path

DEMO_SAMPLES = 8
DEMO_SAMPLE_TOKENS = 48


def run_demo_step(root: Path, beam_args: list[str]) -> None:
    del beam_args  # neither eval nor the report is a Beam job
    from eval.evaluate import EvalConfig, format_summary, run_eval
    from eval.report import write_report
    from eval.report_sections import ReportInputs

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
        ),
        report,
    )
    for sid, reason in data["not_built"].items():
        print(f"[demo] report section {sid} not built: {reason}")
    print(f"[demo] report: {report / 'index.html'}")
