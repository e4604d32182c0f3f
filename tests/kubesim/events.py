"""What the API server checks of a core/v1 Event on create (its legacy event validation): the
involved object's namespace is the event's, and an event with an eventTime (a MicroTime) names
its reportingComponent, reportingInstance, action and reason."""

from __future__ import annotations

import re
from typing import Any

from tests.kubesim.resources import BY_PLURAL
from tests.kubesim.status import ApiError, bad_request, invalid

_MICRO_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}(Z|[+-]\d\d:\d\d)$")
_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")
_LIMITS = {"action": 128, "reason": 128, "reportingInstance": 128, "message": 1024}
_WITH_EVENT_TIME = ("reportingComponent", "reportingInstance", "action", "reason")


def check_event(event: dict[str, Any]) -> None:
    """Raises the API's 400 (unparsable time) or 422 (invalid field) for a bad event."""
    name = event["metadata"]["name"]
    namespace = event["metadata"].get("namespace", "")
    for field, pattern in (("eventTime", _MICRO_TIME), ("firstTimestamp", _TIME)):
        value = event.get(field)
        if value is not None and not (isinstance(value, str) and pattern.match(value)):
            raise bad_request(
                f'Event in version "v1" cannot be handled as a Event: {field}: {value!r}'
            )
    involved = (event.get("involvedObject") or {}).get("namespace", "")
    if involved != namespace and (involved or namespace != "default"):
        raise _invalid(
            name,
            "involvedObject.namespace",
            f'Invalid value: "{involved}": does not match event.namespace',
        )
    if event.get("eventTime"):
        for field in _WITH_EVENT_TIME:
            if not event.get(field):
                raise _invalid(name, field, "Required value")
    for field, limit in _LIMITS.items():
        if len(str(event.get(field) or "")) > limit:
            raise _invalid(name, field, f"Too long: may not be longer than {limit}")


def _invalid(name: str, field: str, why: str) -> ApiError:
    cause = "FieldValueRequired" if why == "Required value" else "FieldValueInvalid"
    return invalid(BY_PLURAL["events"], name, field, cause, why)
