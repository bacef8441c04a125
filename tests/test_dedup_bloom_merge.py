"""The streaming OR-merge of saved Bloom filters (dedup.ngram.bloom.merge_files) and the
overlap job's use of it: chunked plain reads, partials removed, mismatches refused by name."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dedup.ngram.bloom import BloomError, BloomFilter, BloomParams, merge_files


def _filters(tmp_path: Path, count: int, params: BloomParams) -> list[BloomFilter]:
    rng = np.random.default_rng(5)
    out = []
    for i in range(count):
        bloom = BloomFilter(params)
        bloom.add_hashes(rng.integers(0, 2**63, size=500, dtype=np.uint64))
        bloom.save(tmp_path / f"p{i}.bloom")
        out.append(bloom)
    return out


@pytest.mark.parametrize("chunk_bytes", [1, 37, 1 << 20])
def test_merge_is_the_or_of_its_inputs_in_any_chunking(tmp_path: Path, chunk_bytes: int) -> None:
    params = BloomParams.for_capacity(3_000, 1e-3)
    blooms = _filters(tmp_path, 4, params)
    paths = [tmp_path / f"p{i}.bloom" for i in range(4)]
    merge_files(paths, tmp_path / "m.bloom", chunk_bytes=chunk_bytes)
    merged = BloomFilter.load(tmp_path / "m.bloom")
    expected = np.bitwise_or.reduce([b.bits for b in blooms])
    assert np.array_equal(merged.bits, expected)
    assert merged.items_inserted == sum(b.items_inserted for b in blooms)
    assert all(p.exists() for p in paths)  # kept unless asked
    assert not list(tmp_path.glob("_tmp-*"))


def test_merge_deletes_sources_and_renames_a_single_one(tmp_path: Path) -> None:
    params = BloomParams.for_capacity(3_000, 1e-3)
    blooms = _filters(tmp_path, 3, params)
    merge_files([tmp_path / f"p{i}.bloom" for i in range(3)], tmp_path / "m.bloom",
                chunk_bytes=64, delete_sources=True)  # fmt: skip
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.bloom"]
    assert np.array_equal(
        BloomFilter.load(tmp_path / "m.bloom").bits, np.bitwise_or.reduce([b.bits for b in blooms])
    )
    single = tmp_path / "p0.bloom"
    blooms[0].save(single)
    data = single.read_bytes()
    merge_files([single], tmp_path / "out" / "one.bloom", delete_sources=True)
    assert not single.exists()
    assert (tmp_path / "out" / "one.bloom").read_bytes() == data


def test_merge_refuses_other_parameters_naming_the_file(tmp_path: Path) -> None:
    params = BloomParams.for_capacity(3_000, 1e-3)
    _filters(tmp_path, 2, params)
    BloomFilter(BloomParams.for_capacity(3_000, 1e-3, seed=9)).save(tmp_path / "odd.bloom")
    paths = [tmp_path / "p0.bloom", tmp_path / "odd.bloom", tmp_path / "p1.bloom"]
    with pytest.raises(
        BloomError, match=r"odd\.bloom: built with other parameters than .*p0\.bloom.*seed"
    ):
        merge_files(paths, tmp_path / "m.bloom", delete_sources=True)
    assert all(p.exists() for p in paths)  # nothing deleted, nothing written
    assert not (tmp_path / "m.bloom").exists()
    (tmp_path / "cut.bloom").write_bytes((tmp_path / "p1.bloom").read_bytes()[:-5])
    with pytest.raises(BloomError, match=r"cut\.bloom: truncated"):
        merge_files([tmp_path / "p0.bloom", tmp_path / "cut.bloom"], tmp_path / "m.bloom")
    assert not list(tmp_path.glob("_tmp-*"))
