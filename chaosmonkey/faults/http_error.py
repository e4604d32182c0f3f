"""`http_error`: `percent` of the HTTP connections `direction` names (the target's requests to
the destinations; those made to it, on its `ports`; or both) are answered with `status` by the
fault proxy in its namespace, without reaching the server."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import Field

from chaosmonkey.faults.base import register_fault
from chaosmonkey.faults.network import Percent, ReachingFault, through_proxy
from chaosmonkey.netfaults.destinations import Destination
from chaosmonkey.netfaults.keeper import ProxySpec
from chaosmonkey.netfaults.rules import Change


@register_fault
class HttpErrorFault(ReachingFault):
    type: Literal["http_error"]
    status: int = Field(default=503, ge=400, le=599)
    percent: Percent = 100.0

    def changes(
        self, tag: str, peers: Sequence[Destination]
    ) -> tuple[list[Change], ProxySpec | None]:
        return through_proxy(
            tag,
            self.reach(peers),
            {
                "type": "http_status",
                "stream": "upstream",
                "toxicity": self.percent / 100,
                "attributes": {"status": self.status},
            },
        )
