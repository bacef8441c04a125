"""Train / val / test assignment by a salted hash of the document id: stable across reruns,
machines and corpus growth (a document never changes split when others are added)."""

from __future__ import annotations

import xxhash

SPLITS = ("train", "val", "test")
_SALT = 0x5EED_5B11  # decorrelates the split from shard assignment (unsalted xxh64)
_BUCKETS = 1_000_000


def check_fractions(val_fraction: float, test_fraction: float) -> None:
    if val_fraction < 0 or test_fraction < 0 or val_fraction + test_fraction >= 1:
        raise ValueError(
            f"val and test fractions must be >= 0 and sum to less than 1, got "
            f"{val_fraction} and {test_fraction}"
        )


def assign_split(doc_id: str, val_fraction: float = 0.005, test_fraction: float = 0.005) -> str:
    """'train', 'val' or 'test' (default 99 / 0.5 / 0.5 %)."""
    bucket = xxhash.xxh64_intdigest(doc_id.encode("utf-8"), seed=_SALT) % _BUCKETS
    if bucket < round(val_fraction * _BUCKETS):
        return "val"
    if bucket < round((val_fraction + test_fraction) * _BUCKETS):
        return "test"
    return "train"
