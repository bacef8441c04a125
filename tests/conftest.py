"""Shared fixtures. Tests that read ../shared/data use the ``shared_data`` fixture: they skip
with a reason when it is absent (a user's clone) and fail when WEBTEXT_REQUIRE_SHARED=1 (CI)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from hypothesis import settings

# Property tests draw the same examples on every run and machine (a fixed seed), so CI never
# fails on an example no earlier run saw; HYPOTHESIS_PROFILE=explore searches afresh.
settings.register_profile("deterministic", derandomize=True, print_blob=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "deterministic"))

REPO_ROOT = Path(__file__).resolve().parent.parent
# bench/synthetic.py (synthetic corpora and token directories) serves tests and benchmarks alike.
# Appended, not prepended: bench/dedup.py and friends must not shadow the packages.
sys.path.append(str(REPO_ROOT / "bench"))
# tests/ is a package (tests/__init__.py), so that a site-packages `tests` package (pywb ships
# one) cannot shadow it; its modules also import each other by plain name (floats, helpers).
sys.path.append(str(REPO_ROOT / "tests"))
SHARED_DATA = Path(os.environ.get("WEBTEXT_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


def _shared_path(*parts: str) -> Path:
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        message = f"shared test data not found at {path} (set WEBTEXT_SHARED_DATA to its folder)"
        if os.environ.get("WEBTEXT_REQUIRE_SHARED") == "1":
            pytest.fail(message + "; WEBTEXT_REQUIRE_SHARED=1 makes this an error")
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder ../shared/data (real Reddit dumps, pages, test sets, GPT-2 files)."""
    return _shared_path()


@pytest.fixture(scope="session")
def shared_file():
    """shared_file("reddit", "RS_v2_2005-06.xz") -> Path, skipping/failing as above."""
    return _shared_path


# The demo's steps that write stage directories (train/eval/report write none).
STAGE_STEPS = ("links", "fetch + extract", "dedup + overlap", "tokenize")
DEMO_TRAIN_STEPS = 10


@pytest.fixture(scope="session")
def demo_root(tmp_path_factory) -> Path:
    """A real demo run (links -> pages -> docs -> corpus/dups -> tokens, overlap), once per
    session (~30 s); read it, never change it (copy it first)."""
    from pipeline.demo import STEPS

    root = tmp_path_factory.mktemp("stats_demo")
    for title, step in STEPS:
        if title not in STAGE_STEPS:
            continue
        step(root, ["--direct_num_workers=1"])
    return root


@pytest.fixture(scope="session")
def trained_root(demo_root: Path, tmp_path_factory) -> Path:
    """A copy of the demo tree carried on through the demo's train, eval and report steps
    (a short training run), to read those stages back; once per session."""
    import shutil

    from pipeline.demo.eval_report import eval_report_step as eval_and_report
    from pipeline.demo.train_sample import train_sample_step as train_and_sample

    root = tmp_path_factory.mktemp("stats_trained") / "run"
    shutil.copytree(demo_root, root)
    train_and_sample(root, [], steps=DEMO_TRAIN_STEPS)
    eval_and_report(root, [])
    return root
