"""Common Crawl: captures found in its URL index, records read by HTTP Range from its WARC
files (``--cc-data-url``, default the public data host), each checked against its digest.

The index is either a CDX server (``--cc-index URL``: ``/CC-MAIN-2017-51-index?url=...``,
one query per crawl of ``--cc-crawls``) or, for millions of links, the columnar index joined
with links/ in one pass (pipeline/archive/columnar.py), which yields the same
:class:`Capture`s; :meth:`CommonCrawlSource.fetch` reads either. In columnar mode
(:class:`ColumnarCommonCrawlSource`) a link's first capture comes with the link and a redirect
hop's target is looked up in the same Parquet index (columnar.ColumnarLookup), never a server.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlencode

from pipeline.archive.cache import IndexCache
from pipeline.archive.capture import (
    ARCHIVE_BAD_INDEX,
    ARCHIVE_CORRUPT,
    ARCHIVE_UNAVAILABLE,
    NO_CAPTURE,
    Capture,
    CdxRow,
    seconds_timestamp,
)
from pipeline.archive.cdx import CdxFormatError, parse_cdx_json, rows_from_json, rows_to_json
from pipeline.archive.columnar import ColumnarLookup
from pipeline.archive.http import ArchiveError, ArchiveHttp
from pipeline.archive.politeness import Politeness
from pipeline.archive.record import parse_record
from pipeline.archive.sources import ArchivedResponse

CC_INDEX_SERVER = "https://index.commoncrawl.org"
CC_DATA_URL = "https://data.commoncrawl.org"
DEFAULT_CRAWLS = ("CC-MAIN-2017-47", "CC-MAIN-2017-51", "CC-MAIN-2018-05")


def range_header(offset: int, length: int) -> str:
    if offset < 0 or length <= 0:
        raise ValueError(f"bad WARC record location: offset {offset}, length {length}")
    return f"bytes={offset}-{offset + length - 1}"


class CommonCrawlSource:
    name = "cc"

    def __init__(
        self,
        index_url: str = CC_INDEX_SERVER,
        data_url: str = CC_DATA_URL,
        crawls: tuple[str, ...] = DEFAULT_CRAWLS,
        *,
        politeness: Politeness | None = None,
        cache: IndexCache | None = None,
        max_body_bytes: int = 4 * 1024 * 1024,
    ) -> None:
        if not crawls:
            raise ValueError("--cc-crawls names no crawl")
        self.index_url = index_url.rstrip("/")
        self.data_url = data_url.rstrip("/")
        self.crawls = tuple(crawls)
        self.politeness = politeness or Politeness()
        self.cache = cache or IndexCache(None)
        self.max_body_bytes = max_body_bytes
        # WARC ranges are gzip members: read them raw (warcio inflates them).
        self.http = ArchiveHttp(self.politeness, decompress=False)

    async def __aenter__(self) -> CommonCrawlSource:
        await self.http.__aenter__()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.http.__aexit__(*exc_info)

    def cdx_query(self, crawl: str, url: str, start: int, end: int) -> str:
        params = {
            "url": url,
            "output": "json",
            "from": seconds_timestamp(start),
            "to": seconds_timestamp(end),
        }
        return f"{self.index_url}/{crawl}-index?{urlencode(params)}"

    async def lookup(
        self, url: str, start: int, end: int, closest: int | None = None
    ) -> list[CdxRow]:
        """Rows of every crawl in ``--cc-crawls``; a 404 (no captures) is no rows. A crawl's
        captures of one URL are few: ``closest`` needs no server-side sort here."""
        rows: list[CdxRow] = []
        for crawl in self.crawls:
            question = self.cdx_query(crawl, url, start, end)
            cached = self.cache.get(self.name, question)
            if cached is not None:
                rows += rows_from_json(cached)
                continue
            answer = await self.http.get(question)
            if answer.status == 404:
                found: list[CdxRow] = []
            elif answer.status != 200:
                raise ArchiveError(NO_CAPTURE, f"index answered HTTP {answer.status} for {url}")
            else:
                try:
                    found = parse_cdx_json(answer.body.decode("utf-8", "replace"), crawl=crawl)
                except CdxFormatError as exc:
                    raise ArchiveError(ARCHIVE_BAD_INDEX, f"{exc} ({question})") from None
            self.cache.put(self.name, question, rows_to_json(found))
            rows += found
        return rows

    async def fetch(self, capture: Capture) -> ArchivedResponse:
        """Read the capture's record by range and check its payload digest."""
        row = capture.row
        if not row.filename:
            raise ArchiveError(ARCHIVE_CORRUPT, f"index row of {row.url} names no WARC file")
        answer = await self.http.get(
            f"{self.data_url}/{row.filename}",
            headers={"Range": range_header(row.offset, row.length)},
        )
        if answer.status == 206:
            data = answer.body
        elif answer.status == 200:  # a server without Range support: cut the range out
            data = answer.body[row.offset : row.offset + row.length]
        else:
            raise ArchiveError(
                ARCHIVE_CORRUPT, f"HTTP {answer.status} for {row.filename} at {row.offset}"
            )
        if len(data) != row.length:
            raise ArchiveError(
                ARCHIVE_CORRUPT, f"{row.filename}: got {len(data)} of {row.length} bytes"
            )
        record = parse_record(data, max_body_bytes=self.max_body_bytes)
        if record.rec_type == "revisit":
            raise ArchiveError(
                "revisit_unresolved", f"{row.filename} at {row.offset} is a revisit record"
            )
        headers = {
            k: v
            for k, v in record.headers.items()
            if k not in ("content-encoding", "content-length", "transfer-encoding")
        }
        return ArchivedResponse(
            record.target_uri or row.url,
            record.status,
            headers,
            record.body,
            capture,
            digest_ok=record.digest_ok,
        )


