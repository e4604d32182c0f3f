"""The control API refuses cross-site, unauthenticated and non-JSON requests."""

from __future__ import annotations

import asyncio
import hmac
from typing import Any

import pytest

from chaosmonkey.proxy.access import Access, check_token, parse_origin
from tests.unit.proxyapi import JSON, TOKEN, api

TOXIC = {"type": "latency", "attributes": {"latency_ms": 1}}


def request(access: Access | None, method: str, path: str, **kwargs: Any) -> tuple[int, Any, Any]:
    """(status, JSON body or None, headers) of one request to a fresh API."""

    async def go() -> tuple[int, Any, Any]:
        async with api(access) as client:
            response = await client.request(method, path, **kwargs)
            body = await response.json() if response.content_type == "application/json" else None
            return response.status, body, response.headers

    return asyncio.run(go())


def test_a_request_without_origin_is_served() -> None:
    """curl and the monkey send no Origin: served as before."""
    assert request(None, "GET", "/proxies")[:2] == (200, [])


@pytest.mark.parametrize("origin", ["http://evil.example", "null", "http://127.0.0.1:8474"])
def test_a_browser_origin_is_refused_by_default(origin: str) -> None:
    """A page of any origin (even the API's own address) gets 403, before anything happens."""
    status, body, _ = request(None, "POST", "/reset", headers={"Origin": origin})
    assert status == 403
    assert body["error"].startswith("Origin: ")


def test_a_cross_site_form_post_creates_no_proxy() -> None:
    """The classic CSRF: a form POST with its own content type, from another site."""

    async def go() -> tuple[int, list[Any]]:
        async with api() as client:
            form = {"Origin": "http://evil.example", "Content-Type": "text/plain"}
            body = '{"name": "x", "listen": "127.0.0.1:0", "upstream": "127.0.0.1:9"}'
            response = await client.post("/proxies", data=body, headers=form)
            listed = await (await client.get("/proxies")).json()
            return response.status, listed

    assert asyncio.run(go()) == (403, [])


def test_an_allowed_origin_is_served_with_cors_headers() -> None:
    """An allowed origin is served, and its responses say so to the browser."""
    access = Access(origins=frozenset({"http://localhost:3000"}))
    status, _, headers = request(
        access, "GET", "/proxies", headers={"Origin": "http://localhost:3000"}
    )
    assert status == 200
    assert headers["Access-Control-Allow-Origin"] == "http://localhost:3000"


def test_an_allowed_origin_gets_its_preflight_answered_without_the_token() -> None:
    """Preflights carry no Authorization: they are answered, naming the headers allowed."""
    access = Access(TOKEN, frozenset({"http://localhost:3000"}))
    headers = {"Origin": "http://localhost:3000", "Access-Control-Request-Method": "POST"}
    status, _, answer = request(access, "OPTIONS", "/proxies", headers=headers)
    assert status == 204
    assert "Authorization" in answer["Access-Control-Allow-Headers"]


def test_a_preflight_from_another_origin_is_refused() -> None:
    """No CORS grant for an origin not allowed."""
    access = Access(origins=frozenset({"http://localhost:3000"}))
    status, _, headers = request(access, "OPTIONS", "/proxies", headers={"Origin": "http://x.test"})
    assert status == 403
    assert "Access-Control-Allow-Origin" not in headers


@pytest.mark.parametrize(
    "authorization", [None, "Bearer wrong-token-0123456789", f"Basic {TOKEN}", TOKEN, "Bearer "]
)
def test_with_a_token_set_requests_without_it_are_401(authorization: str | None) -> None:
    """Missing, wrong or malformed credentials: 401 with a Bearer challenge."""
    headers = {} if authorization is None else {"Authorization": authorization}
    status, body, answer = request(Access(TOKEN), "GET", "/proxies", headers=headers)
    assert status == 401
    assert body["error"] == "Authorization: expected 'Bearer <token>'"
    assert answer["WWW-Authenticate"].startswith("Bearer")


def test_with_the_token_requests_are_served() -> None:
    """The right token (scheme in any case) is let through."""
    status, _, _ = request(
        Access(TOKEN), "GET", "/proxies", headers={"Authorization": f"bearer {TOKEN}"}
    )
    assert status == 200


def test_the_token_is_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """The comparison is hmac.compare_digest's."""
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def compare(given: bytes, expected: bytes) -> bool:
        calls.append((given, expected))
        return real(given, expected)

    monkeypatch.setattr(hmac, "compare_digest", compare)
    rules = Access(TOKEN)
    assert (
        rules.refusal(
            origin=None, authorization=f"Bearer {TOKEN}", content_type=None, has_body=False
        )
        is None
    )
    assert calls == [(TOKEN.encode(), TOKEN.encode())]


@pytest.mark.parametrize(
    ("headers", "data"),
    [
        ({}, '{"type": "latency"}'),
        ({"Content-Type": "text/plain"}, "{}"),
        ({"Content-Type": "application/x-www-form-urlencoded"}, "a=b"),
        ({"Content-Type": "multipart/form-data; boundary=x"}, "--x--"),
    ],
)
def test_a_body_or_content_type_that_is_not_json_is_415(
    headers: dict[str, str], data: str | None
) -> None:
    """A body must be application/json (a form's or text/plain is what a page can send)."""
    status, body, _ = request(None, "POST", "/reset", headers=headers, data=data)
    assert status == 415
    assert body["error"].startswith("Content-Type: expected application/json")


def test_json_with_a_charset_and_bodiless_posts_are_accepted() -> None:
    """`application/json; charset=utf-8` is JSON; POST /reset needs no body at all."""
    assert request(None, "POST", "/reset")[0] == 204
    headers = {"Content-Type": "application/json; charset=utf-8"}
    assert request(None, "POST", "/reset", headers=headers, data="{}")[0] == 204
    assert request(None, "POST", "/reset", headers=JSON, data="{}")[0] == 204


def test_refusals_come_in_order_origin_then_token_then_type() -> None:
    """A cross-site request is 403 whatever else is wrong; then 401 before 415."""
    rules = Access(TOKEN)

    def status(origin: str | None, authorization: str | None) -> int | None:
        refusal = rules.refusal(
            origin=origin, authorization=authorization, content_type="text/plain", has_body=True
        )
        return None if refusal is None else refusal.status

    assert status("http://x.test", None) == 403
    assert status(None, None) == 401
    assert status(None, f"Bearer {TOKEN}") == 415


@pytest.mark.parametrize(("text", "origin"), [("HTTP://LocalHost:3000/", "http://localhost:3000")])
def test_origins_are_normalised(text: str, origin: str) -> None:
    """Case and a trailing slash do not matter."""
    assert parse_origin(text) == origin


@pytest.mark.parametrize("text", ["localhost:3000", "http://", "*", "http://a/b", "null"])
def test_bad_origins_are_refused(text: str) -> None:
    """An allowed origin is SCHEME://HOST[:PORT]; no wildcard, no path."""
    with pytest.raises(ValueError, match="expected SCHEME://HOST"):
        parse_origin(text)


@pytest.mark.parametrize("token", ["short", "x" * 15, "has space in it 0123", "é" * 20])
def test_weak_or_unprintable_tokens_are_refused_without_quoting_them(token: str) -> None:
    """At least 16 visible ASCII characters; the message never repeats the token."""
    with pytest.raises(ValueError, match="expected 16 to 4096") as caught:
        check_token(token)
    assert token not in str(caught.value)
