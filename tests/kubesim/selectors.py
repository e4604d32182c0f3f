"""Label and field selectors, parsed and matched as the API server does.

The label grammar and the error messages follow apimachinery's `labels.Parse`: equality (`=`,
`==`, `!=`), sets (`in`, `notin`), existence (`key`, `!key`) and `>`/`<` on integers.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from tests.kubesim.status import bad_request

_SPECIAL = "=!(),><"
_WHITESPACE = " \t\r\n"
_KEYWORDS = {"in", "notin"}
_BINARY = "in, notin, =, ==, !=, gt, lt"
_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_VALUE_RULE = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
    "'my_value',  or '12345', regex used for validation is "
    "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)
_NAME_RULE = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
    "with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used "
    "for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)

Labels = Mapping[str, str]


@dataclass(frozen=True)
class Requirement:
    """One term of a label selector."""

    key: str
    operator: str  # "=", "!=", "in", "notin", "exists", "!", "gt", "lt" ("==" parses to "=")
    values: frozenset[str] = frozenset()

    def matches(self, labels: Labels) -> bool:
        value = labels.get(self.key)
        if self.operator in ("=", "in"):
            return value is not None and value in self.values
        if self.operator in ("!=", "notin"):
            return value is None or value not in self.values
        if self.operator == "exists":
            return value is not None
        if self.operator == "!":
            return value is None
        return _compare(self.operator, value, next(iter(self.values)))


def _compare(operator: str, value: str | None, bound: str) -> bool:
    try:
        number = int(value) if value is not None else None
    except ValueError:
        return False
    if number is None:
        return False
    return number > int(bound) if operator == "gt" else number < int(bound)


LabelSelector = tuple[Requirement, ...]


def matches(selector: LabelSelector, labels: Labels) -> bool:
    """Whether every requirement holds for `labels` (the empty selector matches everything)."""
    return all(requirement.matches(labels) for requirement in selector)


def parse_labels(text: str | None) -> LabelSelector:
    """Parses a `labelSelector` query value; raises 400 BadRequest with apimachinery's words."""
    if not text:
        return ()
    try:
        return _Parser(_lex(text)).parse()
    except _SyntaxError as error:
        raise bad_request(str(error)) from None


class _SyntaxError(Exception):
    pass


Token = tuple[str, str]  # (kind, literal): kind is "id", "end", or the operator/keyword itself


def _lex(text: str) -> list[Token]:
    tokens: list[Token] = []
    position = 0
    while True:
        while position < len(text) and text[position] in _WHITESPACE:
            position += 1
        if position == len(text):
            tokens.append(("end", ""))
            return tokens
        if text[position] in _SPECIAL:
            end = position + 1
            if text[position : position + 2] in ("==", "!="):
                end = position + 2
            tokens.append((text[position:end], text[position:end]))
        else:
            end = position
            while end < len(text) and text[end] not in _SPECIAL + _WHITESPACE:
                end += 1
            word = text[position:end]
            tokens.append((word if word in _KEYWORDS else "id", word))
        position = end


