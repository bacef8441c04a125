"""Per-stage accounting: every record that enters a stage leaves it as output or as a
counted drop with a reason (``records_in == records_out + sum(dropped)``)."""

from __future__ import annotations

import bisect
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from pipeline.io.stage_names import current_name

MAX_ERROR_SAMPLES = 50


@dataclass
class StageStats:
    """Counts for one stage. Mergeable, so Beam can combine per-file or per-worker stats."""

    records_in: int = 0
    records_out: int = 0
    dropped: Counter = field(default_factory=Counter)
    # Repairs that did not drop the record (e.g. created_utc given as a string).
    repaired: Counter = field(default_factory=Counter)
    # A few examples of errors, each naming the input and position, for the user to inspect:
    # the MAX_ERROR_SAMPLES smallest messages in sort order, so that every runner (whatever
    # its bundles and the order they finish in) keeps the same ones.
    error_samples: list[str] = field(default_factory=list)

    def drop(self, reason: str, count: int = 1) -> None:
        self.dropped[reason] += count

    def error(self, message: str) -> None:
        samples = self.error_samples
        if len(samples) >= MAX_ERROR_SAMPLES and message >= samples[-1]:
            return
        bisect.insort(samples, message)
        del samples[MAX_ERROR_SAMPLES:]

    def merge(self, other: StageStats) -> StageStats:
        self.records_in += other.records_in
        self.records_out += other.records_out
        self.dropped.update(other.dropped)
        self.repaired.update(other.repaired)
        self.error_samples = sorted(self.error_samples + other.error_samples)[:MAX_ERROR_SAMPLES]
        return self

    @property
    def total_dropped(self) -> int:
        return sum(self.dropped.values())

    def check_balance(self) -> None:
        """Raise if a record went missing: in must equal out plus every drop."""
        if self.records_in != self.records_out + self.total_dropped:
            raise AssertionError(
                f"stage accounting does not balance: in={self.records_in} "
                f"out={self.records_out} dropped={self.total_dropped} ({dict(self.dropped)})"
            )

    def to_dict(self) -> dict[str, Any]:
        return {
            "records_in": self.records_in,
            "records_out": self.records_out,
            "dropped_total": self.total_dropped,
            "dropped": dict(sorted(self.dropped.items())),
            "repaired": dict(sorted(self.repaired.items())),
            "error_samples": list(self.error_samples),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StageStats:
        return cls(
            records_in=int(data.get("records_in", 0)),
            records_out=int(data.get("records_out", 0)),
            dropped=Counter(data.get("dropped", {})),
            repaired=Counter(data.get("repaired", {})),
            error_samples=list(data.get("error_samples", [])),
        )

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False) + "\n"


def format_stats(stats: StageStats, title: str) -> str:
    """A short human-readable summary for the terminal."""
    lines = [f"{title}: {stats.records_in:,} in -> {stats.records_out:,} out"]
    for reason, count in sorted(stats.dropped.items(), key=lambda kv: (-kv[1], kv[0])):
        lines.append(f"  dropped {reason:<28} {count:>10,}")
    for reason, count in sorted(stats.repaired.items(), key=lambda kv: (-kv[1], kv[0])):
        lines.append(f"  repaired {reason:<27} {count:>10,}")
    return "\n".join(lines)


# What each stage (by the "stage" its _stats.json names) reads, to say why its output is empty.
INPUT_NOUN = {
    "links": "submissions",
    "pages": "links",
    "docs": "pages",
    "corpus": "documents",
    "dups": "documents",
    "tokens": "documents",
}
# Fetch failures are failures; every other stage's drops are filter decisions.
_DROP_VERB = {"pages": "failed"}


def why_empty(stats: dict[str, Any] | None, top: int = 3) -> str:
    """Why a finished stage wrote 0 records, from its _stats.json (None when unreadable):
    'all 181 links failed: dns_error 181' or 'its input held 0 records'."""
    if not isinstance(stats, dict):
        return "no readable _stats.json says why"
    parsed = StageStats.from_dict(stats)
    if parsed.records_in == 0:
        return "its input held 0 records"
    stage = current_name(str(stats.get("stage", "")))
    noun = INPUT_NOUN.get(stage, "records")
    verb = _DROP_VERB.get(stage, "dropped")
    reasons = sorted(parsed.dropped.items(), key=lambda kv: (-kv[1], kv[0]))
    reasons = [(r, n) for r, n in reasons if n > 0]
    shown = ", ".join(f"{r} {n:,}" for r, n in reasons[:top])
    if len(reasons) > top:
        shown += f", {len(reasons) - top} more reason(s)"
    every = "the" if parsed.records_in == 1 else "all"
    return f"{every} {parsed.records_in:,} {noun} {verb}" + (f": {shown}" if shown else "")


def empty_input_message(
    input_name: str, stats: dict[str, Any] | None, output_name: str, action: str | None = None
) -> str:
    """The one log line a stage writes when its input is a finished, empty stage:
    'pages/ holds 0 records (all 181 links failed: dns_error 181); writing an empty docs/'.
    ``action`` replaces 'writing an empty OUTPUT/' where the stage does something else."""
    action = action or f"writing an empty {output_name.rstrip('/')}/"
    return f"{input_name.rstrip('/')}/ holds 0 records ({why_empty(stats)}); {action}"


def one_line(stats: StageStats, title: str) -> str:
    """The log line a stage writes when it finishes (the table is the command's to print)."""
    parts = [f"{title}: {stats.records_in:,} in -> {stats.records_out:,} out"]
    if stats.total_dropped:
        parts.append(f"{stats.total_dropped:,} dropped")
    if stats.repaired:
        parts.append(f"{sum(stats.repaired.values()):,} repaired")
    return ", ".join(parts)
