"""The API's verbs on stored objects, apart from HTTP: get, list, create, replace, patch, delete,
evict. Validation, defaulting and errors follow the real API server where clients can tell."""

from __future__ import annotations

import base64
import binascii
import bisect
import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tests.kubesim import objects, patching
from tests.kubesim.disruption import Disruption, budget_status
from tests.kubesim.events import check_event
from tests.kubesim.kubelet import Kubelet
from tests.kubesim.resources import BY_PLURAL, WORKLOADS, ResourceType
from tests.kubesim.selectors import FieldSelector, LabelSelector, from_label_selector, matches
from tests.kubesim.status import (
    already_exists,
    bad_request,
    conflict,
    invalid,
    modified_since,
    success,
)
from tests.kubesim.store import Filter, Store, dumps, namespace_missing, typed

Obj = dict[str, Any]
_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_SERVER_SET = (
    "uid",
    "resourceVersion",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "generation",
)
_LEASE_TIMES = ("acquireTime", "renewTime")
_MICRO_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}(Z|[+-]\d\d:\d\d)$")


@dataclass(frozen=True)
class ListQuery:
    labels: LabelSelector = ()
    fields: FieldSelector = ()
    limit: int | None = None
    continue_token: str | None = None


@dataclass(frozen=True)
class DeleteOptions:
    grace_s: int | None = None
    uid: str | None = None
    resource_version: str | None = None
    dry_run: bool = False


