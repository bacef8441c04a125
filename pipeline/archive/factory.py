"""The archive sources an :class:`ArchiveConfig` names, built for the fetch scheduler."""

from __future__ import annotations

import os

from pipeline.archive.cache import IndexCache
from pipeline.archive.commoncrawl import ColumnarCommonCrawlSource, CommonCrawlSource
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
    here), sharing one index cache directory. Enter each with ``async with``. With the columnar
    index (``--cc-index`` a Parquet path) the links come joined with their captures (the fetch
    job's ReadLinksWithCaptures); the Common Crawl source then reads records, and looks up
    only redirect targets, in the same Parquet index."""
    cache = IndexCache(cache_dir(config, out_dir))
    politeness = Politeness(concurrency=config.archive_concurrency, rate=config.archive_rate)
    sources: dict[str, WaybackSource | CommonCrawlSource] = {}
    for name in config.sources():
        if name == "wayback":
            sources[name] = WaybackSource(config.wayback_url, politeness=politeness, cache=cache)
        elif name == "cc":
            if config.columnar_index():
                sources[name] = ColumnarCommonCrawlSource(
                    config.cc_index,
                    config.cc_data_url,
                    config.crawls(),
                    politeness=politeness,
                    cache=cache,
                )
            else:
                sources[name] = CommonCrawlSource(
                    config.cc_index,
                    config.cc_data_url,
                    config.crawls(),
                    politeness=politeness,
                    cache=cache,
                )
    return sources
