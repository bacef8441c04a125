"""`webtext report`: the memorization-versus-generalization report of a run, in three forms.

REPORT_DIR/index.html  self-contained: figures embedded as base64 PNG, inline CSS, no script,
                       nothing fetched (opens offline, in any browser)
REPORT_DIR/report.md   the same tables and readings; figures linked from figures/
REPORT_DIR/figures/    the PNGs
REPORT_DIR/report.json every number (no images), and which sections could not be built, why

A section whose inputs are missing is listed as not built with the reason; the others render.
Nothing random is left unseeded (samples use a fixed seed), so regenerating a report from the
same run gives the same numbers.
"""

from __future__ import annotations

import base64
import html
import logging
from pathlib import Path
from typing import Any

from eval.report_sections import SECTIONS, ReportInputs, SectionUnavailable
from pipeline.io import shards

log = logging.getLogger(__name__)

_CSS = """
body{font-family:sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
table{border-collapse:collapse;margin:.5rem 0 1rem}td,th{border:1px solid #bbb;padding:.2rem .5rem;
text-align:right}th{background:#eee}td:first-child,th:first-child{text-align:left}
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


def _html_table(table: dict[str, Any]) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in table["columns"])
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>"
        for row in table["rows"]
    )
    caption = html.escape(table.get("caption", ""))
    return f"<table><caption>{caption}</caption><tr>{head}</tr>{body}</table>"


def render_html(title: str, sections: list[dict[str, Any]]) -> str:
    parts = [
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
        f"</title><style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>"
    ]
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
        for table in s["tables"]:
            parts.append(_html_table(table))
        for fig in s["figures"]:
            data = base64.b64encode(fig["png"]).decode("ascii")
            parts.append(
                f"<figure><img alt='{html.escape(fig['name'])}' "
                f"src='data:image/png;base64,{data}'></figure>"
                f"<p class='reading'>{html.escape(fig['reading'])}</p>"
            )
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _md_cell(v: Any) -> str:
    return str(v).replace("|", "\\|").replace("\n", " ")


def render_markdown(title: str, sections: list[dict[str, Any]]) -> str:
    out = [f"# {title}", ""]
    for s in sections:
        out += [f"## {s['title']}", ""]
        if s["status"] != "ok":
            out += [f"**Not built:** {s['reason']}", ""]
        for t in s["tables"]:
            out += [
                f"*{t.get('caption', '')}*",
                "",
                "| " + " | ".join(_md_cell(c) for c in t["columns"]) + " |",
                "|" + "---|" * len(t["columns"]),
            ]
            out += ["| " + " | ".join(_md_cell(v) for v in row) + " |" for row in t["rows"]]
            out.append("")
        for fig in s["figures"]:
            out += [f"![{fig['name']}](figures/{fig['name']})", "", f"**{fig['reading']}**", ""]
    return "\n".join(out)


def report_json(title: str, inp: ReportInputs, sections: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "title": title,
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
                "figures": [{"name": f["name"], "reading": f["reading"]} for f in s["figures"]],
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
    data = report_json(title, inp, sections)
    shards.write_json_atomic(str(out / "report.json"), data)
    shards.write_bytes_atomic(str(out / "report.md"), render_markdown(title, sections).encode())
    shards.write_bytes_atomic(str(out / "index.html"), render_html(title, sections).encode())
    return data
