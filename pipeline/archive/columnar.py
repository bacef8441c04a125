"""The columnar URL index (cc-index-table Parquet) joined with links in one pass (DuckDB).

For millions of links one HTTP lookup per link is too slow and too rude; Common Crawl's
columnar index (``url_surtkey, url, warc_filename, warc_record_offset, warc_record_length,
fetch_time, fetch_status, content_mime_detected, crawl``; ``fetch_redirect`` where present)
is read once, joined on the SURT key, and the capture of each link chosen by the rule of
capture.select_capture, written in SQL (tests check both agree). Local paths, directories
(hive partitions ``crawl=.../subset=...``) and ``s3://`` (DuckDB's httpfs) are read alike.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

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
        if "://" not in p and os.path.isdir(p):
            p = os.path.join(p, "**", "*.parquet")
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
    import duckdb

    con = duckdb.connect()
    try:
        con.execute(f"SET threads = {int(threads)}")
        con.execute(f"SET memory_limit = '{memory_limit}'")
        if any(p.startswith("s3://") for p in ([index] if isinstance(index, str) else index)):
            con.execute("INSTALL httpfs; LOAD httpfs")
        con.register("links", links)
        source = _index_source(index)
        columns = {r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()}
        missing = {"url_surtkey", "url", "warc_filename", "warc_record_offset"} - columns
        if missing:
            raise ValueError(f"--cc-index {index}: not a cc-index table, lacks {sorted(missing)}")
        sql = join_sql(source, columns, near=near, window_s=window_s, crawls=crawls)
        return con.sql(sql).to_arrow_table()
    finally:
        con.close()


def captures(table: pa.Table) -> dict[str, Capture]:
    """The join's rows as Captures by link_id (what CommonCrawlSource.fetch reads)."""
    out = {}
    for r in table.to_pylist():
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
        out[r["link_id"]] = Capture(row, r["fetch_time"])
    return out
