"""The name a stage directory records as "stage" in its _job.json and _stats.json.

One noun per directory, the same as the directory's usual name: links, pages, docs, corpus,
dups, tokens (and overlap, overlap-documents). Readers (the funnel, `webtext stats`, the
trainer's input check, rebuild hints) know a directory by this name.

``LEGACY_NAMES`` is for reading only: directories written by earlier versions recorded some
stages by their command's verb ("fetch", "extract", "dedup", "tokenize"). Such a directory is
still read, resumed and found complete (``current_name`` maps the old name to the noun); no
stage writes these names any more.
"""

from __future__ import annotations

# The stage name -> the `webtext` command that writes the directory.
COMMANDS = {
    "links": "links",
    "pages": "fetch",
    "docs": "extract",
    "corpus": "dedup",
    "dups": "dedup",
    "tokens": "tokenize",
    "overlap": "overlap",
    "overlap-documents": "overlap",
}

# Old names, as directories written by earlier versions record them -> today's noun.
LEGACY_NAMES = {"fetch": "pages", "extract": "docs", "dedup": "corpus", "tokenize": "tokens"}


def current_name(stage: str) -> str:
    """Today's name of a stage given the name a directory recorded (old names mapped);
    names that are not old stage names are returned unchanged."""
    return LEGACY_NAMES.get(stage, stage)


def command_for(stage: str) -> str | None:
    """The command that writes a directory recording ``stage`` (old names too), or None."""
    return COMMANDS.get(current_name(stage))
