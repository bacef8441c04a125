"""Parity of model.tokenizer with an independent, plain-Python GPT-2 BPE on real text.

The reference below is written from the algorithm's definition (bytes -> printable symbols,
GPT-2's split pattern, then repeatedly merge the adjacent pair that comes first in vocab.bpe)
and shares no code with model/tokenizer.py.
"""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest
import regex
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from model.tokenizer import BPETokenizer, load_tokenizer

SPLIT = regex.compile(
    r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
)


def _reference_byte_map() -> dict[int, str]:
    keep = set(range(0x21, 0x7F)) | set(range(0xA1, 0xAD)) | set(range(0xAE, 0x100))
    mapping: dict[int, str] = {}
    shifted = 0x100
    for byte in range(256):
        if byte in keep:
            mapping[byte] = chr(byte)
        else:
            mapping[byte] = chr(shifted)
            shifted += 1
    return mapping


class ReferenceBPE:
    """GPT-2's encoder, straightforwardly: O(n^2) per word, cached per word."""

    def __init__(self, directory: Path) -> None:
        self.encoder = json.loads((directory / "encoder.json").read_text(encoding="utf-8"))
        lines = (directory / "vocab.bpe").read_text(encoding="utf-8").split("\n")[1:]
        self.rank = {tuple(line.split(" ")): i for i, line in enumerate(lines) if line}
        self.byte_map = _reference_byte_map()
        self.cache: dict[str, list[str]] = {}

    def merge_word(self, word: str) -> list[str]:
        if word in self.cache:
            return self.cache[word]
        parts = list(word)
        while len(parts) > 1:
            candidates = [
                (self.rank[pair], i)
                for i, pair in enumerate(zip(parts, parts[1:], strict=False))
                if pair in self.rank
            ]
            if not candidates:
                break
            _, at = min(candidates)
            first, second = parts[at], parts[at + 1]
            merged: list[str] = []
            i = 0
            while i < len(parts):
                if i + 1 < len(parts) and parts[i] == first and parts[i + 1] == second:
                    merged.append(first + second)
                    i += 2
                else:
                    merged.append(parts[i])
                    i += 1
            parts = merged
        self.cache[word] = parts
        return parts

    def encode(self, text: str) -> list[int]:
        ids: list[int] = []
        for piece in SPLIT.findall(text):
            word = "".join(self.byte_map[b] for b in piece.encode("utf-8"))
            ids.extend(self.encoder[symbol] for symbol in self.merge_word(word))
        return ids


@pytest.fixture(scope="module")
def gpt2_dir(shared_file) -> Path:
    return shared_file("gpt2")


@pytest.fixture(scope="module")
def ours(gpt2_dir: Path) -> BPETokenizer:
    return load_tokenizer(gpt2_dir)


@pytest.fixture(scope="module")
def reference(gpt2_dir: Path) -> ReferenceBPE:
    return ReferenceBPE(gpt2_dir)


def _jsonl_texts(path: Path) -> list[str]:
    return [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines()]


def _assert_parity(ours: BPETokenizer, reference: ReferenceBPE, texts: list[str]) -> int:
    got = ours.encode_batch(texts)
    total = 0
    for i, (text, ids) in enumerate(zip(texts, got, strict=True)):
        expected = reference.encode(text)
        assert ids == expected, f"text {i} differs: {text[:200]!r}"
        assert ours.decode(ids) == text
        total += len(ids)
    return total


def test_known_gpt2_ids(ours: BPETokenizer) -> None:
    # Fixed points of the published vocabulary (SOURCE.txt: "Ġthe" = 262, <|endoftext|> last).
    assert ours.vocab_size == 50257
    assert ours.eot_id == 50256
    assert ours.encode(" the") == [262]
    assert ours.encode("Hello world") == [15496, 995]
    assert ours.engine == "tiktoken"


