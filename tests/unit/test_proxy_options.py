"""`chaosmonkey proxy`'s security options and limits, from the command line and the config
file: checked, one line naming the option, never quoting the token."""

from __future__ import annotations

from ipaddress import ip_network
from pathlib import Path

import pytest

from chaosmonkey.proxy.config import ProxyConfigError, command_settings

LISTEN, UPSTREAM = "127.0.0.1:0", "127.0.0.1:9"
TOKEN = "0123456789abcdef0123"  # noqa: S105 (a test token)


def test_options_are_read_and_added_to_the_files(tmp_path: Path) -> None:
    """Allow-lists add to the config file's; token and limits replace its values."""
    path = tmp_path / "proxy.yaml"
    path.write_text(
        "allowUpstream: [10.0.0.0/8]\nallowOrigin: ['http://a.test']\nmaxConnections: 5\n"
    )
    settings, _ = command_settings(
        LISTEN,
        UPSTREAM,
        "p",
        None,
        path,
        allow_upstream=["192.168.1.0/24"],
        allow_origin=["HTTP://B.test/"],
        token=TOKEN,
        max_connections=7,
        max_buffer=65536,
    )
    assert settings.allow_upstream == [ip_network("10.0.0.0/8"), ip_network("192.168.1.0/24")]
    assert settings.allow_origin == ["http://a.test", "http://b.test"]
    assert settings.token is not None
    assert settings.token.get_secret_value() == TOKEN
    assert (settings.max_connections, settings.max_buffer_bytes) == (7, 65536)
    assert TOKEN not in repr(settings)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"allow_upstream": ["everywhere"]}, "--allow-upstream: value is not a valid IPv4 or IPv6"),
        ({"allow_upstream": ["10.0.0.1/8"]}, "--allow-upstream: "),
        ({"allow_origin": ["*"]}, "--allow-origin: expected SCHEME://HOST[:PORT]"),
        ({"token": "short"}, "--token: expected 16 to 4096"),
        ({"max_connections": 0}, "--max-connections: Input should be greater than or equal to 1"),
        ({"max_connections": 10**9}, "--max-connections: Input should be less than or equal"),
        ({"max_buffer": 1000}, "--max-buffer: Input should be greater than or equal to 65536"),
    ],
)
def test_bad_options_name_the_option(options: dict[str, object], message: str) -> None:
    """Each bad option is one line starting with its name."""
    with pytest.raises(ProxyConfigError) as caught:
        command_settings(LISTEN, UPSTREAM, "p", None, None, **options)  # type: ignore[arg-type]
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_a_bad_token_in_the_config_file_is_not_quoted(tmp_path: Path) -> None:
    """The file's token, too short, is named but not repeated in the message."""
    path = tmp_path / "proxy.yaml"
    path.write_text("token: 'my secret'\n")
    with pytest.raises(ProxyConfigError, match=r"proxy\.yaml: token: expected 16") as caught:
        command_settings(LISTEN, UPSTREAM, "p", None, path)
    assert "my secret" not in str(caught.value)