class ColumnarCommonCrawlSource(CommonCrawlSource):
    """Common Crawl with the columnar index (``--cc-index`` Parquet, local or ``s3://``): the
    fetch job joins each links/ shard with the index and hands every link its capture (or
    none: ``no_capture``); :meth:`lookup` is only asked for redirect hops, and answers from
    the same index (one DuckDB query per new target, on a thread of its own, cached on disk
    like a server's answer). No request ever goes to an index server."""

    columnar = True

    def __init__(
        self,
        index: str,
        data_url: str = CC_DATA_URL,
        crawls: tuple[str, ...] = DEFAULT_CRAWLS,
        *,
        politeness: Politeness | None = None,
        cache: IndexCache | None = None,
        max_body_bytes: int = 4 * 1024 * 1024,
    ) -> None:
        super().__init__(
            CC_INDEX_SERVER,
            data_url,
            crawls,
            politeness=politeness,
            cache=cache,
            max_body_bytes=max_body_bytes,
        )
        self.index = index
        self.lookups = ColumnarLookup(index, self.crawls)
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="cc-columnar")

    async def __aexit__(self, *exc_info: object) -> None:
        await super().__aexit__(*exc_info)
        self._thread.submit(self.lookups.close).result()
        self._thread.shutdown(wait=True)

    async def lookup(
        self, url: str, start: int, end: int, closest: int | None = None
    ) -> list[CdxRow]:
        question = f"columnar {self.index} {','.join(self.crawls)} {start} {end} {url}"
        cached = self.cache.get(self.name, question)
        if cached is not None:
            return rows_from_json(cached)
        loop = asyncio.get_running_loop()
        try:
            found = await loop.run_in_executor(self._thread, self.lookups.rows, url, start, end)
        except ValueError as exc:
            raise ArchiveError(ARCHIVE_BAD_INDEX, str(exc)[:300]) from None
        except Exception as exc:  # duckdb.IOException, HTTPException (s3): not an answer
            raise ArchiveError(ARCHIVE_UNAVAILABLE, f"columnar index: {exc}"[:300]) from None
        self.cache.put(self.name, question, rows_to_json(found))
        return found
