"""The fault proxy's pure logic: token bucket, toxicity draws, parsing of what it is told."""

from __future__ import annotations

import random
import socket
import struct
import sys
from pathlib import Path

import pytest

from chaosmonkey.proxy.config import (
    DEFAULT_CONTROL,
    ProxyConfigError,
    ToxicSpec,
    command_settings,
    parse_address,
    validate,
)
from chaosmonkey.proxy.toxics import TOXICS, TokenBucket, applies
from chaosmonkey.proxy.wire import http_response, looks_like_http, parse_original_dst


def _sockaddr_in(host: str, port: int) -> bytes:
    family = socket.AF_INET.to_bytes(2, sys.byteorder)
    return family + struct.pack("!H", port) + socket.inet_aton(host) + bytes(8)


def _sockaddr_in6(host: str, port: int) -> bytes:
    family = socket.AF_INET6.to_bytes(2, sys.byteorder)
    address = socket.inet_pton(socket.AF_INET6, host)
    return family + struct.pack("!HI", port, 0) + address + bytes(4)


def test_bucket_lets_a_burst_through_at_once() -> None:
    """A full bucket passes `burst` bytes without waiting."""
    bucket = TokenBucket(rate_bps=1000, burst=100, now=0.0)
    assert bucket.take(100, now=0.0) == 0.0


def test_bucket_makes_the_excess_wait_at_the_rate() -> None:
    """Bytes beyond the tokens wait as long as the rate needs to earn them."""
    bucket = TokenBucket(rate_bps=1000, burst=100, now=0.0)
    bucket.take(100, now=0.0)
    assert bucket.take(50, now=0.0) == pytest.approx(0.05)
    assert bucket.take(50, now=0.0) == pytest.approx(0.10)


def test_bucket_refills_over_time_but_never_beyond_its_burst() -> None:
    """Idle time earns tokens up to `burst`, not more."""
    bucket = TokenBucket(rate_bps=1000, burst=100, now=0.0)
    bucket.take(100, now=0.0)
    assert bucket.take(100, now=0.1) == 0.0
    assert bucket.take(200, now=10.0) == pytest.approx(0.1)


def test_bucket_keeps_the_long_run_rate() -> None:
    """Sending as soon as allowed, 100 pieces of 100 bytes at 10 kB/s take one second."""
    bucket, now = TokenBucket(rate_bps=10_000, burst=100, now=0.0), 0.0
    for _ in range(100):
        now += bucket.take(100, now)
    assert now == pytest.approx(0.99)


def test_toxicity_draws_follow_the_probability_with_a_seeded_rng() -> None:
    """With toxicity 0.3, about 30% of 10,000 seeded draws apply (within 4 sigma)."""
    rng = random.Random(42)
    hits = sum(applies(0.3, rng) for _ in range(10_000))
    assert abs(hits - 3000) <= 4 * (10_000 * 0.3 * 0.7) ** 0.5


def test_toxicity_draws_repeat_with_the_same_seed() -> None:
    """The same seed gives the same sequence of draws."""

    def draws(seed: int) -> list[bool]:
        rng = random.Random(seed)
        return [applies(0.5, rng) for _ in range(50)]

    assert draws(7) == draws(7) != draws(8)


def test_toxicity_zero_never_and_one_always_applies() -> None:
    """0 and 1 are certain, whatever the rng."""
    rng = random.Random(1)
    assert not any(applies(0.0, rng) for _ in range(1000))
    assert all(applies(1.0, rng) for _ in range(1000))


def test_original_dst_parses_a_sockaddr_in() -> None:
    """SO_ORIGINAL_DST's sockaddr_in gives host and port (network byte order)."""
    assert parse_original_dst(_sockaddr_in("10.1.2.3", 8080)) == ("10.1.2.3", 8080)


def test_original_dst_parses_a_sockaddr_in6() -> None:
    """IP6T_SO_ORIGINAL_DST's sockaddr_in6 gives host and port."""
    assert parse_original_dst(_sockaddr_in6("fd00::5", 443)) == ("fd00::5", 443)


@pytest.mark.parametrize(
    "raw", [b"", b"\x02", bytes(16), _sockaddr_in("1.2.3.4", 80)[:6]], ids=repr
)
def test_original_dst_refuses_what_is_not_a_sockaddr(raw: bytes) -> None:
    """Short or unknown-family buffers raise ValueError."""
    with pytest.raises(ValueError, match="sockaddr"):
        parse_original_dst(raw)


@pytest.mark.parametrize(
    ("data", "verdict"),
    [
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", True),
        (b"POST /api?q=1 HTTP/1.0\n", True),
        (b"GET / HTTP/2.0\r\n", False),
        (b"\x16\x03\x01\x02\x00", False),
        (b"SSH-2.0-OpenSSH\r\n", False),
        (b"get / HTTP/1.1\r\n", False),
        (b"GE", None),
        (b"GET /index.html HTT", None),
    ],
)
def test_http_requests_are_told_from_other_bytes(data: bytes, verdict: bool | None) -> None:
    """An HTTP/1.x request line is recognised; other bytes are not; a prefix waits for more."""
    assert looks_like_http(data) is verdict


