"""The settings of fetching, and the ``webtext fetch`` options they are.

Kept apart from client.py (aiohttp) so the command line can build its options without importing
it; pipeline.fetch.client imports FetchConfig from here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from pipeline.io.options import check_options, option

if TYPE_CHECKING:
    from pipeline.fetch.safety import ResolveRule

DEFAULT_USER_AGENT = "webtext-fetch/0.1 (research corpus builder; respects Retry-After)"


@dataclass(frozen=True)
class FetchConfig:
    """Everything that shapes how pages are fetched. Durations in seconds. Each field declared
    with ``option`` is also a ``webtext fetch`` flag (pipeline/io/options.py)."""

    concurrency: int = option(64, "requests in flight per worker, all hosts together", min_value=1)
    per_host: int = option(2, "requests in flight per host", min_value=1)
    host_delay_s: float = option(
        0.5, "seconds between requests to a host", min_value=0.0, flag="--host-delay"
    )
    connect_timeout_s: float = option(
        10.0, "seconds to connect", min_value=0.0, flag="--connect-timeout"
    )
    read_timeout_s: float = option(
        20.0, "longest silence while reading", min_value=0.0, flag="--read-timeout"
    )
    # one attempt: connect, headers and whole body
    total_timeout_s: float = option(
        45.0, "seconds per attempt, body included", min_value=0.0, flag="--timeout"
    )
    max_retries: int = option(2, "retries on 429/5xx", min_value=0, flag="--retries")
    backoff_s: float = 1.0  # first retry delay without Retry-After; doubles each time
    # a longer Retry-After gives up instead of waiting
    max_retry_after_s: float = option(
        30.0, "longest Retry-After honoured", min_value=0.0, flag="--max-retry-after"
    )
    max_redirects: int = option(5, "redirect hops followed", min_value=0)
    # raw and decoded; the command's --max-body-mb (pipeline/commands/fetch.py) sets it in MiB
    max_body_bytes: int = 4 * 1024 * 1024
    max_compression_ratio: float = 100.0
    user_agent: str = option(DEFAULT_USER_AGENT, "User-Agent header")
    respect_robots: bool = option(False, "obey robots.txt")
    allow_private: bool = option(False, "allow loopback/private addresses")
    resolve: tuple[str, ...] = option(
        (),
        "connect to ADDR (and PORT) for HOST:PORT, like curl --resolve / --connect-to; repeatable",
        metavar="HOST:PORT:ADDR[:PORT]",
    )  # ResolveRule texts

    def __post_init__(self) -> None:
        check_options(self)
        if self.max_body_bytes < 1024:
            raise ValueError(f"max body bytes must be >= 1024, got {self.max_body_bytes}")
        self.rules()  # fail early with the rule named

    def rules(self) -> tuple[ResolveRule, ...]:
        if not self.resolve:
            return ()
        from pipeline.fetch.safety import ResolveRule  # aiohttp: only when there are rules

        return tuple(ResolveRule.parse(text) for text in self.resolve)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["resolve"] = list(self.resolve)
        return data
