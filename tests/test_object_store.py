"""Every stage on an object store: input and output at s3://bucket/prefix, against a real
S3-compatible server (moto's server mode, tests/s3_server.py) on 127.0.0.1 that enforces
permissions, reached the one way a user configures it: Beam's --s3_* options, which Beam's
FileSystems and the stage directories' pyarrow filesystems both take.

The local reference is the demo tree (conftest ``demo_root``); each stage reads the demo's
output of the stage before it, uploaded to the bucket, so a stage is checked on its own.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
import pytest

from pipeline.cli import EXIT_FILESYSTEM
from pipeline.cli import main as cli_main
from pipeline.io import fs_errors, object_store, schemas, shards
from pipeline.io.object_store import S3Settings
from tests.s3_server import S3Server

BUCKET = "webtext-test"
READ_ONLY = "webtext-readonly"
MISSING = "webtext-no-such-bucket"


# ------------------------------------------------------------------------- no server needed


def test_beam_s3_options_become_pyarrow_settings():
    settings = S3Settings.from_beam(
        {
            "s3_endpoint_url": "http://127.0.0.1:9000",
            "s3_region_name": "eu-west-1",
            "s3_access_key_id": "AK",
            "s3_secret_access_key": "SK",
        }
    )
    assert settings.pyarrow_kwargs() == {
        "endpoint_override": "127.0.0.1:9000",
        "scheme": "http",
        "region": "eu-west-1",
        "access_key": "AK",
        "secret_key": "SK",
    }
    bare = S3Settings.from_beam({"s3_endpoint_url": "minio:9000", "s3_disable_ssl": True})
    assert bare.pyarrow_kwargs() == {"endpoint_override": "minio:9000", "scheme": "http"}
    assert S3Settings.from_beam({}).is_default()


def test_an_s3_access_denied_error_is_one_line_naming_the_object():
    exc = OSError(
        "When initiating multiple part upload for key 'out/part-0.parquet' in bucket 'b1': "
        "AWS Error ACCESS_DENIED during CreateMultipartUpload operation: Access Denied"
    )
    line = fs_errors.describe(exc)
    assert line is not None and line.startswith("s3://b1/out/part-0.parquet: permission denied")


def test_local_paths_resolve_to_the_local_filesystem(tmp_path):
    fs, path = object_store.resolve(str(tmp_path / "x"))
    assert isinstance(fs, pafs.LocalFileSystem) and path == str(tmp_path / "x")
    object_store.check_writable(str(tmp_path / "x"))  # nothing to check locally


# ------------------------------------------------------------------------------ the server


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with S3Server(buckets=(BUCKET,), read_only=(READ_ONLY,), log_path=str(log)) as server:
        # Versions show whether an object was ever rewritten (a kept shard has one).
        server.client().put_bucket_versioning(
            Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"}
        )
        yield server


@pytest.fixture
def beam_args(s3, monkeypatch, tmp_path) -> list[str]:
    """Beam's options naming the server and its keys: the one way a user points webtext at
    an S3-compatible store. No AWS_* variable is set, so nothing else can. The working
    directory is the test's own (see ``nothing_written_locally``)."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    args = [
        f"--s3_endpoint_url={s3.endpoint}",
        "--s3_region_name=us-east-1",
        *s3.keys.beam_args(),
        "--direct_num_workers=1",
    ]
    from beam_jobs.stage_job import configure_filesystems

    configure_filesystems(args)  # the test's own reads below, as a command configures them
    yield args
    configure_filesystems([])


@pytest.fixture
def restore_logging():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def uri(*parts: str) -> str:
    return "s3://" + "/".join((BUCKET, *parts))


def upload(local: Path, target: str) -> None:
    fs, path = shards.resolve(target)
    if local.is_dir():
        pafs.copy_files(
            str(local), path, source_filesystem=pafs.LocalFileSystem(), destination_filesystem=fs
        )
    else:
        with fs.open_output_stream(path, compression=None) as out:  # bytes as they are
            out.write(local.read_bytes())


def objects(s3: S3Server, prefix: str) -> dict[str, dict[str, Any]]:
    """Current objects under BUCKET/prefix/ by name relative to it; the empty "dir/" markers
    pyarrow keeps so that a directory outlives its last file are left out."""
    found: dict[str, dict[str, Any]] = {}
    pages = s3.client().get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
    for page in pages:
        for obj in page.get("Contents", []):
            if not obj["Key"].endswith("/"):
                found[obj["Key"][len(prefix) + 1 :]] = obj
    return found


