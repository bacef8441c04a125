"""Rendering a corpus funnel (pipeline/funnel.py): an aligned text table for the terminal,
Markdown for a report, JSON for scripts. All three show the same numbers; only the text and
Markdown views shorten the list of drop reasons (to ``top`` of them) unless asked for all."""

from __future__ import annotations

import json
from typing import Any

from pipeline.funnel import MAIN_LINE, EndToEnd, Funnel, StageFigures, StageReport

DEFAULT_TOP = 3
_NONE = "-"


def format_count(n: int) -> str:
    """A count with thousands separators: 1234567 -> '1,234,567'."""
    return f"{n:,}"


def format_pct(part: int, whole: int) -> str:
    """``part`` as a percentage of ``whole`` with one decimal, never rounding a non-zero share
    to 0.0% or a partial one to 100.0% ('<0.1%', '>99.9%'); '-' when ``whole`` is 0."""
    if whole <= 0:
        return _NONE
    if part == 0:
        return "0.0%"
    if part == whole:
        return "100.0%"
    text = f"{100.0 * part / whole:.1f}"
    if text == "0.0":
        return "<0.1%"
    if text == "100.0":
        return ">99.9%" if part < whole else ">100.0%"
    return text + "%"


def sorted_reasons(counts: dict[str, int]) -> list[tuple[str, int]]:
    """Largest first; ties by name, so the order is stable."""
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


def _fraction(part: int, whole: int) -> float | None:
    return round(part / whole, 6) if whole > 0 else None


def _format_number(value: float) -> str:
    if isinstance(value, int):
        return format_count(value)
    return f"{value:,.4g}"


# Stage figures shown under their own title (fetch's archive sources, _stats.json groups).
_TITLES = {
    "pages_by_source": "pages per source",
    "attempts": "attempts (source:outcome)",
}


def _capture_age_lines(values: dict[str, float]) -> list[str]:
    """The capture-age histogram of an archive-backed fetch, buckets in time order, a bar
    each (share of the archived pages)."""
    from pipeline.archive.capture import CAPTURE_AGE_BUCKETS

    order = [label for label, _ in CAPTURE_AGE_BUCKETS]
    total = sum(values.values()) or 1
    lines = ["capture age (capture time minus post time), archived pages:"]
    for label in order + sorted(set(values) - set(order)):
        n = values.get(label, 0)
        if n:
            bar = "#" * max(1, round(30 * n / total))
            lines.append(f"  {label:<15} {_format_number(n):>9}  {bar}")
    return lines


def _extras_lines(figures: StageFigures) -> list[str]:
    lines = []
    for group, values in figures.extras.items():
        if group == "capture_age":
            lines.extend(_capture_age_lines(values))
            continue
        items = ", ".join(f"{k} {_format_number(v)}" for k, v in values.items())
        title = _TITLES.get(group, group)
        lines.append(f"{title}: {items}" if group else items)
    return lines


def _repaired_line(figures: StageFigures) -> str | None:
    if not figures.repaired:
        return None
    items = ", ".join(f"{r} {format_count(n)}" for r, n in sorted_reasons(figures.repaired))
    return f"repaired (kept): {items}"


def _stage_label(stage: StageReport) -> str:
    label = stage.name if stage.name == stage.stage else f"{stage.stage} ({stage.name})"
    return label if stage.stage in MAIN_LINE else label + " *"


def _top_reasons(figures: StageFigures, top: int | None) -> tuple[list, list]:
    """(shown, rest): every reason when ``top`` is None, else the ``top`` largest non-zero."""
    reasons = sorted_reasons(figures.dropped)
    if top is None:
        return reasons, []
    nonzero = [(r, n) for r, n in reasons if n > 0]
    return nonzero[:top], nonzero[top:]


SIDE_LEGEND = "* side output, analysis or model stage: not on the links -> tokens line"


def _loss(value: float | None) -> str:
    return _NONE if value is None else f"{value:.3f}"


def side_output_line(figures: StageFigures) -> str:
    """A side output's rows, by reason where _stats.json counts them (dups/: 'removed 3
    documents: exact 1, near 2'); its records in/out say nothing and are not shown."""
    n = figures.records_out
    reasons = figures.extras.get("removed", {})
    by_reason = ", ".join(f"{r} {_format_number(v)}" for r, v in reasons.items())
    noun = "document" if n == 1 else "documents"
    return f"removed {format_count(n)} {noun}" + (f": {by_reason}" if by_reason else "")


