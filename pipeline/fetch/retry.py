"""Which recorded fetch errors a rerun may try again (`webtext fetch --retry-errors`).

The ledger (pages/_fetched/) keeps every link's outcome, errors included, so a rerun normally
fetches nothing it has already seen. Some errors say nothing lasting about the page: the
network or the server was unwell at that moment, and the same request a day later may well
succeed. :data:`TRANSIENT_ERRORS` lists those classes, each with the reason it is there; it is
what ``--retry-errors`` without a value retries. Every other class describes the page or our
rules (404, not HTML, too large, a decompression bomb, a redirect to Wikipedia, a forbidden
address...): asking again gives the same answer, so those are retried only when named.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from pipeline.fetch.records import choose_row

# The one definition of "transient": error class -> why asking again can give a page.
TRANSIENT_ERRORS: dict[str, str] = {
    "timeout": "connect, read or total time ran out: a slow or overloaded host or network",
    "connection_error": "connection refused or reset, or the server hung up: often a restart",
    "dns_error": "the name did not resolve: resolver hiccups and lapsed-then-renewed domains",
    "truncated_body": "the connection dropped mid-body: the full body may come next time",
    "http_408": "Request Timeout: the server gave up waiting, a load symptom",
    "http_429": "Too Many Requests: rate limited (Retry-After was too long or retries ran out)",
    "http_500": "Internal Server Error: frequently a passing failure of the site's backend",
    "http_502": "Bad Gateway: the proxy could not reach the origin at that moment",
    "http_503": "Service Unavailable: overload or maintenance, by definition temporary",
    "http_504": "Gateway Timeout: the origin was too slow for its proxy at that moment",
    "http_520": "CDN (Cloudflare) saw an empty or unknown answer from the origin",
    "http_521": "CDN (Cloudflare): the origin refused the connection",
    "http_522": "CDN (Cloudflare): connecting to the origin timed out",
    "http_523": "CDN (Cloudflare): the origin was unreachable",
    "http_524": "CDN (Cloudflare): the origin accepted but answered too slowly",
}

TRANSIENT = "transient"  # the --retry-errors keyword for the whole TRANSIENT_ERRORS set

# Every other class the fetch stage records (pipeline.fetch.client, content, warc, records),
# named here so a typo in --retry-errors is refused instead of silently matching nothing.
PERMANENT_ERRORS: frozenset[str] = frozenset(
    {
        "forbidden_address",
        "tls_error",
        "invalid_url",
        "protocol_error",
        "too_many_redirects",
        "redirect_loop",
        "not_html",
        "empty_body",
        "binary_body",
        "robots_disallowed",
        "too_large",
        "unsupported_encoding",
        "bad_encoding",
        "decompression_bomb",
        "warc_missing",
        "no_body",
    }
)
# Open families: any HTTP status, and a redirect refused by a link rule (redirect_wikipedia...).
_FAMILIES = re.compile(r"http_[1-5]\d\d|redirect_[a-z][a-z0-9_]*")


def is_error_class(name: str) -> bool:
    """True for a class the fetch stage can record."""
    return name in TRANSIENT_ERRORS or name in PERMANENT_ERRORS or bool(_FAMILIES.fullmatch(name))


def parse_retry_classes(text: str) -> frozenset[str]:
    """``--retry-errors`` value -> the set of error classes to fetch again.

    A comma list of class names; the word ``transient`` stands for every class in
    :data:`TRANSIENT_ERRORS` (so ``transient,http_404`` adds 404s to the default). An unknown
    name is refused with the known ones listed."""
    chosen: set[str] = set()
    for raw in text.split(","):
        name = raw.strip().lower()
        if not name:
            continue
        if name == TRANSIENT:
            chosen.update(TRANSIENT_ERRORS)
        elif is_error_class(name):
            chosen.add(name)
        else:
            known = sorted(TRANSIENT_ERRORS) + sorted(PERMANENT_ERRORS)
            raise ValueError(
                f"--retry-errors: {name!r} is not a fetch error class; use '{TRANSIENT}', "
                f"http_NNN, redirect_REASON or one of: {', '.join(known)}"
            )
    if not chosen:
        raise ValueError(f"--retry-errors: no error class in {text!r}")
    return frozenset(chosen)


def describe_classes(classes: Iterable[str]) -> str:
    """A short name for a class set in messages: 'transient errors', or the list."""
    chosen = frozenset(classes)
    transient = frozenset(TRANSIENT_ERRORS)
    if chosen == transient:
        return "transient errors"
    if transient < chosen:
        return "transient errors and " + ", ".join(sorted(chosen - transient))
    return "errors " + ", ".join(sorted(chosen))


def retry_summary(by_class: Iterable[tuple[str, int]], classes: Iterable[str]) -> str:
    """The one-line summary of a retry run, e.g. ``retrying 37 links with transient errors
    (timeout 20, http_503 17)``; classes by count, largest first."""
    counts = sorted(((c, n) for c, n in by_class if n), key=lambda cn: (-cn[1], cn[0]))
    total = sum(n for _, n in counts)
    noun = "link" if total == 1 else "links"
    what = describe_classes(classes)
    if not counts:
        return f"retrying 0 links: none has {what}"
    detail = ", ".join(f"{c} {n}" for c, n in counts)
    return f"retrying {total} {noun} with {what} ({detail})"


# Ledger columns links_left_to_retry needs (those pipeline.fetch.records.choose_row reads).
LEDGER_COLUMNS = ("link_id", "error", "fetched_utc", "elapsed_ms", "final_url", "status")


def links_left_to_retry(
    rows: Iterable[dict[str, Any]], classes: Iterable[str], started_utc: int
) -> int:
    """How many links a ``--retry-errors`` run started at ``started_utc`` (and killed) did not
    reach: the link's chosen ledger row (choose_row) is an error of ``classes`` and none of
    its rows was fetched since the retry started. ``rows``: ledger rows with LEDGER_COLUMNS."""
    chosen = frozenset(classes)
    by_link: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_link[row["link_id"]].append(row)
    return sum(
        1
        for history in by_link.values()
        if choose_row(history)["error"] in chosen
        and max(r["fetched_utc"] for r in history) < started_utc
    )


def retry_flag(classes: Iterable[str]) -> str:
    """The option that asks for ``classes`` again: ``--retry-errors`` for the default set."""
    chosen = frozenset(classes)
    transient = frozenset(TRANSIENT_ERRORS)
    if chosen == transient:
        return "--retry-errors"
    if transient < chosen:
        return "--retry-errors " + ",".join([TRANSIENT, *sorted(chosen - transient)])
    return "--retry-errors " + ",".join(sorted(chosen))


def interrupted_retry_message(left: int, classes: Iterable[str]) -> str:
    """The warning of a run without ``--retry-errors`` over an output whose retry was killed."""
    noun = "link" if left == 1 else "links"
    return (
        f"a --retry-errors run was interrupted: {left} {noun} still to retry "
        f"({describe_classes(classes)}); rerun with {retry_flag(classes)} to finish"
    )