def nothing_written_locally() -> None:
    """A stage that built a local path from an s3:// URI (pathlib turns it into 's3:/...')
    wrote into the working directory (a test's tmp_path) instead of the bucket."""
    assert not Path("s3:").exists(), sorted(str(p) for p in Path("s3:").rglob("*"))


def versions(s3: S3Server, key: str) -> list[dict[str, Any]]:
    listed = s3.client().list_object_versions(Bucket=BUCKET, Prefix=key)
    return [v for v in listed.get("Versions", []) if v["Key"] == key]


def assert_finished_like(s3: S3Server, prefix: str, local: Path) -> None:
    """The s3 stage directory holds the same shard files, byte for byte, as the local one;
    _SUCCESS is its newest object; no temporary or lock object is left; and no version of
    any shard name ever held anything but the finished shard."""
    found = objects(s3, prefix)
    assert "_SUCCESS" in found, sorted(found)
    assert not [n for n in found if n.startswith(("_tmp-", "_lock"))], sorted(found)
    newest = max(o["LastModified"] for o in found.values())
    later = {
        n: str(o["LastModified"])
        for n, o in found.items()
        if o["LastModified"] > found["_SUCCESS"]["LastModified"]
    }
    assert found["_SUCCESS"]["LastModified"] == newest, (
        str(found["_SUCCESS"]["LastModified"]),
        later,
    )
    names = sorted(n for n in found if n.startswith("part-"))
    assert names == sorted(p.name for p in local.glob("part-*.parquet"))
    client = s3.client()
    for name in names:
        body = client.get_object(Bucket=BUCKET, Key=f"{prefix}/{name}")["Body"].read()
        assert body == (local / name).read_bytes(), name
        assert {v["ETag"] for v in versions(s3, f"{prefix}/{name}")} == {found[name]["ETag"]}


def run(args: list[str], beam_args: list[str]) -> int:
    """``webtext ARGS BEAM_ARGS``; the exit status, once checked that nothing went local."""
    rc = cli_main([*args, *beam_args])
    nothing_written_locally()
    return rc


def counts(directory: str) -> dict[str, Any]:
    data = shards.read_stats(directory)
    return {k: data[k] for k in ("records_in", "records_out", "dropped", "shards")}


# ------------------------------------------------------------------- shard IO, no Beam


def test_a_failed_shard_write_leaves_no_object_under_its_name(s3, beam_args):
    """pyarrow completes an S3 upload on close even when the writer failed half-way: the
    shard is written under a _tmp- name first, so the failure leaves nothing a reader takes."""
    schema = pa.schema([pa.field("k", pa.string())])

    def rows():
        for i in range(20_000):
            if i == 15_000:
                raise RuntimeError("writer died")
            yield {"k": f"row {i}"}

    directory = uri("partial")
    with pytest.raises(RuntimeError, match="writer died"):
        shards.write_shard(directory, "part-00000-of-00001.parquet", rows(), schema)
    found = objects(s3, "partial")
    assert "part-00000-of-00001.parquet" not in found
    assert shards.list_shards(directory) == []
    assert shards.clean_temporaries(directory) == sum(n.startswith("_tmp-") for n in found)
    assert shards.write_shard(directory, "part-00000-of-00001.parquet", [{"k": "a"}], schema) == 1
    assert shards.list_shards(directory) == [f"{directory}/part-00000-of-00001.parquet"]


# --------------------------------------------------------------------- the stage commands


