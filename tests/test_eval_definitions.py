"""What `webtext eval` computes, to the letter: LAMBADA's scored tokens, conditioning on
<|endoftext|>, bits per byte, and the help text of every option."""

from __future__ import annotations

import argparse
import math
import sys

import pytest

from eval.evaluate import PREFIX_EOT, conditioned, lambada_ids, summarize_rows
from eval.testsets import FORMATS, parse_test_spec, read_test_set, split_lambada


@pytest.fixture(scope="module")
def gpt2_tokenizer(shared_file):
    from model.tokenizer import load_tokenizer

    return load_tokenizer(shared_file("gpt2"))


@pytest.mark.parametrize(
    "text,context_text,target_text",
    [
        # a space before the word belongs to the word's token: " hello" (OpenAI's convention)
        ("he said hello", "he said", " hello"),
        # newlines stay in the context; the target is the word's own tokens
        ("some kind of\n\nPower", "some kind of\n\n", "Power"),
        ("saw the \n\nrecorder", "saw the \n\n", "recorder"),
        ("anyone has seen us.\n\u201cSal", "anyone has seen us.\n", "\u201cSal"),
    ],
)
def test_lambada_scores_the_word_tokens_of_the_passage_as_written(
    gpt2_tokenizer, text, context_text, target_text
):
    tok = gpt2_tokenizer
    context, target = split_lambada("t", "line 1", text)
    context_ids, target_ids = lambada_ids(tok, context, target)
    assert tok.decode(context_ids) == context_text and tok.decode(target_ids) == target_text
    assert context_ids + target_ids == tok.encode(text)  # one tokenization of the whole passage
    assert target_ids == tok.encode(target_text)


def test_lambada_test_set_targets(gpt2_tokenizer, shared_file):
    """Every passage is scored as written; a space-separated word gives exactly the sequence of
    the " " + word convention (so 5,146 passages score as before), and the 7 words after a line
    break are scored as the word's own tokens after the newline tokens."""
    tok = gpt2_tokenizer
    path = shared_file("testsets", "lambada", "lambada_test.jsonl")
    after_space = after_newline = 0
    for doc in read_test_set(parse_test_spec(f"lambada={path}")):
        context, target = split_lambada("lambada", doc.key, doc.text)
        context_ids, target_ids = lambada_ids(tok, context, target)
        assert tok.decode_bytes(context_ids + target_ids) == doc.text.encode("utf-8")
        if context[len(context.rstrip()) :] == " ":
            assert context_ids == tok.encode(context[:-1])
            assert target_ids == tok.encode(" " + target)
            after_space += 1
        else:
            assert tok.decode(context_ids) == context and target_ids == tok.encode(target)
            after_newline += 1
    assert (after_space, after_newline) == (5146, 7)


class _TriTokenizer:
    """A tokenizer that ignores word boundaries: the text in pieces of three characters."""

    def encode(self, text: str) -> list[int]:
        self.pieces = [text[i : i + 3] for i in range(0, len(text), 3)]
        return list(range(len(self.pieces)))

    def decode_bytes(self, ids: list[int]) -> bytes:
        return b"".join(self.pieces[i].encode("utf-8") for i in ids)


def test_lambada_ids_refuses_a_token_across_context_and_word():
    # "x a", " bc": only the space before the word rides with it
    assert lambada_ids(_TriTokenizer(), "x a ", "bc") == ([0], [1])
    # "xy ", "a b", "c": the token holding "b" starts in the context's "a"
    with pytest.raises(ValueError, match="joins it with the context text b'a '"):
        lambada_ids(_TriTokenizer(), "xy a ", "bc")


@pytest.mark.parametrize(
    "context,prefix,want",
    [
        ([5, 6], "always", [9, 5, 6, 7]),
        ([5, 6], "empty-context", [5, 6, 7]),
        ([], "always", [9, 7]),
        ([], "empty-context", [9, 7]),  # an empty context is conditioned on <|endoftext|>
    ],
)
def test_prefix_eot(context, prefix, want):
    assert conditioned(9, context, [7], prefix) == want


def test_prefix_eot_names_are_checked():
    with pytest.raises(ValueError, match="always, empty-context"):
        conditioned(9, [5], [7], "never")


def test_bits_per_byte_counts_bytes_not_characters():
    text = "na\u00efve caf\u00e9 \u6771\u4eac"  # 13 characters, 19 UTF-8 bytes
    nll = 30.0
    rows = [{"nll": nll, "n_tokens": 9, "n_units": 3, "n_bytes": len(text.encode("utf-8"))}]
    s = summarize_rows(rows, "word", "text")
    assert s["bytes"] == 19 and len(text) == 13
    # two roundings on each side (a division, a division): within 4 ulps
    assert s["bits_per_byte"] == pytest.approx(
        nll / math.log(2) / 19, rel=4 * sys.float_info.epsilon
    )
    assert (
        summarize_rows([{k: v for k, v in rows[0].items() if k != "n_bytes"}], "word", "text")[
            "bits_per_byte"
        ]
        is None
    )  # example files from before n_bytes existed


def _eval_parser() -> argparse.ArgumentParser:
    from pipeline.cli import build_parser

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices["eval"]


def test_every_eval_option_shows_its_default():
    parser = _eval_parser()
    options = [a for a in parser._actions if a.option_strings and a.dest != "help"]
    assert {a.dest for a in options} >= {"test", "out", "context", "stride", "prefix_eot"}
    for action in options:
        text = parser._get_formatter()._expand_help(action)
        if action.required:
            assert "(required)" in text, action.option_strings
        else:
            assert "(default: " in text, action.option_strings
        if action.default not in (None, False):
            assert f"(default: {action.default})" in text, action.option_strings


def test_test_option_help_lists_every_format_once():
    text = (
        _eval_parser()
        ._get_formatter()
        ._expand_help(next(a for a in _eval_parser()._actions if a.dest == "test"))
    )
    assert "formats " + ", ".join(FORMATS) + " (detected" in text
    assert "test sets, enwik8" not in text


def test_prefix_eot_choices_are_the_evaluators():
    parser = _eval_parser()
    action = next(a for a in parser._actions if a.dest == "prefix_eot")
    assert tuple(action.choices) == PREFIX_EOT and action.default == "always"
