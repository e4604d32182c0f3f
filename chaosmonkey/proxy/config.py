"""What the proxy is told: addresses, API bodies and the config file, with one-line errors.

These field names are the interface of the control API and of `chaosmonkey proxy --config`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, TypeVar

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    IPvAnyNetwork,
    SecretStr,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from chaosmonkey.errors import ChaosMonkeyError
from chaosmonkey.proxy.access import check_token, parse_origin
from chaosmonkey.proxy.toxics import TOXICS, InstalledToxic, Number, Stream
from chaosmonkey.schema import Model

ORIGINAL_DESTINATION = "original-destination"
DEFAULT_CONTROL = "127.0.0.1:8474"
DEFAULT_MARK = 0x6D6B  # "mk": iptables rules exempt the proxy's own upstream connections by it
_HOST_PORT = re.compile(
    r"(?:\[(?P<v6>[0-9A-Fa-f:.]{2,45})\]|(?P<host>[A-Za-z0-9_.-]{1,253})):(?P<port>\d{1,5})"
)
M = TypeVar("M", bound=BaseModel)
_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
MAX_TOXICS = 32  # per proxy
MAX_PROXIES = 256
DEFAULT_MAX_CONNECTIONS = 1024  # per proxy: more are reset as they come
MAX_CONNECTIONS = 65_536
DEFAULT_MAX_BUFFER = 8 * 1024 * 1024  # bytes a connection holds back (half each way)
MIN_BUFFER, MAX_BUFFER = 64 * 1024, 1024 * 1024 * 1024
_SECRET_FIELDS = {"token"}


class ProxyConfigError(ChaosMonkeyError):
    """A bad address, API body or config file: one line naming the field and what was expected."""

    exit_code = 2


class UnknownName(ProxyConfigError):
    """No proxy or toxic of that name (the control API answers 404)."""


class NameTaken(ProxyConfigError):
    """A proxy or toxic of that name exists already (the control API answers 409)."""


class NotAllowed(ProxyConfigError):
    """An upstream or listen address the control API may not use (it answers 403)."""


class ListenError(ChaosMonkeyError):
    """The proxy cannot listen where it was asked to (address in use, not on this host)."""


def parse_address(text: str, *, port_zero: bool = False) -> tuple[str, int]:
    """`HOST:PORT` or `[IPv6]:PORT` as (host, port); ValueError names the expected form."""
    match = _HOST_PORT.fullmatch(text.strip()) if isinstance(text, str) else None
    port = int(match["port"]) if match else -1
    if match is None or not (0 if port_zero else 1) <= port <= 65535:
        raise ValueError(f"expected HOST:PORT such as 127.0.0.1:8080, got {text!r}")
    return match["v6"] or match["host"], port


def _listen(text: str) -> str:
    parse_address(text, port_zero=True)
    return text.strip()


def _upstream(text: str) -> str:
    if text.strip() != ORIGINAL_DESTINATION:
        try:
            parse_address(text)
        except ValueError as error:
            raise ValueError(f"{error} or {ORIGINAL_DESTINATION!r}") from None
    return text.strip()


Listen = Annotated[str, AfterValidator(_listen)]
Upstream = Annotated[str, AfterValidator(_upstream)]
Name = Annotated[str, Field(pattern=_NAME)]
Origin = Annotated[str, AfterValidator(parse_origin)]


def _token(secret: SecretStr) -> SecretStr:
    check_token(secret.get_secret_value())
    return secret


Token = Annotated[SecretStr, AfterValidator(_token)]


class ToxicSpec(Model):
    """A fault to add: `type` names a registered toxic, `attributes` are that toxic's own."""

    model_config = ConfigDict(allow_inf_nan=False)
    name: Name | None = None
    type: str
    stream: Stream = "downstream"
    toxicity: Annotated[Number, Field(ge=0.0, le=1.0)] = 1.0
    attributes: dict[str, Any] = Field(default_factory=dict)

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        if value not in TOXICS:
            raise ValueError(f"expected one of {', '.join(sorted(TOXICS))}")
        return value

    @field_validator("attributes")
    @classmethod
    def _toxic_attributes(cls, value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        kind = TOXICS.get(info.data.get("type", ""))
        if kind is not None:
            kind.model_validate(value)  # its errors name attributes.FIELD
        return value

    @model_validator(mode="after")
    def _stream_fits(self) -> ToxicSpec:
        streams = TOXICS[self.type].streams
        if self.stream not in streams:
            raise ValueError(f"stream: {self.type} acts on {' or '.join(streams)} only")
        return self

    def build(self) -> InstalledToxic:
        """The toxic to install; named TYPE_STREAM unless named."""
        toxic = TOXICS[self.type].model_validate(self.attributes)
        name = self.name or f"{self.type}_{self.stream}"
        return InstalledToxic(name, self.stream, self.toxicity, toxic)


class ProxySpec(Model):
    """A listener: connections to `listen` are relayed to `upstream` through the toxics."""

    name: Name
    listen: Listen
    upstream: Upstream
    toxics: list[ToxicSpec] = Field(default_factory=list, max_length=MAX_TOXICS)


class ProxyFile(Model):
    """`chaosmonkey proxy --config FILE`: the control address, the upstream mark, the proxies,
    who may use the control API and where its proxies may relay, and the limits."""

    control: Listen | None = None
    # SO_MARK of the upstream connections of transparent proxies (0: none)
    mark: int = Field(default=DEFAULT_MARK, ge=0, le=0xFFFFFFFF)
    proxies: list[ProxySpec] = Field(default_factory=list, max_length=MAX_PROXIES)
    allow_upstream: list[IPvAnyNetwork] = Field(default_factory=list, max_length=1024)
    allow_origin: list[Origin] = Field(default_factory=list, max_length=1024)
    token: Token | None = Field(default=None, repr=False)
    max_connections: int = Field(default=DEFAULT_MAX_CONNECTIONS, ge=1, le=MAX_CONNECTIONS)
    max_buffer_bytes: int = Field(default=DEFAULT_MAX_BUFFER, ge=MIN_BUFFER, le=MAX_BUFFER)


def validate(model: type[M], data: Any, where: str = "") -> M:
    """`model` from `data`, or a ProxyConfigError naming each bad field on one line."""
    if not isinstance(data, dict):
        raise ProxyConfigError(f"{where or 'body'}: expected a JSON object (a mapping)")
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise ProxyConfigError(describe(error, where)) from None


def describe(
    error: ValidationError, where: str = "", field_prefix: str = "", secret: bool = False
) -> str:
    """`field: message; field: message`, field paths as the user wrote them (never quoting a
    secret's value)."""
    parts = []
    for item in error.errors():
        field = field_prefix + ".".join(str(part) for part in item["loc"])
        message = item["msg"].removeprefix("Value error, ")
        hidden = secret or not _SECRET_FIELDS.isdisjoint(map(str, item["loc"]))
        if item["type"] == "extra_forbidden":
            message = "unknown field"
        elif item["type"] == "missing":
            message = "required field is missing"
        elif not hidden and isinstance(item["input"], str | int | float | bool | None):
            message = f"{message}, got {item['input']!r}"
        parts.append(f"{field}: {message}" if field else message)
    text = "; ".join(parts)
    return f"{where}: {text}" if where else text


def load_config(path: Path) -> ProxyFile:
    """The config file at `path` (YAML)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise ProxyConfigError(f"{path}: cannot read: {error}") from None
    except yaml.YAMLError as error:
        raise ProxyConfigError(f"{path}: malformed YAML: {str(error).splitlines()[0]}") from None
    return validate(ProxyFile, data, str(path))


def command_settings(
    listen: str | None,
    upstream: str | None,
    name: str,
    control: str | None,
    config: Path | None,
    *,
    allow_upstream: Sequence[str] = (),
    allow_origin: Sequence[str] = (),
    token: str | None = None,
    max_connections: int | None = None,
    max_buffer: int | None = None,
) -> tuple[ProxyFile, str]:
    """What `chaosmonkey proxy` was asked for: the config file's proxies plus the one of
    --listen/--upstream, and the control address. The allow-lists add to the file's; the
    token and limits, when given, replace the file's."""
    settings = load_config(config) if config else ProxyFile()
    updates: dict[str, Any] = {
        "allow_upstream": settings.allow_upstream
        + [_option("--allow-upstream", IPvAnyNetwork, item) for item in allow_upstream],
        "allow_origin": settings.allow_origin
        + [_option("--allow-origin", Origin, item) for item in allow_origin],
    }
    if token is not None:
        updates["token"] = _option("--token", Token, token, secret=True)
    fields = ProxyFile.model_fields
    for option, key, value in [
        ("--max-connections", "max_connections", max_connections),
        ("--max-buffer", "max_buffer_bytes", max_buffer),
    ]:
        if value is not None:
            bounds = fields[key].metadata
            updates[key] = _option(option, Annotated[int, *bounds], value)
    settings = settings.model_copy(update=updates)
    if listen is None and upstream is None:
        if config is None:
            raise ProxyConfigError("--listen and --upstream: required (or --config FILE)")
    elif listen is None or upstream is None:
        raise ProxyConfigError(f"--{'listen' if listen is None else 'upstream'}: required too")
    else:
        try:
            spec = ProxySpec(name=name, listen=listen, upstream=upstream)
        except ValidationError as error:
            raise ProxyConfigError(describe(error, field_prefix="--")) from None
        settings = settings.model_copy(update={"proxies": [*settings.proxies, spec]})
    control = control or settings.control or DEFAULT_CONTROL
    try:
        parse_address(control, port_zero=True)
    except ValueError as error:
        raise ProxyConfigError(f"--control: {error}") from None
    return settings, control


def _option(option: str, kind: Any, value: Any, secret: bool = False) -> Any:
    """One command-line value checked as `kind`; ProxyConfigError naming the option."""
    try:
        return TypeAdapter(kind).validate_python(value)
    except ValidationError as error:
        raise ProxyConfigError(describe(error, option, secret=secret)) from None
