"""Logging and progress output for the command line."""

from __future__ import annotations

import logging
import sys
import time

LEVELS = ("debug", "info", "warning", "error")


class _DropKnownNoise(logging.Filter):
    """Beam warns at import about optional GCP clients this project does not use."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return (
            "apitools not found" not in message
            and "Missing pipeline option (runner)" not in message
        )


def setup_logging(level: str = "info") -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper()),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
        force=True,
    )
    for handler in logging.getLogger().handlers:
        handler.addFilter(_DropKnownNoise())
    # Beam and its dependencies are chatty at INFO; keep their warnings.
    for noisy in ("apache_beam", "urllib3", "prawcore", "trafilatura", "htmldate"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))


class Progress:
    """A one-line progress display on stderr, refreshed at most every ``every`` seconds."""

    def __init__(self, label: str, total: int | None = None, every: float = 0.5) -> None:
        self.label = label
        self.total = total
        self.every = every
        self.count = 0
        self.started = time.monotonic()
        self._last = 0.0
        self._tty = sys.stderr.isatty()

    def update(self, n: int = 1) -> None:
        self.count += n
        now = time.monotonic()
        if now - self._last >= self.every:
            self._last = now
            self._draw(now)

    def _draw(self, now: float, end: str = "") -> None:
        rate = self.count / max(now - self.started, 1e-9)
        total = f"/{self.total:,}" if self.total else ""
        text = f"{self.label}: {self.count:,}{total} ({rate:,.0f}/s)"
        if self._tty:
            sys.stderr.write("\r" + text + end)
        elif end:
            sys.stderr.write(text + end)
        sys.stderr.flush()

    def close(self) -> None:
        self._draw(time.monotonic(), end="\n")
