"""A small real HTTP server on 127.0.0.1 speaking the part of Reddit's API that praw uses for
read-only listings: the OAuth client-credentials token and paged subreddit listings."""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


class FakeReddit:
    def __init__(
        self, submissions: dict[str, list[dict[str, Any]]], client_id: str, secret: str
    ) -> None:
        self.submissions = submissions  # subreddit -> newest-first records
        self.client_id = client_id
        self.secret = secret
        self.token_requests = 0
        self.listing_requests: list[str] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FakeReddit:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _send(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:  # noqa: N802 (http.server API)
                length = int(self.headers.get("Content-Length", 0))
                form = parse_qs(self.rfile.read(length).decode())
                expected = base64.b64encode(f"{fake.client_id}:{fake.secret}".encode()).decode()
                if urlsplit(self.path).path != "/api/v1/access_token":
                    return self._send(404, {"error": 404})
                if self.headers.get("Authorization") != f"Basic {expected}":
                    return self._send(401, {"message": "Unauthorized", "error": 401})
                if form.get("grant_type") != ["client_credentials"]:
                    return self._send(400, {"error": "unsupported_grant_type"})
                fake.token_requests += 1
                return self._send(
                    200,
                    {
                        "access_token": "tok-123",
                        "token_type": "bearer",
                        "expires_in": 86400,
                        "scope": "*",
                    },
                )

            def do_GET(self) -> None:  # noqa: N802
                parts = urlsplit(self.path)
                if self.headers.get("Authorization") != "bearer tok-123":
                    return self._send(401, {"message": "Unauthorized", "error": 401})
                segments = parts.path.strip("/").split("/")
                if len(segments) != 3 or segments[0] != "r":
                    return self._send(404, {"error": 404})
                fake.listing_requests.append(self.path)
                query = parse_qs(parts.query)
                limit = min(int(query.get("limit", ["25"])[0]), 100)  # Reddit caps a page at 100
                after = query.get("after", [None])[0]
                records: list[dict[str, Any]] = []
                for sub in segments[1].split("+"):
                    records.extend(fake.submissions.get(sub.lower(), []))
                records.sort(key=lambda r: -r["created_utc"])
                start = 0
                if after:
                    ids = [f"t3_{r['id']}" for r in records]
                    start = ids.index(after) + 1
                page = records[start : start + limit]
                next_after = (
                    f"t3_{page[-1]['id']}" if start + limit < len(records) and page else None
                )
                children = [
                    {
                        "kind": "t3",
                        "data": {
                            "permalink": f"/r/x/comments/{r['id']}/",
                            **r,
                            "name": f"t3_{r['id']}",
                        },
                    }
                    for r in page
                ]
                return self._send(
                    200,
                    {
                        "kind": "Listing",
                        "data": {"after": next_after, "before": None, "children": children},
                    },
                )

        return Handler