def details_lines(stage: StageReport) -> list[str]:
    """What a train run, eval or report did (StageReport.details), one line each."""
    d = stage.details
    if not d:
        return []
    if stage.stage == "train":
        asked = _NONE if d["steps_asked"] is None else format_count(d["steps_asked"])
        return [
            f"steps {format_count(d['steps_done'])}/{asked}, tokens seen "
            f"{format_count(d['tokens_seen'])}, final loss: train {_loss(d['train_loss'])}, "
            f"val {_loss(d['val_loss'])}"
        ]
    if stage.stage == "eval":
        sets = [
            f"{s['test_set']} ({_format_number(s['examples']) if s['examples'] is not None else '?'}"
            f" examples, loss/token {_loss(s['loss_per_token'])})"
            for s in d["sets"]
        ]
        step = d["checkpoint_step"]
        at = f" at step {_format_number(step)}" if step is not None else ""
        return [f"{len(sets)} set(s) evaluated{at}: " + ", ".join(sets)]
    if stage.stage == "report":
        lines = [
            f"built: {d['sections_built']} section(s) -> {stage.path.rstrip('/')}/{d['index']}"
        ]
        lines += [f"not built: {sid}: {why}" for sid, why in d["not_built"].items()]
        return lines
    return []


def _cells(stage: StageReport) -> list[str]:
    f = stage.figures
    if f is None or stage.side_output:
        return [_stage_label(stage), stage.relpath, stage.state] + [_NONE] * 5
    return [
        _stage_label(stage),
        stage.relpath,
        stage.state,
        format_count(f.records_in),
        format_count(f.records_out),
        format_pct(f.records_out, f.records_in),
        format_count(f.dropped_total),
        format_pct(f.dropped_total, f.records_in),
    ]


_HEADER = ["STAGE", "DIRECTORY", "STATE", "IN", "OUT", "KEPT", "DROPPED", "DROPPED%"]
_LEFT = 3  # the first three columns are text, left-aligned; the rest numbers, right-aligned


def end_to_end_text(e2e: EndToEnd) -> str:
    kept = format_pct(e2e.records_out, e2e.records_in)
    return (
        f"end to end: {e2e.from_stage} in {format_count(e2e.records_in)} -> "
        f"{e2e.to_stage} out {format_count(e2e.records_out)} ({kept} kept)"
    )


def _all_notes(funnel: Funnel) -> list[tuple[str, str, str]]:
    """(where, severity, message) for the funnel's and every stage's notes."""
    out = [
        (_stage_label(s) + f" [{s.relpath}]", n.severity, n.message)
        for s in funnel.stages
        for n in s.notes
    ]
    out += [("funnel", n.severity, n.message) for n in funnel.notes]
    return out


def render_text(funnels: list[Funnel], *, top: int | None = DEFAULT_TOP) -> str:
    """Aligned columns; under each stage its top drop reasons, repairs and stage figures."""
    blocks = [_render_text_one(f, top) for f in funnels]
    return "\n\n".join(blocks) + "\n"


