"""Which archived capture stands for a link: the pure selection rule shared by every source.

An index answer (Wayback CDX, a Common Crawl CDX server, or the columnar index) is a list of
:class:`CdxRow`. :func:`select_capture` keeps what can become a page (a 200 of HTML, a 3xx to
follow inside the archive, a revisit that resolves to a 200 of the same payload), inside the
capture window around the target time, and picks one: with ``near="scrape"`` the capture
closest to WebText's scrape (2017-12-01), with ``near="post"`` the first capture after the
Reddit post. Ties go to the earlier capture, then the lower URL, so a rerun picks the same.
"""

from __future__ import annotations

import calendar
import time
from dataclasses import dataclass, replace

SCRAPE_TIME = calendar.timegm((2017, 12, 1, 0, 0, 0))  # WebText's scrape, 2017-12-01 UTC
NEAR_CHOICES = ("scrape", "post")
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
REVISIT_MIME = "warc/revisit"
HTML_MIMES = frozenset({"text/html", "application/xhtml+xml", "unk", ""})

# Why a link got no capture; also the error classes of the pages ledger.
NO_CAPTURE = "no_capture"  # the index knows no usable capture in the window
ARCHIVE_CORRUPT = "archive_corrupt"  # the record's bytes do not match its digest / do not parse
ARCHIVE_UNAVAILABLE = "archive_unavailable"  # the archive kept failing (5xx, 429, network)
ARCHIVE_BAD_INDEX = "archive_bad_index"  # the index answered something unusable
ARCHIVE_REDIRECT_LOOP = "redirect_loop"
ARCHIVE_TOO_MANY_REDIRECTS = "too_many_redirects"
# Every class an archive source ends a link with, besides redirect_<rule> and http_<status>
# (those two families are the live fetcher's own names).
ARCHIVE_ERROR_CLASSES = (
    NO_CAPTURE,
    ARCHIVE_CORRUPT,
    ARCHIVE_UNAVAILABLE,
    ARCHIVE_BAD_INDEX,
    "revisit_unresolved",
    "too_large",
    "empty_body",
    ARCHIVE_REDIRECT_LOOP,
    ARCHIVE_TOO_MANY_REDIRECTS,
)


@dataclass(frozen=True)
class CdxRow:
    """One line of an index answer, whatever the source. ``timestamp`` is 14 digits
    (YYYYMMDDhhmmss, UTC). Common Crawl rows carry their WARC location; Wayback rows do not
    (their capture is fetched by timestamp)."""

    url: str
    timestamp: str
    status: int  # 0 when the index says "-" (revisits in Wayback CDX)
    mime: str
    digest: str = ""
    redirect: str = ""  # Location of a 3xx, when the index knows it (Common Crawl)
    filename: str = ""
    offset: int = -1
    length: int = -1
    crawl: str = ""

    @property
    def time(self) -> int:
        return timestamp_seconds(self.timestamp)

    @property
    def is_revisit(self) -> bool:
        return self.mime == REVISIT_MIME


@dataclass(frozen=True)
class Capture:
    """The chosen capture: ``row`` is what is fetched (for a revisit, the original it points
    at), ``time`` the capture's own time (the revisit's)."""

    row: CdxRow
    time: int
    revisit_of: str = ""  # timestamp of the original when ``row`` stands in for a revisit

    @property
    def is_redirect(self) -> bool:
        return self.row.status in REDIRECT_STATUSES

    @property
    def record(self) -> str:
        """``archive_record`` of the ledger: crawl + file + offset, or the Wayback timestamp."""
        r = self.row
        if r.filename:
            return f"{r.crawl}:{r.filename}:{r.offset}:{r.length}".lstrip(":")
        return r.timestamp


@dataclass(frozen=True)
class Miss:
    """No page from this source: ``reason`` is an error class, ``message`` says why."""

    reason: str
    message: str = ""


def timestamp_seconds(ts: str) -> int:
    """Seconds since the epoch of a 4-14 digit archive timestamp (missing parts are the
    earliest possible); ValueError names a malformed one."""
    digits = ts.strip()
    if not digits.isdigit() or not 4 <= len(digits) <= 14:
        raise ValueError(f"archive timestamp {ts!r} is not 4 to 14 digits")
    digits = digits + "0101000000"[len(digits) - 4 :] if len(digits) < 14 else digits
    parts = [int(digits[i:j]) for i, j in ((0, 4), (4, 6), (6, 8), (8, 10), (10, 12), (12, 14))]
    return calendar.timegm((*parts[:3], *parts[3:]))


