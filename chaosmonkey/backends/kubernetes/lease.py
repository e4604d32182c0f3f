"""One leader among the monkeys of a cluster: a coordination.k8s.io/v1 Lease with a fencing token.

The contract of the journal's lease (chaosmonkey/lease.py), for monkeys that share no file, such as
the two replicas of deploy/kubernetes. The Lease object holds the state:

- `holderIdentity`: the holder; absent once released;
- `renewTime` + `leaseDurationSeconds`: when the holding ends, judged on this process's clock (the
  nodes' clocks are assumed in sync to well within the duration, as NTP keeps them);
- `leaseTransitions`: the fencing token. It grows by one with every acquisition of a free or
  expired Lease (not with renewals), so a former holder that has not noticed its loss holds a
  smaller one. `metadata.resourceVersion` would not do: it changes with every renewal, and it is
  opaque (the API forbids comparing two of them), while a token stays the same for one holding.

Every write is a replace carrying the `resourceVersion` just read: if another monkey wrote in
between, the API answers 409 Conflict and this monkey has lost the race (nothing is retried).
Nothing is answered from a cache: `fence()` reads the Lease before every change to a target.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

import structlog
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from chaosmonkey.backends.kubernetes import config as kube_config
from chaosmonkey.backends.kubernetes.errors import CLIENT_ERRORS, Rule, translate
from chaosmonkey.errors import BackendError, ChaosMonkeyError, NotLeader, PermissionDenied

log = structlog.get_logger("chaosmonkey.backends.kubernetes.lease")

Clock = Callable[[], float]
# One step of an attempt: given the Lease as just read (None: there is none) and the time, says
# whether it succeeded.
_Step = Callable[["client.V1Lease | None", float], bool]
_GROUP = "coordination.k8s.io"
_MAX_REQUEST_S = 5.0


def parse_lease_name(value: str) -> tuple[str, str]:
    """`NAMESPACE/NAME` -> (namespace, name); a ChaosMonkeyError naming the option otherwise."""
    namespace, _, name = value.partition("/")
    if not namespace or not name or "/" in name:
        raise ChaosMonkeyError(
            f"--lease-name: expected NAMESPACE/NAME such as chaosmonkey/chaosmonkey-leader, "
            f"got {value!r}"
        )
    return namespace, name


class KubeLease:
    """The Lease `namespace/name` as seen by `holder_id`, with the methods of `lease.Lease`.

    `token` is the `leaseTransitions` of this holder's latest acquisition (None before one, and
    after a release). A temporary failure of the API makes a failed attempt (logged); a refusal
    (401, 403) or a missing namespace raise a BackendError, since waiting will not mend them.
    """

    def __init__(
        self,
        api_client: client.ApiClient,
        namespace: str,
        name: str,
        holder_id: str,
        duration_s: float = 10.0,
        *,
        clock: Clock = time.time,
    ) -> None:
        self.namespace = namespace
        self.name = name
        self.holder_id = holder_id
        self.duration_s = duration_s
        self.token: int | None = None
        self._api_client = api_client
        self._api = client.CoordinationV1Api(api_client)
        self._clock = clock
        self._lock = threading.Lock()
        self._timeout_s = min(duration_s / 3, _MAX_REQUEST_S)

    @classmethod
    def connect(cls, lease_name: str, holder_id: str, duration_s: float = 10.0) -> KubeLease:
        """The Lease `NAMESPACE/NAME`, through the configuration the backend uses (the pod's
        service account, else the kubeconfig)."""
        namespace, name = parse_lease_name(lease_name)
        choice = kube_config.choose(
            os.environ,
            kube_config.SERVICE_ACCOUNT_DIR / "token",
            kube_config.DEFAULT_KUBECONFIG.expanduser(),
        )
        api_client = client.ApiClient(kube_config.load(choice))
        return cls(api_client, namespace, name, holder_id, duration_s)

    @property
    def where(self) -> str:
        return f"{self.namespace}/{self.name}"

    def close(self) -> None:
        self._api_client.close()  # type: ignore[no-untyped-call]

    def try_acquire(self) -> bool:
        """Takes the Lease if it is free, expired or already ours; a taker gets the next token."""
        return self._attempt(self._acquire)

    def renew(self) -> bool:
        """Extends the Lease by its duration, if this holder still holds it with its token."""
        return self._attempt(self._renew)

    def release(self) -> None:
        """Frees the Lease, if ours, so that another monkey can take it at once."""
        try:
            self._attempt(self._release)
        except BackendError as error:
            log.warning("lease_release_failed", lease=self.where, error=str(error))
        self.token = None

    def is_leader(self) -> bool:
        """Whether the API says this holder holds the Lease, with its token, unexpired."""
        try:
            return self.refusal() is None
        except BackendError:
            return False

    def fence(self) -> None:
        """Raises NotLeader unless this holder holds the Lease with its token, unexpired, now."""
        try:
            reason = self.refusal()
        except BackendError as error:
            reason = f"not the leader: cannot read the lease {self.where} ({error})"
        if reason:
            raise NotLeader(reason)

    def refusal(self) -> str | None:
        """Why this holder may not change a target now (read from the API), or None."""
        with self._lock:
            lease = self._read()
        if lease is None:
            return f"not the leader: lease {self.where} does not exist"
        return self._refusal(lease.spec or client.V1LeaseSpec(), self._clock())

    def _refusal(self, spec: client.V1LeaseSpec, now: float) -> str | None:
        me = f"this monkey ({self.holder_id}, token {self.token})"
        if not spec.holder_identity:
            return f"not the leader: lease {self.where} is free; {me} holds none"
        expires_at = _expires_at(spec)
        if not self._holds(spec):
            taken = "was" if expires_at <= now else "is"
            return (
                f"not the leader: lease {self.where} {taken} taken by {spec.holder_identity} "
                f"with token {spec.lease_transitions}, not by {me}"
            )
        if expires_at <= now:
            return f"not the leader: the lease of {me} expired {now - expires_at:.1f}s ago"
        return None

    def _holds(self, spec: client.V1LeaseSpec) -> bool:
        return (
            self.token is not None
            and spec.holder_identity == self.holder_id
            and spec.lease_transitions == self.token
        )

    # -- the steps: each reads nothing itself, and writes at most once -------------------------

    def _acquire(self, lease: client.V1Lease | None, now: float) -> bool:
        if lease is None:
            return self._create(now)
        spec = lease.spec = lease.spec or client.V1LeaseSpec()
        if self._refusal(spec, now) is None:
            return self._renew(lease, now)
        if spec.holder_identity and _expires_at(spec) > now:
            return False
        token = (spec.lease_transitions or 0) + 1
        self._take(spec, token, now)
        if not self._write(lease):
            return False
        self.token = token
        return True

    def _renew(self, lease: client.V1Lease | None, now: float) -> bool:
        if lease is None or lease.spec is None or self._refusal(lease.spec, now) is not None:
            return False
        lease.spec.lease_duration_seconds = self._duration_seconds
        lease.spec.renew_time = _micro_time(now)
        return self._write(lease)

    def _release(self, lease: client.V1Lease | None, now: float) -> bool:
        if lease is None or lease.spec is None or not self._holds(lease.spec):
            return False
        lease.spec.holder_identity = None
        lease.spec.renew_time = _micro_time(now)
        return self._write(lease)

    def _create(self, now: float) -> bool:
        spec = client.V1LeaseSpec()
        self._take(spec, 1, now)
        metadata = client.V1ObjectMeta(name=self.name, namespace=self.namespace)
        lease = client.V1Lease(api_version=f"{_GROUP}/v1", kind="Lease", metadata=metadata)
        lease.spec = spec
        if not self._write(lease, create=True):
            return False
        self.token = 1
        return True

    def _take(self, spec: client.V1LeaseSpec, token: int, now: float) -> None:
        spec.holder_identity = self.holder_id
        spec.lease_duration_seconds = self._duration_seconds
        spec.lease_transitions = token
        spec.acquire_time = spec.renew_time = _micro_time(now)

    @property
    def _duration_seconds(self) -> int:
        """leaseDurationSeconds is whole seconds: rounded up, so a holder never counts on less."""
        return max(1, math.ceil(self.duration_s))

    # -- the API -------------------------------------------------------------------------------

    def _attempt(self, step: _Step) -> bool:
        """Runs `step` on the Lease as read now; a temporary failure to read it makes a failed
        attempt (logged), never a lease held by mistake."""
        with self._lock:
            try:
                lease = self._read()
            except PermissionDenied:
                raise
            except BackendError as error:
                log.warning("lease_unavailable", lease=self.where, error=str(error))
                return False
            return step(lease, self._clock())

    def _read(self) -> client.V1Lease | None:
        """The Lease as the API holds it now, or None when there is none."""
        try:
            return self._api.read_namespaced_lease(
                self.name, self.namespace, _request_timeout=self._timeout_s
            )
        except CLIENT_ERRORS as error:
            if isinstance(error, ApiException) and error.status == 404:
                return None
            raise self._error(error, "get") from None

    def _write(self, lease: client.V1Lease, *, create: bool = False) -> bool:
        """Creates the Lease, or replaces it if nobody wrote it since it was read (its
        resourceVersion): False when another monkey did, or the API failed for a moment."""
        if lease.spec is not None:
            _keep_micro_times(lease.spec)
        try:
            if create:
                self._api.create_namespaced_lease(
                    self.namespace, lease, _request_timeout=self._timeout_s
                )
            else:
                self._api.replace_namespaced_lease(
                    self.name, self.namespace, lease, _request_timeout=self._timeout_s
                )
        except CLIENT_ERRORS as error:
            status = error.status if isinstance(error, ApiException) else None
            if status == 409 or (status == 404 and not create):  # written or deleted since read
                log.info("lease_race_lost", lease=self.where, holder=self.holder_id)
                return False
            failure = self._error(error, "create" if create else "update")
            if status in (401, 403, 404, 422):
                raise failure from None
            log.warning("lease_unavailable", lease=self.where, error=str(failure))
            return False
        return True

    def _error(self, error: BaseException, verb: str) -> ChaosMonkeyError:
        """The chaosmonkey error for a failed call; a missing namespace is named as such."""
        what = f"{verb} the lease {self.where}"
        rule = Rule(verb, "leases", _GROUP, self.namespace)
        return translate(
            error,
            what=what,
            url=str(self._api_client.configuration.host),
            rule=rule,
            by_status={
                403: lambda message: PermissionDenied(  # a create's message names no Lease
                    f"no permission to {what}: {message}; the monkey needs {rule}"
                ),
                404: lambda message: BackendError(
                    f"{what}: {message}; expected the namespace {self.namespace} to exist"
                ),
            },
        )


def _expires_at(spec: client.V1LeaseSpec) -> float:
    """When the holding ends: renewTime + leaseDurationSeconds (a Lease never renewed has ended)."""
    if spec.renew_time is None:
        return 0.0
    return float(spec.renew_time.timestamp() + (spec.lease_duration_seconds or 0))


def _micro_time(now: float) -> datetime:
    return datetime.fromtimestamp(now, UTC)


def _keep_micro_times(spec: client.V1LeaseSpec) -> None:
    """Makes acquireTime and renewTime times the API accepts as MicroTime.

    The API parses MicroTime as RFC 3339 with exactly six fractional digits; the client writes a
    datetime with `isoformat()`, which leaves them out when the microsecond is zero: such a time
    is moved by one microsecond.
    """
    if spec.acquire_time is not None and not spec.acquire_time.microsecond:
        spec.acquire_time = spec.acquire_time.replace(microsecond=1)
    if spec.renew_time is not None and not spec.renew_time.microsecond:
        spec.renew_time = spec.renew_time.replace(microsecond=1)
