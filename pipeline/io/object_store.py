"""Object stores (s3://, gs://, any URI pyarrow.fs opens): which pyarrow filesystem a path
uses, configured like Beam's, and the bucket checks a stage makes before any work.

One configuration for both layers. Beam reads and writes through ``FileSystems``, configured
by Beam's own options (``--s3_endpoint_url``, ``--s3_region_name``, ``--s3_access_key_id``,
``--s3_secret_access_key``, ``--s3_session_token``, ``--s3_disable_ssl``); the stage directories
are read and written through pyarrow.fs (``pipeline.io.shards.resolve``, which calls
``resolve`` here). ``s3_settings`` takes the S3 options Beam holds in this process (set by
``beam_jobs.stage_job`` on the driver before any path is touched, by Beam itself on every
worker) and gives them to pyarrow's ``S3FileSystem`` (``endpoint_override``, ``scheme``,
``region``, keys), so one set of flags reaches every read and write, on the driver and on
every worker. Without those options both libraries read the standard AWS environment
(``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_REGION``,
``~/.aws``): boto3 (Beam) and the AWS SDK in pyarrow both honour them.

The foundation never imports Beam: it looks for Beam's options only when Beam is already
loaded in the process (``sys.modules``), as a training machine without Beam never is.

What "atomic" means on an object store: an object appears under its name only when its
upload completes (a killed writer leaves an invisible, incomplete multipart upload, which a
bucket lifecycle rule reaps), but pyarrow completes an upload on close even when the writer
failed half-way. So writers still write a ``_tmp-`` name and then move it (on S3 a
server-side copy and a delete): the final name only ever holds a complete object, readers
ignore ``_tmp-`` names, and a resumed run deletes them. A copy is one request of at most
5 GB on S3: keep shards under that (more ``--num-shards``).
"""

from __future__ import annotations

import functools
import os
import sys
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pyarrow.fs as pafs

TMP_PREFIX = "_tmp-"
# Beam's S3Options this module passes on to pyarrow, by their Beam names.
BEAM_S3_OPTIONS = (
    "s3_endpoint_url",
    "s3_region_name",
    "s3_access_key_id",
    "s3_secret_access_key",
    "s3_session_token",
    "s3_disable_ssl",
)


class BucketError(Exception):
    """A bucket a stage needs cannot be used; ``str()`` is the one-line message."""


class MissingBucket(BucketError):
    pass


class ReadOnlyBucket(BucketError):
    pass


def is_object_store(path: str) -> bool:
    return "://" in path and not path.startswith("file://")


