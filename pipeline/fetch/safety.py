"""Which network addresses the fetcher may contact, enforced in the DNS resolver.

A Reddit link may point at an internal address (``http://10.0.0.5/admin``, a cloud metadata
service at 169.254.169.254, or a public name whose DNS answer is private). The check runs on
the *resolved* addresses of every hop, redirects included, inside the resolver aiohttp uses to
connect, so what is checked is what is connected to. ``allow_private`` lifts it (tests, demo).
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from typing import Any

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

# Cloud metadata endpoints that are not covered by the private / link-local ranges.
METADATA_ADDRESSES = frozenset(
    {
        ipaddress.ip_address("169.254.169.254"),  # AWS, GCP, Azure, OpenStack (link-local too)
        ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud
        ipaddress.ip_address("fd00:ec2::254"),  # AWS IPv6
    }
)


class ForbiddenAddress(OSError):
    """A host resolved to an address the fetcher must not contact."""

    def __init__(self, host: str, address: str) -> None:
        super().__init__(f"{host} resolves to {address}, a non-public address (refused)")
        self.host = host
        self.address = address


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    return None


def is_forbidden_address(address: str) -> bool:
    """True for anything but a public unicast address (loopback, private, link-local,
    shared/CGNAT, multicast, reserved, unspecified, metadata; IPv4 embedded in IPv6 too).
    A string that is not an IP address is forbidden (the caller resolved it wrongly)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return True
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_ipv4(ip)
        if inner is not None and is_forbidden_address(str(inner)):
            return True
    if ip in METADATA_ADDRESSES:
        return True
    return not ip.is_global or ip.is_multicast


def ip_literal(host: str) -> str | None:
    """The address if host is an IP literal (brackets allowed), else None."""
    try:
        return str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return None


@dataclass(frozen=True)
class ResolveRule:
    """``HOST:PORT:ADDR[:TO_PORT]``: connections to HOST on PORT go to ADDR (on TO_PORT).

    The first three fields mean what curl's ``--resolve`` means; the optional fourth, like
    curl's ``--connect-to``, changes the port too (a local test server on a random port).
    """

    host: str
    port: int
    address: str
    to_port: int

    @classmethod
    def parse(cls, text: str) -> ResolveRule:
        host, sep, rest = text.partition(":")
        port_text, sep2, addr_part = rest.partition(":")
        if not sep or not sep2 or not host or not addr_part:
            raise ValueError(f"--resolve {text!r}: expected HOST:PORT:ADDR or HOST:PORT:ADDR:PORT")
        if addr_part.startswith("["):
            addr, _, tail = addr_part[1:].partition("]")
            to_port_text = tail[1:] if tail.startswith(":") else ""
            if tail and not tail.startswith(":"):
                raise ValueError(f"--resolve {text!r}: bad bracketed address")
        elif addr_part.count(":") == 1:
            addr, to_port_text = addr_part.split(":")
        else:
            addr, to_port_text = addr_part, ""
        if ip_literal(addr) is None:
            raise ValueError(f"--resolve {text!r}: {addr!r} is not an IP address")
        try:
            port = int(port_text)
            to_port = int(to_port_text) if to_port_text else port
        except ValueError as exc:
            raise ValueError(f"--resolve {text!r}: ports must be integers") from exc
        for p in (port, to_port):
            if not 0 < p < 65536:
                raise ValueError(f"--resolve {text!r}: port {p} out of range")
        return cls(host.lower().rstrip("."), port, ip_literal(addr) or addr, to_port)

    def to_text(self) -> str:
        addr = f"[{self.address}]" if ":" in self.address else self.address
        return f"{self.host}:{self.port}:{addr}:{self.to_port}"


class GuardedResolver(AbstractResolver):
    """DNS resolution with --resolve overrides, refusing non-public answers by default.

    If any address in the answer is forbidden the whole host is refused, so a name that mixes
    public and private records cannot be used to reach the private one.
    """

    def __init__(self, rules: tuple[ResolveRule, ...] = (), *, allow_private: bool = False) -> None:
        self._rules = {(r.host, r.port): r for r in rules}
        self._allow_private = allow_private
        self._inner = ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        rule = self._rules.get((host.lower().rstrip("."), port))
        if rule is not None:
            fam = socket.AF_INET6 if ":" in rule.address else socket.AF_INET
            answers: list[Any] = [
                {
                    "hostname": host,
                    "host": rule.address,
                    "port": rule.to_port,
                    "family": fam,
                    "proto": 0,
                    "flags": socket.AI_NUMERICHOST,
                }
            ]
        else:
            answers = list(await self._inner.resolve(host, port, family))
        if not self._allow_private:
            for answer in answers:
                if is_forbidden_address(answer["host"]):
                    raise ForbiddenAddress(host, answer["host"])
        return answers

    async def close(self) -> None:
        await self._inner.close()
