"""The settings of text extraction, and the ``webtext extract`` options they are.

Kept apart from pipeline/extract.py (lxml, trafilatura) so the command line can build its options
without importing them; pipeline.extract imports ExtractConfig from here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from pipeline.io.options import check_options, option


@dataclass(frozen=True)
class ExtractConfig:
    """How a page becomes a document. Each field declared with ``option`` is also a
    ``webtext extract`` flag (pipeline/io/options.py): its help, default and bounds live here."""

    # OpenWebText's threshold; tokens = words and punctuation marks
    min_tokens: int = option(128, "minimum words+punctuation", min_value=0)
    favor_precision: bool = option(False, "trafilatura precision mode")
    favor_recall: bool = option(False, "trafilatura recall mode")
    include_comments: bool = option(False, "keep user comments")
    include_tables: bool = option(True, "leave out table text", flag="--no-tables")
    fallback_ratio: float = option(
        3.0,
        "take the comment-free baseline text when it is this many times longer than the "
        "main extraction (0 = off; default: %(default)s)",
    )
    # The fallback completes an article found in part, it never makes a document of a page with
    # none (a search or front page would otherwise become its navigation and banners).
    fallback_min_chars: int = option(
        1000,
        "only apply the fallback to main extractions of at least this many characters",
        min_value=0,
    )
    wall_max_tokens: int = 400  # bot/cookie wall phrases only count in texts shorter than this
    languages: tuple[str, ...] = option(
        (),
        "keep only these languages (ISO 639-1, py3langid; repeatable). Default: all",
        flag="--lang",
        metavar="CODE",
    )

    def __post_init__(self) -> None:
        check_options(self)
        if self.favor_precision and self.favor_recall:
            raise ValueError("--favor-precision and --favor-recall exclude each other")
        if self.fallback_ratio != 0 and self.fallback_ratio < 1:
            raise ValueError(f"--fallback-ratio must be 0 (off) or >= 1, got {self.fallback_ratio}")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["languages"] = list(self.languages)
        return data
