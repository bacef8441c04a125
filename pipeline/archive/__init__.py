"""Archive-backed fetch (issue 15): 2017-era captures from Common Crawl and the Wayback
Machine for links that are dead or changed.

capture.py   the selection rule (pure): which capture stands for a link
cdx.py       CDX JSON answers (Wayback array, pywb / CC lines) -> rows
record.py    one WARC record from a byte range, digest-checked (warcio)
politeness.py, http.py, cache.py   rate, concurrency, back-off; one aiohttp path; index cache
wayback.py, commoncrawl.py         the sources: ``lookup`` and ``fetch``
columnar.py  the columnar URL index joined with links/ in one pass (DuckDB)
factory.py   the sources an ArchiveConfig names (one shared index cache)
resolve.py   one link at one source: capture, archived redirects, page or error class
config.py    the options (``--source``, ``--wayback-url``, ``--cc-index``, ...)
"""
