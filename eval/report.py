"""`webtext report`: the memorization-versus-generalization report of a run, in three forms.

REPORT_DIR/index.html  self-contained: figures embedded as base64 PNG, inline CSS, no script,
                       nothing fetched (opens offline, in any browser)
REPORT_DIR/report.md   the same tables and readings; figures linked from figures/
REPORT_DIR/figures/    the PNGs
REPORT_DIR/report.json every number (no images), and which sections could not be built, why

Every form opens with a header: the run (and its last step), corpus, overlap and eval
directories it was built from, when, and the versions of webtext, torch, numpy and Python.
Tables carry their definitions as notes under them; figures carry alt texts that describe them.

A section whose inputs are missing is listed as not built with the reason; the others render.
Nothing random is left unseeded (samples use a fixed seed), so regenerating a report from the
same run gives the same numbers.
"""

from __future__ import annotations

import base64
import html
import json
import logging
import platform
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eval.report_sections import SECTIONS, ReportInputs, SectionUnavailable
from pipeline.io import shards

log = logging.getLogger(__name__)

_CSS = """
body{font-family:sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
table{border-collapse:collapse;margin:.5rem 0 0}td,th{border:1px solid #bbb;padding:.2rem .5rem;
text-align:left;vertical-align:top}th{background:#eee}td.num,th.num{text-align:right}
.notes{font-size:.9em;color:#444;margin:.3rem 0 1rem;padding-left:1.2rem}
.inputs td{border:none;padding:.05rem .8rem .05rem 0}
caption{caption-side:top;text-align:left;font-style:italic;padding:.2rem 0}
.reading{font-weight:bold;margin:.2rem 0 1.5rem}.missing{color:#a00}img{max-width:100%}
"""


def build_sections(inp: ReportInputs) -> list[dict[str, Any]]:
    """Every section, built or marked unavailable with the reason."""
    from model.checkpoint import CheckpointError
    from pipeline.io.shards import ShardError

    sections = []
    for section in SECTIONS:
        try:
            sections.append(section.build(inp))
        except (SectionUnavailable, FileNotFoundError, ShardError, CheckpointError) as exc:
            log.warning("report section %s not built: %s", section.id, exc)
            sections.append(section.unavailable(str(exc)))
    return sections


_NUMBER = re.compile(r"^[-+]?[\d,]*\.?\d+(e[-+]\d+)?(%| /\w+)?$|^-( /\w+)?$")


def is_number_cell(v: Any) -> bool:
    """A cell that holds a number (or '-' for a number not defined): right-aligned."""
    return isinstance(v, int | float) or bool(_NUMBER.match(str(v)))


def _numeric_columns(table: dict[str, Any]) -> list[bool]:
    """Columns whose every cell is a number, '-' or blank (no row there, as in a side-by-side
    table), and not only '-' or blank: right-aligned."""
    cols = list(zip(*table["rows"], strict=True)) if table["rows"] else []
    return [
        all(is_number_cell(v) or v == "" for v in col) and any(str(v) not in ("-", "") for v in col)
        for col in cols
    ] or [False] * len(table["columns"])


def _html_table(table: dict[str, Any]) -> str:
    num = _numeric_columns(table)

    def cls(j: int) -> str:
        return " class='num'" if num[j] else ""

    head = "".join(
        f"<th{cls(j)}>{html.escape(str(c))}</th>" for j, c in enumerate(table["columns"])
    )
    body = "".join(
        "<tr>" + "".join(f"<td{cls(j)}>{html.escape(str(v))}</td>" for j, v in enumerate(row))
        + "</tr>"
        for row in table["rows"]
    )  # fmt: skip
    caption = html.escape(table.get("caption", ""))
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in table.get("notes", []))
    return f"<table><caption>{caption}</caption><tr>{head}</tr>{body}</table>" + (
        f"<ul class='notes'>{notes}</ul>" if notes else "<div class='notes'></div>"
    )


def _last_step(run_dir: Path) -> int | None:
    """The run's last logged step (metrics.jsonl), or None."""
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        return None
    steps = [
        json.loads(x).get("step")
        for x in path.read_text(encoding="utf-8").splitlines()
        if x.strip()
    ]
    steps = [s for s in steps if isinstance(s, int)]
    return max(steps) if steps else None


def provenance(inp: ReportInputs) -> dict[str, Any]:
    """What the report was built from and with: when, the versions, the run's step."""
    import numpy
    import torch

    from pipeline import __version__

    return {
        "built_utc": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "run_step": _last_step(inp.run_dir),
        "webtext_version": __version__,
        "torch_version": torch.__version__,
        "numpy_version": numpy.__version__,
        "python_version": platform.python_version(),
    }


def _header_rows(inp: ReportInputs, built: dict[str, Any]) -> list[tuple[str, str]]:
    def where(p: Path | None, option: str) -> str:
        return str(p) if p is not None else f"not given ({option})"

    rows = [
        ("run", f"{inp.run_dir} (step {built['run_step']})"
         if built["run_step"] is not None else str(inp.run_dir)),
        ("corpus", where(inp.corpus_dir, "--corpus")),
        ("overlap", where(inp.overlap_dir, "--overlap")),
        ("eval", where(inp.eval_dir, "--eval")),
    ]  # fmt: skip
    if inp.stages_dir is not None:
        rows.append(("stages", str(inp.stages_dir)))
    rows.append(("reference domains", where(inp.reference_domains, "--reference-domains")))
    if inp.compare_runs:
        rows.append(("compared runs", ", ".join(str(p) for p in inp.compare_runs)))
    rows += [
        ("samples", f"{inp.num_samples} x {inp.sample_tokens} tokens, seed {inp.seed}"),
        ("built", built["built_utc"]),
        ("versions", f"webtext {built['webtext_version']}, torch {built['torch_version']}, "
         f"numpy {built['numpy_version']}, Python {built['python_version']}"),
    ]  # fmt: skip
    return rows


