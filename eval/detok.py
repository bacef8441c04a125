"""De-tokenizers for WikiText- and PTB-style tokenized text, with their inverses.

WikiText and PTB store text as space-separated word-level tokens ("the actor 's role , ( a
well @-@ known ) star"). A byte-level model scores that as an odd dialect of English; the GPT-2
paper undoes the tokenization before scoring and credits it with 2.5 to 5 perplexity. Because
per-word perplexity divides by the ORIGINAL word count (eval.testsets.count_units), the text the
model sees may change freely as long as no information is lost: the de-tokenizer must be
invertible, and :func:`wikitext_retokenize` / :func:`ptb_retokenize` are its inverses.

Both directions work on one line at a time and only join or split at a fixed set of
punctuation tokens. Where the original data holds a token that the inverse would split (an
abbreviation "No." next to a sentence-final "."), a round trip can differ; the tests measure
the share of real WikiText-2 / PTB lines that round-trip exactly (over 99%).
"""

from __future__ import annotations

import re

# Tokens written without a space before them (attached to the previous token).
_WIKI_LEFT = {",", ".", ";", ":", "!", "?", ")", "]", "%", "...", "'s", "'re", "'ve", "'m", "'ll",
              "'d", "'t"}  # fmt: skip
_PTB_LEFT = {"'s", "'re", "'ve", "'m", "'ll", "'d", "n't"}
# Tokens written without a space after them (attached to the next token).
_ATTACH_RIGHT = {"(", "[", "$"}
# A chunk ending in "." that the inverse keeps whole: an initial ("A."), a dotted abbreviation
# ("U.S.", "e.g.") or a common title or short form. The de-tokenizer never attaches a
# sentence-final "." where the result would look like one of these.
_ABBREV = re.compile(
    r"^(?:[^\W\d_]|(?:[^\W\d_]+\.)+[^\W\d_]*|No|St|Col|Gen|Dr|Mr|Mrs|Ms|Jr|Sr|Lt|Capt|Sgt|Maj|Rev|Inc|Co|Corp|Ltd|Mt|Ft|"
    r"vs|pp|p|Vol|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec|Adm|Cmdr|Prof|Gov|Sen|Rep|"
    r"ca|c|op|Op|cf|al|etc)$"
)
# WikiText's in-word separators: "well @-@ known" -> "well-known".
_JOINERS = {"@-@": "-", "@,@": ",", "@.@": "."}
_JOINER_BACK = {v: k for k, v in _JOINERS.items()}


def _joinable(tokens: list[str], i: int) -> bool:
    """WikiText's "@,@" and "@.@" are joined only between digits ("1,000", "2.5"): between
    letters the inverse could not tell them from a token like "Musicnotes.com"."""
    if tokens[i] == "@-@":
        return 0 < i < len(tokens) - 1
    return (
        0 < i < len(tokens) - 1
        and tokens[i - 1][-1:].isdigit()
        and tokens[i + 1][:1].isdigit()
        and tokens[i - 1] not in _JOINERS
        and tokens[i + 1] not in _JOINERS
    )


def _detok_tokens(tokens: list[str], quotes: bool) -> str:
    attach_left = _WIKI_LEFT if quotes else _PTB_LEFT
    out: list[str] = []
    glue_next = False  # the previous token attaches to this one
    open_quote = False
    for i, tok in enumerate(tokens):
        if tok in _JOINERS and quotes and _joinable(tokens, i):
            out.append(_JOINERS[tok])
            glue_next = True
            continue
        attach = tok in attach_left
        if tok == "." and out and _ABBREV.match(tokens[i - 1]):
            attach = False
        if (
            tok in ("'s", "'t", "n't", "'d", "'m", "'re", "'ve", "'ll")
            and i
            and not tokens[i - 1][-1:].isalnum()
        ):
            attach = False
        if quotes and tok == '"':
            attach = open_quote  # a closing quote attaches left, an opening one right
        if out and not glue_next and not attach:
            out.append(" ")
        out.append(tok)
        glue_next = tok in _ATTACH_RIGHT or (quotes and tok == '"' and not open_quote)
        if quotes and tok == '"':
            open_quote = not open_quote
    return "".join(out)