class Api:
    """The verbs, over the store and the simulated cluster's actors."""

    def __init__(self, store: Store, kubelet: Kubelet, disruption: Disruption) -> None:
        self.store = store
        self.kubelet = kubelet
        self.disruption = disruption

    def get(self, rtype: ResourceType, namespace: str, name: str) -> Obj:
        return typed(rtype.plural, self.store.get(rtype.plural, namespace, name))

    def list(self, rtype: ResourceType, namespace: str | None, query: ListQuery) -> bytes:
        """A list document, serialized; filtered, then paged by `limit` with a `continue` token.

        Items are the objects' JSON as serialized at their last change, joined."""
        items = self.store.items(rtype.plural, namespace)
        if query.labels or query.fields:
            wanted = Filter(namespace, query.labels, query.fields)
            items = [obj for obj in items if wanted.accepts_object(rtype.plural, obj)]
        revision = self.store.revision
        if query.continue_token:
            revision, start = _decode_continue(query.continue_token)
            items = items[bisect.bisect_right(items, start, key=_key) :]
        metadata: Obj = {"resourceVersion": str(revision)}
        if query.limit and len(items) > query.limit:
            remaining = len(items) - query.limit
            items = items[: query.limit]
            metadata["continue"] = _encode_continue(revision, _key(items[-1]))
            if not (query.labels or query.fields):
                metadata["remainingItemCount"] = remaining
        head = dumps(
            {
                "kind": rtype.list_kind,
                "apiVersion": rtype.api_version,
                "metadata": metadata,
                "items": [],
            }
        )
        body = b",".join(self.store.encoded(rtype.plural, obj) for obj in items)
        return head[:-2] + body + b"]}"

    # Create ------------------------------------------------------------------------------------

    def create(self, rtype: ResourceType, namespace: str | None, body: Any) -> Obj:
        obj = _incoming(rtype, body, namespace)
        metadata = obj["metadata"]
        for key in _SERVER_SET:
            metadata.pop(key, None)
        if not metadata.get("name") and metadata.get("generateName"):
            metadata["name"] = metadata["generateName"] + objects.suffix()
        _check_name(rtype, metadata.get("name", ""))
        if rtype.namespaced and not self.store.has_namespace(metadata["namespace"]):
            raise namespace_missing(metadata["namespace"])
        if self.store.find(rtype.plural, metadata.get("namespace", ""), metadata["name"]):
            raise already_exists(rtype, metadata["name"])
        return typed(rtype.plural, self._store_new(rtype, obj))

    def _store_new(self, rtype: ResourceType, obj: Obj) -> Obj:
        resource = rtype.plural
        if resource == "namespaces":
            made = objects.namespace(obj["metadata"]["name"], {}, {})
            made["metadata"].update(obj["metadata"])
            made["metadata"]["labels"] = {
                **made["metadata"]["labels"],
                **(obj["metadata"].get("labels") or {}),
            }
            return self.store.create(resource, made)
        if resource == "pods":
            _check_pod(obj)
            obj["spec"] = objects.pod_defaults(obj["spec"])
            obj["status"] = {"phase": "Pending", "qosClass": "BestEffort"}
            return self.kubelet.create(obj)
        if resource in WORKLOADS or resource == "poddisruptionbudgets":
            obj["metadata"]["generation"] = 1
        if resource in WORKLOADS:
            _check_workload(rtype, obj)
            obj["status"] = objects.zero_status(resource)
        if resource == "poddisruptionbudgets":
            obj["status"] = budget_status(self.store, obj, None)
        if resource == "leases":
            _normalize_lease(obj)
        if resource == "events":
            check_event(obj)
        return self.store.create(resource, obj)

    # Replace and patch ---------------------------------------------------------------------------

    def replace(self, rtype: ResourceType, namespace: str, name: str, body: Any) -> Obj:
        """PUT: optimistic concurrency on metadata.resourceVersion when the body carries one."""
        current = self.store.get(rtype.plural, namespace, name)
        obj = _incoming(rtype, body, namespace or None)
        if obj["metadata"].get("name") != name:
            raise bad_request(
                f"the name of the object ({obj['metadata'].get('name')}) does not match the "
                f"name on the URL ({name})"
            )
        expected = obj["metadata"].get("resourceVersion")
        if expected and expected != current["metadata"]["resourceVersion"]:
            raise modified_since(rtype, name)
        return typed(rtype.plural, self._update(rtype, current, obj))

    def patch(
        self, rtype: ResourceType, namespace: str, name: str, body: Any, content_type: str
    ) -> Obj:
        current = self.store.get(rtype.plural, namespace, name)
        patched = patching.apply(objects.copy(typed(rtype.plural, current)), body, content_type)
        expected = patched.get("metadata", {}).get("resourceVersion")
        if expected and expected != current["metadata"]["resourceVersion"]:
            raise modified_since(rtype, name)
        return typed(rtype.plural, self._update(rtype, current, _incoming(rtype, patched, None)))

    def _update(self, rtype: ResourceType, current: Obj, obj: Obj) -> Obj:
        resource, metadata = rtype.plural, current["metadata"]
        if resource in ("pods", "namespaces"):  # only metadata is writable here
            for key in ("labels", "annotations", "ownerReferences", "finalizers"):
                if key in obj["metadata"]:
                    metadata[key] = obj["metadata"][key]
                else:
                    metadata.pop(key, None)
            return self.store.modified(resource, current)
        for key in _SERVER_SET:
            if key in metadata:
                obj["metadata"][key] = metadata[key]
        obj["metadata"]["namespace"] = metadata.get("namespace", "")
        if "status" in current:
            obj["status"] = current["status"]
        if obj.get("spec") != current.get("spec") and "generation" in metadata:
            obj["metadata"]["generation"] = metadata["generation"] + 1
        if resource in WORKLOADS:
            _check_workload(rtype, obj)
        if resource == "leases":
            _normalize_lease(obj)
        return self.store.replace(resource, obj)

    # Delete and evict ----------------------------------------------------------------------------

    def delete(self, rtype: ResourceType, namespace: str, name: str, options: DeleteOptions) -> Obj:
        """The deleted object (pods, namespaces) or a Success Status, as the API server answers."""
        obj = self.store.get(rtype.plural, namespace, name)
        _check_preconditions(rtype, obj, options)
        if options.dry_run:
            return typed(rtype.plural, obj) if rtype.plural == "pods" else _success(rtype, obj)
        if rtype.plural == "pods":
            return typed("pods", self.kubelet.delete(obj, options.grace_s))
        if rtype.plural == "namespaces":
            return typed("namespaces", self._delete_namespace(obj))
        self.store.remove(rtype.plural, obj)
        return _success(rtype, obj)

    def _delete_namespace(self, namespace: Obj) -> Obj:
        name = namespace["metadata"]["name"]
        for resource in (
            "pods",
            *(plural for plural in BY_PLURAL if plural not in ("pods", "namespaces")),
        ):
            for obj in self.store.items(resource, name):
                if self.store.find(resource, name, obj["metadata"]["name"]) is obj:
                    self.store.remove(resource, obj)
        namespace["metadata"]["deletionTimestamp"] = objects.now()
        namespace["status"] = {"phase": "Terminating"}
        return self.store.remove("namespaces", namespace)

    def evict(self, namespace: str, name: str, body: Any, dry_run: bool) -> Obj:
        """POST pods/{name}/eviction: 201 Success, or 429 when a disruption budget forbids it."""
        eviction = body if isinstance(body, dict) else {}
        named = (eviction.get("metadata") or {}).get("name")
        if named and named != name:
            raise bad_request("name in URL does not match name in Eviction object")
        pod = self.store.get("pods", namespace, name)
        options = _delete_options(eviction.get("deleteOptions") or {}, {})
        _check_preconditions(BY_PLURAL["pods"], pod, options)
        self.disruption.check_eviction(pod)
        if not (dry_run or options.dry_run):
            self.kubelet.delete(pod, options.grace_s)
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "code": 201,
        }


def delete_options(body: Any, query: dict[str, str]) -> DeleteOptions:
    """DeleteOptions from a DELETE's body and query (the body wins)."""
    return _delete_options(body if isinstance(body, dict) else {}, query)


def _delete_options(body: Obj, query: dict[str, str]) -> DeleteOptions:
    grace = body.get("gracePeriodSeconds", query.get("gracePeriodSeconds"))
    preconditions = body.get("preconditions") or {}
    dry_run = body.get("dryRun") or query.get("dryRun")
    try:
        grace_s = None if grace is None else int(grace)
    except ValueError:
        raise bad_request(f"gracePeriodSeconds: Invalid value: {grace!r}") from None
    return DeleteOptions(
        grace_s, preconditions.get("uid"), preconditions.get("resourceVersion"), bool(dry_run)
    )


