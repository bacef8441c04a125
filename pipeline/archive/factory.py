"""The archive sources an :class:`ArchiveConfig` names, built for the fetch scheduler."""

from __future__ import annotations

import os

from pipeline.archive.cache import IndexCache
from pipeline.archive.commoncrawl import CommonCrawlSource
from pipeline.archive.config import ArchiveConfig
from pipeline.archive.politeness import Politeness
from pipeline.archive.wayback import WaybackSource

ARCHIVE_SOURCES = ("cc", "wayback")
CACHE_DIR_NAME = "_archive_cache"  # inside the output directory: readers skip "_" entries


def cache_dir(config: ArchiveConfig, out_dir: str) -> str:
    return config.archive_cache or os.path.join(out_dir, CACHE_DIR_NAME)


def build_sources(
    config: ArchiveConfig, out_dir: str
) -> dict[str, WaybackSource | CommonCrawlSource]:
    """One source per archive named in ``--source`` (``live`` and ``warc`` are not archives
    here), sharing one index cache directory. Enter each with ``async with``. The columnar
    index (``--cc-index`` a Parquet path) is joined before fetching (columnar.join_index); the
    Common Crawl source then only reads records, so its CDX server URL is left at default."""
    cache = IndexCache(cache_dir(config, out_dir))
    politeness = Politeness(concurrency=config.archive_concurrency, rate=config.archive_rate)
    sources: dict[str, WaybackSource | CommonCrawlSource] = {}
    for name in config.sources():
        if name == "wayback":
            sources[name] = WaybackSource(config.wayback_url, politeness=politeness, cache=cache)
        elif name == "cc":
            index = (
                config.cc_index if not config.columnar_index() else "https://index.commoncrawl.org"
            )
            sources[name] = CommonCrawlSource(
                index, config.cc_data_url, config.crawls(), politeness=politeness, cache=cache
            )
    return sources