def _heading(tokens: list[str]) -> tuple[int, list[str]] | None:
    """A WikiText heading line "= = Title = =" -> (level 2, ["Title"])."""
    level = 0
    while level < len(tokens) and tokens[level] == "=":
        level += 1
    if level == 0 or len(tokens) < 2 * level + 1 or tokens[-level:] != ["="] * level:
        return None
    return level, tokens[level:-level]


def wikitext_detokenize(text: str) -> str:
    """WikiText (raw or tokenized) -> natural text, line by line. Lines keep their order and
    count; WikiText's leading and trailing line space goes (the inverse restores it)."""
    lines = []
    for line in text.split("\n"):
        tokens = line.split()
        head = _heading(tokens)
        if head is not None:
            level, title = head
            lines.append("=" * level + " " + _detok_tokens(title, True) + " " + "=" * level)
        else:
            lines.append(_detok_tokens(tokens, True))
    return "\n".join(lines)


_SPLIT_LEFT = re.compile(r"^([(\[$]|\")")
_WIKI_CONTRACTION = re.compile(r"(?<=\w)('s|'re|'ve|'m|'ll|'d|'t)$")
_PTB_CONTRACTION = re.compile(r"(?<=\w)(n't|'s|'re|'ve|'m|'ll|'d)$")
_TRAIL = re.compile(r"(\.\.\.|[,.;:!?)\]%\"])$")
_IN_WORD = re.compile(r"(?<=[^\W_]|>)(-)(?=[^\W_]|<)|(?<=\d)([,.])(?=\d)")


def _retok_chunk(chunk: str, wiki: bool) -> list[str]:
    head: list[str] = []
    while wiki or chunk.startswith("$"):
        m = _SPLIT_LEFT.match(chunk)
        if not m or len(chunk) == 1 or (m.group(1) != "$" and not wiki):
            break
        head.append(m.group(1))
        chunk = chunk[1:]
    tail: list[str] = []
    contraction = _WIKI_CONTRACTION if wiki else _PTB_CONTRACTION
    while len(chunk) > 1:
        m = (_TRAIL.search(chunk) if wiki else None) or contraction.search(chunk)
        if not m:
            break
        if m.group(1) == "." and _ABBREV.match(chunk[:-1]):
            break
        tail.insert(0, m.group(1))
        chunk = chunk[: m.start()]
    middle = [chunk] if chunk else []
    if wiki and chunk:
        parts = _IN_WORD.split(chunk)  # text, group 1, group 2, text, ...
        middle = [(_JOINER_BACK[p] if i % 3 else p) for i, p in enumerate(parts) if p]
    return head + middle + tail


def _retok_line(line: str, wiki: bool) -> list[str]:
    return [t for chunk in line.split() for t in _retok_chunk(chunk, wiki)]


def wikitext_retokenize(text: str) -> str:
    """The inverse of :func:`wikitext_detokenize` (WikiText's line framing: " tokens ")."""
    lines = []
    for line in text.split("\n"):
        tokens = line.split()
        head = _heading(tokens) if tokens and set(tokens[0]) == {"="} else None
        if head is None and tokens and set(tokens[0]) == {"="} and set(tokens[-1]) == {"="}:
            level = len(tokens[0])
            title = " ".join(tokens[1:-1])
            toks = ["="] * level + _retok_line(title, True) + ["="] * level
        else:
            toks = _retok_line(line, True)
        lines.append(" " + " ".join(toks) + " " if toks else line)
    return "\n".join(lines)


def ptb_detokenize(text: str) -> str:
    """PTB (Mikolov's preprocessing: lower case, no punctuation but contractions, "$", "%"):
    contractions and "$" are attached, one sentence a line as before."""
    return "\n".join(_detok_tokens(line.split(), False) for line in text.split("\n"))


def ptb_retokenize(text: str) -> str:
    """The inverse of :func:`ptb_detokenize` (lines in PTB's framing " tokens ")."""
    return "\n".join(
        " " + " ".join(_retok_line(line, False)) + " " if line.split() else line
        for line in text.split("\n")
    )


DETOKENIZERS = {"wikitext": wikitext_detokenize, "ptb": ptb_detokenize}


def detokenizer_for(fmt: str):
    """The de-tokenizer of a test-set format, or None where the text is already natural."""
    return DETOKENIZERS.get(fmt)
