"""The study's presets: how much data, which model sizes, how many tokens, on which device.

``cpu`` is the default: three sizes on a laptop's two cores in 11-15 minutes when idle (the
measured figures are in README.md, "The study"). ``tiny`` runs every step in about a minute
(the test). ``gpu`` is the same recipe at GPT-2-small size for one CUDA GPU (not run on the
project's machines).

Model sizes are names of ``model/gpt2.py``'s configurations (``MODEL_NAMES``): on CPU
``tiny`` (2 x 64, 3.3M parameters), ``mini`` (4 x 128, 7.3M) and ``midi`` (6 x 256, 17.7M; ~2.5x
mini's cost per token) fit; ``gpt2`` (124M) trains at ~100 tokens/s on two cores. Every size of
a preset trains on the same token budget (``train_tokens``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from model.names import MODEL_NAMES

# Peak learning rate per size: small models take a larger one.
LEARNING_RATES = {"tiny": 3e-3, "mini": 2e-3, "midi": 1.5e-3, "gpt2": 6e-4, "gpt2-medium": 3e-4,
                  "gpt2-large": 2.5e-4, "gpt2-xl": 2e-4}  # fmt: skip


@dataclass(frozen=True)
class Preset:
    name: str
    # corpus
    words_per_doc: int  # books are cut into documents of about this many words
    max_per_source: int | None  # documents per source (None: all)
    val_fraction: float
    test_fraction: float
    # training: every model sees train_tokens tokens (steps x batch_tokens)
    models: tuple[str, ...]
    train_tokens: int
    seq_len: int
    micro_batch: int
    batch_tokens: int
    evals: int  # held-out evaluations during training (the curves' points)
    eval_batches: int
    device: str
    # evaluation: the first N documents of each test set are scored
    eval_docs: dict[str, int] = field(default_factory=dict)
    eval_batch_size: int = 8
    # report
    num_samples: int = 16
    sample_tokens: int = 64

    def __post_init__(self) -> None:
        unknown = [m for m in self.models if m not in MODEL_NAMES]
        if unknown:
            raise ValueError(f"unknown model size(s) {', '.join(unknown)}; known: {MODEL_NAMES}")
        if len(set(self.models)) != len(self.models) or not self.models:
            raise ValueError(f"preset {self.name}: give distinct model sizes")
        if self.train_tokens < self.batch_tokens:
            raise ValueError(
                f"--train-tokens {self.train_tokens} is less than one batch ({self.batch_tokens})"
            )

    @property
    def steps(self) -> int:
        return self.train_tokens // self.batch_tokens

    @property
    def eval_interval(self) -> int:
        return max(1, self.steps // self.evals)

    def lr(self, model: str) -> float:
        return LEARNING_RATES.get(model, 6e-4)

    def with_overrides(self, **changes: Any) -> Preset:
        """The preset with the options a user gave (None: keep the preset's)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"steps": self.steps, "eval_interval": self.eval_interval}


PRESETS = {
    "cpu": Preset(
        name="cpu",
        words_per_doc=800,
        max_per_source=None,
        val_fraction=0.05,
        test_fraction=0.02,
        models=("tiny", "mini", "midi"),
        train_tokens=128 * 1024,
        seq_len=128,
        micro_batch=8,
        batch_tokens=1024,
        evals=8,
        eval_batches=8,
        device="cpu",
        eval_docs={"wt2": 6, "ptb": 20, "lambada": 300, "webtext": 300},
        num_samples=16,
        sample_tokens=64,
    ),
    "tiny": Preset(
        name="tiny",
        words_per_doc=200,
        max_per_source=12,
        val_fraction=0.2,
        test_fraction=0.1,
        models=("tiny", "mini"),
        train_tokens=12 * 64,
        seq_len=32,
        micro_batch=2,
        batch_tokens=64,
        evals=4,
        eval_batches=2,
        device="cpu",
        eval_docs={"wt2": 1, "ptb": 2, "lambada": 12, "webtext": 12},
        num_samples=2,
        sample_tokens=16,
    ),
    # GPT-2 small and its neighbours on one CUDA GPU: 25M tokens each (~7 epochs of the
    # corpus's 3.6M train tokens), context 256 (mini's), every test set in full.
    "gpu": Preset(
        name="gpu",
        words_per_doc=800,
        max_per_source=None,
        val_fraction=0.05,
        test_fraction=0.02,
        models=("mini", "gpt2", "gpt2-medium"),
        train_tokens=1536 * 16384,
        seq_len=256,
        micro_batch=64,
        batch_tokens=16384,
        evals=16,
        eval_batches=20,
        device="cuda",
        eval_docs={},
        eval_batch_size=32,
        num_samples=32,
        sample_tokens=128,
    ),
}
