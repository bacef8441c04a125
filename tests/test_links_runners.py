"""The same links job on three Beam execution paths gives identical output:
DirectRunner in-process, DirectRunner with 2 worker processes, and PortableRunner submitting to
a Beam job service on 127.0.0.1 (the submission path of Flink and Spark job servers)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from beam_jobs.links_job import LinksConfig, run_links
from pipeline.io import schemas, shards

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(inputs: list[str], out: Path, beam_args: list[str]) -> list[dict]:
    run_links(LinksConfig(inputs=inputs, out_dir=str(out), num_shards=3), beam_args)
    stats = shards.read_stats(str(out))
    assert stats["records_in"] == stats["records_out"] + sum(stats["dropped"].values())
    return sorted(shards.read_rows(str(out), schemas.LINKS), key=lambda r: r["url_key"])


@pytest.fixture(scope="module")
def inputs(shared_file) -> list[str]:
    return [
        str(shared_file("reddit", "RS_v2_2005-06.xz")),
        str(shared_file("reddit", "RS_v2_2005-07.xz")),
    ]


@pytest.fixture(scope="module")
def reference(inputs, tmp_path_factory) -> tuple[list[dict], dict, Path]:
    out = tmp_path_factory.mktemp("ref") / "links"
    rows = _run(inputs, out, [])
    return rows, shards.read_stats(str(out)), out


def test_multiprocess_direct_runner_matches(inputs, reference, tmp_path: Path) -> None:
    out = tmp_path / "links"
    rows = _run(inputs, out, ["--direct_num_workers=2", "--direct_running_mode=multi_processing"])
    assert rows == reference[0]
    assert shards.read_stats(str(out))["dropped"] == reference[1]["dropped"]
    # Byte-identical shards too: records are placed and ordered deterministically.
    ours = {p.name: p.read_bytes() for p in out.glob("part-*")}
    theirs = {p.name: p.read_bytes() for p in reference[2].glob("part-*")}
    assert ours == theirs


def test_portable_runner_against_a_local_job_service_matches(
    inputs, reference, tmp_path: Path
) -> None:
    port = _free_port()
    service = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "apache_beam.runners.portability.local_job_service_main",
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.2)
        else:
            pytest.fail("the Beam job service did not start listening within 60 s")
        rows = _run(
            inputs,
            tmp_path / "links",
            [
                "--runner=PortableRunner",
                f"--job_endpoint=localhost:{port}",
                "--environment_type=LOOPBACK",
            ],
        )
        assert rows == reference[0]
    finally:
        service.terminate()
        service.wait(timeout=30)
