"""A BPE trained on a small corpus stops short of the requested vocabulary: that is expected,
so it is said at info level, as what it means, not as a warning."""

from __future__ import annotations

import logging
from pathlib import Path

from beam_jobs.tokenize_job import TokenizeConfig, run_tokenize
from model.data import tokenizer_vocab_size
from tests.helpers import write_prose_corpus


def test_a_small_corpus_vocabulary_is_an_info_note(tmp_path: Path, caplog) -> None:
    texts = [f"the cat number {i} sat on the mat near the door" for i in range(8)]
    write_prose_corpus(tmp_path / "corpus", texts, n_train=6)
    config = TokenizeConfig(str(tmp_path / "corpus"), str(tmp_path / "tokens"), vocab_size=2000)
    with caplog.at_level(logging.INFO, logger="beam_jobs.tokenize_job"):
        run_tokenize(config)
    ids = tokenizer_vocab_size(tmp_path / "tokens")
    assert ids is not None and ids < 2000
    notes = [r for r in caplog.records if "asked for" in r.getMessage()]
    assert [r.levelno for r in notes] == [logging.INFO]
    message = notes[0].getMessage()
    assert f"BPE vocabulary: {ids:,} ids of the 2,000 asked for" in message
    assert "expected on a small corpus" in message
    assert f"training uses {ids:,} ids" in message
    ours = [r for r in caplog.records if r.name.startswith("beam_jobs")]
    assert not [r for r in ours if r.levelno >= logging.WARNING]