EDGE_CASES = [
    "",
    " ",
    "   leading spaces",
    "trailing spaces   ",
    "a  b   c\t\td\n\n\ne",
    "\n\n\n",
    " \t \n \r\n",
    "don't DON'T I'm we'll they'd you've she's it'S",
    "'s's's 'll''",
    "emoji 👍🏽 family 👨‍👩‍👧 flags 🇫🇷🇯🇵",
    "中文文本，日本語のテキスト、한국어 텍스트",
    "Ünïcödé naïve café résumé Straße",
    "combining: e\u0301 a\u0308 non-breaking\u00a0space thin\u2009space",
    "numbers 1234567890 ١٢٣ ½ ²³",
    "<|endoftext|> is text here, not the special id",
    "tabs\tand\u000bvertical\u000cfeed",
    "zero\u200bwidth\u200djoiner\ufeffbom",
    "😀" * 20,
    "x" * 3000,
]


@pytest.mark.parametrize("text", EDGE_CASES, ids=range(len(EDGE_CASES)))
def test_edge_cases_match_reference(ours: BPETokenizer, reference: ReferenceBPE, text: str) -> None:
    assert ours.encode(text) == reference.encode(text)
    assert ours.decode(ours.encode(text)) == text


def test_literal_endoftext_is_not_special(ours: BPETokenizer) -> None:
    ids = ours.encode("<|endoftext|>")
    assert ours.eot_id not in ids
    assert len(ids) > 1


def test_webtext_matches_reference(
    ours: BPETokenizer, reference: ReferenceBPE, shared_file
) -> None:
    texts = _jsonl_texts(shared_file("webtext", "webtext.valid.jsonl"))
    texts += _jsonl_texts(shared_file("webtext", "webtext.test.jsonl"))
    assert any(ord(c) >= 0x1F300 for t in texts for c in t), "expected emoji in the test text"
    total = _assert_parity(ours, reference, texts)
    assert total > 500_000


def test_hf_engine_matches_reference_on_webtext(
    gpt2_dir: Path, reference: ReferenceBPE, shared_file
) -> None:
    hf = load_tokenizer(gpt2_dir, engine="hf")
    assert hf.engine == "hf"
    texts = _jsonl_texts(shared_file("webtext", "webtext.test.jsonl"))[:1500]
    _assert_parity(hf, reference, texts)


@pytest.mark.slow
def test_test_sets_and_prose_match_reference(
    ours: BPETokenizer, reference: ReferenceBPE, shared_file
) -> None:
    texts = _jsonl_texts(shared_file("testsets", "lambada", "lambada_test.jsonl"))
    raw = shared_file("testsets", "wikitext-2-raw", "wiki.test.raw").read_bytes().decode("utf-8")
    # Keep the CRLF line endings and runs of spaces: whitespace handling is under test.
    texts += [raw[i : i + 20_000] for i in range(0, len(raw), 20_000)]
    evaldata = json.loads(shared_file("extraction", "trafilatura", "evaldata.json").read_text())
    texts += [
        s for entry in evaldata.values() for s in entry.get("with", []) + entry.get("without", [])
    ]
    with tarfile.open(shared_file("prose", "nltk_gutenberg_17books.tar.xz"), "r:xz") as tar:
        member = tar.getmember("gutenberg/carroll-alice.txt")
        texts.append(tar.extractfile(member).read().decode("utf-8"))
    total = _assert_parity(ours, reference, texts)
    assert total > 700_000


@given(st.text(max_size=200))
@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_any_text_matches_reference(ours: BPETokenizer, reference: ReferenceBPE, text: str) -> None:
    assert ours.encode(text) == reference.encode(text)


@given(st.text(max_size=300))
@settings(
    max_examples=500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_round_trip_any_unicode(ours: BPETokenizer, text: str) -> None:
    assert ours.decode(ours.encode(text)) == text


@given(st.text(alphabet=st.sampled_from("'sdmtlvre \n\tA1.é"), max_size=40) | st.text(max_size=80))
@settings(max_examples=500, deadline=None)
def test_engine_pattern_splits_like_gpt2s(text: str) -> None:
    from model.tokenizer import ENGINE_SPLIT_PATTERN, GPT2_SPLIT_PATTERN

    assert regex.findall(ENGINE_SPLIT_PATTERN, text) == regex.findall(GPT2_SPLIT_PATTERN, text)
    assert regex.findall(GPT2_SPLIT_PATTERN, text) == SPLIT.findall(text)
