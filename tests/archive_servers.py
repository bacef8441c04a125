"""Real archive software on 127.0.0.1 for the archive tests and benchmark.

* :func:`write_warc`: a WARC file of chosen captures (dates, statuses, redirects, revisits),
  written with warcio, and the index entries of its records (offset and length read back).
* :class:`PywbServer`: a pywb collection built from such files with ``wb-manager`` and served
  by pywb's own ``wayback`` server: its CDX endpoint and ``id_`` replay stand in for the
  Wayback Machine.
* :class:`CommonCrawlServer`: a Common Crawl layout: a CDX index server
  (``/CC-MAIN-...-index?url=``), WARC files served with HTTP Range, and the cc-index-table
  Parquet written from the same entries. It counts requests and can answer 429/503 on demand.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pyarrow as pa
import pyarrow.parquet as pq
import surt


@dataclass
class Capture:
    """One archived response to write: ``when`` is 14 digits; ``location`` makes it a 3xx;
    ``revisit_of`` (a timestamp of an earlier capture of the same URL) makes it a revisit."""

    url: str
    when: str
    body: bytes = b"<html><body><p>archived page</p></body></html>"
    status: int = 200
    mime: str = "text/html"
    location: str = ""
    revisit_of: str = ""


@dataclass
class Entry:
    url: str
    timestamp: str
    status: int
    mime: str
    digest: str
    filename: str
    offset: int
    length: int
    redirect: str = ""
    rec_type: str = "response"


def _warc_date(ts: str) -> str:
    return datetime.strptime(ts, "%Y%m%d%H%M%S").replace(tzinfo=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _reason(status: int) -> str:
    from http import HTTPStatus

    return f"{status} {HTTPStatus(status).phrase}"


def write_warc(path: Path, captures: list[Capture], *, gzip: bool = True) -> list[Entry]:
    """Write ``captures`` to one WARC file; return each record's index entry."""
    from warcio.archiveiterator import ArchiveIterator
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    buffer = io.BytesIO()
    writer = WARCWriter(buffer, gzip=gzip)
    digests: dict[tuple[str, str], str] = {}
    bodies: dict[tuple[str, str], bytes] = {}
    for c in captures:
        date = _warc_date(c.when)
        body = bodies[(c.url, c.revisit_of)] if c.revisit_of else c.body
        bodies[(c.url, c.when)] = body
        headers = [("Content-Type", c.mime), ("Content-Length", str(len(body)))]
        if c.location:
            headers.append(("Location", c.location))
        http = StatusAndHeaders(_reason(c.status), headers, protocol="HTTP/1.1")
        if c.revisit_of:
            digest = digests[(c.url, c.revisit_of)]
            record = writer.create_revisit_record(
                c.url, digest, c.url, _warc_date(c.revisit_of), http_headers=http
            )
            record.rec_headers.replace_header("WARC-Date", date)
        else:
            record = writer.create_warc_record(
                c.url,
                "response",
                payload=io.BytesIO(c.body),
                http_headers=http,
                warc_headers_dict={"WARC-Date": date},
            )
            digests[(c.url, c.when)] = record.rec_headers.get_header("WARC-Payload-Digest")
        writer.write_record(record)
    path.write_bytes(buffer.getvalue())
    entries = []
    with open(path, "rb") as stream:
        it = ArchiveIterator(stream)
        for c, record in zip(captures, it, strict=True):
            record.raw_stream.read()
            digest = record.rec_headers.get_header("WARC-Payload-Digest") or ""
            entries.append(
                Entry(
                    url=c.url,
                    timestamp=c.when,
                    status=c.status,
                    mime="warc/revisit" if c.revisit_of else c.mime,
                    digest=digest.split(":", 1)[-1],
                    filename=path.name,
                    offset=it.get_record_offset(),
                    length=it.get_record_length(),
                    redirect=c.location,
                    rec_type="revisit" if c.revisit_of else "response",
                )
            )
    return entries


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port: int, proc: subprocess.Popen | None = None, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def _venv_tool(name: str) -> str:
    found = Path(sys.executable).parent / name
    return str(found) if found.exists() else (shutil.which(name) or name)


