"""A real S3-compatible server on 127.0.0.1 for tests: moto's server mode in a subprocess.

``S3Server`` starts ``python -m moto.server`` on a free loopback port, creates the buckets a
test asks for and one IAM user, then turns on moto's request authorization, so permissions
are enforced as on S3: the user's ``keys`` may do anything except write to the buckets named
``read_only`` (read and list them only): that is how a test meets a read-only bucket. Any
other key is refused.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from typing import Any

REGION = "us-east-1"
_WRITES = ["s3:Put*", "s3:Delete*", "s3:*Multipart*"]


def policy(read_only: tuple[str, ...]) -> dict[str, Any]:
    """Everything on every bucket, except writing to the ``read_only`` ones (reading and
    listing them is allowed)."""
    statements: list[dict[str, Any]] = [{"Effect": "Allow", "Action": ["s3:*"], "Resource": "*"}]
    if read_only:
        arns = [f"arn:aws:s3:::{b}{tail}" for b in read_only for tail in ("", "/*")]
        statements.append({"Effect": "Deny", "Action": _WRITES, "Resource": arns})
    return {"Version": "2012-10-17", "Statement": statements}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Keys:
    access_key: str
    secret_key: str

    def env(self) -> dict[str, str]:
        return {"AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret_key}

    def beam_args(self) -> list[str]:
        return [
            f"--s3_access_key_id={self.access_key}",
            f"--s3_secret_access_key={self.secret_key}",
        ]


@dataclass
class S3Server:
    buckets: tuple[str, ...] = ("webtext-test",)
    read_only: tuple[str, ...] = ()
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    keys: Keys | None = None
    log_path: str = os.devnull
    _log: Any = field(default=None, repr=False)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> S3Server:
        import boto3  # the test's own client, for setting up and inspecting

        self.port = free_port()
        self._log = open(self.log_path, "wb")  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{self.endpoint}/moto-api/", timeout=1).close()
                break
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"moto server did not start on {self.endpoint}") from None
                time.sleep(0.1)
        setup = {"aws_access_key_id": "setup", "aws_secret_access_key": "setup"}
        s3 = boto3.client("s3", endpoint_url=self.endpoint, region_name=REGION, **setup)
        for bucket in self.buckets:
            s3.create_bucket(Bucket=bucket)
        iam = boto3.client("iam", endpoint_url=self.endpoint, region_name=REGION, **setup)
        for bucket in self.read_only:
            s3.create_bucket(Bucket=bucket)
        self.keys = self._user(iam, "webtext", policy(self.read_only))
        # From now on every request must be signed by a known user and allowed by its policy.
        request = urllib.request.Request(
            f"{self.endpoint}/moto-api/reset-auth",
            data=b"0",
            method="POST",
            headers={"Content-Type": "text/plain"},  # not a form: moto reads the raw body
        )
        urllib.request.urlopen(request, timeout=5).close()
        return self

    @staticmethod
    def _user(iam: Any, name: str, policy: dict[str, Any]) -> Keys:
        iam.create_user(UserName=name)
        iam.put_user_policy(
            UserName=name, PolicyName=f"{name}-s3", PolicyDocument=json.dumps(policy)
        )
        key = iam.create_access_key(UserName=name)["AccessKey"]
        return Keys(key["AccessKeyId"], key["SecretAccessKey"])

    def client(self) -> Any:
        """A boto3 client with the user's keys, for a test to set up and inspect objects."""
        import boto3

        keys = self.keys
        assert keys is not None
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=keys.access_key,
            aws_secret_access_key=keys.secret_key,
        )

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> S3Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
