"""PATCH bodies: JSON merge patch (RFC 7386), strategic merge patch (treated as a merge patch,
lists replaced whole) and JSON patch (RFC 6902: add, replace, remove, test)."""

from __future__ import annotations

import copy
from typing import Any

from tests.kubesim.status import ApiError, bad_request

MERGE = ("application/merge-patch+json", "application/strategic-merge-patch+json")
JSON_PATCH = "application/json-patch+json"


def apply(document: dict[str, Any], patch: Any, content_type: str) -> dict[str, Any]:
    """`document` patched as `content_type` says; 415 for a patch type not served."""
    media = content_type.split(";")[0].strip()
    if media in MERGE:
        if not isinstance(patch, dict):
            raise bad_request("the patch must be a JSON object")
        merged = merge(document, patch)
        assert isinstance(merged, dict)
        return merged
    if media == JSON_PATCH:
        if not isinstance(patch, list):
            raise bad_request("a JSON patch must be a list of operations")
        return json_patch(document, patch)
    accepted = ", ".join((JSON_PATCH, *MERGE))
    raise ApiError(
        415,
        "UnsupportedMediaType",
        f"the body of the request was in an unknown format - accepted media types include: "
        f"{accepted}",
    )


def merge(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge key by key, null removes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith("$"):
            continue  # strategic merge directives
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge(result.get(key), value)
    return result


def json_patch(document: dict[str, Any], operations: list[Any]) -> dict[str, Any]:
    patched = copy.deepcopy(document)
    for operation in operations:
        op, path = operation.get("op"), operation.get("path", "")
        parent, last = _walk(patched, path)
        if op == "test":
            if _get(parent, last) != operation.get("value"):
                raise ApiError(422, "Invalid", f"the test at {path} failed")
        elif op == "remove":
            _get(parent, last)
            del parent[int(last) if isinstance(parent, list) else last]
        elif op in ("add", "replace"):
            value = copy.deepcopy(operation.get("value"))
            if isinstance(parent, list):
                index = len(parent) if last == "-" else int(last)
                if op == "add":
                    parent.insert(index, value)
                else:
                    parent[index] = value
            else:
                if op == "replace":
                    _get(parent, last)
                parent[last] = value
        else:
            raise bad_request(f"unsupported JSON patch operation: {op}")
    return patched


def _walk(document: Any, path: str) -> tuple[Any, str]:
    parts = [part.replace("~1", "/").replace("~0", "~") for part in path.split("/")[1:]]
    if not parts:
        raise bad_request(f"the JSON patch path {path!r} names the whole document")
    node = document
    for part in parts[:-1]:
        node = _get(node, part)
    return node, parts[-1]


def _get(node: Any, part: str) -> Any:
    try:
        return node[int(part)] if isinstance(node, list) else node[part]
    except (KeyError, IndexError, ValueError, TypeError):
        raise ApiError(
            422, "Invalid", f"the JSON patch path part {part!r} does not exist"
        ) from None
