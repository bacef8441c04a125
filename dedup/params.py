"""The near-duplicate parameters, and the ``webtext dedup`` options they are.

Kept apart from minhash.py (numpy, datasketch) so the command line can build its options without
importing them; dedup.minhash imports MinHashParams from here.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.io.options import check_options, option


@dataclass(frozen=True)
class MinHashParams:
    """Near-duplicate parameters. Defaults: 128 permutations, 20 bands x 6 rows (LSH threshold
    ~ (1/20)^(1/6) = 0.61, so pairs at Jaccard 0.8 become candidates with probability 0.998),
    candidates kept when their estimated Jaccard is >= 0.8. Each field declared with ``option``
    is also a ``webtext dedup`` flag (pipeline/io/options.py)."""

    num_perm: int = option(128, "MinHash permutations", min_value=1)
    bands: int = option(20, "LSH bands", min_value=1)
    rows: int = option(6, "rows per band", min_value=1)
    threshold: float = option(0.8, "estimated Jaccard for a near duplicate")
    shingle: int = option(5, "words per shingle", min_value=1)
    seed: int = 1

    def __post_init__(self) -> None:
        check_options(self)
        if self.bands * self.rows > self.num_perm:
            raise ValueError(
                f"bands x rows = {self.bands} x {self.rows} exceeds num_perm = {self.num_perm} "
                "(--bands, --rows, --num-perm)"
            )
        if not 0.0 < self.threshold <= 1.0:
            raise ValueError(f"--threshold must be in (0, 1], got {self.threshold}")

    def candidate_probability(self, jaccard: float) -> float:
        """P(a pair with this Jaccard shares at least one band) = 1 - (1 - J^r)^b."""
        return 1.0 - (1.0 - jaccard**self.rows) ** self.bands
