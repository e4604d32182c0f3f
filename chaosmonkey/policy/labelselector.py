"""Kubernetes label selectors as users write them: `app=web,tier!=db,env in (prod,staging)`.

Checked when a policy is read, so that a typo is a policy error with its line, not a 400 from the
API server in the middle of a run. The grammar is the API server's: requirements separated by
commas, each `key`, `!key`, `key=value`, `key==value`, `key!=value`, `key in (a,b)` or
`key notin (a,b)`; keys may carry a DNS-subdomain prefix (`app.kubernetes.io/name`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_NAME = r"[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?"
_PREFIX = r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*"
_KEY = rf"(?:{_PREFIX}/)?{_NAME}"
_VALUE = re.compile(rf"(?:{_NAME})?")
_EXISTS = re.compile(rf"\s*(?P<not>!?)\s*(?P<key>{_KEY})\s*")
_EQUALS = re.compile(rf"\s*(?P<key>{_KEY})\s*(?P<op>==|=|!=)\s*(?P<value>[^\s,]*)\s*")
_SET = re.compile(rf"\s*(?P<key>{_KEY})\s+(?P<op>in|notin)\s*\((?P<values>[^()]*)\)\s*")
MAX_NAME, MAX_PREFIX, MAX_VALUE = 63, 253, 63
EXAMPLE = "app=web,tier!=db"


@dataclass(frozen=True)
class Requirement:
    """One requirement of a selector: `operator` is one of =, !=, in, notin, exists, !."""

    key: str
    operator: str
    values: tuple[str, ...] = ()


def parse(text: str) -> list[Requirement]:
    """The requirements of `text`; raises ValueError naming the part that is not valid."""
    if not text.strip():
        return []
    return [_requirement(part) for part in _split(text)]


def _split(text: str) -> list[str]:
    """Splits on the commas that are not inside a set's parentheses."""
    parts, depth, start = [], 0, 0
    for position, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(text[start:position])
            start = position + 1
    parts.append(text[start:])
    return parts


def _requirement(part: str) -> Requirement:
    if match := _SET.fullmatch(part):
        values = tuple(value.strip() for value in match["values"].split(","))
        if values == ("",):
            raise ValueError(f"{part.strip()!r}: expected at least one value in the parentheses")
        return Requirement(_key(match["key"]), match["op"], tuple(_value(v) for v in values))
    if match := _EQUALS.fullmatch(part):
        operator = "!=" if match["op"] == "!=" else "="
        return Requirement(_key(match["key"]), operator, (_value(match["value"]),))
    if match := _EXISTS.fullmatch(part):
        return Requirement(_key(match["key"]), "!" if match["not"] else "exists")
    raise ValueError(
        f"{part.strip()!r} is not a requirement: expected key=value, key!=value, "
        "key in (a,b), key notin (a,b), key or !key"
    )


def _key(key: str) -> str:
    prefix, _, name = key.rpartition("/")
    if len(name) > MAX_NAME:
        raise ValueError(f"key {key!r}: its name is longer than {MAX_NAME} characters")
    if len(prefix) > MAX_PREFIX:
        raise ValueError(f"key {key!r}: its prefix is longer than {MAX_PREFIX} characters")
    return key


def _value(value: str) -> str:
    if len(value) > MAX_VALUE or not _VALUE.fullmatch(value):
        raise ValueError(
            f"value {value!r}: expected at most {MAX_VALUE} letters, digits, '-', '_' or '.', "
            "starting and ending with a letter or digit"
        )
    return value


def check(text: str) -> str:
    """`text` when it is a valid selector; else ValueError with an example of one."""
    try:
        parse(text)
    except ValueError as error:
        raise ValueError(f"expected a label selector such as {EXAMPLE!r}: {error}") from None
    return text