class _Parser:
    """A recursive-descent parser over the lexed tokens, as `labels.Parser` works."""

    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.position = 0

    def peek(self, values: bool = True) -> Token:
        return self._as_value(self.tokens[self.position]) if values else self.tokens[self.position]

    def take(self, values: bool = True) -> Token:
        token = self.peek(values)
        self.position += 1
        return token

    @staticmethod
    def _as_value(token: Token) -> Token:
        return ("id", token[1]) if token[0] in _KEYWORDS else token

    def parse(self) -> LabelSelector:
        requirements: list[Requirement] = []
        while True:
            kind, literal = self.peek()
            if kind == "end":
                return tuple(requirements)
            if kind not in ("id", "!"):
                raise _SyntaxError(
                    f"found '{literal}', expected: !, identifier, or 'end of string'"
                )
            try:
                requirements.append(self.requirement())
            except _SyntaxError as error:
                raise _SyntaxError(f"unable to parse requirement: {error}") from None
            kind, literal = self.take()
            if kind == "end":
                return tuple(requirements)
            if kind != ",":
                raise _SyntaxError(f"found '{literal}', expected: ',' or 'end of string'")
            next_kind, next_literal = self.peek()
            if next_kind not in ("id", "!"):
                raise _SyntaxError(f"found '{next_literal}', expected: identifier after ','")

    def requirement(self) -> Requirement:
        negated = self.peek()[0] == "!"
        if negated:
            self.take()
        kind, key = self.take()
        if kind != "id":
            raise _SyntaxError(f"found '{key}', expected: identifier")
        _check_key(key)
        if self.peek()[0] in ("end", ","):
            return Requirement(key, "!" if negated else "exists")
        operator = self.operator()
        if operator in ("in", "notin"):
            values = self.value_set()
        else:
            values = frozenset({self.exact_value()})
        return _requirement(key, operator, values)

    def operator(self) -> str:
        kind, literal = self.take(values=False)
        named = {"=": "=", "==": "=", "!=": "!=", ">": "gt", "<": "lt"}
        if kind in ("in", "notin"):
            return kind
        if kind in named:
            return named[kind]
        raise _SyntaxError(f"found '{literal}', expected: {_BINARY}")

    def value_set(self) -> frozenset[str]:
        kind, literal = self.take()
        if kind != "(":
            raise _SyntaxError(f"found '{literal}' expected: '('")
        kind, literal = self.peek()
        if kind == ")":
            self.take()
            return frozenset({""})
        if kind not in ("id", ","):
            raise _SyntaxError(f"found '{literal}', expected: ',', ')' or identifier")
        values = self.identifiers()
        if self.take()[0] != ")":
            raise _SyntaxError(f"found '{literal}', expected: ')'")
        return values

    def identifiers(self) -> frozenset[str]:
        values: set[str] = set()
        while True:
            kind, literal = self.take()
            if kind == "id":
                values.add(literal)
                next_kind, next_literal = self.peek()
                if next_kind == ")":
                    return frozenset(values)
                if next_kind != ",":
                    raise _SyntaxError(f"found '{next_literal}', expected: ',' or ')'")
            elif kind == ",":
                if not values:
                    values.add("")
                if self.peek()[0] == ")":
                    values.add("")
                    return frozenset(values)
                if self.peek()[0] == ",":
                    self.take()
                    values.add("")
            else:
                raise _SyntaxError(f"found '{literal}', expected: ',', or identifier")

    def exact_value(self) -> str:
        kind, literal = self.peek()
        if kind in ("end", ","):
            return ""
        self.take()
        if kind != "id":
            raise _SyntaxError(f"found '{literal}', expected: identifier")
        return literal


def _requirement(key: str, operator: str, values: frozenset[str]) -> Requirement:
    for value in sorted(values):
        if len(value) > 63 or not _VALUE.match(value):
            raise _SyntaxError(f'values[0][{key}]: Invalid value: "{value}": {_VALUE_RULE}')
    if operator in ("gt", "lt"):
        try:
            int(next(iter(values)))
        except ValueError:
            raise _SyntaxError(
                f"values[0]: Invalid value: \"{next(iter(values))}\": for 'Gt', 'Lt' "
                "operators, the value must be an integer"
            ) from None
    return Requirement(key, operator, values)


def _check_key(key: str) -> None:
    prefix, _, name = key.rpartition("/")
    problems = []
    if not name or len(name) > 63 or not _NAME.match(name):
        problems.append(_NAME_RULE)
    if "/" in key and (not prefix or len(prefix) > 253 or not _SUBDOMAIN.match(prefix)):
        problems.append("prefix part must be a valid DNS subdomain (RFC 1123)")
    if problems:
        raise _SyntaxError(f'key: Invalid value: "{key}": {"; ".join(problems)}')


