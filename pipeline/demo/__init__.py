"""``webtext demo``: every stage, offline, on the embedded default input.

The demo is this package and nothing else: one module per step, each with one function
``step(root, beam_args)`` that reads the previous stage's directory under ``root`` and writes
its own. ``STEPS`` lists them in pipeline order; ``run_demo`` runs them, then prints the funnel
and where the report is. The package sits above the stages (it imports ``beam_jobs``, ``model``,
``eval``, ``dedup`` and ``pipeline.io``); nothing below imports it.

  data.py           the generated Pushshift-format dump (the demo's input)
  links.py          links:            the dump -> root/links
  web.py            fetch + extract:  a loopback news web; root/links -> root/pages -> root/docs
  dedup_overlap.py  dedup + overlap:  root/docs -> root/corpus + root/dups; root/overlap
  tokenize.py       tokenize:         root/corpus -> root/tokens
  train_sample.py   train + sample:   root/tokens -> root/runs/demo
  eval_report.py    eval + report:    root/runs/demo + test sets -> root/eval, root/report
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from pipeline.demo.dedup_overlap import dedup_overlap_step
from pipeline.demo.eval_report import eval_report_step
from pipeline.demo.links import links_step
from pipeline.demo.tokenize import tokenize_step
from pipeline.demo.train_sample import train_sample_step
from pipeline.demo.web import fetch_extract_step
from pipeline.funnel import load_funnel
from pipeline.funnel_format import render_text

Step = Callable[[Path, list[str]], None]

# (title, step) in pipeline order; each reads root/<previous> and writes root/<own>.
STEPS: list[tuple[str, Step]] = [
    ("links", links_step),
    ("fetch + extract", fetch_extract_step),
    ("dedup + overlap", dedup_overlap_step),
    ("tokenize", tokenize_step),
    ("train + sample", train_sample_step),
    ("eval + report", eval_report_step),
]


def run_demo(out_dir: str, beam_args: list[str] | None = None) -> None:
    root = Path(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    for title, step in STEPS:
        started = time.monotonic()
        print(f"\n[demo] === {title} ===")
        step(root, list(beam_args or []))
        print(f"[demo] {title} done in {time.monotonic() - started:.1f} s")
    print(f"\n[demo] what each stage kept and dropped (`webtext stats {root}`):\n")
    print(render_text(load_funnel([str(root)])))
    for line in closing_lines(root):
        print(line)


def closing_lines(root: Path) -> list[str]:
    """The demo's last words: where everything is, then the report's path alone on the very
    last line (to open it, or `xdg-open "$(webtext demo | tail -n 1)"`)."""
    return [
        f"[demo] finished; every stage's output is under {root}/; the report:",
        str((root / "report" / "index.html").resolve()),
    ]