@pytest.mark.slow
def test_links_on_s3_matches_local_and_resumes_keeping_finished_shards(
    s3, beam_args, demo_root, restore_logging
):
    upload(demo_root / "input" / "RS_demo.zst", uri("links-run", "input", "RS_demo.zst"))
    command = ["links", uri("links-run", "input", "RS_*.zst"), "--out", uri("links-run", "links")]
    command += ["--num-shards", "2"]
    assert run(command, beam_args) == 0
    assert_finished_like(s3, "links-run/links", demo_root / "links")
    assert counts(uri("links-run", "links")) == counts(str(demo_root / "links"))

    # A kill: _SUCCESS and one shard gone, a half-written temporary left behind.
    client, prefix = s3.client(), "links-run/links"
    client.delete_object(Bucket=BUCKET, Key=f"{prefix}/_SUCCESS")
    client.delete_object(Bucket=BUCKET, Key=f"{prefix}/part-00001-of-00002.parquet")
    client.put_object(
        Bucket=BUCKET, Key=f"{prefix}/_tmp-0123abcd-part-00001-of-00002.parquet", Body=b"PAR1"
    )
    with pytest.raises(shards.ShardError, match="no _SUCCESS"):
        shards.read_rows(uri("links-run", "links"), schemas.LINKS)
    assert run(command, beam_args) == 0
    assert_finished_like(s3, prefix, demo_root / "links")
    kept = versions(s3, f"{prefix}/part-00000-of-00002.parquet")
    assert len(kept) == 1  # the finished shard was not written again
    rows = shards.read_rows(uri("links-run", "links"), schemas.LINKS)
    assert rows == shards.read_rows(str(demo_root / "links"), schemas.LINKS)
    # A third run finds it complete and writes nothing.
    before = objects(s3, prefix)
    assert run(command, beam_args) == 0
    after = objects(s3, prefix)
    assert {k: v["ETag"] for k, v in after.items()} == {k: v["ETag"] for k, v in before.items()}
    assert after["_SUCCESS"]["LastModified"] == before["_SUCCESS"]["LastModified"]


@pytest.mark.slow
def test_workers_in_other_processes_reach_the_store_through_the_same_flags(
    s3, beam_args, demo_root
):
    """SDK workers in subprocesses share nothing with the driver but Beam's options: the
    shards they write through pyarrow reach the bucket configured by --s3_* alone."""
    upload(demo_root / "input" / "RS_demo.zst", uri("workers-run", "input", "RS_demo.zst"))
    command = ["links", uri("workers-run", "input", "RS_demo.zst")]
    command += ["--out", uri("workers-run", "links"), "--num-shards", "2"]
    other = [a for a in beam_args if not a.startswith("--direct_num_workers")]
    multi = ["--direct_running_mode=multi_processing", "--direct_num_workers=2"]
    assert run(command, [*other, *multi]) == 0
    assert_finished_like(s3, "workers-run/links", demo_root / "links")