def layout(section: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The section's tables and figures in reading order: a figure with ``after_table`` i
    follows table i (the numbers it draws); the others follow every table, as listed."""
    tables = section["tables"]
    placed = {i: [] for i in range(len(tables))}
    rest = []
    for fig in section["figures"]:
        i = fig.get("after_table")
        placed.get(i, rest).append(fig)
    out: list[tuple[str, dict[str, Any]]] = []
    for i, table in enumerate(tables):
        out += [("table", table), *(("figure", f) for f in placed[i])]
    return out + [("figure", f) for f in rest]


def render_html(
    title: str, sections: list[dict[str, Any]], header: list[tuple[str, str]] = ()
) -> str:
    parts = [
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
        f"</title><style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>"
    ]
    if header:
        parts.append(
            "<header><table class='inputs'>"
            + "".join(
                f"<tr><td><b>{html.escape(k)}</b></td><td>{html.escape(v)}</td></tr>"
                for k, v in header
            )
            + "</table></header>"
        )
    missing = [s for s in sections if s["status"] != "ok"]
    if missing:
        parts.append(
            "<p class='missing'>Sections not built: "
            + "; ".join(f"{html.escape(s['title'])}: {html.escape(s['reason'])}" for s in missing)
            + "</p>"
        )
    for s in sections:
        parts.append(f"<section id='{s['id']}'><h2>{html.escape(s['title'])}</h2>")
        if s["status"] != "ok":
            parts.append(f"<p class='missing'>Not built: {html.escape(s['reason'])}</p>")
        for kind, item in layout(s):
            if kind == "table":
                parts.append(_html_table(item))
                continue
            data = base64.b64encode(item["png"]).decode("ascii")
            parts.append(
                f"<figure><img alt='{html.escape(item.get('alt') or item['name'])}' "
                f"src='data:image/png;base64,{data}'></figure>"
                f"<p class='reading'>{html.escape(item['reading'])}</p>"
            )
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _md_cell(v: Any) -> str:
    return str(v).replace("|", "\\|").replace("\n", " ")


def _md_table(t: dict[str, Any]) -> list[str]:
    out = [
        f"*{t.get('caption', '')}*",
        "",
        "| " + " | ".join(_md_cell(c) for c in t["columns"]) + " |",
        "|" + "---|" * len(t["columns"]),
    ]
    out += ["| " + " | ".join(_md_cell(v) for v in row) + " |" for row in t["rows"]]
    out.append("")
    if t.get("notes"):
        out += [f"- {n}" for n in t["notes"]] + [""]
    return out


def render_markdown(
    title: str, sections: list[dict[str, Any]], header: list[tuple[str, str]] = ()
) -> str:
    out = [f"# {title}", ""]
    if header:
        out += [f"- **{k}**: {v}" for k, v in header] + [""]
    for s in sections:
        out += [f"## {s['title']}", ""]
        if s["status"] != "ok":
            out += [f"**Not built:** {s['reason']}", ""]
        for kind, item in layout(s):
            if kind == "table":
                out += _md_table(item)
                continue
            alt = _md_cell(item.get("alt") or item["name"]).replace("]", ")").replace("[", "(")
            out += [f"![{alt}](figures/{item['name']})", "", f"**{item['reading']}**", ""]
    return "\n".join(out)


def report_json(
    title: str,
    inp: ReportInputs,
    sections: list[dict[str, Any]],
    built: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "title": title,
        "built": built or {},
        "inputs": {
            k: (str(v) if isinstance(v, Path) else v)
            for k, v in vars(inp).items()
            if k != "compare_runs"
        }
        | {"compare_runs": [str(p) for p in inp.compare_runs]},
        "sections": [
            {
                "id": s["id"],
                "title": s["title"],
                "status": s["status"],
                "reason": s["reason"],
                "numbers": s["numbers"],
                "tables": s["tables"],
                "figures": [
                    {"name": f["name"], "alt": f.get("alt"), "reading": f["reading"]}
                    for f in s["figures"]
                ],
            }
            for s in sections
        ],
        "not_built": {s["id"]: s["reason"] for s in sections if s["status"] != "ok"},
    }


def write_report(inp: ReportInputs, out_dir: str | Path) -> dict[str, Any]:
    """Build and write the report; returns report.json's content."""
    title = f"Memorization versus generalization: {inp.run_dir.name}"
    sections = build_sections(inp)
    out = Path(out_dir)
    for s in sections:
        for fig in s["figures"]:
            shards.write_bytes_atomic(str(out / "figures" / fig["name"]), fig["png"])
    built = provenance(inp)
    header = _header_rows(inp, built)
    data = report_json(title, inp, sections, built)
    shards.write_json_atomic(str(out / "report.json"), data)
    md = render_markdown(title, sections, header)
    shards.write_bytes_atomic(str(out / "report.md"), md.encode())
    shards.write_bytes_atomic(
        str(out / "index.html"), render_html(title, sections, header).encode()
    )
    return data
