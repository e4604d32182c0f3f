"""Who may use the control API: browser origins, the bearer token, JSON bodies only.

A browser page on another site can send requests to 127.0.0.1:8474 (CSRF); it cannot help
sending its `Origin`, nor send `Authorization` or a JSON `Content-Type` without a preflight that
this API never grants to an origin not allowed. Clients such as curl or the monkey send no Origin.
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass

MIN_TOKEN_CHARS = 16
MAX_TOKEN_CHARS = 4096
_TOKEN = re.compile(r"[\x21-\x7e]+")  # visible ASCII, as an HTTP header value carries it
_ORIGIN = re.compile(r"[a-z][a-z0-9+.-]*://(\[[0-9a-f:.]+\]|[a-z0-9_.-]+)(:\d{1,5})?")
JSON = "application/json"


def parse_origin(text: str) -> str:
    """`SCHEME://HOST[:PORT]`, lower-cased, as browsers send it; ValueError otherwise."""
    origin = text.strip().lower().removesuffix("/")
    if len(origin) > 300 or not _ORIGIN.fullmatch(origin):
        raise ValueError("expected SCHEME://HOST[:PORT] such as http://localhost:3000")
    return origin


def check_token(token: str) -> str:
    """A usable bearer token; ValueError (never quoting it) otherwise."""
    if not MIN_TOKEN_CHARS <= len(token) <= MAX_TOKEN_CHARS or not _TOKEN.fullmatch(token):
        raise ValueError(
            f"expected {MIN_TOKEN_CHARS} to {MAX_TOKEN_CHARS} visible ASCII characters"
            " (such as the output of `openssl rand -hex 16`)"
        )
    return token


@dataclass(frozen=True)
class Refusal:
    """Why a request is refused: its HTTP status, one line, and headers to answer with."""

    status: int
    message: str
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Access:
    """The control API's rules: no token means none is asked for; no origin is allowed unless
    listed (requests without an Origin header are not from a browser page)."""

    token: str | None = None
    origins: frozenset[str] = frozenset()

    def allows_origin(self, origin: str | None) -> bool:
        if origin is None:
            return True
        try:
            return parse_origin(origin) in self.origins
        except ValueError:
            return False

    def refusal(
        self,
        *,
        origin: str | None,
        authorization: str | None,
        content_type: str | None,
        has_body: bool,
    ) -> Refusal | None:
        """None when the request may go on; else why not (403, then 401, then 415)."""
        if not self.allows_origin(origin):
            return Refusal(403, f"Origin: {origin!r} is not allowed (see --allow-origin)")
        if self.token is not None and not self._authorized(authorization):
            challenge = (("WWW-Authenticate", 'Bearer realm="chaosmonkey proxy"'),)
            return Refusal(401, "Authorization: expected 'Bearer <token>'", challenge)
        if has_body and not _is_json(content_type):
            got = "none" if content_type is None else repr(content_type)
            return Refusal(415, f"Content-Type: expected {JSON}, got {got}")
        return None

    def _authorized(self, authorization: str | None) -> bool:
        assert self.token is not None
        scheme, _, given = (authorization or "").strip().partition(" ")
        expected = self.token.encode()
        # compared in constant time; a malformed header is compared too, so as to take as long
        matches = hmac.compare_digest(given.strip().encode("utf-8", "replace"), expected)
        return scheme.lower() == "bearer" and matches


def _is_json(content_type: str | None) -> bool:
    return content_type is not None and content_type.split(";")[0].strip().lower() == JSON
