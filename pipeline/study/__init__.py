"""``webtext study``: the report at a size where it means something, on real text.

The study builds a corpus from ``../shared/data`` (books, extraction gold texts, WebText
"valid" prefixes; never a test set), runs it through the project's own stages (dedup,
tokenize with GPT-2's files, overlap), trains several model sizes on the same token budget,
scores each on WikiText-2, PTB, LAMBADA and the WebText test prefixes, and writes one report
comparing the sizes. This package holds the pieces below the command line (layer "stage"):

  presets.py    what each preset sets: corpus size, model sizes, token budget, device
  sources.py    the shared texts as documents (books cut into ~800-word documents)
  docs_dir.py   those documents as a finished docs/ stage directory, for `webtext dedup`
  testsets.py   the four test sets: full for overlap, the first N documents for eval

The driver, which runs each step as the `webtext` command a user would type and skips the
steps whose output is complete, is ``pipeline/commands/study.py``.
"""
