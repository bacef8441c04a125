"""The settings of the archive sources, and the ``webtext fetch`` options they are (phase 2
adds them to the fetch command with ``add_options(parser, ArchiveConfig)``). Standard
library + options only, so ``webtext --help`` imports no aiohttp."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from pipeline.archive.capture import NEAR_CHOICES, parse_window
from pipeline.io.options import check_options, option

SOURCE_NAMES = ("live", "cc", "wayback", "warc")


@dataclass(frozen=True)
class ArchiveConfig:
    """Where the archives are, which capture stands for a link, how hard to push them."""

    source: str = option(
        "live",
        "where pages come from, in order; the first that yields a page wins (e.g. cc,wayback,live)",
        metavar="SOURCES",
    )
    wayback_url: str = option(
        "https://web.archive.org",
        "a server with the Wayback CDX API and id_ replay (pywb: http://HOST:PORT/COLLECTION)",
        metavar="URL",
    )
    cc_index: str = option(
        "https://index.commoncrawl.org",
        "Common Crawl's URL index: a CDX server URL, or the columnar index's Parquet "
        "files (a local path or s3://...)",
        metavar="URL|PATH",
    )
    cc_data_url: str = option(
        "https://data.commoncrawl.org", "where WARC files are read by range", metavar="URL"
    )
    cc_crawls: str = option(
        "CC-MAIN-2017-47,CC-MAIN-2017-51,CC-MAIN-2018-05",
        "the Common Crawl crawls to look in, comma-separated",
        metavar="CRAWLS",
    )
    capture_near: str = option(
        "scrape",
        "scrape: the capture closest to 2017-12-01 (WebText's scrape); post: the first after "
        "the Reddit post",
        choices=NEAR_CHOICES,
    )
    capture_window: str = option(
        "2y", "how far a capture may be from that time (2y, 18m, 90d, 12h)", metavar="DURATION"
    )
    archive_rate: float = option(
        4.0, "request starts per second per archive (0: no limit)", min_value=0.0
    )
    archive_concurrency: int = option(8, "requests in flight per archive", min_value=1)
    archive_cache: str = option(
        "",
        "directory of cached index answers (default: OUT/_archive_cache), so a rerun asks "
        "nothing twice",
        metavar="DIR",
    )

    def __post_init__(self) -> None:
        check_options(self)
        names = self.sources()
        unknown = [n for n in names if n not in SOURCE_NAMES]
        if not names or unknown:
            raise ValueError(
                f"--source {self.source!r}: expected a comma-separated list of "
                f"{', '.join(SOURCE_NAMES)}"
            )
        if len(set(names)) != len(names):
            raise ValueError(f"--source {self.source!r} names a source twice")
        self.window_seconds()
        if not self.crawls():
            raise ValueError(f"--cc-crawls {self.cc_crawls!r} names no crawl")

    def sources(self) -> tuple[str, ...]:
        return tuple(n.strip().lower() for n in self.source.split(",") if n.strip())

    def crawls(self) -> tuple[str, ...]:
        return tuple(c.strip() for c in self.cc_crawls.split(",") if c.strip())

    def window_seconds(self) -> int:
        return parse_window(self.capture_window)

    def columnar_index(self) -> bool:
        """True when --cc-index names Parquet files rather than a CDX server."""
        text = self.cc_index
        return text.startswith("s3://") or "://" not in text

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