@dataclass(frozen=True)
class S3Settings:
    """The S3 connection, in Beam's terms; all None: the AWS environment decides."""

    endpoint_url: str | None = None
    region: str | None = None
    access_key: str | None = None
    secret_key: str | None = None
    session_token: str | None = None
    disable_ssl: bool = False

    @classmethod
    def from_beam(cls, options: dict[str, Any]) -> S3Settings:
        """From Beam's option values by name (``PipelineOptions.get_all_options()``)."""
        return cls(
            endpoint_url=options.get("s3_endpoint_url") or None,
            region=options.get("s3_region_name") or None,
            access_key=options.get("s3_access_key_id") or None,
            secret_key=options.get("s3_secret_access_key") or None,
            session_token=options.get("s3_session_token") or None,
            disable_ssl=bool(options.get("s3_disable_ssl")),
        )

    def is_default(self) -> bool:
        return self == S3Settings()

    def pyarrow_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``pyarrow.fs.S3FileSystem`` for these settings."""
        kwargs: dict[str, Any] = {}
        if self.endpoint_url:
            parts = urlsplit(
                self.endpoint_url if "://" in self.endpoint_url else "//" + self.endpoint_url
            )
            kwargs["endpoint_override"] = parts.netloc + parts.path.rstrip("/")
            kwargs["scheme"] = parts.scheme or ("http" if self.disable_ssl else "https")
        elif self.disable_ssl:
            kwargs["scheme"] = "http"
        if self.region:
            kwargs["region"] = self.region
        if self.access_key:
            kwargs["access_key"] = self.access_key
            kwargs["secret_key"] = self.secret_key
            if self.session_token:
                kwargs["session_token"] = self.session_token
        return kwargs

    def describe(self) -> str:
        return self.endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or "AWS S3"


_last_options: tuple[Any, S3Settings] | None = None


def s3_settings() -> S3Settings:
    """The S3 options of the Beam pipeline this process runs (driver or worker), or the
    defaults (the AWS environment) when Beam is not loaded or holds no options."""
    global _last_options
    module = sys.modules.get("apache_beam.io.filesystems")
    options = getattr(getattr(module, "FileSystems", None), "_pipeline_options", None)
    if options is None:
        return S3Settings()
    if _last_options is not None and _last_options[0] is options:
        return _last_options[1]
    values = options.get_all_options() if hasattr(options, "get_all_options") else dict(options)
    settings = S3Settings.from_beam(values)
    _last_options = (options, settings)
    return settings


@functools.lru_cache(maxsize=32)
def _s3_filesystem(settings: S3Settings) -> pafs.FileSystem:
    return pafs.S3FileSystem(**settings.pyarrow_kwargs())


# The AWS variables a filesystem built from the environment depends on: a change makes another.
_AWS_ENVIRONMENT = (
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_PROFILE",
)


@functools.lru_cache(maxsize=256)
def _uri_filesystem(root: str, environment: tuple[str | None, ...]) -> pafs.FileSystem:
    """pyarrow's own choice for a bucket (``from_uri``: for S3 it finds the bucket's region),
    made once per bucket and AWS environment rather than once per path."""
    return pafs.FileSystem.from_uri(root)[0]


def resolve(path: str) -> tuple[pafs.FileSystem, str]:
    """A local path or URI -> (pyarrow filesystem, path on it); local paths made absolute."""
    if not is_object_store(path):
        local = path[len("file://") :] if path.startswith("file://") else path
        return pafs.LocalFileSystem(), os.path.abspath(local)
    scheme, _, rest = path.partition("://")
    rest = rest.rstrip("/")
    if scheme.lower() == "s3":
        settings = s3_settings()
        if not settings.is_default():
            return _s3_filesystem(settings), rest
    if scheme.lower() in ("s3", "gs", "gcs"):
        bucket = rest.split("/", 1)[0]
        environment = tuple(os.environ.get(name) for name in _AWS_ENVIRONMENT)
        return _uri_filesystem(f"{scheme}://{bucket}", environment), rest
    return pafs.FileSystem.from_uri(path)


def bucket_of(uri: str) -> str:
    return uri.partition("://")[2].split("/", 1)[0]


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    text = text.split(" (Request ID:")[0]
    return text if len(text) <= 160 else text[:157] + "..."


def _where(uri: str) -> str:
    return f" at {s3_settings().describe()}" if uri.lower().startswith("s3://") else ""


def check_bucket_exists(uri: str) -> None:
    """Raise MissingBucket (one line naming it) when ``uri``'s bucket does not exist, or
    BucketError when it cannot be asked (endpoint down, credentials refused)."""
    if not is_object_store(uri):
        return
    fs, path = resolve(uri)
    bucket = path.split("/", 1)[0]
    try:
        info = fs.get_file_info(bucket)
    except OSError as exc:
        raise BucketError(
            f"{uri}: cannot use bucket {bucket!r}{_where(uri)} ({_reason(exc)}); check the "
            "endpoint and credentials"
        ) from exc
    if info.type == pafs.FileType.NotFound:
        raise MissingBucket(
            f"{uri}: bucket {bucket!r} does not exist{_where(uri)}; create it or fix the path "
            "(nothing was read or written)"
        )


def check_writable(uri: str) -> None:
    """Before a stage writes ``uri`` on an object store: its bucket exists and these
    credentials may create and delete objects under it (a ``_tmp-`` probe object, written
    and deleted; readers ignore such names). Local paths: nothing to do here (the output
    lock meets a read-only directory first). Raises MissingBucket / ReadOnlyBucket."""
    if not is_object_store(uri):
        return
    check_bucket_exists(uri)
    fs, path = resolve(uri)
    probe = f"{path}/{TMP_PREFIX}write-check-{uuid.uuid4().hex}"
    try:
        with fs.open_output_stream(probe, compression=None) as out:
            out.write(b"")
        fs.delete_file(probe)
    except OSError as exc:
        bucket = path.split("/", 1)[0]
        raise ReadOnlyBucket(
            f"{uri}: these credentials may not write to bucket {bucket!r} ({_reason(exc)}); "
            "allow them to put and delete objects there, or choose another --out "
            "(nothing was written)"
        ) from exc
