"""``webtext demo``: every stage, offline, on the embedded default input.

Each stage contributes one step ``run_demo_step(root, beam_args)`` that reads the previous
stage's directory under ``root`` and writes its own; this module only orders them.
"""

from __future__ import annotations

import importlib
import logging
import time
from pathlib import Path

from pipeline.demo_data import write_demo_dump
from pipeline.io import schemas, shards
from pipeline.io.stats import StageStats, format_stats

log = logging.getLogger(__name__)

# (title, "module:function") in pipeline order; each reads root/<previous> and writes root/<own>.
STEPS: list[tuple[str, str]] = [
    ("links", "pipeline.demo:links_step"),
    ("fetch + extract", "pipeline.demo_web:run_demo_step"),
    ("dedup + overlap", "beam_jobs.dedup_job:run_demo_step"),
    ("tokenize", "beam_jobs.tokenize_job:run_demo_step"),
    ("train + sample", "model.demo:run_demo_step"),
    ("eval + report", "eval.demo:run_demo_step"),
]


def links_step(root: Path, beam_args: list[str]) -> None:
    from beam_jobs.links_job import LinksConfig, run_links

    dump = write_demo_dump(root / "input" / "RS_demo.zst")
    print(f"[demo] input: {dump} (a Pushshift-format dump generated for the demo)")
    links_dir = str(root / "links")
    run_links(LinksConfig(inputs=[str(dump)], out_dir=links_dir, num_shards=2), beam_args)
    stats = StageStats.from_dict(shards.read_stats(links_dir))
    print(format_stats(stats, f"[demo] links -> {links_dir}"))
    rows = shards.read_rows(links_dir, schemas.LINKS)
    print(f"[demo] kept {len(rows)} links:")
    for row in sorted(rows, key=lambda r: (-r["max_score"], r["url"])):
        print(f"  {row['max_score']:>4} karma  {row['num_posts']} post(s)  {row['url']}")


def _resolve(target: str):
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def run_demo(out_dir: str, beam_args: list[str] | None = None) -> None:
    root = Path(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    for title, target in STEPS:
        started = time.monotonic()
        print(f"\n[demo] === {title} ===")
        _resolve(target)(root, list(beam_args or []))
        print(f"[demo] {title} done in {time.monotonic() - started:.1f} s")
    from pipeline.funnel import load_funnel
    from pipeline.funnel_format import render_text

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
