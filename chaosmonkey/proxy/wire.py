"""Bytes and sockets: HTTP request detection and answers, SO_ORIGINAL_DST, SO_MARK, RST."""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import struct
import sys
from http import HTTPStatus

SO_ORIGINAL_DST = 80  # linux/netfilter_ipv4.h; IP6T_SO_ORIGINAL_DST (SOL_IPV6) has the same value
_LINGER_ZERO = struct.pack("ii", 1, 0)
_REQUEST_LINE = re.compile(rb"[A-Z][A-Z-]{0,19} [^\s]+ HTTP/1\.[0-9]\r?\n")
_METHOD_SO_FAR = re.compile(rb"[A-Z][A-Z-]{0,19}( [^\s]*( [HTP/1.]{0,8})?)?")
_MAX_REQUEST_LINE = 8192


def looks_like_http(data: bytes) -> bool | None:
    """True when `data` starts with an HTTP/1.x request line, False when it cannot,
    None while too few bytes have come to tell."""
    end = data.find(b"\n")
    if end >= 0:
        return _REQUEST_LINE.match(data, 0, end + 1) is not None
    if len(data) >= _MAX_REQUEST_LINE:
        return False
    return None if _METHOD_SO_FAR.fullmatch(data) else False


def http_response(status: int, body: str | None) -> bytes:
    """A complete `HTTP/1.1 <status>` answer that closes the connection."""
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = "Injected"
    payload = (body if body is not None else f"{status} {reason} (chaosmonkey proxy)\n").encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\n"
        f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode("latin-1") + payload


def parse_original_dst(raw: bytes) -> tuple[str, int]:
    """(host, port) of the sockaddr_in or sockaddr_in6 that SO_ORIGINAL_DST returns."""
    family = int.from_bytes(raw[:2], sys.byteorder) if len(raw) >= 2 else -1
    if family == socket.AF_INET and len(raw) >= 8:
        return socket.inet_ntop(socket.AF_INET, raw[4:8]), int.from_bytes(raw[2:4], "big")
    if family == socket.AF_INET6 and len(raw) >= 24:
        return socket.inet_ntop(socket.AF_INET6, raw[8:24]), int.from_bytes(raw[2:4], "big")
    raise ValueError(f"not a sockaddr_in or sockaddr_in6: {raw.hex()}")


def original_destination(sock: socket.socket) -> tuple[str, int]:
    """Where a connection redirected by iptables (REDIRECT, DNAT) was headed."""
    if sock.family == socket.AF_INET6:
        with contextlib.suppress(OSError):  # else an IPv4 client of a dual-stack socket
            return parse_original_dst(sock.getsockopt(socket.IPPROTO_IPV6, SO_ORIGINAL_DST, 28))
    return parse_original_dst(sock.getsockopt(socket.SOL_IP, SO_ORIGINAL_DST, 16))


async def open_marked(
    host: str, port: int, mark: int, limit: int
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A connection whose packets carry SO_MARK `mark` (needs CAP_NET_ADMIN)."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        if mark:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_MARK, mark)
        await asyncio.get_running_loop().sock_connect(sock, (host, port))
    except BaseException:
        sock.close()
        raise
    return await asyncio.open_connection(sock=sock, limit=limit)


def reset_on_close(writer: asyncio.StreamWriter) -> None:
    """SO_LINGER 0: closing the socket then sends RST, not FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):  # closed already: nothing left to reset
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_ZERO)
