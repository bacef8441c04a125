"""CDX answers -> :class:`CdxRow` (pure). Two JSON shapes exist: the Wayback Machine's
``output=json`` (a JSON array whose first row names the fields) and pywb's / Common Crawl's
index server (one JSON object a line). Both are read here."""

from __future__ import annotations

import json
from typing import Any

from pipeline.archive.capture import CdxRow

_NAMES = {
    "original": "url",
    "mimetype": "mime",
    "mime": "mime",
    "statuscode": "status",
    "status": "status",
}


class CdxFormatError(ValueError):
    """The index answered something that is not a CDX JSON answer."""


def _int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def row_from_fields(fields: dict[str, Any], crawl: str = "") -> CdxRow:
    get = {(_NAMES.get(k, k)): v for k, v in fields.items()}
    mime = str(get.get("mime-detected") or get.get("mime") or "")
    if str(get.get("mime") or "") == "warc/revisit":
        mime = "warc/revisit"
    return CdxRow(
        url=str(get.get("url") or ""),
        timestamp=str(get.get("timestamp") or ""),
        status=_int(get.get("status"), 0),
        mime=mime,
        digest=str(get.get("digest") or ""),
        redirect=str(get.get("redirect") or ""),
        filename=str(get.get("filename") or ""),
        offset=_int(get.get("offset"), -1),
        length=_int(get.get("length"), -1),
        crawl=crawl,
    )


def parse_cdx_json(text: str, *, crawl: str = "") -> list[CdxRow]:
    """Rows of a CDX JSON answer (either shape); an empty answer is no rows."""
    body = text.strip()
    if not body:
        return []
    if body.startswith("["):
        try:
            table = json.loads(body)
        except ValueError as exc:
            raise CdxFormatError(f"index answer is not JSON: {exc}") from None
        if not table:
            return []
        header = [str(h) for h in table[0]]
        return [row_from_fields(dict(zip(header, r, strict=False)), crawl) for r in table[1:]]
    rows = []
    for number, line in enumerate(body.splitlines(), 1):
        if not line.strip():
            continue
        try:
            fields = json.loads(line)
        except ValueError:
            raise CdxFormatError(f"index answer line {number} is not JSON: {line[:80]!r}") from None
        if not isinstance(fields, dict):
            raise CdxFormatError(f"index answer line {number} is not a JSON object")
        rows.append(row_from_fields(fields, crawl))
    return rows


def rows_to_json(rows: list[CdxRow]) -> list[dict[str, Any]]:
    """For the on-disk cache."""
    return [r.__dict__.copy() for r in rows]


def rows_from_json(items: list[dict[str, Any]]) -> list[CdxRow]:
    return [CdxRow(**item) for item in items]
