"""The columnar URL index (cc-index-table Parquet) joined with links in one pass (DuckDB).

For millions of links one HTTP lookup per link is too slow and too rude; Common Crawl's
columnar index (``url_surtkey, url, warc_filename, warc_record_offset, warc_record_length,
fetch_time, fetch_status, content_mime_detected, crawl``; ``fetch_redirect`` where present)
is read once, joined on the SURT key, and the capture of each link chosen by the rule of
capture.select_capture, written in SQL (tests check both agree). Local paths, directories
(hive partitions ``crawl=.../subset=...``) and ``s3://`` (DuckDB's httpfs) are read alike.

In the fetch job (beam_jobs/fetch_job.py, ``ReadLinksWithCaptures``) each links/ shard is
joined once (:func:`join_positions`: SURT keys computed once per link, the answer streamed in
the shard's own row order) and the chosen capture rides with its link as a tuple
(:data:`CAPTURE_FIELDS`, :func:`capture_of`), so the cc source reads the record by Range with
no index request. A redirect hop's target is looked up in the same index by
:class:`ColumnarLookup` (one small per-worker DuckDB query per hop, its answer cached).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Iterator
from typing import Any

import pyarrow as pa

from pipeline.archive.capture import NEAR_CHOICES, Capture, CdxRow, seconds_timestamp
from pipeline.archive.keys import surt_key

LINK_SCHEMA = pa.schema(
    [("link_id", pa.string()), ("url_surtkey", pa.string()), ("target", pa.int64())]
)
_HTML = "('text/html', 'application/xhtml+xml', 'unk', '')"


def links_table(links: Iterable[tuple[str, str, int]]) -> pa.Table:
    """(link_id, url, target time) -> the join's left side, SURT keys computed here."""
    ids, keys, targets = [], [], []
    for link_id, url, target in links:
        ids.append(link_id)
        keys.append(surt_key(url))
        targets.append(int(target))
    return pa.table([ids, keys, targets], schema=LINK_SCHEMA)


def _index_source(index: str | list[str]) -> str:
    paths = [index] if isinstance(index, str) else list(index)
    out = []
    for p in paths:
        if ("://" not in p and os.path.isdir(p)) or (p.startswith("s3://") and p.endswith("/")):
            p = p.rstrip("/") + "/**/*.parquet"  # a directory, or an s3:// prefix ending in /
        out.append("'" + p.replace("'", "''") + "'")
    return f"read_parquet([{', '.join(out)}], hive_partitioning = true, union_by_name = true)"


def join_sql(
    index_sql: str, columns: set[str], *, near: str, window_s: int, crawls: tuple[str, ...]
) -> str:
    if near not in NEAR_CHOICES:
        raise ValueError(f"--capture-near {near!r} is not one of {', '.join(NEAR_CHOICES)}")
    redirect = "i.fetch_redirect" if "fetch_redirect" in columns else "NULL::VARCHAR"
    crawl_filter = ""
    if crawls:
        names = ", ".join("'" + c.replace("'", "''") + "'" for c in crawls)
        crawl_filter = f"AND i.crawl IN ({names})"
    t = "epoch(i.fetch_time)::BIGINT"
    if near == "post":
        window = f"{t} BETWEEN l.target AND l.target + {int(window_s)}"
        distance = f"{t} - l.target"
    else:
        window = f"abs({t} - l.target) <= {int(window_s)}"
        distance = f"abs({t} - l.target)"
    # arg_min over a struct: the best row per link without sorting every candidate (a window
    # function over all of them costs twice as much); the key is select_capture's order_key.
    return f"""
    WITH best AS (
      SELECT l.link_id, arg_min(
        {{'url': i.url, 'warc_filename': i.warc_filename,
          'warc_record_offset': i.warc_record_offset::BIGINT,
          'warc_record_length': i.warc_record_length::BIGINT, 'fetch_time': {t},
          'fetch_status': i.fetch_status::INTEGER, 'fetch_redirect': {redirect},
          'content_mime_detected': coalesce(i.content_mime_detected, ''), 'crawl': i.crawl}},
        ({distance}, {t}, i.url)) AS c
      FROM {index_sql} i JOIN links l ON i.url_surtkey = l.url_surtkey
      WHERE i.fetch_status IN (200, 301, 302, 303, 307, 308)  -- pushed into the scan
        AND ((i.fetch_status = 200
              AND (lower(coalesce(i.content_mime_detected, '')) IN {_HTML}
                   OR lower(i.content_mime_detected) LIKE '%html'))
             OR i.fetch_status IN (301, 302, 303, 307, 308))
        AND {window} {crawl_filter}
      GROUP BY l.link_id
    )
    SELECT link_id, c.url AS url, c.warc_filename AS warc_filename,
           c.warc_record_offset AS warc_record_offset,
           c.warc_record_length AS warc_record_length, c.fetch_time AS fetch_time,
           c.fetch_status AS fetch_status, c.fetch_redirect AS fetch_redirect,
           c.content_mime_detected AS content_mime_detected, c.crawl AS crawl
    FROM best ORDER BY link_id
    """


