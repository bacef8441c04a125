"""GPT-2 byte-level BPE: load the original files, train a new vocabulary, encode fast.

GPT-2's tokenizer works on UTF-8 bytes. Each of the 256 byte values is mapped to a printable
Unicode character (so merges can be stored as text), the text is cut into pieces by a fixed
regular expression (contractions, letter runs, digit runs, punctuation runs, each optionally
with one leading space, and whitespace runs), and inside every piece adjacent symbols are merged
in the order of the merge list ``vocab.bpe``. ``encoder.json`` maps every symbol to its id;
``<|endoftext|>`` is the last id. Nothing is ever unknown: any byte string can be encoded.

One ``BPETokenizer`` serves both vocabulary sources of ``webtext tokenize``:

* the original GPT-2 files (``load_tokenizer(directory)``), and
* a new vocabulary trained on a corpus with the ``tokenizers`` library (``train_bpe``), saved
  in the same two-file format with ids laid out like GPT-2's (256 byte symbols, then one id
  per merge in merge order, then ``<|endoftext|>``), so ``load_tokenizer`` reads it back.

Encoding runs in Rust. When the ids are in merge order (true for both sources above) the
engine is ``tiktoken`` built from the loaded merges: it ranks a candidate merge by the id of
the merged symbol, which for such a vocabulary reproduces GPT-2's pair-by-pair merges (the tests
check it against a plain-Python GPT-2 BPE and against the ``tokenizers`` engine on real text),
and it is the fastest engine we measured (bench/tokenize_throughput.py). Files whose ids are not in merge order use the ``tokenizers`` BPE model,
which applies ``vocab.bpe`` literally. ``<|endoftext|>`` is never produced from text: a document
that contains the literal string is encoded as ordinary characters, as GPT-2 did.
"""

from __future__ import annotations

import io
import json
import os
import uuid
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

# GPT-2's pre-tokenisation pattern (openai/gpt-2 src/encoder.py), in the `regex` dialect.
GPT2_SPLIT_PATTERN = (
    r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
)
# The same pattern with the contractions grouped behind one apostrophe: it matches exactly
# what GPT2_SPLIT_PATTERN matches (no contraction is a prefix of another), and the Rust regex
# engine runs it ~5% faster. Used for encoding; the parity tests use the original.
ENGINE_SPLIT_PATTERN = (
    r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
)
EOT_TOKEN = "<|endoftext|>"
ENCODER_FILE = "encoder.json"
MERGES_FILE = "vocab.bpe"
MERGES_HEADER = "#version: 0.2"
GPT2_VOCAB_SIZE = 50257
ENGINES = ("auto", "tiktoken", "hf")


class TokenizerFileError(ValueError):
    """encoder.json / vocab.bpe are malformed or do not belong together."""


class TokenizerInputError(ValueError):
    """A text cannot be encoded (not valid Unicode: a lone surrogate)."""


def byte_symbols() -> list[str]:
    """The printable character GPT-2 uses for each byte value, indexed by the byte.

    Bytes that are printable Latin-1 characters (``!``..``~``, ``¡``..``¬``, ``®``..``ÿ``)
    stand for themselves; the other 68 bytes (controls, space, soft hyphen, ...) get the
    characters U+0100, U+0101, ... in byte order. So a space is ``Ġ`` and a newline ``Ċ``.
    """
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    symbols = [""] * 256
    for b in printable:
        symbols[b] = chr(b)
    extra = 0
    for b in range(256):
        if not symbols[b]:
            symbols[b] = chr(256 + extra)
            extra += 1
    return symbols


def base_symbol_order() -> list[str]:
    """The 256 byte symbols in the order GPT-2's encoder.json numbers them (ids 0..255):
    the printable bytes first, then the remapped ones."""
    symbols = byte_symbols()
    printable = [s for s in symbols if ord(s) < 256]
    remapped = [s for s in symbols if ord(s) >= 256]
    return printable + remapped


