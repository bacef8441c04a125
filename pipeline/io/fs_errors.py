"""One line instead of a traceback when the file system refuses a write (or a read).

A full disk, a read-only or foreign-owned output directory, a path through a regular file:
whichever stage meets it, and however the error arrives (a plain OSError; pyarrow's OSError
whose text alone names the file, or an S3 object "key 'a/b' in bucket 'x': AWS Error
ACCESS_DENIED"; Beam's RuntimeError that carries the worker's error as text
only, "OSError: [Errno 28] No space left on device: '/x/part-0.parquet' [while running
'Write/WriteShard']"; torch's "[enforce fail at inline_container.cc:672] ..." when a checkpoint
cannot be written), ``describe`` turns it into "PATH: what happened; what to do".

Pure standard library: ``webtext train`` imports it on machines without Beam.
"""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Iterator

_FULL = "free space on that file system (or write elsewhere), then rerun the same command"
_ADVICE: dict[int, tuple[str, str]] = {
    errno.ENOSPC: ("no space left on device", _FULL),
    errno.EDQUOT: ("disk quota exceeded", _FULL),
    errno.EFBIG: ("file too large (file system or ulimit -f limit)", _FULL),
    errno.EROFS: ("read-only file system", "write to a writable place instead"),
    errno.EACCES: (
        "permission denied",
        "make it writable (and readable) for this user, or use another path",
    ),
    errno.EPERM: (
        "operation not permitted",
        "check its owner and permissions, or use another path",
    ),
    errno.ENOTDIR: ("a part of the path is a file, not a directory", "fix the path"),
}
ERRNOS = frozenset(_ADVICE)
_BY_TEXT = {os.strerror(code).lower(): code for code in _ADVICE}

_ERRNO = re.compile(r"\[errno (\d+)\]", re.IGNORECASE)
# The path Python puts after the message ("...: '/x/y'"), or pyarrow puts in it ("file '/x/y'").
_QUOTED_AFTER_ERRNO = re.compile(r"\[errno \d+\][^'\n]*?: '([^'\n]+)'", re.IGNORECASE)
_QUOTED_PATH = re.compile(r"'((?:/|[a-z][a-z0-9+.-]*://)[^'\n]*)'", re.IGNORECASE)
# pyarrow's S3 errors: "When writing key 'a/b' in bucket 'x': AWS Error ACCESS_DENIED during ...".
_S3_DENIED = re.compile(r"key '([^'\n]*)' in bucket '([^'\n]*)': AWS Error ACCESS_DENIED")
_TORCH_WRITE = re.compile(r"inline_container\.cc|PytorchStreamWriter failed", re.IGNORECASE)


def chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and every exception behind it (__cause__, __context__, group members), once."""
    seen: set[int] = set()
    stack = [exc]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        stack.extend(e for e in (current.__context__, current.__cause__) if e is not None)
        stack.extend(getattr(current, "exceptions", ()) or ())


def _from_text(text: str) -> tuple[int, str | None] | None:
    """(errno, path or None) read from an error's text, when it names one we handle."""
    denied = _S3_DENIED.search(text)
    if denied:
        return errno.EACCES, f"s3://{denied.group(2)}/{denied.group(1)}"
    code = None
    for match in _ERRNO.finditer(text):
        if int(match.group(1)) in ERRNOS:
            code = int(match.group(1))
            break
    if code is None:
        lowered = text.lower()
        code = next((c for phrase, c in _BY_TEXT.items() if phrase in lowered), None)
    if code is None:
        return None
    found = _QUOTED_AFTER_ERRNO.search(text) or _QUOTED_PATH.search(text)
    return code, (found.group(1) if found else None)


def _line(code: int, path: str | None, detail: str = "") -> str:
    what, advice = _ADVICE[code]
    where = f"{path}: " if path else ""
    extra = f" ({detail})" if detail else ""
    return f"{where}{what}{extra}; {advice}. Nothing was marked finished."


def describe(exc: BaseException) -> str | None:
    """The one-line message for a file-system error anywhere in ``exc``'s chain, or None when
    it is not one. An OSError that names its file wins over one found in text."""
    textual: tuple[int, str | None] | None = None
    torch_write = False
    for e in chain(exc):
        if isinstance(e, OSError) and e.errno in ERRNOS:
            path = e.filename if e.filename is not None else None
            if path is not None:
                return _line(e.errno, os.fsdecode(path))
            textual = textual or _from_text(str(e)) or (e.errno, None)
            continue
        found = _from_text(str(e))
        if found is not None and (textual is None or (textual[1] is None and found[1])):
            textual = found
        torch_write = torch_write or bool(_TORCH_WRITE.search(str(e)))
    if textual is not None:
        return _line(*textual)
    if torch_write:
        first = str(exc).strip().splitlines()[0][:120] if str(exc).strip() else type(exc).__name__
        return (
            f"writing a PyTorch file failed ({first}); torch says this when the disk is full "
            "or the directory is not writable: check free space and permissions where the run "
            "writes, then rerun"
        )
    return None