def _check_preconditions(rtype: ResourceType, obj: Obj, options: DeleteOptions) -> None:
    metadata = obj["metadata"]
    for label, wanted, actual in (
        ("UID", options.uid, metadata["uid"]),
        ("ResourceVersion", options.resource_version, metadata["resourceVersion"]),
    ):
        if wanted and wanted != actual:
            why = (
                f"Precondition failed: {label} in precondition: {wanted}, "
                f"{label} in object meta: {actual}"
            )
            raise conflict(rtype, metadata["name"], why)


def _success(rtype: ResourceType, obj: Obj) -> Obj:
    return success(rtype, obj["metadata"]["name"], obj["metadata"]["uid"])


def _incoming(rtype: ResourceType, body: Any, namespace: str | None) -> Obj:
    """A request body as a stored object: checked against the URL, without apiVersion/kind."""
    if not isinstance(body, dict) or not isinstance(body.get("metadata", {}), dict):
        raise bad_request(f"the body is not a {rtype.kind} object")
    api_version, kind = body.get("apiVersion"), body.get("kind")
    if (api_version and api_version != rtype.api_version) or (kind and kind != rtype.kind):
        raise bad_request(
            f"the API version in the data ({api_version}) does not match the expected API "
            f"version ({rtype.api_version})"
            if api_version != rtype.api_version
            else f"the kind in the data ({kind}) does not match the expected kind ({rtype.kind})"
        )
    obj = {
        key: objects.copy(value) for key, value in body.items() if key not in ("apiVersion", "kind")
    }
    metadata = obj.setdefault("metadata", {})
    if rtype.namespaced and namespace:
        if metadata.get("namespace") not in (None, "", namespace):
            raise bad_request(
                "the namespace of the provided object does not match the namespace sent on the "
                "request"
            )
        metadata["namespace"] = namespace
    return obj


def _check_name(rtype: ResourceType, name: str) -> None:
    if not name:
        why = "Required value: name or generateName is required"
        raise invalid(rtype, name, "metadata.name", "FieldValueRequired", why)
    pattern, rule = (
        (
            _LABEL,
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters "
            "or '-', and must start and end with an alphanumeric character",
        )
        if rtype.plural == "namespaces"
        else (
            _SUBDOMAIN,
            "a lowercase RFC 1123 subdomain must consist of lower case "
            "alphanumeric characters, '-' or '.', and must start and end with an "
            "alphanumeric character",
        )
    )
    if len(name) > (63 if rtype.plural == "namespaces" else 253) or not pattern.match(name):
        why = f'Invalid value: "{name}": {rule}'
        raise invalid(rtype, name, "metadata.name", "FieldValueInvalid", why)


def _check_pod(pod: Obj) -> None:
    containers = (pod.get("spec") or {}).get("containers")
    if not containers:
        raise invalid(
            BY_PLURAL["pods"],
            pod["metadata"]["name"],
            "spec.containers",
            "FieldValueRequired",
            "Required value",
        )


def _check_workload(rtype: ResourceType, obj: Obj) -> None:
    spec = obj.get("spec") or {}
    selector = from_label_selector(spec.get("selector"))
    labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    name = obj["metadata"]["name"]
    if not selector:
        raise invalid(rtype, name, "spec.selector", "FieldValueRequired", "Required value")
    if not matches(selector, labels):
        why = f"Invalid value: {json.dumps(labels)}: `selector` does not match template `labels`"
        raise invalid(rtype, name, "spec.template.metadata.labels", "FieldValueInvalid", why)


def _normalize_lease(lease: Obj) -> None:
    """MicroTime fields parsed as the API server does (RFC 3339 with exactly six fractional
    digits and a zone, else 400) and written back in UTC."""
    spec = lease.setdefault("spec", {})
    for field in _LEASE_TIMES:
        value = spec.get(field)
        if value is None:
            continue
        if not isinstance(value, str) or not _MICRO_TIME.match(value):
            raise bad_request(
                f'Lease in version "v1" cannot be handled as a Lease: parsing time "{value}" as '
                f'"2006-01-02T15:04:05.000000Z07:00": spec.{field} must be RFC 3339 with '
                "microseconds and a zone"
            )
        spec[field] = objects.micro(datetime.fromisoformat(value.replace("Z", "+00:00")))


def _key(obj: Obj) -> tuple[str, str]:
    return obj["metadata"].get("namespace", ""), obj["metadata"]["name"]


def _encode_continue(revision: int, start: tuple[str, str]) -> str:
    token = {"v": "meta.k8s.io/v1", "rv": revision, "start": f"{start[0]}/{start[1]}"}
    return base64.urlsafe_b64encode(json.dumps(token).encode()).decode()


def _decode_continue(token: str) -> tuple[int, tuple[str, str]]:
    try:
        decoded = json.loads(base64.urlsafe_b64decode(token.encode()))
        namespace, _, name = str(decoded["start"]).partition("/")
        return int(decoded["rv"]), (namespace, name)
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError) as error:
        raise bad_request(f"continue key is not valid: {error}") from None
