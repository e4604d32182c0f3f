"""Every value the control API takes is bounded: finite numbers within sane maxima, ports,
names; anything else is 400 with one line naming the field."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from chaosmonkey.proxy.config import MAX_TOXICS, ProxyConfigError, ProxySpec, ToxicSpec, validate
from tests.unit.proxyapi import JSON, api

LOCAL = "127.0.0.1"


def latency(**attributes: Any) -> dict[str, Any]:
    return {"type": "latency", "attributes": {"latency_ms": 1, **attributes}}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ('{"type": "latency", "attributes": {"latency_ms": Infinity}}', "attributes.latency_ms"),
        ('{"type": "latency", "attributes": {"latency_ms": NaN}}', "attributes.latency_ms"),
        ('{"type": "latency", "toxicity": NaN, "attributes": {"latency_ms": 1}}', "toxicity"),
        ('{"type": "timeout", "attributes": {"timeout_ms": -Infinity}}', "attributes.timeout_ms"),
        ('{"type": "bandwidth", "attributes": {"rate_kbps": Infinity}}', "attributes.rate_kbps"),
    ],
)
def test_infinity_and_nan_in_json_are_400_naming_the_field(body: str, field: str) -> None:
    """JSON's non-standard Infinity/NaN reach no toxic: 400 `field: ...finite number...`."""

    async def go() -> tuple[int, str]:
        async with api() as client:
            made = await client.post(
                "/proxies", json={"name": "p", "listen": f"{LOCAL}:0", "upstream": f"{LOCAL}:9"}
            )
            assert made.status == 201
            response = await client.post("/proxies/p/toxics", data=body, headers=JSON)
            return response.status, (await response.json())["error"]

    status, error = asyncio.run(go())
    assert status == 400
    assert error.startswith(f"{field}: ")
    assert "finite number" in error or "less than or equal" in error
    assert "\n" not in error


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (latency(latency_ms=3_600_001), "attributes.latency_ms"),
        (latency(latency_ms=True), "attributes.latency_ms"),
        (latency(jitter_ms=1e12), "attributes.jitter_ms"),
        (latency(jitter_ms=-1), "attributes.jitter_ms"),
        ({**latency(), "toxicity": 1.5}, "toxicity"),
        ({**latency(), "toxicity": -0.1}, "toxicity"),
        ({**latency(), "toxicity": False}, "toxicity"),
        ({**latency(), "name": "x" * 65}, "name"),
        ({**latency(), "name": "../etc"}, "name"),
        ({"type": "bandwidth", "attributes": {"rate_kbps": 0}}, "attributes.rate_kbps"),
        ({"type": "bandwidth", "attributes": {"rate_kbps": -5}}, "attributes.rate_kbps"),
        ({"type": "bandwidth", "attributes": {"rate_kbps": 1e-9}}, "attributes.rate_kbps"),
        ({"type": "bandwidth", "attributes": {"rate_kbps": 1e12}}, "attributes.rate_kbps"),
        ({"type": "timeout", "attributes": {"timeout_ms": 1e300}}, "attributes.timeout_ms"),
        ({"type": "reset_peer", "attributes": {"timeout_ms": 4e6}}, "attributes.timeout_ms"),
        ({"type": "slow_close", "attributes": {"delay_ms": 4e6}}, "attributes.delay_ms"),
        ({"type": "limit_data", "attributes": {"bytes": -1}}, "attributes.bytes"),
        ({"type": "limit_data", "attributes": {"bytes": 10**16}}, "attributes.bytes"),
        (
            {"type": "http_status", "stream": "upstream", "attributes": {"status": 700}},
            "attributes.status",
        ),
        (
            {"type": "http_status", "stream": "upstream", "attributes": {"body": "x" * 70_000}},
            "attributes.body",
        ),
    ],
)
def test_out_of_bounds_toxic_values_name_the_field(body: dict[str, Any], field: str) -> None:
    """Each value beyond its bounds is one line starting with its field."""
    with pytest.raises(ProxyConfigError) as caught:
        validate(ToxicSpec, body).build()
    assert str(caught.value).startswith(f"{field}: ")
    assert "\n" not in str(caught.value)


def test_values_at_their_bounds_are_accepted() -> None:
    """The maxima themselves are fine: an hour of latency, toxicity 0 and 1, 1 byte/s."""
    validate(ToxicSpec, latency(latency_ms=3_600_000, jitter_ms=3_600_000)).build()
    validate(ToxicSpec, {**latency(), "toxicity": 0}).build()
    validate(ToxicSpec, {"type": "bandwidth", "attributes": {"rate_kbps": 0.001}}).build()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x" * 65}, "name"),
        ({"name": "a b"}, "name"),
        ({"name": ""}, "name"),
        ({"listen": "h" * 254 + ":80"}, "listen"),
        ({"listen": f"{LOCAL}:65536"}, "listen"),
        ({"upstream": f"{LOCAL}:0"}, "upstream"),
        ({"upstream": f"{LOCAL}:65536"}, "upstream"),
        ({"upstream": f"{LOCAL}:-1"}, "upstream"),
        ({"toxics": [latency(name=f"t{n}") for n in range(MAX_TOXICS + 1)]}, "toxics"),
    ],
)
def test_out_of_bounds_proxy_values_name_the_field(body: dict[str, Any], field: str) -> None:
    """Names of bounded length and charset, ports 1-65535 (listen: 0 for any), few toxics."""
    spec = {"name": "p", "listen": f"{LOCAL}:0", "upstream": f"{LOCAL}:9", **body}
    with pytest.raises(ProxyConfigError) as caught:
        validate(ProxySpec, spec)
    assert str(caught.value).startswith(f"{field}: ")


def test_a_proxy_takes_no_more_toxics_than_the_most() -> None:
    """Toxics added one by one stop at MAX_TOXICS: 400 naming toxics."""

    async def go() -> tuple[int, str]:
        async with api() as client:
            spec = {"name": "p", "listen": f"{LOCAL}:0", "upstream": f"{LOCAL}:9"}
            assert (await client.post("/proxies", json=spec)).status == 201
            for n in range(MAX_TOXICS):
                added = await client.post("/proxies/p/toxics", json={**latency(), "name": f"t{n}"})
                assert added.status == 201
            response = await client.post("/proxies/p/toxics", json=latency())
            return response.status, (await response.json())["error"]

    status, error = asyncio.run(go())
    assert status == 400
    assert error.startswith("toxics: ")


def test_an_oversized_body_is_refused() -> None:
    """Bodies beyond 256 KiB are 413, not read into memory."""

    async def go() -> int:
        async with api() as client:
            data = '{"name": "' + "x" * 300_000 + '"}'
            return (await client.post("/proxies", data=data, headers=JSON)).status

    assert asyncio.run(go()) == 413
