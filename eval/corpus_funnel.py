"""The corpus card's funnel: links -> pages -> docs -> corpus, read from each stage's _stats.json.

A reader for the report (``webtext stats``, in pipeline/funnel.py, is the full account of a run
tree and sits a layer above ``eval``). :func:`find_stages` finds the stage directories beside the
corpus; :func:`funnel_rows` turns their stats into one row a stage (pure); the accounting rule
of every stage (in = out + dropped) holds by construction of _stats.json, and a hand-off that
does not match (pages read another count than links wrote) is said in a note.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pipeline.io import shards
from pipeline.io.stage_names import current_name
from pipeline.io.stats import StageStats

# The main line up to the corpus, each stage with the noun of what it reads and writes.
FUNNEL = (
    ("links", "submissions", "links"),
    ("pages", "links", "pages"),
    ("docs", "pages", "documents"),
    ("corpus", "documents", "corpus documents"),
)
STAGES = (*(s for s, _, _ in FUNNEL), "tokens")


def read_stats(directory: Path) -> dict[str, Any] | None:
    """A stage directory's decoded _stats.json (or older stats.json); None when absent or not
    a JSON object."""
    try:
        data = json.loads(shards.read_text(shards.stats_path(str(directory))))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def find_stages(root: Path) -> dict[str, Path]:
    """The finished stage directories in ``root`` (one level down), by the stage their
    _stats.json records (old names mapped); a directory named after the stage wins a tie."""
    found: dict[str, Path] = {}
    if not root.is_dir():
        return found
    for path in sorted(root.iterdir(), key=lambda p: (p.name not in STAGES, p.name)):
        if not path.is_dir() or path.name.startswith(("_", ".")):
            continue
        data = read_stats(path)
        if data is None or not (path / shards.SUCCESS_MARKER).exists():
            continue
        stage = current_name(str(data.get("stage", path.name)))
        if stage in STAGES and stage not in found:
            found[stage] = path
    return found


def top_reasons(dropped: dict[str, int], top: int = 3) -> str:
    """'score_below_min 6, malformed_json 3, merged_same_url 3 and 8 more', biggest first."""
    items = sorted(((r, n) for r, n in dropped.items() if n > 0), key=lambda kv: (-kv[1], kv[0]))
    if not items:
        return "none"
    out = ", ".join(f"{r} {n:,}" for r, n in items[:top])
    return out + (f" and {len(items) - top} more" if len(items) > top else "")


def funnel_rows(stats: dict[str, dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
    """(one row a stage present, in pipeline order; notes on stages missing or not matching the
    stage before them). A row: stage, reads, writes, in, out, kept (out / in or None), dropped
    (by reason)."""
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    for stage, reads, writes in FUNNEL:
        if stage not in stats:
            continue
        st = StageStats.from_dict(stats[stage])
        if rows and rows[-1]["out"] != st.records_in:
            notes.append(
                f"{rows[-1]['stage']} wrote {rows[-1]['out']:,} records but {stage} read "
                f"{st.records_in:,}: {stage} was built from another {rows[-1]['stage']} run."
            )
        rows.append(
            {
                "stage": stage,
                "reads": reads,
                "writes": writes,
                "in": st.records_in,
                "out": st.records_out,
                "kept": st.records_out / st.records_in if st.records_in else None,
                "dropped": dict(sorted(st.dropped.items())),
            }
        )
    missing = [s for s, _, _ in FUNNEL if s not in stats]
    if missing:
        notes.append(
            f"No finished {', '.join(m + '/' for m in missing)} beside the corpus, so the "
            "funnel starts later or has gaps (give the folder holding them with --stages DIR)."
        )
    return rows, notes