_SYMBOL_TO_BYTE: dict[str, int] = {s: b for b, s in enumerate(byte_symbols())}


def symbol_to_bytes(token: str, *, where: str = "token") -> bytes:
    """The bytes a vocabulary entry stands for (``Ġthe`` -> b" the")."""
    try:
        return bytes(_SYMBOL_TO_BYTE[ch] for ch in token)
    except KeyError as exc:
        raise TokenizerFileError(
            f"{where}: {token!r} contains {exc.args[0]!r}, which is not one of GPT-2's 256 "
            "byte symbols"
        ) from None


def check_text(text: str, where: str = "text") -> None:
    """Raise TokenizerInputError when ``text`` cannot be UTF-8 encoded (a lone surrogate,
    e.g. from JSON ``"\\ud800"`` or a file decoded with ``surrogateescape``)."""
    if not isinstance(text, str):
        raise TypeError(f"{where}: expected str, got {type(text).__name__}")
    if text.isascii():
        return
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        bad = ord(text[exc.start])
        raise TokenizerInputError(
            f"{where}: lone surrogate U+{bad:04X} at character {exc.start}: not valid Unicode "
            "text, so it has no UTF-8 bytes to encode (fix the decoder that produced it, e.g. "
            "decode with errors='replace')"
        ) from None


def _cpu_count() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