class PywbServer:
    """``wb-manager init COLL``, ``wb-manager add COLL *.warc.gz``, then ``wayback -p PORT``
    in ``root``. ``base_url`` is ``http://127.0.0.1:PORT/COLL`` (the --wayback-url)."""

    def __init__(self, root: Path, warcs: list[Path], collection: str = "webtext") -> None:
        self.root, self.collection = root, collection
        env = os.environ | {"PYTHONWARNINGS": "ignore"}
        run = {"cwd": root, "env": env, "check": True, "capture_output": True}
        subprocess.run([_venv_tool("wb-manager"), "init", collection], **run)
        subprocess.run([_venv_tool("wb-manager"), "add", collection, *map(str, warcs)], **run)
        self.port = free_port()
        self.log = open(root / "pywb.log", "wb")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(
            [_venv_tool("wayback"), "-p", str(self.port), "-b", "127.0.0.1"],
            cwd=root,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_port(self.port, self.proc)
        except Exception:
            self.stop()
            raise
        self.base_url = f"http://127.0.0.1:{self.port}/{collection}"

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


@dataclass
class CommonCrawlServer:
    """A Common Crawl layout on 127.0.0.1: ``/CRAWL-index?url=...&output=json`` (one JSON
    object a line, 404 when nothing matches, like index.commoncrawl.org) and ``/data/FILE``
    with Range. ``fail`` maps a path kind ("index", "data") to answers served first
    (status, headers); ``latency_s`` delays every answer (the benchmark)."""

    data_dir: Path
    entries: dict[str, list[Entry]]  # crawl -> entries
    latency_s: float = 0.0
    fail: dict[str, list[tuple[int, dict[str, str]]]] = field(default_factory=dict)
    requests: Counter = field(default_factory=Counter)
    asked: list[str] = field(default_factory=list)  # the ``url`` of every index question
    paths: list[str] = field(default_factory=list)  # every request path, as received
    # (monotonic time, kind, status) of every answer, in order (Retry-After checks)
    log: list[tuple[float, str, int]] = field(default_factory=list)

    def start(self) -> CommonCrawlServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                if server.latency_s:
                    time.sleep(server.latency_s)
                parts = urlsplit(self.path)
                kind = "data" if parts.path.startswith("/data/") else "index"
                server.requests[kind] += 1
                server.paths.append(self.path)
                queued = server.fail.get(kind)
                if queued:
                    status, headers = queued.pop(0)
                    server.log.append((time.monotonic(), kind, status))
                    self._send(status, b"slow down", headers)
                    return
                server.log.append((time.monotonic(), kind, 0))
                if kind == "data":
                    self._data(parts.path[len("/data/") :])
                else:
                    self._index(parts.path.strip("/"), parse_qs(parts.query))

            def _index(self, name: str, query: dict[str, list[str]]) -> None:
                crawl = name.removesuffix("-index")
                server.asked.append(query.get("url", [""])[0])
                key = surt.surt(query.get("url", [""])[0])
                low, high = query.get("from", ["0"])[0], query.get("to", ["9"])[0]
                rows = [
                    e
                    for e in server.entries.get(crawl, [])
                    if surt.surt(e.url) == key and low <= e.timestamp <= high + "99999999999999"
                ]
                if not rows:
                    self._send(404, b'{"error": "No Captures found for: x"}\n', {})
                    return
                lines = [json.dumps(cdx_fields(e, key)) for e in rows]
                self._send(
                    200, ("\n".join(lines) + "\n").encode(), {"Content-Type": "text/x-ndjson"}
                )

            def _data(self, name: str) -> None:
                path = server.data_dir / name
                if not path.is_file():
                    self._send(404, b"no such file", {})
                    return
                data = path.read_bytes()
                spec = self.headers.get("Range", "")
                if not spec.startswith("bytes="):
                    self._send(200, data, {"Accept-Ranges": "bytes"})
                    return
                first, _, last = spec[6:].partition("-")
                start, end = int(first), min(int(last or len(data) - 1), len(data) - 1)
                if start >= len(data):
                    self._send(416, b"", {"Content-Range": f"bytes */{len(data)}"})
                    return
                self._send(
                    206,
                    data[start : end + 1],
                    {"Content-Range": f"bytes {start}-{end}/{len(data)}"},
                )

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def cdx_fields(e: Entry, key: str | None = None) -> dict[str, str]:
    fields = {
        "urlkey": key or surt.surt(e.url),
        "timestamp": e.timestamp,
        "url": e.url,
        "mime": e.mime,
        "mime-detected": e.mime,
        "status": "-" if e.rec_type == "revisit" else str(e.status),
        "digest": e.digest,
        "length": str(e.length),
        "offset": str(e.offset),
        "filename": e.filename,
    }
    if e.redirect:
        fields["redirect"] = e.redirect
    return fields


def write_index_table(path: Path, entries: dict[str, list[Entry]]) -> Path:
    """The cc-index-table columns of ``entries``, as one Parquet file."""
    rows = [(crawl, e) for crawl, es in entries.items() for e in es if e.rec_type == "response"]
    table = pa.table(
        {
            "url_surtkey": [surt.surt(e.url) for _, e in rows],
            "url": [e.url for _, e in rows],
            "fetch_time": pa.array(
                [
                    datetime.strptime(e.timestamp, "%Y%m%d%H%M%S").replace(tzinfo=UTC)
                    for _, e in rows
                ],
                pa.timestamp("us", tz="UTC"),
            ),
            "fetch_status": pa.array([e.status for _, e in rows], pa.int16()),
            "fetch_redirect": [e.redirect or None for _, e in rows],
            "content_mime_detected": [e.mime for _, e in rows],
            "warc_filename": [e.filename for _, e in rows],
            "warc_record_offset": pa.array([e.offset for _, e in rows], pa.int32()),
            "warc_record_length": pa.array([e.length for _, e in rows], pa.int32()),
            "crawl": [crawl for crawl, _ in rows],
        }
    )
    pq.write_table(table, path)
    return path


def sha1_hex(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()