@pytest.mark.slow
def test_the_standard_aws_environment_configures_both_layers(s3, monkeypatch, tmp_path, demo_root):
    """No --s3_* option: AWS_ENDPOINT_URL and the key variables reach Beam (boto3) and the
    stage directories (pyarrow) alike."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    for name, value in {**s3.keys.env(), "AWS_ENDPOINT_URL": s3.endpoint}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    upload_env = demo_root / "input" / "RS_demo.zst"
    from beam_jobs.stage_job import configure_filesystems

    configure_filesystems([])
    upload(upload_env, uri("env-run", "input", "RS_demo.zst"))
    command = ["links", uri("env-run", "input", "RS_demo.zst"), "--out", uri("env-run", "links")]
    assert run([*command, "--num-shards", "2"], ["--direct_num_workers=1"]) == 0
    assert_finished_like(s3, "env-run/links", demo_root / "links")


@pytest.mark.slow
def test_fetch_on_s3_fetches_what_the_local_run_fetched(s3, beam_args, demo_root):
    from pipeline.demo.web import demo_resolve_rules, demo_web_app
    from pipeline.webserver import LoopbackServer

    upload(demo_root / "links", uri("fetch-run", "links"))
    with LoopbackServer(demo_web_app()) as server:
        resolve = [a for rule in demo_resolve_rules(server.port) for a in ("--resolve", rule)]
        command = ["fetch", uri("fetch-run", "links"), "--out", uri("fetch-run", "pages")]
        command += ["--allow-private", *resolve, "--host-delay", "0.05", "--per-host", "4"]
        command += ["--timeout", "10", "--retries", "1", "--num-shards", "2"]
        assert run(command, beam_args) == 0
    found = objects(s3, "fetch-run/pages")
    assert "_SUCCESS" in found and not [n for n in found if n.startswith("_tmp-")]
    assert found["_SUCCESS"]["LastModified"] == max(o["LastModified"] for o in found.values())
    keep = ("link_id", "url", "final_url", "status", "body_bytes", "error", "redirects")

    def pages(directory: str) -> list[tuple]:
        rows = shards.read_rows(directory, schemas.PAGES, columns=list(keep))
        return sorted(tuple(r[k] for k in keep) for r in rows)

    assert pages(uri("fetch-run", "pages")) == pages(str(demo_root / "pages"))
    assert counts(uri("fetch-run", "pages")) == counts(str(demo_root / "pages"))


@pytest.mark.slow
def test_extract_on_s3_writes_the_local_shards(s3, beam_args, demo_root):
    upload(demo_root / "pages", uri("extract-run", "pages"))
    command = ["extract", uri("extract-run", "pages"), "--out", uri("extract-run", "docs")]
    assert run([*command, "--num-shards", "2"], beam_args) == 0
    assert_finished_like(s3, "extract-run/docs", demo_root / "docs")
    assert counts(uri("extract-run", "docs")) == counts(str(demo_root / "docs"))


@pytest.mark.slow
def test_dedup_on_s3_writes_the_local_shards(s3, beam_args, demo_root):
    upload(demo_root / "docs", uri("dedup-run", "docs"))
    command = ["dedup", uri("dedup-run", "docs"), "--out", uri("dedup-run", "corpus")]
    command += ["--dups-out", uri("dedup-run", "dups")]
    command += ["--val-fraction", "0.1", "--test-fraction", "0.1"]
    assert run(command, beam_args) == 0
    assert_finished_like(s3, "dedup-run/corpus", demo_root / "corpus")
    assert_finished_like(s3, "dedup-run/dups", demo_root / "dups")
    assert counts(uri("dedup-run", "corpus")) == counts(str(demo_root / "corpus"))


@pytest.mark.slow
def test_tokenize_on_s3_writes_the_local_shards(s3, beam_args, demo_root):
    upload(demo_root / "corpus", uri("tokenize-run", "corpus"))
    command = ["tokenize", uri("tokenize-run", "corpus"), "--out", uri("tokenize-run", "tokens")]
    assert run([*command, "--vocab-size", "2000", "--num-shards", "2"], beam_args) == 0
    assert_finished_like(s3, "tokenize-run/tokens", demo_root / "tokens")
    tokenizer = objects(s3, "tokenize-run/tokens/_tokenizer")
    local_tokenizer = demo_root / "tokens/_tokenizer"
    assert sorted(tokenizer) == sorted(p.name for p in local_tokenizer.iterdir())
    for name in tokenizer:  # the trained vocabulary, byte for byte
        body = s3.client().get_object(Bucket=BUCKET, Key=f"tokenize-run/tokens/_tokenizer/{name}")
        assert body["Body"].read() == (local_tokenizer / name).read_bytes(), name

    # --gpt2-files on the store: the saved tokenizer read back from s3 tokenizes the same way.
    command = ["tokenize", uri("tokenize-run", "corpus"), "--out", uri("tokenize-run", "again")]
    command += ["--gpt2-files", uri("tokenize-run", "tokens", "_tokenizer")]
    assert run([*command, "--num-shards", "2"], beam_args) == 0
    assert_finished_like(s3, "tokenize-run/again", demo_root / "tokens")


@pytest.mark.slow
def test_overlap_on_s3_measures_what_the_local_run_measured(s3, beam_args, demo_root):
    upload(demo_root / "corpus", uri("overlap-run", "corpus"))
    tests_dir = demo_root / "overlap_input"
    command = ["overlap", uri("overlap-run", "corpus"), "--out", uri("overlap-run", "overlap")]
    command += ["--test", f"heldout:jsonl={tests_dir / 'heldout.jsonl'}"]
    command += ["--test", f"contaminated:text={tests_dir / 'contaminated.txt'}"]
    command += ["--verify-queries", "100000"]
    assert run(command, beam_args) == 0
    found = objects(s3, "overlap-run/overlap")
    local = demo_root / "overlap"
    names = sorted(str(p.relative_to(local)) for p in local.rglob("*") if p.is_file())
    assert [n for n in names if n not in found] == []  # filters/, documents/, sets.json, ...
    assert found["_SUCCESS"]["LastModified"] == max(o["LastModified"] for o in found.values())
    assert not [n for n in found if n.startswith(("_tmp-", "_lock")) or "/partial/" in n]
    for name in ("sets.json", "table.txt", "filters/reference.bloom"):
        remote = s3.client().get_object(Bucket=BUCKET, Key=f"overlap-run/overlap/{name}")
        assert remote["Body"].read() == (local / name).read_bytes(), name


@pytest.mark.slow
def test_partitioned_overlap_on_s3_with_test_sets_there_resumes_keeping_partitions(
    s3, beam_args, demo_root, tmp_path
):
    """--filter-partitions 4 with the corpus, the test sets and the output on the store:
    the same results as the local run; a killed run's finished partition files are kept."""
    tests_dir = demo_root / "overlap_input"
    upload(demo_root / "corpus", uri("parts-run", "corpus"))
    upload(tests_dir / "heldout.jsonl", uri("parts-run", "tests", "heldout.jsonl"))
    upload(tests_dir / "contaminated.txt", uri("parts-run", "tests", "contaminated.txt"))
    options = ["--verify-queries", "100000", "--filter-partitions", "4"]

    def command(corpus: str, out: str, tests: str) -> list[str]:
        return [
            "overlap", corpus, "--out", out, *options,
            "--test", f"heldout:jsonl={tests}/heldout.jsonl",
            "--test", f"contaminated:text={tests}/contaminated.txt",
        ]  # fmt: skip

    local = tmp_path / "overlap"
    assert run(command(str(demo_root / "corpus"), str(local), str(tests_dir)), beam_args) == 0
    remote = command(
        uri("parts-run", "corpus"), uri("parts-run", "overlap"), uri("parts-run", "tests")
    )
    assert run(remote, beam_args) == 0
    prefix, client = "parts-run/overlap", s3.client()

    def same_as_local() -> None:
        found = objects(s3, prefix)
        names = sorted(str(p.relative_to(local)) for p in local.rglob("*") if p.is_file())
        assert sorted(n for n in found if not n.startswith("_job")) == sorted(
            n for n in names if not n.startswith("_job")
        )
        newest = max(o["LastModified"] for o in found.values())
        assert found["_SUCCESS"]["LastModified"] == newest
        for name in ("sets.json", "table.txt", "filters/manifest.json"):
            body = client.get_object(Bucket=BUCKET, Key=f"{prefix}/{name}")["Body"].read()
            assert body == (local / name).read_bytes(), name

    same_as_local()
    # A kill: _SUCCESS, the manifest and one partition gone.
    for name in ("_SUCCESS", "filters/manifest.json", "filters/part-00002-of-00004.bloom"):
        client.delete_object(Bucket=BUCKET, Key=f"{prefix}/{name}")
    assert run(remote, beam_args) == 0
    same_as_local()
    kept = versions(s3, f"{prefix}/filters/part-00000-of-00004.bloom")
    assert len(kept) == 1  # not built again


