"""What the proxy is told: addresses, API bodies and the config file, with one-line errors.

These field names are the interface of the control API and of `chaosmonkey proxy --config`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, TypeVar

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from chaosmonkey.errors import ChaosMonkeyError
from chaosmonkey.proxy.toxics import TOXICS, InstalledToxic, Stream
from chaosmonkey.schema import Model

ORIGINAL_DESTINATION = "original-destination"
DEFAULT_CONTROL = "127.0.0.1:8474"
DEFAULT_MARK = 0x6D6B  # "mk": iptables rules exempt the proxy's own upstream connections by it
_HOST_PORT = re.compile(
    r"(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[A-Za-z0-9_.-]+)):(?P<port>\d{1,5})"
)
M = TypeVar("M", bound=BaseModel)
_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class ProxyConfigError(ChaosMonkeyError):
    """A bad address, API body or config file: one line naming the field and what was expected."""

    exit_code = 2


class UnknownName(ProxyConfigError):
    """No proxy or toxic of that name (the control API answers 404)."""


class NameTaken(ProxyConfigError):
    """A proxy or toxic of that name exists already (the control API answers 409)."""


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


class ToxicSpec(Model):
    """A fault to add: `type` names a registered toxic, `attributes` are that toxic's own."""

    name: Name | None = None
    type: str
    stream: Stream = "downstream"
    toxicity: float = Field(default=1.0, ge=0.0, le=1.0)
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
    toxics: list[ToxicSpec] = Field(default_factory=list)


class ProxyFile(Model):
    """`chaosmonkey proxy --config FILE`: the control address, the upstream mark, the proxies."""

    control: Listen | None = None
    # SO_MARK of the upstream connections of transparent proxies (0: none)
    mark: int = Field(default=DEFAULT_MARK, ge=0, le=0xFFFFFFFF)
    proxies: list[ProxySpec] = Field(default_factory=list)


def validate(model: type[M], data: Any, where: str = "") -> M:
    """`model` from `data`, or a ProxyConfigError naming each bad field on one line."""
    if not isinstance(data, dict):
        raise ProxyConfigError(f"{where or 'body'}: expected a JSON object (a mapping)")
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise ProxyConfigError(describe(error, where)) from None


def describe(error: ValidationError, where: str = "", field_prefix: str = "") -> str:
    """`field: message; field: message`, field paths as the user wrote them."""
    parts = []
    for item in error.errors():
        field = field_prefix + ".".join(str(part) for part in item["loc"])
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown field"
        elif item["type"] == "missing":
            message = "required field is missing"
        elif isinstance(item["input"], str | int | float | bool | None):
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
) -> tuple[ProxyFile, str]:
    """What `chaosmonkey proxy` was asked for: the config file's proxies plus the one of
    --listen/--upstream, and the control address."""
    settings = load_config(config) if config else ProxyFile()
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