def _render_text_one(funnel: Funnel, top: int | None) -> str:
    rows: list[tuple[str, Any]] = []  # ("stage", cells) | ("reason", (label, n, pct)) | ("line", s)
    for stage in funnel.stages:
        rows.append(("stage", _cells(stage)))
        rows.extend(("line", "  " + line) for line in details_lines(stage))
        f = stage.figures
        if f is None:
            continue
        if stage.side_output:
            rows.append(("line", "  " + side_output_line(f)))
            continue
        shown, rest = _top_reasons(f, top)
        for reason, n in shown:
            rows.append(("reason", (f"  {reason}", format_count(n), format_pct(n, f.records_in))))
        if rest:
            n_rest = sum(n for _, n in rest)
            rows.append(
                (
                    "reason",
                    (
                        f"  ({len(rest)} more reasons; --all lists them)",
                        format_count(n_rest),
                        format_pct(n_rest, f.records_in),
                    ),
                )
            )
        repaired = _repaired_line(f)
        if repaired:
            rows.append(("line", "  " + repaired))
        rows.extend(("line", "  " + line) for line in _extras_lines(f))
        if top is None and f.error_samples:
            rows.append(("line", f"  error samples ({len(f.error_samples)}):"))
            rows.extend(("line", "    " + _clip(s, 120)) for s in f.error_samples)
    stage_cells = [_HEADER] + [c for kind, c in rows if kind == "stage"]
    widths = [max(len(c[i]) for c in stage_cells) for i in range(len(_HEADER))]
    # A reason label spans every column before DROPPED; widen DIRECTORY if one is longer.
    span = sum(widths[:6]) + 2 * 5
    longest = max((len(c[0]) for kind, c in rows if kind == "reason"), default=0)
    if longest > span:
        widths[1] += longest - span
        span = longest

    def line(cells: list[str]) -> str:
        parts = [
            c.ljust(w) if i < _LEFT else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    out = [f"webtext stats: {funnel.root}", "", line(_HEADER)]
    for kind, content in rows:
        if kind == "stage":
            out.append(line(content))
        elif kind == "reason":
            label, n, pct = content
            out.append(
                f"{label.ljust(span)}  {n.rjust(widths[6])}  {pct.rjust(widths[7])}".rstrip()
            )
        else:
            out.append(content)
    if any(s.stage not in MAIN_LINE for s in funnel.stages):
        out += ["", SIDE_LEGEND]
    out.append("")
    out.append(
        end_to_end_text(funnel.end_to_end)
        if funnel.end_to_end
        else "end to end: fewer than two main-line stages with stats"
    )
    notes = _all_notes(funnel)
    if notes:
        out.append("")
        out.append("notes:")
        out.extend(f"  {sev}: {where}: {msg}" for where, sev, msg in notes)
    return "\n".join(out)


def _clip(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 3] + "..."


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")


def render_markdown(funnels: list[Funnel], *, top: int | None = DEFAULT_TOP) -> str:
    """One table per funnel (drop reasons in the last column), then repairs, stage figures,
    the end-to-end line and the notes as lists."""
    blocks = []
    for funnel in funnels:
        lines = [
            f"### Funnel: `{funnel.root}`",
            "",
            "| Stage | Directory | State | In | Out | Kept | Dropped | Dropped % | Drop reasons |",
            "|---|---|---|--:|--:|--:|--:|--:|---|",
        ]
        details: list[str] = []
        for stage in funnel.stages:
            cells = _cells(stage)
            cells[1] = f"`{cells[1]}`" if stage.path else cells[1]
            reasons_cell = ""
            f = stage.figures
            details.extend(f"- {_stage_label(stage)}: {x}" for x in details_lines(stage))
            if f is not None and stage.side_output:
                reasons_cell = side_output_line(f)
            elif f is not None:
                shown, rest = _top_reasons(f, top)
                parts = [f"{r} {format_count(n)} ({format_pct(n, f.records_in)})" for r, n in shown]
                if rest:
                    parts.append(f"+{len(rest)} more")
                reasons_cell = "; ".join(parts)
                extra = [x for x in [_repaired_line(f), *_extras_lines(f)] if x]
                details.extend(f"- {_stage_label(stage)}: {x}" for x in extra)
            lines.append("| " + " | ".join(_md_escape(c) for c in [*cells, reasons_cell]) + " |")
        if any(s.stage not in MAIN_LINE for s in funnel.stages):
            lines += ["", SIDE_LEGEND.replace("*", "\\*", 1)]
        if details:
            lines += ["", *details]
        lines.append("")
        lines.append(
            "**" + _upper_first(end_to_end_text(funnel.end_to_end)) + "**"
            if funnel.end_to_end
            else "**End to end:** fewer than two main-line stages with stats"
        )
        notes = _all_notes(funnel)
        if notes:
            lines += ["", "Notes:", ""]
            lines += [f"- **{sev}** {where}: {_md_escape(msg)}" for where, sev, msg in notes]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def funnel_to_dict(funnel: Funnel) -> dict[str, Any]:
    """Everything, every drop reason included, as plain JSON-able data."""
    stages = []
    for s in funnel.stages:
        item: dict[str, Any] = {
            "stage": s.stage,
            "name": s.name,
            "directory": s.relpath,
            "path": s.path or None,
            "state": s.state,
            "temp_files": s.temp_files,
            "side_output": s.side_output,
            "details": s.details,
            "figures": None,
            "notes": [{"severity": n.severity, "message": n.message} for n in s.notes],
        }
        f = s.figures
        if f is not None:
            item["figures"] = {
                "records_in": f.records_in,
                "records_out": f.records_out,
                "kept_fraction": _fraction(f.records_out, f.records_in),
                "dropped_total": f.dropped_total,
                "dropped_fraction": _fraction(f.dropped_total, f.records_in),
                "balanced": f.unaccounted == 0,
                "unaccounted": f.unaccounted,
                "dropped": [
                    {"reason": r, "count": n, "fraction": _fraction(n, f.records_in)}
                    for r, n in sorted_reasons(f.dropped)
                ],
                "repaired": dict(sorted_reasons(f.repaired)),
                "extras": f.extras,
                "shard_files": f.shard_files,
                "error_samples": f.error_samples,
            }
        stages.append(item)
    e2e = funnel.end_to_end
    return {
        "root": funnel.root,
        "stages": stages,
        "end_to_end": None
        if e2e is None
        else {
            "from_stage": e2e.from_stage,
            "records_in": e2e.records_in,
            "to_stage": e2e.to_stage,
            "records_out": e2e.records_out,
            "kept_fraction": None if e2e.kept_fraction is None else round(e2e.kept_fraction, 6),
        },
        "notes": [{"severity": n.severity, "message": n.message} for n in funnel.notes],
    }


def render_json(funnels: list[Funnel]) -> str:
    return json.dumps({"funnels": [funnel_to_dict(f) for f in funnels]}, indent=2) + "\n"


def _upper_first(text: str) -> str:
    return text[:1].upper() + text[1:]