def seconds_timestamp(seconds: int) -> str:
    return time.strftime("%Y%m%d%H%M%S", time.gmtime(seconds))


def parse_window(text: str) -> int:
    """``2y``, ``18m``, ``90d``, ``12h`` or a number of seconds -> seconds."""
    value = text.strip().lower()
    units = {"y": 365 * 86400, "m": 30 * 86400, "d": 86400, "h": 3600, "s": 1}
    unit = units.get(value[-1:]) if value else None
    number = value[:-1] if unit else value
    try:
        amount = float(number)
    except ValueError:
        raise ValueError(
            f"--capture-window {text!r} is not a duration (e.g. 2y, 18m, 90d, 12h)"
        ) from None
    if amount <= 0:
        raise ValueError(f"--capture-window {text!r} must be positive")
    return int(amount * (unit or 1))


def target_time(near: str, post_time: int | None) -> int:
    """The time a capture should be near: the scrape, or the post (scrape if unknown)."""
    if near == "post" and post_time and post_time > 0:
        return post_time
    return SCRAPE_TIME


def is_html_mime(mime: str) -> bool:
    return mime.split(";", 1)[0].strip().lower() in HTML_MIMES or mime.lower().endswith("html")


def usable(row: CdxRow) -> bool:
    """A row that can become a page: a 200 of HTML, or a redirect to follow."""
    if row.status == 200 and not row.is_revisit:
        return is_html_mime(row.mime)
    return row.status in REDIRECT_STATUSES


def resolve_revisit(row: CdxRow, rows: list[CdxRow]) -> CdxRow | None:
    """The original capture a revisit record points at: the latest earlier 200 of the same
    URL key with the same payload digest (what a replay system serves for it)."""
    if not row.digest:
        return None
    originals = [
        r
        for r in rows
        if not r.is_revisit
        and r.digest == row.digest
        and r.status == 200
        and is_html_mime(r.mime)
        and r.timestamp <= row.timestamp
    ]
    return max(originals, key=lambda r: (r.timestamp, r.url), default=None)


def in_window(t: int, target: int, near: str, window_s: int) -> bool:
    if near == "post":
        return target <= t <= target + window_s
    return abs(t - target) <= window_s


def order_key(t: int, target: int, near: str, url: str) -> tuple[int, int, str]:
    """Smaller is better: distance to the target (``post``: time after it), then time, URL."""
    distance = t - target if near == "post" else abs(t - target)
    return (distance, t, url)


def select_capture(
    rows: list[CdxRow], *, target: int, near: str = "scrape", window_s: int = 2 * 365 * 86400
) -> Capture | Miss:
    """The capture of ``rows`` that stands for the link, or a Miss saying why none does."""
    if near not in NEAR_CHOICES:
        raise ValueError(f"--capture-near {near!r} is not one of {', '.join(NEAR_CHOICES)}")
    candidates: list[Capture] = []
    for row in rows:
        try:
            t = row.time
        except ValueError:
            continue
        if not in_window(t, target, near, window_s):
            continue
        if row.is_revisit:
            original = resolve_revisit(row, rows)
            if original is not None:
                candidates.append(Capture(original, t, revisit_of=original.timestamp))
        elif usable(row):
            candidates.append(Capture(row, t))
    if not candidates:
        where = "after the post" if near == "post" else "around 2017-12-01"
        return Miss(NO_CAPTURE, f"{len(rows)} captures, none usable {where} in the window")
    return min(candidates, key=lambda c: order_key(c.time, target, near, c.row.url))


def with_target_url(capture: Capture, url: str) -> Capture:
    return replace(capture, row=replace(capture.row, url=url))


# Capture age (capture time minus the Reddit post's time): the histogram of `webtext stats`
# (_stats.json's "capture_age" group), in this order. Upper bounds in days, exclusive.
CAPTURE_AGE_BUCKETS = (
    ("before post", 0),
    ("< 1 week", 7),
    ("1 week-1 month", 30),
    ("1-6 months", 182),
    ("6-12 months", 365),
    ("1-2 years", 730),
    ("2-5 years", 1826),
    ("5+ years", None),
)


def capture_age_bucket(capture_time: int, post_time: int) -> str:
    """The :data:`CAPTURE_AGE_BUCKETS` label of a capture made ``capture_time - post_time``
    seconds after the post."""
    seconds = capture_time - post_time
    for label, bound in CAPTURE_AGE_BUCKETS:
        if bound is None or seconds < bound * 86400:
            return label
    raise AssertionError("the last bucket has no bound")
