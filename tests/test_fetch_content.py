"""Pure fetch logic: address safety, --resolve rules, content decoding, charsets, sniffing."""

from __future__ import annotations

import gzip
import ipaddress
import random
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.fetch.content import (
    ContentError,
    decode_content,
    decode_html,
    detect_charset,
    looks_binary,
    parse_media_type,
    parse_retry_after,
)
from pipeline.fetch.records import choose_row
from pipeline.fetch.safety import ResolveRule, is_forbidden_address

CAP = 1 << 20


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.100.100.200",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "255.255.255.255",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "fd00:ec2::254",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "2002:0a00:0001::1",  # 6to4 wrapping 10.0.0.1
        "not-an-address",
    ],
)
def test_non_public_addresses_are_forbidden(address):
    assert is_forbidden_address(address)


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "1.1.1.1"])
def test_public_addresses_are_allowed(address):
    assert not is_forbidden_address(address)


@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_ipv4_mapped_ipv6_gets_the_ipv4_verdict(value):
    v4 = ipaddress.IPv4Address(value)
    mapped = ipaddress.IPv6Address(f"::ffff:{v4}")
    if is_forbidden_address(str(v4)):
        assert is_forbidden_address(str(mapped))
    else:
        assert is_forbidden_address(str(mapped)) == is_forbidden_address(str(v4))


@given(
    host=st.from_regex(r"[a-z][a-z0-9\-]{0,20}(\.[a-z]{2,6}){1,2}", fullmatch=True),
    port=st.integers(1, 65535),
    to_port=st.integers(1, 65535),
    v6=st.booleans(),
)
def test_resolve_rule_round_trips(host, port, to_port, v6):
    address = "::1" if v6 else "127.0.0.1"
    rule = ResolveRule.parse(ResolveRule(host, port, address, to_port).to_text())
    assert rule == ResolveRule(host, port, address, to_port)


def test_resolve_rule_curl_form_keeps_the_port():
    assert ResolveRule.parse("Example.COM:443:10.0.0.1") == ResolveRule(
        "example.com", 443, "10.0.0.1", 443
    )
    assert ResolveRule.parse("a.b:80:[::1]:8080") == ResolveRule("a.b", 80, "::1", 8080)


@pytest.mark.parametrize(
    "bad", ["example.com", "example.com:80", "h:80:notanip", "h:x:1.2.3.4", "h:80:1.2.3.4:0"]
)
def test_resolve_rule_errors_name_the_rule(bad):
    with pytest.raises(ValueError, match="--resolve"):
        ResolveRule.parse(bad)


@settings(max_examples=50)
@given(st.binary(max_size=20000), st.sampled_from(["gzip", "deflate", "identity", "gzip, gzip"]))
def test_decode_content_round_trips(data, coding):
    if coding == "gzip":
        blob = gzip.compress(data)
    elif coding == "gzip, gzip":
        blob = gzip.compress(gzip.compress(data))
    elif coding == "deflate":
        blob = zlib.compress(data)
    else:
        blob = data
    assert decode_content(blob, coding, CAP, 100.0) == data


def test_raw_deflate_is_accepted():
    compressor = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    blob = compressor.compress(b"<p>hello</p>" * 50) + compressor.flush()
    assert decode_content(blob, "deflate", CAP, 100.0) == b"<p>hello</p>" * 50


def test_bomb_versus_merely_large():
    bomb = gzip.compress(b"\0" * (8 * CAP))
    with pytest.raises(ContentError) as exc:
        decode_content(bomb, "gzip", CAP, 100.0)
    assert exc.value.error_class == "decompression_bomb"
    incompressible = gzip.compress(random.Random(0).randbytes(2 * CAP))  # ratio ~1
    with pytest.raises(ContentError) as exc:
        decode_content(incompressible, "gzip", CAP, 100.0)
    assert exc.value.error_class == "too_large"


@pytest.mark.parametrize(
    ("blob", "coding", "error"),
    [
        (gzip.compress(b"x" * 1000)[:-20], "gzip", "truncated_body"),
        (b"not gzip at all", "gzip", "bad_encoding"),
        (b"whatever", "br", "unsupported_encoding"),
    ],
)
def test_decode_content_errors(blob, coding, error):
    with pytest.raises(ContentError) as exc:
        decode_content(blob, coding, CAP, 100.0)
    assert exc.value.error_class == error


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=300))
def test_parse_media_type_never_raises(header):
    mime, charset = parse_media_type(header)
    assert mime is None or mime == mime.lower()


def test_parse_media_type_examples():
    assert parse_media_type('text/HTML; Charset="ISO-8859-1"') == ("text/html", "ISO-8859-1")
    assert parse_media_type(None) == (None, None)


TEXTS = [
    "Grüße aus Köln – “quoted” naïveté",
    "Привет, как дела? Это тестовая страница.",
    "日本語のテキストです。",
]


@pytest.mark.parametrize(
    ("text", "charset"),
    [
        (TEXTS[0], "cp1252"),
        (TEXTS[0], "utf-8"),
        (TEXTS[1], "koi8_r"),
        (TEXTS[1], "cp1251"),
        (TEXTS[2], "euc_jp"),
    ],
)
def test_declared_charsets_decode_exactly(text, charset):
    body = f"<html><body><p>{text}</p></body></html>".encode(charset)
    assert text in decode_html(body, detect_charset(body, charset))
    meta = f'<html><head><meta charset="{charset}"></head><body><p>{text}</p></body></html>'.encode(
        charset
    )
    assert text in decode_html(meta, detect_charset(meta, None))


@given(st.text(max_size=500))
def test_undeclared_utf8_is_detected(text):
    body = f"<html><body>{text}</body></html>".encode()
    if not looks_binary(body):
        assert detect_charset(body) == "utf-8"


def test_latin1_label_means_windows_1252():
    assert detect_charset(b"<p>\x93hi\x94</p>", "iso-8859-1") == "cp1252"


def test_undeclared_legacy_charset_decodes():
    text = (
        "Ceci est une page française, écrite à Genève, où l'on parle de théâtre et de cinéma. " * 5
    )
    body = f"<html><body><p>{text}</p></body></html>".encode("cp1252")
    charset = detect_charset(body)
    assert "française" in body.decode(charset)


def test_binary_sniffing():
    assert looks_binary(b"\x89PNG\r\n\x1a\n....")
    assert looks_binary(bytes(range(256)) * 10)
    assert not looks_binary("<html>ünïcödé</html>".encode())
    assert not looks_binary("<html>x</html>".encode("utf-16"))


def test_retry_after_forms():
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412480 - 60) == 60.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


def test_choose_row_is_order_independent():
    rows = [
        {"error": "timeout", "fetched_utc": 1, "elapsed_ms": 5, "final_url": "a", "status": 0},
        {"error": None, "fetched_utc": 9, "elapsed_ms": 7, "final_url": "a", "status": 200},
        {"error": None, "fetched_utc": 3, "elapsed_ms": 9, "final_url": "a", "status": 200},
    ]
    assert choose_row(rows) == choose_row(rows[::-1]) == rows[2]
