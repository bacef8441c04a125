"""Normalisation and vectorised hashing: properties (hypothesis) and real text."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from dedup import text as T

any_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",)), max_size=300
)  # every Unicode category but lone surrogates


@given(any_text)
@settings(max_examples=400, deadline=None)
def test_fast_normalisation_equals_the_regex_definition(s):
    assert T.normalise(s) == T.normalise_reference(s)


@given(any_text)
@settings(max_examples=300, deadline=None)
def test_normalised_text_is_alphanumeric_words_and_single_spaces(s):
    norm = T.normalise(s)
    assert norm == norm.strip()
    assert "  " not in norm
    assert all(ch.isalnum() for word in norm.split(" ") if word for ch in word)
    assert T.normalise(norm) == norm  # idempotent
    assert T.normalise(s.upper()) == T.normalise(s.lower()) or not s.isascii()


def test_hashes_do_not_depend_on_the_array_dtype():
    # "cafe'" is ASCII (uint8 code points), "cafe\u2019" is not (uint32): same words, same hashes.
    assert (
        T.normalised_codepoints("Cafe' bar").dtype
        != T.normalised_codepoints("Cafe\u2019 bar").dtype
    )
    assert T.word_hashes("Cafe' bar").tolist() == T.word_hashes("Cafe\u2019 bar").tolist()
    assert T.word_hashes("caf\u00e9").tolist() == T.word_hashes_normalised("caf\u00e9").tolist()


def test_normalisation_examples_and_scripts():
    assert T.normalise("Hello,  World!!\n\tIt's 3.14 -- ok_then") == "hello world it s 3 14 ok then"
    assert T.normalise("Привет, МИР! Ελληνικά; 東京タワー。") == "привет мир ελληνικά 東京タワー"
    assert T.normalise("") == "" and T.normalise(" ,.;!? ") == ""
    assert T.words("A b, C") == ["a", "b", "c"]


@given(
    st.lists(
        st.text(alphabet="abcdefghijklmnopqrstuvwxyzé0123", min_size=1, max_size=12),
        min_size=0,
        max_size=60,
    )
)
@settings(max_examples=200, deadline=None)
def test_equal_words_hash_equal_and_hashing_is_positional_free(ws):
    hashes = T.word_hashes(" ".join(ws))
    assert len(hashes) == len(ws)
    first: dict[str, int] = {}
    for w, h in zip(ws, hashes.tolist(), strict=True):
        assert first.setdefault(w, h) == h  # the same word hashes the same anywhere
    # distinct words, distinct hashes (64-bit: a collision here would be a bug)
    assert len(set(first.values())) == len(first)


def test_chunked_hashing_equals_whole_text_hashing(monkeypatch):
    rng = np.random.default_rng(0)
    vocab = [f"w{i}" for i in range(500)] + ["x" * 300]
    text = " ".join(vocab[i] for i in rng.integers(0, len(vocab), 20_000))
    whole = T.word_hashes(text)
    monkeypatch.setattr(T, "CHUNK_BYTES", 1000)
    assert np.array_equal(T.word_hashes(text), whole)
    monkeypatch.setattr(T, "CHUNK_BYTES", 7)  # smaller than some words
    assert np.array_equal(T.word_hashes(text), whole)


def test_ngram_hashes_are_order_sensitive_and_counted():
    h = T.word_hashes("a b c d e f g h i")
    grams = T.ngram_hashes(h, 8)
    assert len(grams) == 2 and grams[0] != grams[1]
    swapped = T.ngram_hashes(T.word_hashes("b a c d e f g h"), 8)
    assert swapped[0] != grams[0]
    same = T.ngram_hashes(T.word_hashes("X, a b c d e f g h!"), 8)
    assert same[1] == grams[0]
    assert len(T.ngram_hashes(T.word_hashes("only seven words in this text here"), 8)) == 0


def test_real_prose_hashes_are_collision_free(shared_file):
    from synthetic import prose_sentences

    sentences = prose_sentences(shared_file("prose", "nltk_gutenberg_17books.tar.xz"))
    text = " ".join(line for _, (_book, line) in zip(range(40_000), sentences, strict=False))
    words = T.words(text)
    hashes = T.word_hashes(text)
    assert len(hashes) == len(words)
    assert len(set(hashes.tolist())) == len(set(words))
    grams = T.ngram_hashes(hashes, 8)
    distinct_grams = {tuple(words[i : i + 8]) for i in range(len(words) - 7)}
    assert len(set(grams.tolist())) == len(distinct_grams)
