"""WikiText / PTB de-tokenizers on the real test files: natural output, and invertible."""

from __future__ import annotations

import pytest

from eval.detok import ptb_detokenize, ptb_retokenize, wikitext_detokenize, wikitext_retokenize


def test_wikitext_examples():
    line = ' The actor \'s role , ( a well @-@ known " star " ) cost $ 1 @,@ 000 @.@ 5 . '
    out = wikitext_detokenize(line)
    assert out == 'The actor\'s role, (a well-known "star") cost $1,000.5.'
    assert wikitext_retokenize(out) == line
    assert wikitext_detokenize(" = = Career = = ") == "== Career =="
    assert wikitext_retokenize("== Career ==") == " = = Career = = "


def test_ptb_examples():
    line = " it was n't mr. smith 's $ N stock "
    out = ptb_detokenize(line)
    assert out == "it wasn't mr. smith's $N stock"
    assert ptb_retokenize(out) == line


@pytest.mark.parametrize(
    "parts,detok,retok,min_rate,min_changed",
    [
        (
            ("testsets", "wikitext-2", "test.txt"),
            wikitext_detokenize,
            wikitext_retokenize,
            0.99,
            0.5,
        ),
        (
            ("testsets", "wikitext-2-raw", "wiki.test.raw"),
            wikitext_detokenize,
            wikitext_retokenize,
            0.985,
            0.5,
        ),
        (("testsets", "ptb", "ptb.test.txt"), ptb_detokenize, ptb_retokenize, 1.0, 0.3),
    ],
)
def test_real_files_round_trip(shared_file, parts, detok, retok, min_rate, min_changed):
    text = shared_file(*parts).read_text(encoding="utf-8").replace("\r\n", "\n")
    lines = [line for line in text.split("\n") if line.strip()]
    changed = sum(detok(line) != line.strip() for line in lines)
    exact = sum(retok(detok(line)) == line for line in lines)
    assert changed > len(lines) * min_changed  # it does remove tokenization artifacts
    assert exact / len(lines) >= min_rate
