"""Index answers kept on disk, so a rerun asks an archive nothing it asked before.

One JSON file per question (source + request URL), named by its SHA-1, written atomically
(temporary name, then rename): a killed run leaves whole answers or none. Only definitive
answers are kept (captures found, or none: a 200 or a 404); failures are asked again.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any


class IndexCache:
    def __init__(self, directory: str | os.PathLike[str] | None) -> None:
        self.directory = Path(directory) if directory else None
        self.hits = 0
        self.misses = 0

    def _path(self, source: str, question: str) -> Path:
        assert self.directory is not None
        digest = hashlib.sha1(f"{source}\n{question}".encode()).hexdigest()
        return self.directory / source / digest[:2] / f"{digest}.json"

    def get(self, source: str, question: str) -> Any | None:
        if self.directory is None:
            return None
        path = self._path(source, question)
        try:
            with open(path, encoding="utf-8") as f:
                entry = json.load(f)
        except FileNotFoundError:
            self.misses += 1
            return None
        except (OSError, ValueError):  # a damaged entry is asked again
            self.misses += 1
            return None
        if entry.get("question") != question:
            self.misses += 1
            return None
        self.hits += 1
        return entry["answer"]

    def put(self, source: str, question: str, answer: Any) -> None:
        if self.directory is None:
            return
        path = self._path(source, question)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix="_tmp-", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump({"question": question, "answer": answer}, f)
        os.replace(tmp, path)