class BPETokenizer:
    """A GPT-2-format byte-level BPE vocabulary with a Rust encoding engine.

    ``encoder`` maps symbols (byte symbols joined, see ``byte_symbols``) to ids 0..N-1;
    ``merges`` is vocab.bpe's list of symbol pairs, highest priority first. The two are checked
    against each other: every merge's parts and result must be vocabulary entries, every
    vocabulary entry must be a byte symbol, a merge result or ``<|endoftext|>``.
    """

    def __init__(
        self,
        encoder: dict[str, int],
        merges: Sequence[tuple[str, str]],
        *,
        engine: str = "auto",
        num_threads: int | None = None,
        source: str = "<in memory>",
    ) -> None:
        if engine not in ENGINES:
            raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
        self.source = source
        self.encoder = dict(encoder)
        self.merges = [tuple(m) for m in merges]
        self.num_threads = num_threads or _cpu_count()
        self._id_bytes, self._rank_ordered = self._validate()
        self.vocab_size: int = len(self.encoder)
        self.eot_id: int = self.encoder[EOT_TOKEN]
        if engine == "auto":
            engine = "tiktoken" if self._rank_ordered else "hf"
        if engine == "tiktoken" and not self._rank_ordered:
            raise TokenizerFileError(
                f"{source}: ids are not in merge order, so the tiktoken engine would merge "
                "differently from vocab.bpe; use engine='hf'"
            )
        self.engine = engine
        self._pool: ThreadPoolExecutor | None = None
        self._tiktoken = self._build_tiktoken() if engine == "tiktoken" else None
        self._hf = self._build_hf() if engine == "hf" else None

    # -- construction -------------------------------------------------------------------

    def _validate(self) -> tuple[list[bytes], bool]:
        """Check encoder and merges belong together; return id -> bytes and whether ids
        follow merge order (what the tiktoken engine needs)."""
        enc_name = f"{self.source}/{ENCODER_FILE}"
        bpe_name = f"{self.source}/{MERGES_FILE}"
        n = len(self.encoder)
        ids = sorted(self.encoder.values())
        if not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
            raise TokenizerFileError(f"{enc_name}: ids must be integers")
        if ids != list(range(n)):
            missing = sorted(set(range(n)) - set(ids))[:5]
            raise TokenizerFileError(
                f"{enc_name}: ids must be 0..{n - 1}, each once "
                f"(missing e.g. {missing}, {n - len(set(ids))} duplicates)"
            )
        if EOT_TOKEN not in self.encoder:
            raise TokenizerFileError(f"{enc_name}: no {EOT_TOKEN} entry")
        missing_bytes = [s for s in byte_symbols() if s not in self.encoder]
        if missing_bytes:
            raise TokenizerFileError(
                f"{enc_name}: {len(missing_bytes)} of the 256 byte symbols are missing "
                f"(e.g. {missing_bytes[:3]}); a byte-level vocabulary needs all of them"
            )
        results: set[str] = set()
        previous_id = -1
        rank_ordered = True
        for line, (left, right) in enumerate(self.merges, start=2):
            for part in (left, right):
                if part not in self.encoder:
                    raise TokenizerFileError(
                        f"{bpe_name} line {line}: merge '{left} {right}' uses {part!r}, which is "
                        f"not in {enc_name}: the two files do not belong together"
                    )
            merged = left + right
            merged_id = self.encoder.get(merged)
            if merged_id is None:
                raise TokenizerFileError(
                    f"{bpe_name} line {line}: merge '{left} {right}' produces {merged!r}, which "
                    f"is not in {enc_name}: the two files do not belong together"
                )
            if merged in results or merged_id <= previous_id:
                rank_ordered = False
            results.add(merged)
            previous_id = max(previous_id, merged_id)
        base = set(byte_symbols())
        id_bytes: list[bytes] = [b""] * n
        for token, i in self.encoder.items():
            if token == EOT_TOKEN:
                id_bytes[i] = token.encode("ascii")
                continue
            if token not in base and token not in results:
                raise TokenizerFileError(
                    f"{enc_name}: entry {token!r} (id {i}) is neither a byte symbol nor the "
                    f"result of a merge in {bpe_name}: the two files do not belong together"
                )
            id_bytes[i] = symbol_to_bytes(token, where=f"{enc_name} entry {i}")
        # tiktoken ranks tokens by id: bytes first, merges in order, <|endoftext|> apart.
        max_base = max(self.encoder[s] for s in base)
        first_merge = min((self.encoder[a + b] for a, b in self.merges), default=n)
        if max_base > first_merge:
            rank_ordered = False
        return id_bytes, rank_ordered

    def _build_tiktoken(self):  # -> tiktoken.Encoding
        import tiktoken

        ranks = {self._id_bytes[i]: i for t, i in self.encoder.items() if t != EOT_TOKEN}
        return tiktoken.Encoding(
            f"webtext-bpe-{self.vocab_size}-{uuid.uuid4().hex[:8]}",
            pat_str=ENGINE_SPLIT_PATTERN,
            mergeable_ranks=ranks,
            special_tokens={EOT_TOKEN: self.eot_id},
        )

    def _build_hf(self):  # -> tokenizers.Tokenizer
        from tokenizers import Tokenizer, decoders, models, pre_tokenizers

        tok = Tokenizer(models.BPE(vocab=self.encoder, merges=list(self.merges)))
        # ByteLevel with use_regex applies GPT-2's split pattern; no prefix space, as GPT-2.
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
        tok.decoder = decoders.ByteLevel()
        return tok

    # -- encoding -----------------------------------------------------------------------

    def encode(self, text: str) -> list[int]:
        """Ids of ``text`` (no ``<|endoftext|>`` added)."""
        check_text(text)
        if self._tiktoken is not None:
            return self._tiktoken.encode_ordinary(text)
        return self._hf.encode(text, add_special_tokens=False).ids

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        """Ids of every text, encoded in parallel on all cores (Rust threads, GIL released)."""
        for i, text in enumerate(texts):
            check_text(text, f"text {i} of the batch")
        if self._tiktoken is not None:
            return self._encode_chunked(texts)
        return [e.ids for e in self._hf.encode_batch_fast(texts, add_special_tokens=False)]

    def _encode_chunked(self, texts: list[str]) -> list[list[int]]:
        """tiktoken over contiguous chunks, one thread each (Rust releases the GIL).

        tiktoken's own encode_ordinary_batch submits one future per text, whose overhead
        exceeds the encoding time of short documents; chunks amortise it.
        """
        encode = self._tiktoken.encode_ordinary
        threads = min(self.num_threads, len(texts))
        if threads <= 1:
            return [encode(text) for text in texts]
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.num_threads, thread_name_prefix="bpe")
        n_chunks = min(len(texts), threads * 4)  # a few per thread: documents vary in length
        bounds = [len(texts) * i // n_chunks for i in range(n_chunks + 1)]
        chunks = [texts[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]
        out: list[list[int]] = []
        for part in self._pool.map(lambda chunk: [encode(t) for t in chunk], chunks):
            out.extend(part)
        return out

    def decode_bytes(self, ids: Iterable[int]) -> bytes:
        """The bytes ``ids`` stand for (``<|endoftext|>`` as its 13 ASCII characters)."""
        table = self._id_bytes
        ids = list(ids)
        try:
            if any(i < 0 for i in ids):
                raise IndexError
            return b"".join([table[i] for i in ids])
        except (IndexError, TypeError):
            bad = next(i for i in ids if not (isinstance(i, int) and 0 <= i < len(table)))
            raise ValueError(
                f"token id {bad!r} is outside the vocabulary 0..{len(table) - 1}"
            ) from None

    def decode(self, ids: Iterable[int]) -> str:
        """Text of ``ids``; a sequence cut inside a multi-byte character decodes with U+FFFD."""
        ids = [int(i) for i in ids]
        return self.decode_bytes(ids).decode("utf-8", errors="replace")

    # -- files --------------------------------------------------------------------------

    def save(self, directory: str | os.PathLike) -> str:
        """Write encoder.json and vocab.bpe (GPT-2's format) into ``directory`` (a local path
        or an object-store URI), each atomically: a ``_tmp-`` name, then moved."""
        from pipeline.io import shards

        out = tokenizer_location(directory)
        encoder_text = json.dumps(self.encoder, ensure_ascii=False)
        merges_text = "\n".join([MERGES_HEADER, *(f"{a} {b}" for a, b in self.merges)]) + "\n"
        shards.write_bytes_atomic(shards.join(out, ENCODER_FILE), encoder_text.encode("utf-8"))
        shards.write_bytes_atomic(shards.join(out, MERGES_FILE), merges_text.encode("utf-8"))
        return out

    def __repr__(self) -> str:
        return (
            f"BPETokenizer(vocab_size={self.vocab_size}, merges={len(self.merges)}, "
            f"engine={self.engine!r}, source={self.source!r})"
        )


# The tokenizer's files go through the foundation's one filesystem layer (pipeline.io: local
# paths and s3://, gs://, ... alike), imported when a file is touched: importing this module
# stays free of pyarrow and of the pipeline package (Beam workers, the CLI's option parsing).


def tokenizer_location(directory: str | os.PathLike) -> str:
    """A tokenizer directory as the string the filesystem layer takes: local paths as
    pathlib spells them (``a//b/`` -> ``a/b``), URIs (``s3://...``) as given."""
    from pipeline.io.object_store import is_object_store

    text = os.fspath(directory)
    return text.rstrip("/") if is_object_store(text) else str(Path(text))


def read_file_bytes(path: str | os.PathLike) -> bytes:
    """A whole file's bytes, from a local path or an object-store URI."""
    from pipeline.io import shards

    fs, p = shards.resolve(os.fspath(path))
    with fs.open_input_stream(p, compression=None) as f:
        return f.read()


def is_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` (a local path or an object-store URI) is a file."""
    import pyarrow.fs as pafs

    from pipeline.io import shards

    fs, p = shards.resolve(os.fspath(path))
    return fs.get_file_info(p).type == pafs.FileType.File


def _text(path: str | os.PathLike) -> io.TextIOWrapper:
    """A file as text, read as ``open(path, encoding="utf-8")`` reads it (universal
    newlines; a UTF-8 error raised while reading), from any filesystem."""
    return io.TextIOWrapper(io.BytesIO(read_file_bytes(path)), encoding="utf-8")


def read_merges(path: str | os.PathLike) -> list[tuple[str, str]]:
    """vocab.bpe -> merge pairs. The ``#version`` header is optional; blank lines are skipped;
    any other line must be two symbols separated by one space."""
    merges: list[tuple[str, str]] = []
    with _text(path) as f:
        for number, raw in enumerate(f, start=1):
            line = raw.rstrip("\n")
            if number == 1 and line.startswith("#version"):
                continue
            if not line:
                continue
            parts = line.split(" ")
            if len(parts) != 2 or not parts[0] or not parts[1]:
                raise TokenizerFileError(
                    f"{path} line {number}: expected two symbols separated by one space, "
                    f"got {line!r}"
                )
            merges.append((parts[0], parts[1]))
    return merges


def load_tokenizer(
    directory: str | os.PathLike, *, engine: str = "auto", num_threads: int | None = None
) -> BPETokenizer:
    """Read encoder.json + vocab.bpe from a directory (GPT-2's files, or ``save``'s): a local
    path or an object-store URI."""
    from pipeline.io import shards

    d = tokenizer_location(directory)
    encoder_path, merges_path = shards.join(d, ENCODER_FILE), shards.join(d, MERGES_FILE)
    for path in (encoder_path, merges_path):
        if not is_file(path):
            raise FileNotFoundError(
                f"{path}: not found; a GPT-2 tokenizer directory holds {ENCODER_FILE} and "
                f"{MERGES_FILE}"
            )
    try:
        with _text(encoder_path) as f:
            encoder = json.loads(f.read())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise TokenizerFileError(f"{encoder_path}: not valid JSON: {exc}") from None
    if not isinstance(encoder, dict):
        raise TokenizerFileError(f"{encoder_path}: expected a JSON object {{symbol: id}}")
    try:
        merges = read_merges(merges_path)
    except UnicodeDecodeError as exc:
        raise TokenizerFileError(f"{merges_path}: not UTF-8 text: {exc}") from None
    return BPETokenizer(encoder, merges, engine=engine, num_threads=num_threads, source=d)


def _checked(texts: Iterable[str]) -> Iterator[str]:
    for i, text in enumerate(texts):
        check_text(text, f"training text {i}")
        yield text


def train_bpe(
    texts: Iterable[str],
    vocab_size: int = GPT2_VOCAB_SIZE,
    *,
    min_frequency: int = 2,
    engine: str = "auto",
) -> BPETokenizer:
    """Train a byte-level BPE with GPT-2's pre-tokenisation on ``texts`` (``tokenizers``).

    ``vocab_size`` counts everything, ``<|endoftext|>`` included, as GPT-2's 50,257 does: 256
    byte symbols + up to ``vocab_size - 257`` merges + ``<|endoftext|>``. A small corpus may
    support fewer merges (no pair seen ``min_frequency`` times): the result is then smaller.
    The ids are renumbered GPT-2's way (bytes, merges in order, end-of-text last).
    """
    if vocab_size < 257:
        raise ValueError(
            f"vocab_size must be at least 257 (256 bytes + {EOT_TOKEN}), got {vocab_size}"
        )
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size - 1,
        min_frequency=min_frequency,
        special_tokens=[],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_checked(texts), trainer=trainer)
    raw_merges = json.loads(tok.to_str())["model"]["merges"]
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in raw_merges]
    return _canonical(merges, engine=engine)


def _canonical(merges: Sequence[tuple[str, str]], *, engine: str = "auto") -> BPETokenizer:
    """Number a merge list GPT-2's way. A merge whose result an earlier merge already made
    (the trainer can reach one string by two splits) is dropped, so each id is one merge."""
    encoder = {s: i for i, s in enumerate(base_symbol_order())}
    kept: list[tuple[str, str]] = []
    for left, right in merges:
        merged = left + right
        if merged in encoder:
            continue
        encoder[merged] = len(encoder)
        kept.append((left, right))
    encoder[EOT_TOKEN] = len(encoder)
    return BPETokenizer(encoder, kept, engine=engine, source="<trained>")