def _connect(index: str | list[str], threads: int, memory_limit: str) -> Any:
    import duckdb

    con = duckdb.connect()
    con.execute(f"SET threads = {int(threads)}")
    con.execute(f"SET memory_limit = '{memory_limit}'")
    if any(p.startswith("s3://") for p in ([index] if isinstance(index, str) else index)):
        con.execute("INSTALL httpfs; LOAD httpfs")
    return con


def index_columns(con: Any, index: str | list[str]) -> tuple[str, set[str]]:
    """The index's ``read_parquet`` expression and its columns; ValueError (one line, naming
    ``--cc-index``) for files that cannot be read or are not a cc-index table."""
    import duckdb

    source = _index_source(index)
    try:
        columns = {r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()}
    except duckdb.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"--cc-index {index}: cannot read the columnar index: {first}") from None
    missing = {"url_surtkey", "url", "warc_filename", "warc_record_offset"} - columns
    if missing:
        raise ValueError(f"--cc-index {index}: not a cc-index table, lacks {sorted(missing)}")
    return source, columns


def check_index(index: str | list[str]) -> None:
    """Refuse, before any work, an index that is missing or not a cc-index table."""
    if isinstance(index, str) and "://" not in index and not os.path.exists(index):
        raise ValueError(f"--cc-index {index}: no such file or directory")
    con = _connect(index, 1, "1GB")
    try:
        index_columns(con, index)
    finally:
        con.close()


def join_index(
    links: pa.Table,
    index: str | list[str],
    *,
    near: str = "scrape",
    window_s: int = 2 * 365 * 86400,
    crawls: tuple[str, ...] = (),
    threads: int = 1,
    memory_limit: str = "4GB",
) -> pa.Table:
    """One row per link that has a usable capture: its WARC location, time, status."""
    con = _connect(index, threads, memory_limit)
    try:
        con.register("links", links)
        source, columns = index_columns(con, index)
        sql = join_sql(source, columns, near=near, window_s=window_s, crawls=crawls)
        return con.sql(sql).to_arrow_table()
    finally:
        con.close()


POSITION_SCHEMA = pa.schema(
    [("link_id", pa.int64()), ("url_surtkey", pa.string()), ("target", pa.int64())]
)


def position_table(links: Iterable[tuple[str, int]]) -> pa.Table:
    """(url, target time) in shard order -> the join's left side keyed by row position; each
    link's SURT key computed here, once (a malformed URL gets a key that matches nothing)."""
    keys, targets = [], []
    for url, target in links:
        try:
            keys.append(surt_key(url))
        except (ValueError, TypeError, IndexError):
            keys.append("")
        targets.append(int(target))
    return pa.table([pa.array(range(len(keys)), pa.int64()), keys, targets], schema=POSITION_SCHEMA)


# The chosen capture as it rides with its link through the fetch job (a plain tuple: Beam's
# fast coder, no pickling), in this order.
CAPTURE_FIELDS = (
    "url",
    "fetch_time",
    "fetch_status",
    "fetch_redirect",
    "content_mime_detected",
    "warc_filename",
    "warc_record_offset",
    "warc_record_length",
    "crawl",
)


def join_positions(
    positions: pa.Table,
    index: str | list[str],
    *,
    near: str = "scrape",
    window_s: int = 2 * 365 * 86400,
    crawls: tuple[str, ...] = (),
    threads: int = 1,
    memory_limit: str = "2GB",
    batch_rows: int = 8192,
) -> Iterator[tuple[int, tuple[Any, ...]]]:
    """(row position, capture tuple) of every link of ``positions`` (:func:`position_table`)
    with a usable capture, in position order, streamed from DuckDB batch by batch (its own
    memory stays under ``memory_limit``, spilling beyond)."""
    con = _connect(index, threads, memory_limit)
    try:
        con.register("links", positions)
        source, columns = index_columns(con, index)
        sql = join_sql(source, columns, near=near, window_s=window_s, crawls=crawls)
        reader = con.sql(sql).to_arrow_reader(batch_rows)
        for batch in reader:
            cols = [batch.column(name).to_pylist() for name in ("link_id", *CAPTURE_FIELDS)]
            yield from ((row[0], tuple(row[1:])) for row in zip(*cols, strict=True))
    finally:
        con.close()


