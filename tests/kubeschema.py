"""Kubernetes manifests checked against the API's schema, offline.

The installed `kubernetes` client is generated from the API's OpenAPI document: each model class
lists its fields (`attribute_map`: Python name -> JSON key), their types (`openapi_types`) and, in
its constructor, which are required. Walking a manifest through those classes finds what
`kubectl apply` would reject: an unknown (misspelled) field, a wrong type, a missing required
field, a kind that no API group serves. Each error names the object and the path in it, such as
`Deployment/web: spec.template.spec.containers[0].imagePullPolicyy: unknown field`.

Quantities (`cpu: 500m`) are strings in the client's models, so write them quoted or with a unit.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes.client
import kubernetes.client.models
import yaml

_LIST = re.compile(r"^(?:List|list)\[(.+)\]$")
_DICT = re.compile(r"^(?:Dict\[str, (.+)\]|dict\(str, (.+)\))$")


class UnknownKind(LookupError):
    """No API group of the installed client serves this apiVersion and kind."""


def model_for(api_version: str, kind: str) -> type[Any]:
    """The client's model class of `kind` in `api_version` (apps/v1 Deployment -> V1Deployment)."""
    group, _, version = api_version.rpartition("/")
    api = _api_class(group, version)
    if api is None or not _served(api, kind):
        raise UnknownKind(f"apiVersion {api_version!r}, kind {kind!r}: no API serves it")
    prefix = version[:1].upper() + version[1:]
    for name in (f"{prefix}{kind}", f"{_group_prefix(group) or 'Core'}{prefix}{kind}"):
        model = getattr(kubernetes.client.models, name, None)
        if model is not None:
            return model  # type: ignore[no-any-return]
    raise UnknownKind(f"apiVersion {api_version!r}, kind {kind!r}: the client has no model")


def is_namespaced(api_version: str, kind: str) -> bool:
    """Whether objects of this kind live in a namespace (Role) or in the cluster (ClusterRole)."""
    group, _, version = api_version.rpartition("/")
    api = _api_class(group, version)
    if api is None or not _served(api, kind):
        raise UnknownKind(f"apiVersion {api_version!r}, kind {kind!r}: no API serves it")
    return hasattr(api, f"read_namespaced_{_snake(kind)}")


def validate(document: Any) -> list[str]:
    """Every schema error of one manifest, each as `Kind/name: path: what is wrong`."""
    if not isinstance(document, dict):
        return [f"expected a Kubernetes object (a mapping), got {_type_name(document)}"]
    api_version, kind = document.get("apiVersion"), document.get("kind")
    name = (document.get("metadata") or {}).get("name", "?")
    where = f"{kind or '?'}/{name}"
    if not isinstance(api_version, str) or not isinstance(kind, str):
        return [f"{where}: apiVersion and kind: required, expected strings"]
    try:
        model = model_for(api_version, kind)
    except UnknownKind as error:
        return [f"{where}: {error}"]
    errors: list[str] = []
    _check_model(model, document, "", errors)
    if not isinstance(name, str) or name == "?":
        errors.append("metadata.name: required field missing")
    return [f"{where}: {error}" for error in errors]


def validate_file(path: Path) -> list[str]:
    """Every schema error of every document of a YAML file, each prefixed with `path#N`."""
    errors = []
    for number, document in enumerate(load_documents(path), start=1):
        errors.extend(f"{path.name}#{number}: {error}" for error in validate(document))
    return errors


def load_documents(path: Path) -> Iterator[Any]:
    """The non-empty YAML documents of a file."""
    for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
        if document is not None:
            yield document


def _check_model(model: type[Any], value: Any, path: str, errors: list[str]) -> None:
    if not isinstance(value, dict):
        got = _type_name(value)
        errors.append(f"{path or '.'}: expected an object ({model.__name__}), got {got}")
        return
    fields = {key: attribute for attribute, key in model.attribute_map.items()}
    for key, item in value.items():
        here = f"{path}.{key}" if path else str(key)
        if key not in fields:
            errors.append(f"{here}: unknown field (not in {model.__name__})")
        elif item is not None:
            _check_type(model.openapi_types[fields[key]], item, here, errors)
    for attribute in _required(model):
        key = model.attribute_map[attribute]
        if value.get(key) is None:
            errors.append(f"{f'{path}.' if path else ''}{key}: required field missing")


def _check_type(type_name: str, value: Any, path: str, errors: list[str]) -> None:
    if match := _LIST.match(type_name):
        if not isinstance(value, list):
            errors.append(f"{path}: expected a list, got {_type_name(value)}")
            return
        for index, item in enumerate(value):
            _check_type(match.group(1), item, f"{path}[{index}]", errors)
    elif match := _DICT.match(type_name):
        if not isinstance(value, dict):
            errors.append(f"{path}: expected a mapping, got {_type_name(value)}")
            return
        for key, item in value.items():
            if not isinstance(key, str):
                errors.append(f"{path}.{key}: expected a string key, got {_type_name(key)}")
            _check_type(match.group(1) or match.group(2), item, f"{path}.{key}", errors)
    elif type_name in _SCALARS:
        if not _SCALARS[type_name](value):
            errors.append(f"{path}: expected {type_name}, got {_type_name(value)} {value!r}")
    else:
        _check_model(getattr(kubernetes.client.models, type_name), value, path, errors)


_SCALARS = {
    "str": lambda value: isinstance(value, str),
    "int": lambda value: isinstance(value, int) and not isinstance(value, bool),
    "float": lambda value: isinstance(value, int | float) and not isinstance(value, bool),
    "bool": lambda value: isinstance(value, bool),
    "datetime": lambda value: isinstance(value, str | dt.datetime),
    "date": lambda value: isinstance(value, str | dt.date),
    "object": lambda value: value is not None,
    "bytearray": lambda value: isinstance(value, str),  # base64 in YAML
}


def _required(model: type[Any]) -> list[str]:
    """The fields the model's constructor cannot do without."""
    fields = getattr(model, "model_fields", None)
    if fields is not None:  # pydantic models (recent clients)
        return [name for name, field in fields.items() if field.is_required()]
    configuration = kubernetes.client.Configuration()
    configuration.client_side_validation = True
    missing: list[str] = []
    while True:  # older clients: the constructor refuses the first None it meets
        try:
            model(**dict.fromkeys(missing, "x"), local_vars_configuration=configuration)
        except ValueError as error:
            found = re.search(r"`(\w+)`", str(error))
            if not found or found.group(1) in missing:
                return missing
            missing.append(found.group(1))
        else:
            return missing


def _api_class(group: str, version: str) -> type[Any] | None:
    if not version:
        return None
    name = f"{_group_prefix(group) or 'Core'}{version.capitalize()}Api"
    return getattr(kubernetes.client, name, None)


def _served(api: type[Any], kind: str) -> bool:
    snake = _snake(kind)
    return hasattr(api, f"read_namespaced_{snake}") or hasattr(api, f"read_{snake}")


def _group_prefix(group: str) -> str:
    """rbac.authorization.k8s.io -> RbacAuthorization; apps -> Apps; the core group -> ''."""
    return "".join(part.capitalize() for part in group.removesuffix(".k8s.io").split(".") if part)


def _snake(kind: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", kind).lower()


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__
