"""The object store: API objects as JSON dicts, one resourceVersion counter, watch events.

Everything here runs on the simulator's event loop thread, so nothing needs a lock. Objects are
kept without `apiVersion`/`kind` (list items carry neither); `typed` adds them where the API does.
Each change bumps the counter, stamps the object's `metadata.resourceVersion`, is serialized once
into a watch line kept in a bounded history, and is handed to the in-process listeners (the
simulated controllers).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from tests.kubesim import objects
from tests.kubesim.resources import BY_PLURAL
from tests.kubesim.selectors import FieldSelector, LabelSelector, fields_match, fields_of, matches
from tests.kubesim.status import bad_request, failure, not_found

Obj = dict[str, Any]
Listener = Callable[[str, str, Obj], None]  # (event type, resource, object)


def typed(resource: str, obj: Obj) -> Obj:
    """`obj` with its `apiVersion` and `kind` first, as single objects and watch events carry."""
    rtype = BY_PLURAL[resource]
    return {"apiVersion": rtype.api_version, "kind": rtype.kind, **obj}


def dumps(document: Any) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()


def _event_line(kind: str, resource: str, encoded: bytes) -> bytes:
    """A watch line around an object already serialized without apiVersion/kind."""
    rtype = BY_PLURAL[resource]
    head = f'{{"type":"{kind}","object":{{"apiVersion":"{rtype.api_version}","kind":"{rtype.kind}",'
    return head.encode() + encoded[1:] + b"}\n"


@dataclass(frozen=True)
class Filter:
    """Which objects of a resource a list or watch wants."""

    namespace: str | None = None
    labels: LabelSelector = ()
    fields: FieldSelector = ()

    def accepts(self, namespace: str, labels: dict[str, str], fields: dict[str, str]) -> bool:
        if self.namespace is not None and namespace != self.namespace:
            return False
        return matches(self.labels, labels) and fields_match(self.fields, fields)

    def accepts_object(self, resource: str, obj: Obj) -> bool:
        metadata = obj["metadata"]
        fields = fields_of(resource, obj) if self.fields else {}
        return self.accepts(metadata.get("namespace", ""), metadata.get("labels") or {}, fields)


@dataclass(frozen=True)
class Event:
    """One change as watchers see it; `line` is the JSON line sent to them."""

    revision: int
    resource: str
    namespace: str
    labels: dict[str, str]
    fields: dict[str, str]
    line: bytes


class Watcher:
    """One open watch: the lines still to send, None when the stream must end."""

    def __init__(self, resource: str, wanted: Filter) -> None:
        self.resource = resource
        self.wanted = wanted
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue()

    def offer(self, event: Event) -> None:
        if self.wanted.accepts(event.namespace, event.labels, event.fields):
            self.queue.put_nowait(event.line)


class Store:
    """Objects by resource, namespace and name, with a bounded history of watch events."""

    def __init__(self, history_size: int = 20_000) -> None:
        self.revision = 0
        self.compacted = 0  # the newest revision no longer in the history
        self._objects: dict[str, dict[str, dict[str, Obj]]] = {name: {} for name in BY_PLURAL}
        self._encoded: dict[str, dict[tuple[str, str], bytes]] = {name: {} for name in BY_PLURAL}
        self._history: deque[Event] = deque()
        self._history_size = history_size
        self._watchers: dict[str, set[Watcher]] = {name: set() for name in BY_PLURAL}
        self._listeners: list[Listener] = []

    def add_listener(self, listener: Listener) -> None:
        """Calls `listener(type, resource, obj)` after every change, in the loop thread."""
        self._listeners.append(listener)

    # Reads -------------------------------------------------------------------------------------

    def find(self, resource: str, namespace: str, name: str) -> Obj | None:
        return self._objects[resource].get(namespace, {}).get(name)

    def get(self, resource: str, namespace: str, name: str) -> Obj:
        """The object, or 404 NotFound."""
        found = self.find(resource, namespace, name)
        if found is None:
            raise not_found(BY_PLURAL[resource], name)
        return found

    def has_namespace(self, namespace: str) -> bool:
        return self.find("namespaces", "", namespace) is not None

    def items(self, resource: str, namespace: str | None = None) -> list[Obj]:
        """Objects in key order (namespace, then name), as etcd lists them."""
        by_namespace = self._objects[resource]
        spaces = sorted(by_namespace) if namespace is None else [namespace]
        found: list[Obj] = []
        for space in spaces:
            names = by_namespace.get(space, {})
            found.extend(names[name] for name in sorted(names))
        return found

    def encoded(self, resource: str, obj: Obj) -> bytes:
        """The stored object as JSON (no apiVersion/kind), serialized at its last change."""
        metadata = obj["metadata"]
        return self._encoded[resource][(metadata.get("namespace", ""), metadata["name"])]

    def iter_namespace(self, resource: str, namespace: str) -> Iterator[Obj]:
        """Objects of one namespace, in no particular order (cheaper than `items`)."""
        return iter(list(self._objects[resource].get(namespace, {}).values()))

    # Writes ------------------------------------------------------------------------------------

    def create(self, resource: str, obj: Obj) -> Obj:
        """Adds a new object (uid, creationTimestamp and resourceVersion filled in): ADDED."""
        metadata = obj["metadata"]
        metadata.setdefault("uid", str(uuid.uuid4()))
        metadata.setdefault("creationTimestamp", objects.now())
        namespace = metadata.get("namespace", "")
        self._objects[resource].setdefault(namespace, {})[metadata["name"]] = obj
        self._commit("ADDED", resource, obj)
        return obj

    def modified(self, resource: str, obj: Obj) -> Obj:
        """Records a change made in place to a stored object: MODIFIED."""
        self._commit("MODIFIED", resource, obj)
        return obj

    def replace(self, resource: str, obj: Obj) -> Obj:
        """Puts `obj` in place of the stored object of the same name: MODIFIED."""
        metadata = obj["metadata"]
        self._objects[resource][metadata.get("namespace", "")][metadata["name"]] = obj
        self._commit("MODIFIED", resource, obj)
        return obj

    def remove(self, resource: str, obj: Obj) -> Obj:
        """Deletes a stored object: DELETED, carrying the deletion's resourceVersion."""
        metadata = obj["metadata"]
        namespace = metadata.get("namespace", "")
        names = self._objects[resource].get(namespace, {})
        if names.get(metadata["name"]) is obj:
            del names[metadata["name"]]
            if not names:
                del self._objects[resource][namespace]
        self._commit("DELETED", resource, obj)
        return obj

    def _commit(self, kind: str, resource: str, obj: Obj) -> None:
        self.revision += 1
        metadata = obj["metadata"]
        metadata["resourceVersion"] = str(self.revision)
        encoded = dumps(obj)
        namespace = metadata.get("namespace", "")
        key = (namespace, metadata["name"])
        if kind == "DELETED":
            if self.find(resource, *key) is None:
                self._encoded[resource].pop(key, None)
        else:
            self._encoded[resource][key] = encoded
        event = Event(
            self.revision,
            resource,
            namespace,
            dict(metadata.get("labels") or {}),
            fields_of(resource, obj),
            _event_line(kind, resource, encoded),
        )
        self._history.append(event)
        if len(self._history) > self._history_size:
            self.compacted = self._history.popleft().revision
        for watcher in self._watchers[resource]:
            watcher.offer(event)
        for listener in self._listeners:
            listener(kind, resource, obj)

    # Watches -----------------------------------------------------------------------------------

    def watch(self, resource: str, wanted: Filter, since: str | None) -> Watcher:
        """Opens a watch with its backlog queued: every event after `since`, or, when `since` is
        unset or "0", an ADDED event per current object. Too old a `since` queues a 410 ERROR."""
        watcher = Watcher(resource, wanted)
        if since in (None, "", "0"):
            for obj in self.items(resource, wanted.namespace):
                if wanted.accepts_object(resource, obj):
                    line = _event_line("ADDED", resource, self.encoded(resource, obj))
                    watcher.queue.put_nowait(line)
        else:
            start = _revision(since)
            if start < self.compacted:
                watcher.queue.put_nowait(self._expired(start))
                watcher.queue.put_nowait(None)
                return watcher
            for event in self._events_after(start, resource):
                watcher.offer(event)
        self._watchers[resource].add(watcher)
        return watcher

    def _events_after(self, start: int, resource: str) -> list[Event]:
        newer: list[Event] = []
        for event in reversed(self._history):
            if event.revision <= start:
                break
            if event.resource == resource:
                newer.append(event)
        newer.reverse()
        return newer

    def _expired(self, start: int) -> bytes:
        message = f"too old resource version: {start} ({self.compacted + 1})"
        return dumps({"type": "ERROR", "object": failure(410, "Expired", message)}) + b"\n"

    def unwatch(self, watcher: Watcher) -> None:
        self._watchers[watcher.resource].discard(watcher)

    def close_watches(self) -> None:
        """Ends every open watch stream."""
        for watchers in self._watchers.values():
            for watcher in watchers:
                watcher.queue.put_nowait(None)
            watchers.clear()


def _revision(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise bad_request(
            f'resourceVersion: Invalid value: "{text}": must be a non-negative integer'
        )
    return value


def namespace_missing(namespace: str) -> Exception:
    """The 404 a create in a namespace that does not exist answers with."""
    return not_found(BY_PLURAL["namespaces"], namespace)