def from_label_selector(selector: Mapping[str, Any] | None) -> LabelSelector | None:
    """A `LabelSelector` object (matchLabels, matchExpressions) as requirements; None for null."""
    if selector is None:
        return None
    operators = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}
    requirements = [
        Requirement(key, "in", frozenset({value}))
        for key, value in (selector.get("matchLabels") or {}).items()
    ]
    for expression in selector.get("matchExpressions") or []:
        operator = operators[expression["operator"]]
        values = frozenset(expression.get("values") or [])
        requirements.append(Requirement(expression["key"], operator, values))
    return tuple(requirements)


# Field selectors ---------------------------------------------------------------------------------

FieldTerm = tuple[str, bool, str]  # (field, equal?, value)
FieldSelector = tuple[FieldTerm, ...]

_POD_FIELDS: dict[str, Callable[[dict[str, Any]], str]] = {
    "spec.nodeName": lambda pod: pod["spec"].get("nodeName", ""),
    "spec.restartPolicy": lambda pod: pod["spec"].get("restartPolicy", ""),
    "spec.schedulerName": lambda pod: pod["spec"].get("schedulerName", ""),
    "spec.serviceAccountName": lambda pod: pod["spec"].get("serviceAccountName", ""),
    "spec.hostNetwork": lambda pod: str(bool(pod["spec"].get("hostNetwork"))).lower(),
    "status.phase": lambda pod: pod.get("status", {}).get("phase", ""),
    "status.podIP": lambda pod: pod.get("status", {}).get("podIP", ""),
    "status.nominatedNodeName": lambda pod: pod.get("status", {}).get("nominatedNodeName", ""),
}
_EVENT_FIELDS: dict[str, Callable[[dict[str, Any]], str]] = {
    f"involvedObject.{name}": (lambda event, name=name: event["involvedObject"].get(name, ""))
    for name in ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath")
} | {
    "reason": lambda event: event.get("reason", ""),
    "type": lambda event: event.get("type", ""),
    "source": lambda event: event.get("source", {}).get("component", ""),
}
_EXTRA_FIELDS = {"pods": _POD_FIELDS, "events": _EVENT_FIELDS}


def fields_of(resource: str, obj: dict[str, Any]) -> dict[str, str]:
    """The selectable fields of `obj` and their values, as the API server indexes them."""
    metadata = obj["metadata"]
    fields = {
        "metadata.name": metadata["name"],
        "metadata.namespace": metadata.get("namespace", ""),
    }
    for name, getter in _EXTRA_FIELDS.get(resource, {}).items():
        fields[name] = getter(obj)
    return fields


def parse_fields(text: str | None, resource: str) -> FieldSelector:
    """Parses a `fieldSelector` query value for `resource`; 400 BadRequest when invalid."""
    if not text:
        return ()
    supported = {"metadata.name", "metadata.namespace", *_EXTRA_FIELDS.get(resource, {})}
    terms: list[FieldTerm] = []
    for term in _split_terms(text):
        terms.append(_field_term(term, supported))
    return tuple(terms)


def _field_term(term: str, supported: set[str]) -> FieldTerm:
    for operator in ("!=", "==", "="):
        field, found, value = term.partition(operator)
        if found:
            if field not in supported:
                raise bad_request(f"field label not supported: {field}")
            return field, operator != "!=", value.replace("\\", "")
    raise bad_request(f"invalid selector: '{term}'; can't understand '{term}'")


def _split_terms(text: str) -> list[str]:
    terms, current, escaped = [], "", False
    for char in text:
        if char == "," and not escaped:
            terms.append(current)
            current = ""
            continue
        escaped = char == "\\" and not escaped
        current += char
    terms.append(current)
    return [term for term in terms if term]


def fields_match(selector: FieldSelector, fields: Mapping[str, str]) -> bool:
    """Whether every term holds for the object's selectable `fields`."""
    return all((fields.get(name, "") == value) == equal for name, equal, value in selector)
