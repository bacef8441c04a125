"""The corpus card's column summaries, streamed shard by shard into bounded counters.

Each scan reads only the columns it needs, batch by batch, and keeps counters whose size is
bounded by the number of distinct values (splits, hosts, karma scores, months, days), never by
the number of documents. The binning and quantiles over those counters are pure functions.

``pages/`` archive columns (``source``, ``capture_time``: written by an archive-backed fetch)
are read only where they exist: :func:`scan_archive` returns None for a ``pages/`` without
``capture_time`` and with no source but ``live``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.io import schemas, shards

DAY = 86_400


def _months(seconds: np.ndarray) -> Counter:
    """'YYYY-MM' -> count of the (UTC) epoch seconds given."""
    months = seconds.astype("datetime64[s]").astype("datetime64[M]")
    values, counts = np.unique(months, return_counts=True)
    return Counter({str(v): int(c) for v, c in zip(values, counts, strict=True)})


def _dated(counter: Counter, seconds: np.ndarray) -> None:
    """Count the post times that are set (0 is how a document with no Reddit post is written)."""
    counter["dated"] += int(np.count_nonzero(seconds))


def has_reddit_metadata(scan: dict[str, Counter]) -> bool:
    """Whether a scan's records came from Reddit links: some karma score or post time is set.
    Documents from other sources (the study's books and gold texts) have karma 0 and post time 0
    on every record."""
    return any(score != 0 for score in scan["karma"]) or scan["dated"]["dated"] > 0


def _values(counter: Counter, column: pa.Array) -> None:
    values, counts = np.unique(column.to_numpy(zero_copy_only=False), return_counts=True)
    counter.update({v.item() if hasattr(v, "item") else v: int(c) for v, c in zip(values, counts, strict=True)})  # fmt: skip


def scan_corpus(corpus_dir: Path) -> dict[str, Counter]:
    """Documents and characters per split, documents per host, per karma score and per month of
    the post, of a finished corpus/ (or docs/) directory."""
    out = {k: Counter() for k in ("documents", "chars", "hosts", "karma", "months", "dated")}
    for batch in shards.iter_batches(
        str(corpus_dir),
        schemas.CORPUS,
        columns=["split", "n_chars", "domain", "max_score", "first_seen_utc"],
    ):
        split = batch.column("split").to_numpy(zero_copy_only=False)
        chars = batch.column("n_chars").to_numpy()
        for s in np.unique(split):
            out["documents"][str(s)] += int((split == s).sum())
            out["chars"][str(s)] += int(chars[split == s].sum())
        _values(out["hosts"], batch.column("domain"))
        _values(out["karma"], batch.column("max_score"))
        seconds = batch.column("first_seen_utc").to_numpy()
        out["months"].update(_months(seconds))
        _dated(out["dated"], seconds)
    return out


def scan_links(links_dir: Path) -> dict[str, Counter]:
    """Links per karma score (the best post's) and per month of the first post, of links/."""
    out = {"karma": Counter(), "months": Counter(), "dated": Counter()}
    for batch in shards.iter_batches(
        str(links_dir), schemas.LINKS, columns=["max_score", "first_seen_utc"]
    ):
        _values(out["karma"], batch.column("max_score"))
        seconds = batch.column("first_seen_utc").to_numpy()
        out["months"].update(_months(seconds))
        _dated(out["dated"], seconds)
    return out


def shard_columns(directory: Path) -> set[str]:
    """The column names of a finished stage directory's shards (none for an empty stage)."""
    for path in shards.verified_shards(str(directory)):
        fs, p = shards.resolve(path)
        with fs.open_input_file(p) as f:
            return set(pq.read_schema(f).names)
    return set()


def _seconds(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Epoch seconds (float, NaN where null) of an integer-seconds or timestamp column."""
    if pa.types.is_timestamp(column.type):
        column = column.cast(pa.timestamp("s")).cast(pa.int64())
    elif not pa.types.is_integer(column.type):
        raise ValueError(
            f"capture_time has type {column.type}, expected epoch seconds or timestamp"
        )
    return column.cast(pa.float64()).fill_null(np.nan).to_numpy()


def scan_archive(pages_dir: Path) -> dict[str, Any] | None:
    """Pages per source and capture age in days (capture time minus the first post's time) of
    a pages/ written by an archive-backed fetch; None when pages/ has no ``capture_time`` and
    no source but ``live`` (a live fetch: nothing archive-specific to show)."""
    columns = shard_columns(pages_dir)
    has_time = "capture_time" in columns
    if "source" not in columns and not has_time:
        return None
    wanted = ["source"] * ("source" in columns) + (["capture_time", "first_seen_utc"] * has_time)
    sources: Counter = Counter()
    age_days: Counter = Counter()
    no_capture = 0
    for batch in shards.iter_batches(str(pages_dir), schemas.PAGES, columns=wanted):
        if "source" in columns:
            _values(sources, batch.column("source"))
        if has_time:
            captured = _seconds(batch.column("capture_time"))
            posted = batch.column("first_seen_utc").to_numpy().astype(np.float64)
            known = ~np.isnan(captured)
            no_capture += int((~known).sum())
            days = np.floor((captured[known] - posted[known]) / DAY).astype(np.int64)
            _values(age_days, pa.array(days))
    if not has_time and set(sources) <= {"live"}:
        return None
    return {
        "sources": sources,
        "age_days": age_days if has_time else None,
        "no_capture": no_capture,
    }


# -- binning and quantiles (pure) -----------------------------------------------------------------
KARMA_EDGES = (3, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)


def karma_bin_labels() -> list[str]:
    """'< 3', '3-4', '5-9', ..., '10,000+': the bins of :func:`karma_bins`."""
    inner = [f"{lo:,}-{hi - 1:,}" for lo, hi in zip(KARMA_EDGES, KARMA_EDGES[1:], strict=False)]
    return [f"< {KARMA_EDGES[0]}", *inner, f"{KARMA_EDGES[-1]:,}+"]


def karma_bins(counter: Counter) -> list[int]:
    """Counts (of karma score -> count) in the bins of :func:`karma_bin_labels`."""
    out = [0] * (len(KARMA_EDGES) + 1)
    for score, n in counter.items():
        out[int(np.searchsorted(KARMA_EDGES, score, side="right"))] += n
    return out


AGE_BINS = (
    ("before the post", None, -1),
    ("same day", 0, 0),
    ("1 day-1 month", 1, 30),
    ("1-6 months", 31, 182),
    ("6-12 months", 183, 365),
    ("1-2 years", 366, 730),
    ("2-5 years", 731, 1826),
    ("5-10 years", 1827, 3652),
    ("10+ years", 3653, None),
)


def age_bins(age_days: Counter) -> list[int]:
    """Counts in the bins of :data:`AGE_BINS` (capture age in whole days)."""
    out = [0] * len(AGE_BINS)
    for days, n in age_days.items():
        for i, (_, lo, hi) in enumerate(AGE_BINS):
            if (lo is None or days >= lo) and (hi is None or days <= hi):
                out[i] += n
                break
    return out


def time_bins(months: Sequence[Counter]) -> tuple[list[str], list[list[int]]]:
    """(labels, counts per series) over every month from the first to the last in any series,
    by month up to three years, by year beyond (empty months and years kept: gaps show)."""
    keys = sorted(set().union(*(set(m) for m in months)))
    if not keys:
        return [], [[] for _ in months]
    first, last = np.datetime64(keys[0], "M"), np.datetime64(keys[-1], "M")
    span = int((last - first).astype(int)) + 1
    if span <= 36:
        labels = [str(first + i) for i in range(span)]
        return labels, [[m.get(x, 0) for x in labels] for m in months]
    years = [str(y) for y in range(int(keys[0][:4]), int(keys[-1][:4]) + 1)]
    return years, [[sum(n for k, n in m.items() if k[:4] == y) for y in years] for m in months]


def quantile(counter: Counter, q: float) -> Any:
    """The smallest value at or below which a share ``q`` of the counted items lie (nearest
    rank); None for an empty counter."""
    total = sum(counter.values())
    if not total:
        return None
    need, seen = q * total, 0
    for value in sorted(counter):
        seen += counter[value]
        if seen >= need:
            return value
    return max(counter)
