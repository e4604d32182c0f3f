"""The Docker engine backend: the only package that imports `docker`.

`backend` the facade (targets, fault operations, recovery watch), `containers` containers as
targets, `errors` the SDK's errors as ours, `events` the recovery watch over the engine's event
stream, `network` network faults in a container's namespace, `helpers` the helper containers that
hold them when the monkey itself runs in a container.
"""

from chaosmonkey.backends.docker.backend import DockerBackend
from chaosmonkey.backends.docker.containers import (
    available_from_inspect,
    container_name,
    health_from_status,
    own_container_id,
    resolve_group,
    target_from_summary,
)

__all__ = [
    "DockerBackend",
    "available_from_inspect",
    "container_name",
    "health_from_status",
    "own_container_id",
    "resolve_group",
    "target_from_summary",
]
