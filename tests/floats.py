"""Float comparisons with tolerances derived from the computation, not tuned to one CPU.

Two float32 implementations of one function (ours and transformers', a cached and an uncached
forward, a chunked and a full loss) differ only in the order of their sums, and the order
depends on the BLAS kernel the CPU picks. Higham's bound for a sum of n terms in float32 is
n * u * sum(|terms|), u = 2**-24; a network chains such sums, so ``terms`` is the length of
the longest chain (for a GPT: layers x (attention width + MLP width)). The bound is applied to
the largest value compared, so an element near zero is held to the same absolute error as its
neighbours instead of a relative error it cannot meet.
"""

from __future__ import annotations

import torch

UNIT_ROUNDOFF = 2.0**-24  # float32


def float32_atol(expected: torch.Tensor, terms: int) -> float:
    """Worst-case rounding error of a float32 computation that chains ``terms`` sums, at the
    scale of ``expected``."""
    scale = float(expected.detach().abs().max()) if expected.numel() else 0.0
    return terms * UNIT_ROUNDOFF * max(scale, 1e-30)


def gpt_terms(n_layer: int, n_embd: int) -> int:
    """Longest chain of sums in a GPT-2 forward: per block, attention (n_embd) and MLP
    (4 n_embd) projections plus the output head (n_embd)."""
    return n_layer * 6 * n_embd + n_embd


def assert_float32_close(
    actual: torch.Tensor, expected: torch.Tensor, *, terms: int, msg: str | None = None
) -> None:
    """Equal up to float32 rounding of a ``terms``-long chain of sums (see the module text)."""
    # Compared in float64: one side may have been accumulated in double (scores, losses).
    torch.testing.assert_close(
        actual.double(), expected.double(), atol=float32_atol(expected, terms), rtol=0.0, msg=msg
    )
