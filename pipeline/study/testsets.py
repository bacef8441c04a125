"""The study's test sets: WikiText-2, PTB, LAMBADA and the WebText test prefixes.

``webtext overlap`` measures every set in full (Table 6 of the paper). ``webtext eval`` scores
the first N documents of each (``Preset.eval_docs``), written here as files of the same
format, so a CPU run stays short; a document keeps its index, so the report joins each scored
document with its overlap.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from eval.testsets import PTB_LINES_PER_DOC, TestSetSpec, read_test_set
from pipeline.io import shards


@dataclass(frozen=True)
class StudyTestSet:
    name: str
    fmt: str
    path: Path  # under the shared folder

    def spec(self, path: Path) -> str:
        return f"{self.name}:{self.fmt}={path}"


TEST_SETS = (
    StudyTestSet("wt2", "wikitext", Path("testsets") / "wikitext-2" / "test.txt"),
    StudyTestSet("ptb", "ptb", Path("testsets") / "ptb" / "ptb.test.txt"),
    StudyTestSet("lambada", "lambada", Path("testsets") / "lambada" / "lambada_test.jsonl"),
    StudyTestSet("webtext", "jsonl", Path("webtext") / "webtext.test.jsonl"),
)


def first_documents(test: StudyTestSet, source: Path, count: int) -> str:
    """The text of a file of ``test``'s format holding the first ``count`` documents of
    ``source``."""
    text = source.read_text(encoding="utf-8")
    if test.fmt == "wikitext":
        docs = read_test_set(TestSetSpec(test.name, str(source), test.fmt))[:count]
        return "\n".join(d.text for d in docs) + "\n"
    lines = [line for line in text.splitlines() if line.strip()]
    per_doc = PTB_LINES_PER_DOC if test.fmt == "ptb" else 1
    return "\n".join(lines[: count * per_doc]) + "\n"


def eval_files(
    shared: Path, out_dir: Path, eval_docs: dict[str, int]
) -> list[tuple[StudyTestSet, Path]]:
    """(test set, the file eval scores) per set: a file under ``out_dir`` holding the first
    ``eval_docs[name]`` documents, or the shared file itself when the set has no count."""
    return [
        (
            t,
            out_dir / f"{t.name}{''.join(t.path.suffixes)}"
            if t.name in eval_docs
            else shared / t.path,
        )
        for t in TEST_SETS
    ]


def eval_specs(shared: Path, out_dir: Path, eval_docs: dict[str, int]) -> list[str]:
    """``--test`` specs for ``webtext eval``."""
    return [t.spec(path) for t, path in eval_files(shared, out_dir, eval_docs)]


def write_eval_sets(shared: Path, out_dir: Path, eval_docs: dict[str, int]) -> None:
    """Write the scored part of each set that has a count under ``out_dir``, then _SUCCESS."""
    for test, path in eval_files(shared, out_dir, eval_docs):
        if test.name in eval_docs:
            text = first_documents(test, shared / test.path, eval_docs[test.name])
            shards.write_bytes_atomic(str(path), text.encode("utf-8"))
    shards.write_bytes_atomic(str(out_dir / shards.SUCCESS_MARKER), b"")


def overlap_specs(shared: Path) -> list[str]:
    """``--test`` specs of the full sets, for ``webtext overlap``."""
    return [t.spec(shared / t.path) for t in TEST_SETS]