# ------------------------------------------------------------------ buckets it cannot use


def _one_error_line(capsys) -> str:
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert "Traceback" not in captured.err
    assert len(lines) == 1, lines
    return lines[0]


@pytest.mark.slow
def test_a_missing_or_read_only_output_bucket_is_one_line_before_any_work(
    s3, beam_args, demo_root, capsys, restore_logging
):
    dump = str(demo_root / "input" / "RS_demo.zst")
    rc = run(["links", dump, "--out", f"s3://{MISSING}/links"], beam_args)
    line = _one_error_line(capsys)
    assert rc == 2 and MISSING in line and "does not exist" in line

    rc = run(["links", dump, "--out", f"s3://{READ_ONLY}/links"], beam_args)
    line = _one_error_line(capsys)
    assert rc == EXIT_FILESYSTEM and READ_ONLY in line and "may not write" in line
    listed = s3.client().list_objects_v2(Bucket=READ_ONLY)
    assert listed.get("KeyCount", 0) == 0  # not even a lock object

    before = objects(s3, "errors-run")
    rc = run(["extract", f"s3://{MISSING}/pages", "--out", uri("errors-run", "docs")], beam_args)
    line = _one_error_line(capsys)
    assert rc == 2 and MISSING in line and "does not exist" in line
    assert objects(s3, "errors-run") == before  # the output was not touched

    rc = run(["links", f"s3://{MISSING}/RS_*.zst", "--out", uri("errors-run", "l")], beam_args)
    line = _one_error_line(capsys)
    assert rc == 2 and MISSING in line
