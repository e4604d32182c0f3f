"""Reads policy files, reporting each error as `path:line: field: message`."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from chaosmonkey.errors import PolicyError, PolicyErrors
from chaosmonkey.faults import FAULTS
from chaosmonkey.policy.models import Policy

POLICY_SUFFIXES = (".yaml", ".yml")
Lines = dict[tuple[str | int, ...], int]  # a key path in the file -> its line
MAX_NODES = 10_000  # values in one document, aliases expanded: a policy holds a few hundred


def load_policy(path: Path) -> Policy:
    """The single policy in `path`."""
    policies = load_file(path)
    if len(policies) != 1:
        raise PolicyError(f"{path}:1", f"expected one policy, found {len(policies)}")
    return policies[0]


def load_paths(paths: Iterable[Path]) -> list[Policy]:
    """Every policy in the files and directories given; all errors of all files at once."""
    policies: list[Policy] = []
    errors: list[PolicyError] = []
    files = list(_policy_files(paths, errors))
    for path in files:
        try:
            policies.extend(load_file(path))
        except PolicyErrors as failed:
            errors.extend(failed.errors)
    errors.extend(_duplicate_names(policies))
    if errors:
        raise PolicyErrors(errors)
    return policies


def load_file(path: Path) -> list[Policy]:
    """The policies of one YAML file (one per document)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise PolicyErrors([PolicyError(str(path), f"cannot read: {error}")]) from None
    try:
        documents = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.MarkedYAMLError as error:
        raise PolicyErrors([_yaml_error(path, error)]) from None
    policies, errors = [], []
    for node in documents:
        if node is None:
            continue
        try:
            policies.append(_validate(path, node))
        except PolicyErrors as failed:
            errors.extend(failed.errors)
    if errors:
        raise PolicyErrors(errors)
    if not policies:
        raise PolicyErrors([PolicyError(f"{path}:1", "expected a policy, the file is empty")])
    return policies


def _validate(path: Path, node: yaml.Node) -> Policy:
    if _expanded_size(node, {}) > MAX_NODES:
        raise PolicyErrors(
            [
                PolicyError(
                    f"{path}:{_line(node)}",
                    f"the document expands to more than {MAX_NODES:,} values (YAML aliases "
                    "repeating others): expected a policy",
                )
            ]
        )
    lines: Lines = {}
    errors = _index(node, (), lines)
    if errors:
        raise PolicyErrors([PolicyError(f"{path}:{line}", message) for line, message in errors])
    data = yaml.SafeLoader(  # constructs the already-composed node
        ""
    ).construct_document(node)
    if not isinstance(data, dict):
        raise PolicyErrors([PolicyError(f"{path}:{_line(node)}", "expected a mapping (a policy)")])
    try:
        policy = Policy.model_validate(data)
    except ValidationError as error:
        raise PolicyErrors(
            [_field_error(path, lines, _line(node), e) for e in error.errors()]
        ) from None
    policy._source = f"{path}:{_line(node)}"
    policy._lines = {key: f"{path}:{line}" for key, line in lines.items()}
    return policy


def _field_error(path: Path, lines: Lines, root_line: int, error: Any) -> PolicyError:
    loc = tuple(error["loc"])
    field = ".".join(str(part) for part in loc if _is_user_key(part))
    line = _nearest_line(lines, loc, root_line)
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown field"
    elif error["type"] == "union_tag_invalid":
        field, line = f"{field}.type", _nearest_line(lines, (*loc, "type"), root_line)
        message = (
            f"unknown fault type {error['input'].get('type')!r}, "
            f"expected one of {error['ctx']['expected_tags']}"
        )
    elif error["type"] == "missing":
        message = "required field is missing"
    return PolicyError(f"{path}:{line}", f"{field}: {message}" if field else message)


def _is_user_key(part: str | int) -> bool:
    # pydantic puts the discriminator's value (the fault type) into the location
    return not isinstance(part, str) or part not in FAULTS


def _nearest_line(lines: Lines, loc: tuple[str | int, ...], default: int) -> int:
    path = tuple(part for part in loc if _is_user_key(part))
    while path:
        if path in lines:
            return lines[path]
        path = path[:-1]
    return default


def _index(node: yaml.Node, path: tuple[str | int, ...], lines: Lines) -> list[tuple[int, str]]:
    """Maps every key path to its line; returns duplicate keys, which YAML would hide."""
    lines[path] = _line(node)
    errors: list[tuple[int, str]] = []
    if isinstance(node, yaml.MappingNode):
        seen: set[Any] = set()
        for key, value in node.value:
            name = key.value
            if name in seen:
                errors.append((_line(key), f"{'.'.join(map(str, (*path, name)))}: duplicate key"))
            seen.add(name)
            errors += _index(value, (*path, name), lines)
            lines[(*path, name)] = _line(key)
    elif isinstance(node, yaml.SequenceNode):
        for position, item in enumerate(node.value):
            errors += _index(item, (*path, position), lines)
    return errors


def _expanded_size(node: yaml.Node, sizes: dict[int, int]) -> int:
    """How many values the document holds once its aliases are expanded (each alias counts the
    whole value it repeats); a value that contains itself counts as too many."""
    key = id(node)
    if key in sizes:
        return sizes[key]
    sizes[key] = MAX_NODES + 1  # while it is counted: an alias back to it is a cycle
    if isinstance(node, yaml.MappingNode):
        children = [child for pair in node.value for child in pair]
    elif isinstance(node, yaml.SequenceNode):
        children = list(node.value)
    else:
        children = []
    total = 1
    for child in children:
        total += _expanded_size(child, sizes)
        if total > MAX_NODES:
            break
    sizes[key] = total
    return total


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def _yaml_error(path: Path, error: yaml.MarkedYAMLError) -> PolicyError:
    mark = error.problem_mark or error.context_mark
    line = mark.line + 1 if mark else 1
    problem = error.problem or error.context or "malformed YAML"
    return PolicyError(f"{path}:{line}", f"malformed YAML: {problem}")


def _policy_files(paths: Iterable[Path], errors: list[PolicyError]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix in POLICY_SUFFIXES)
            if not found:
                errors.append(PolicyError(str(path), "expected policy files (*.yaml), found none"))
            yield from found
        elif path.exists():
            yield path
        else:
            errors.append(PolicyError(str(path), "no such file or directory"))


def _duplicate_names(policies: list[Policy]) -> Iterator[PolicyError]:
    seen: dict[str, str] = {}
    for policy in policies:
        where = policy.source
        if policy.name in seen:
            yield PolicyError(
                where, f"metadata.name: {policy.name!r} is also used at {seen[policy.name]}"
            )
        seen.setdefault(policy.name, where)
