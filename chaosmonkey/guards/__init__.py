"""Guards: what decides whether a policy may attack now, asked before each run and while each
attack holds its fault. `window` the attack window and blackout days, `caps` attacks per day and
faults at once, `halt` the kill switch, `conditions` stop conditions asked of Prometheus and HTTP.
The leader's fence, asked right before every change, is the lease's (`chaosmonkey.journal.lease`,
or a Kubernetes Lease).
"""

from collections.abc import Callable

from chaosmonkey.policy.models import Policy

# Says why a policy must not attack now (a stop condition breached, the kill switch set), or None.
Guard = Callable[[Policy], str | None]

__all__ = ["Guard"]