def attach(
    rows: Iterable[dict[str, Any]], joined: Iterable[tuple[int, tuple[Any, ...]]], field: str
) -> Iterator[dict[str, Any]]:
    """Rows in shard order, each with ``row[field]`` = its capture tuple or None: a merge of
    two streams in the same order, so neither is held whole."""
    it = iter(joined)
    pending = next(it, None)
    for position, row in enumerate(rows):
        while pending is not None and pending[0] < position:
            pending = next(it, None)
        if pending is not None and pending[0] == position:
            yield {**row, field: pending[1]}
        else:
            yield {**row, field: None}


def capture_of(fields: tuple[Any, ...] | list[Any]) -> Capture:
    """A carried capture tuple (:data:`CAPTURE_FIELDS`) -> the Capture the cc source reads."""
    return _capture_from_row(dict(zip(CAPTURE_FIELDS, fields, strict=True)))


def _capture_from_row(r: dict[str, Any]) -> Capture:
    """One index row (cc-index-table column names) -> the Capture the cc source reads."""
    row = CdxRow(
        url=r["url"],
        timestamp=seconds_timestamp(r["fetch_time"]),
        status=r["fetch_status"],
        mime=r["content_mime_detected"] or "",
        redirect=r["fetch_redirect"] or "",
        filename=r["warc_filename"],
        offset=r["warc_record_offset"],
        length=r["warc_record_length"],
        crawl=r["crawl"] or "",
    )
    return Capture(row, r["fetch_time"])


class ColumnarLookup:
    """Index rows of one URL, for a redirect hop in columnar mode: one DuckDB query of the
    same index (``url_surtkey = ?``; Parquet min/max statistics skip row groups of other
    keys, and Common Crawl's files are sorted by that key). One connection per worker,
    opened on first use, one query at a time."""

    def __init__(self, index: str | list[str], crawls: tuple[str, ...] = ()) -> None:
        self.index = index
        self.crawls = tuple(crawls)
        self._con: Any = None
        self._sql = ""
        self._lock = threading.Lock()
        self.queries = 0

    def _open(self) -> None:
        con = _connect(self.index, 1, "1GB")
        source, columns = index_columns(con, self.index)
        redirect = "fetch_redirect" if "fetch_redirect" in columns else "NULL::VARCHAR"
        crawl = "crawl" if "crawl" in columns else "''"
        crawl_filter = ""
        if self.crawls and "crawl" in columns:
            names = ", ".join("'" + c.replace("'", "''") + "'" for c in self.crawls)
            crawl_filter = f"AND crawl IN ({names})"
        self._sql = f"""
        SELECT url, epoch(fetch_time)::BIGINT, fetch_status::INTEGER,
               coalesce(content_mime_detected, ''), {redirect}, warc_filename,
               warc_record_offset::BIGINT, warc_record_length::BIGINT, {crawl}
        FROM {source}
        WHERE url_surtkey = ? AND epoch(fetch_time)::BIGINT BETWEEN ? AND ? {crawl_filter}
        """
        self._con = con

    def rows(self, url: str, start: int, end: int) -> list[CdxRow]:
        with self._lock:
            if self._con is None:
                self._open()
            self.queries += 1
            found = self._con.execute(self._sql, [surt_key(url), start, end]).fetchall()
        return [
            CdxRow(
                url=u,
                timestamp=seconds_timestamp(t),
                status=int(status or 0),
                mime=mime or "",
                redirect=redirect or "",
                filename=filename or "",
                offset=int(offset),
                length=int(length),
                crawl=crawl or "",
            )
            for u, t, status, mime, redirect, filename, offset, length, crawl in found
        ]

    def close(self) -> None:
        with self._lock:
            if self._con is not None:
                self._con.close()
                self._con = None


def captures(table: pa.Table) -> dict[str, Capture]:
    """The join's rows as Captures by link_id (what CommonCrawlSource.fetch reads)."""
    out = {}
    for r in table.to_pylist():
        out[r["link_id"]] = _capture_from_row(r)
    return out