def test_http_answer_is_complete_and_closes() -> None:
    """The answer has the status line, the body's length and Connection: close."""
    head, body = http_response(503, "down\n").split(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
    assert b"Connection: close" in head
    assert b"Content-Length: 5" in head
    assert body == b"down\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [("127.0.0.1:80", ("127.0.0.1", 80)), ("[::1]:8474", ("::1", 8474)), ("db:5432", ("db", 5432))],
)
def test_addresses_parse(text: str, expected: tuple[str, int]) -> None:
    """HOST:PORT, [IPv6]:PORT and names are read."""
    assert parse_address(text) == expected


@pytest.mark.parametrize("text", ["127.0.0.1", "127.0.0.1:0", ":80", "h:70000", "a b:1"])
def test_bad_addresses_name_the_expected_form(text: str) -> None:
    """Anything else says HOST:PORT is expected (port 0 only where allowed)."""
    with pytest.raises(ValueError, match="expected HOST:PORT"):
        parse_address(text)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"type": "nope"}, "type: expected one of bandwidth, http_status"),
        ({"type": "latency", "attributes": {}}, "attributes.latency_ms: required field"),
        ({"type": "latency", "attributes": {"latency_ms": -1}}, "attributes.latency_ms:"),
        ({"type": "latency", "toxicity": 2, "attributes": {"latency_ms": 1}}, "toxicity:"),
        ({"type": "latency", "stream": "up", "attributes": {"latency_ms": 1}}, "stream:"),
        ({"type": "http_status", "stream": "downstream"}, "stream: http_status acts on"),
        ({"type": "timeout", "attributes": {"timeout_ms": 1, "x": 1}}, "attributes.x: unknown"),
    ],
)
def test_bad_toxics_name_the_field(body: dict[str, object], message: str) -> None:
    """Each bad toxic body gives one line naming the field."""
    with pytest.raises(ProxyConfigError) as caught:
        validate(ToxicSpec, body).build()
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_every_toxic_is_registered_by_its_public_name() -> None:
    """The type names of the API are all registered."""
    expected = {"latency", "bandwidth", "timeout", "reset_peer", "slow_close", "limit_data"}
    assert set(TOXICS) == expected | {"http_status"}


def test_a_toxic_is_named_after_its_type_and_stream_by_default() -> None:
    """Without a name, a toxic is called TYPE_STREAM."""
    toxic = validate(ToxicSpec, {"type": "slow_close", "attributes": {"delay_ms": 5}}).build()
    assert toxic.name == "slow_close_downstream"
    assert toxic.to_dict()["toxicity"] == 1.0


def test_command_settings_turn_options_into_one_proxy() -> None:
    """--listen/--upstream/--name make one proxy; the control address has its default."""
    settings, control = command_settings("127.0.0.1:0", "127.0.0.1:9", "web", None, None)
    assert [(p.name, p.listen, p.upstream) for p in settings.proxies] == [
        ("web", "127.0.0.1:0", "127.0.0.1:9")
    ]
    assert control == DEFAULT_CONTROL


@pytest.mark.parametrize(
    ("listen", "upstream", "message"),
    [
        ("nope", "127.0.0.1:9", "--listen: expected HOST:PORT"),
        ("127.0.0.1:0", "127.0.0.1", "--upstream: expected HOST:PORT"),
        ("127.0.0.1:0", None, "--upstream: required"),
        (None, None, "--listen and --upstream: required"),
    ],
)
def test_command_settings_name_the_bad_option(
    listen: str | None, upstream: str | None, message: str
) -> None:
    """A bad or missing option is one line naming it."""
    with pytest.raises(ProxyConfigError, match=message):
        command_settings(listen, upstream, "proxy", None, None)


def test_config_file_errors_name_the_file_and_field(tmp_path: Path) -> None:
    """A bad config file names itself and the field."""
    path = tmp_path / "proxy.yaml"
    path.write_text("proxies:\n  - name: web\n    listen: nowhere\n    upstream: 127.0.0.1:9\n")
    with pytest.raises(ProxyConfigError, match=r"proxy\.yaml: proxies\.0\.listen: expected"):
        command_settings(None, None, "proxy", None, path)


def test_config_file_accepts_transparent_proxies_and_toxics(tmp_path: Path) -> None:
    """A config file can hold the mark, a transparent proxy and its toxics."""
    path = tmp_path / "proxy.yaml"
    path.write_text(
        "control: 127.0.0.1:0\nmark: 0xC4A0\nproxies:\n"
        "  - {name: t, listen: '127.0.0.1:0', upstream: original-destination,\n"
        "     toxics: [{type: latency, attributes: {latency_ms: 50}}]}\n"
    )
    settings, control = command_settings(None, None, "proxy", None, path)
    assert (settings.mark, control) == (0xC4A0, "127.0.0.1:0")
    assert settings.proxies[0].toxics[0].attributes == {"latency_ms": 50}
