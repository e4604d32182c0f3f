"""Leader election on a coordination.k8s.io/v1 Lease, through the real `kubernetes` client: one
holder at a time, renewals keep it, expiry and release hand it over with a higher token, the fence
reads the Lease rather than trusting what its holder last saw, and refusals are named.

Runs against the API simulator; against the cluster of KUBECONFIG when that is set (tests that
need the simulator's tokens are then skipped).
"""

from __future__ import annotations

import json
import os
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config

from chaosmonkey.backends.kubernetes.lease import KubeLease, parse_lease_name
from chaosmonkey.daemon.leadership import Leadership
from chaosmonkey.errors import BackendError, ChaosMonkeyError, NotLeader, PermissionDenied
from tests.kubesim import KubeSim
from tests.waiting import wait_until

DURATION_S = 10.0
MICRO_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}(Z|[+-]\d\d:\d\d)$")
REAL_CLUSTER = bool(os.environ.get("KUBECONFIG"))
needs_simulator = pytest.mark.skipif(
    REAL_CLUSTER, reason="needs the simulator's tokens (KUBECONFIG is set: a real cluster)"
)


class FakeClock:
    """Wall-clock time that moves only when told to; both candidates share one."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Cluster:
    """The API the candidates talk to: the simulator, or the cluster of KUBECONFIG."""

    kubeconfig: Path
    sim: KubeSim | None
    clients: list[client.ApiClient] = field(default_factory=list)

    def api_client(self, kubeconfig: Path | None = None) -> client.ApiClient:
        api_client = config.new_client_from_config(config_file=str(kubeconfig or self.kubeconfig))
        self.clients.append(api_client)
        return api_client

    def create_namespace(self, name: str) -> None:
        if self.sim:
            self.sim.create_namespace(name)
        else:
            body = client.V1Namespace(metadata=client.V1ObjectMeta(name=name))
            client.CoreV1Api(self.api_client()).create_namespace(body)

    def delete_namespace(self, name: str) -> None:
        if self.sim is None:
            client.CoreV1Api(self.api_client()).delete_namespace(name)

    def read_lease(self, namespace: str, name: str) -> dict[str, Any]:
        """The Lease as the API holds it, raw JSON."""
        api = client.CoordinationV1Api(self.api_client())
        response = api.read_namespaced_lease(name, namespace, _preload_content=False)
        lease: dict[str, Any] = json.loads(response.data)
        return lease


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    if REAL_CLUSTER:
        found = Cluster(Path(os.environ["KUBECONFIG"]), None)
        yield found
    else:
        with KubeSim() as sim:
            kubeconfig = sim.write_kubeconfig(tmp_path_factory.mktemp("kube") / "config")
            found = Cluster(kubeconfig, sim)
            yield found
    for api_client in found.clients:
        api_client.close()


@pytest.fixture
def namespace(cluster: Cluster) -> Iterator[str]:
    """A namespace of this test's own, for its Lease."""
    name = f"lease-test-{uuid.uuid4().hex[:8]}"
    cluster.create_namespace(name)
    yield name
    cluster.delete_namespace(name)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


Candidates = Callable[..., "list[KubeLease]"]


@pytest.fixture
def candidates(cluster: Cluster, namespace: str) -> Iterator[Candidates]:
    """`candidates(n, clock=...)`: n monkeys' views of one Lease, each with its own client."""
    made: list[KubeLease] = []

    def make(count: int = 2, clock: Callable[[], float] = time.time, name: str = "leader") -> Any:
        leases = [
            KubeLease(
                cluster.api_client(), namespace, name, f"monkey-{index}", DURATION_S, clock=clock
            )
            for index in range(count)
        ]
        made.extend(leases)
        return leases

    yield make
    for lease in made:
        lease.close()


def test_one_of_two_candidates_acquires(
    candidates: Candidates, cluster: Cluster, namespace: str
) -> None:
    """The first takes the Lease with token 1; the second is refused and is not the leader."""
    first, second = candidates()
    assert first.try_acquire()
    assert not second.try_acquire()
    assert (first.token, second.token) == (1, None)
    assert first.is_leader()
    assert not second.is_leader()
    first.fence()
    with pytest.raises(NotLeader, match="taken by monkey-0 with token 1, not by this monkey"):
        second.fence()
    spec = cluster.read_lease(namespace, "leader")["spec"]
    assert spec["holderIdentity"] == "monkey-0"
    assert (spec["leaseTransitions"], spec["leaseDurationSeconds"]) == (1, 10)
    assert MICRO_TIME.match(spec["acquireTime"])
    assert MICRO_TIME.match(spec["renewTime"])


def test_simultaneous_candidates_get_one_leader(candidates: Candidates) -> None:
    """Candidates racing for a missing Lease, then for an expired one: exactly one wins each
    race (the others get 409 from the API: AlreadyExists, then Conflict on resourceVersion)."""
    clock = FakeClock()
    leases = candidates(4, clock=clock, name="race")
    for race in range(2):
        won = _race(leases)
        assert len(won) == 1, f"race {race}: {[lease.holder_id for lease in won]}"
        assert won[0].token == race + 1
        assert [lease.is_leader() for lease in leases].count(True) == 1
        clock.advance(DURATION_S + 1)  # the winner stops renewing: the Lease expires


def _race(leases: list[KubeLease]) -> list[KubeLease]:
    """The candidates that won when all tried to acquire at the same moment, each in a thread."""
    start = threading.Barrier(len(leases))
    won: list[KubeLease] = []

    def contend(lease: KubeLease) -> None:
        start.wait()
        if lease.try_acquire():
            won.append(lease)

    threads = [threading.Thread(target=contend, args=(lease,)) for lease in leases]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return won


def test_renewal_keeps_the_lease(
    candidates: Candidates, clock: FakeClock, cluster: Cluster, namespace: str
) -> None:
    """Renewed before it expires, the Lease stays with its holder past its first duration."""
    holder, other = candidates(clock=clock)
    assert holder.try_acquire()
    first_renewal = cluster.read_lease(namespace, "leader")["spec"]["renewTime"]
    clock.advance(DURATION_S * 0.6)
    assert holder.renew()
    clock.advance(DURATION_S * 0.6)  # past the first expiry, not the renewed one
    assert not other.try_acquire()
    assert holder.is_leader()
    holder.fence()
    assert holder.token == 1
    spec = cluster.read_lease(namespace, "leader")["spec"]
    assert spec["renewTime"] > first_renewal
    assert spec["leaseTransitions"] == 1


def test_expired_lease_goes_to_the_other_with_a_higher_token(
    candidates: Candidates, clock: FakeClock
) -> None:
    """A holder that stops renewing loses the Lease once it expires; its fence then refuses."""
    old, new = candidates(clock=clock)
    assert old.try_acquire()
    clock.advance(DURATION_S * 0.9)
    assert not new.try_acquire()
    clock.advance(DURATION_S * 0.2)
    assert not old.is_leader()
    with pytest.raises(NotLeader, match=r"the lease of this monkey \(monkey-0, token 1\) expired"):
        old.fence()
    assert new.try_acquire()
    assert new.token == 2
    assert old.token is not None
    assert new.token > old.token
    with pytest.raises(NotLeader, match="taken by monkey-1 with token 2, not by this monkey"):
        old.fence()
    assert not old.renew()
    assert not old.try_acquire()
    new.fence()


def test_same_identity_taking_over_fences_out_its_former_self(
    cluster: Cluster, namespace: str, clock: FakeClock
) -> None:
    """A monkey restarted under the same identity (its pod's name) gets a new token: the old
    process, still running, is refused by its token even though the holder's name matches."""
    former, restarted = (
        KubeLease(cluster.api_client(), namespace, "leader", "pod-a", DURATION_S, clock=clock)
        for _ in range(2)
    )
    assert former.try_acquire()
    assert not restarted.try_acquire()  # held, unexpired: the name alone does not make it ours
    clock.advance(DURATION_S + 1)
    assert restarted.try_acquire()
    assert (former.token, restarted.token) == (1, 2)
    with pytest.raises(NotLeader, match="taken by pod-a with token 2, not by this monkey"):
        former.fence()
    assert not former.renew()
    restarted.fence()


def test_takeover_after_expiry_in_real_time(candidates: Candidates) -> None:
    """With the real clock and a one-second Lease, the other candidate takes over by itself."""
    old, new = candidates(name="short")
    old.duration_s = new.duration_s = 1.0
    assert old.try_acquire()
    wait_until(new.try_acquire, "the expired Lease to be taken over", 15, interval_s=0.2)
    assert new.token == 2
    with pytest.raises(NotLeader):
        old.fence()


def test_release_hands_over_at_once(
    candidates: Candidates, clock: FakeClock, cluster: Cluster, namespace: str
) -> None:
    """A released Lease is free: the other takes it without waiting for expiry."""
    old, new = candidates(clock=clock)
    assert old.try_acquire()
    new.release()  # not the holder: changes nothing
    assert old.is_leader()
    old.release()
    assert old.token is None
    assert "holderIdentity" not in cluster.read_lease(namespace, "leader")["spec"]
    with pytest.raises(NotLeader, match="is free"):
        old.fence()
    assert new.try_acquire()
    assert new.token == 2
    new.fence()


def test_the_daemons_leadership_runs_on_it(candidates: Candidates, clock: FakeClock) -> None:
    """The daemon's Leadership takes a KubeLease as it takes the journal's lease."""
    first, second = candidates(clock=clock)
    acquired: list[str] = []
    leaders = [
        Leadership(lease, on_acquired=lambda lease=lease: acquired.append(lease.holder_id))
        for lease in (first, second)
    ]
    for leader in leaders:
        leader.beat()
    assert [leader.leads() for leader in leaders] == [True, False]
    first.release()
    leaders[1].beat()
    assert [leader.leads() for leader in leaders] == [False, True]
    assert acquired == ["monkey-0", "monkey-1"]


def test_missing_namespace_is_named(cluster: Cluster) -> None:
    """A Lease in a namespace that does not exist cannot be created: said, not retried forever."""
    lease = KubeLease(cluster.api_client(), "no-such-namespace", "leader", "monkey-0")
    with pytest.raises(BackendError, match="expected the namespace no-such-namespace to exist"):
        lease.try_acquire()
    assert lease.token is None


@needs_simulator
@pytest.mark.parametrize(
    ("forbidden", "verb"),
    [("get", "get"), ("create", "create"), ("update", "update")],
)
def test_forbidden_lease_is_a_clear_backend_error(
    cluster: Cluster, namespace: str, tmp_path: Path, forbidden: str, verb: str
) -> None:
    """A 403 on leases raises PermissionDenied naming the Lease and the Role rule it needs."""
    assert cluster.sim is not None
    admin = KubeLease(cluster.api_client(), namespace, "leader", "monkey-admin", DURATION_S)
    if verb == "update":
        assert admin.try_acquire()
        admin.release()  # the Lease exists, free: taking it is an update
    token = f"no-{forbidden}-{uuid.uuid4().hex[:6]}"
    cluster.sim.add_token(token, forbidden=[(forbidden, "leases", namespace)])
    kubeconfig = cluster.sim.write_kubeconfig(tmp_path / "config", token=token)
    lease = KubeLease(cluster.api_client(kubeconfig), namespace, "leader", "monkey-0")
    with pytest.raises(PermissionDenied) as raised:
        lease.try_acquire()
    message = str(raised.value)
    assert "\n" not in message
    assert f'cannot {verb} resource "leases" in API group "coordination.k8s.io"' in message
    assert f'a Role in namespace "{namespace}"' in message
    assert f'resources: ["leases"], verbs: ["{verb}"]' in message
    assert lease.token is None
    assert not lease.is_leader()


@needs_simulator
def test_fence_refuses_when_the_lease_cannot_be_read(
    cluster: Cluster, candidates: Candidates, namespace: str, tmp_path: Path
) -> None:
    """The holder's fence refuses when it may no longer read the Lease: no change unchecked."""
    assert cluster.sim is not None
    (holder,) = candidates(1)
    assert holder.try_acquire()
    token = f"no-get-{uuid.uuid4().hex[:6]}"
    cluster.sim.add_token(token, forbidden=[("get", "leases", namespace)])
    blind = KubeLease(
        cluster.api_client(cluster.sim.write_kubeconfig(tmp_path / "config", token=token)),
        namespace,
        "leader",
        holder.holder_id,
    )
    blind.token = holder.token  # the same monkey, as far as the Lease can tell
    with pytest.raises(NotLeader, match="not the leader: cannot read the lease"):
        blind.fence()
    assert not blind.is_leader()
    holder.fence()


def test_unreachable_api_fails_the_attempt_and_the_fence() -> None:
    """No API answering: no lease is held by mistake, and the fence refuses."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    configuration = client.Configuration(host=f"http://127.0.0.1:{port}")
    configuration.retries = 0
    lease = KubeLease(client.ApiClient(configuration), "chaosmonkey", "leader", "monkey-0")
    try:
        assert not lease.try_acquire()
        assert not lease.renew()
        assert not lease.is_leader()
        with pytest.raises(NotLeader, match=f"cannot reach the Kubernetes API at .*:{port}"):
            lease.fence()
        lease.release()
    finally:
        lease.close()


def test_times_on_the_wire_are_micro_times_even_on_a_whole_second() -> None:
    """The API parses acquireTime and renewTime as RFC 3339 with exactly six fractional digits;
    what the client sends has them, even when the time falls on a whole second."""
    bodies: list[dict[str, Any]] = []

    class Recorder(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # a create: answered with what was sent
            sent = self.rfile.read(int(self.headers["Content-Length"]))
            bodies.append(json.loads(sent))
            self.send_response(201)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(sent)

        def do_GET(self) -> None:  # no Lease yet
            self.send_response(404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"kind":"Status","apiVersion":"v1","status":"Failure","code":404}')

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    configuration = client.Configuration(host=f"http://127.0.0.1:{server.server_port}")
    whole_second = float(int(time.time()))
    lease = KubeLease(
        client.ApiClient(configuration), "ns", "leader", "monkey-0", clock=lambda: whole_second
    )
    try:
        assert lease.try_acquire()
    finally:
        lease.close()
        server.shutdown()
        server.server_close()
    (body,) = bodies
    for key in ("acquireTime", "renewTime"):
        assert MICRO_TIME.match(body["spec"][key]), body["spec"][key]


def test_connect_uses_the_kubeconfig(
    cluster: Cluster, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`connect` finds the API as the backend does: here through KUBECONFIG, outside a pod."""
    monkeypatch.setenv("KUBECONFIG", str(cluster.kubeconfig))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    lease = KubeLease.connect(f"{namespace}/connected", "monkey-0", 5.0)
    try:
        assert (lease.namespace, lease.name, lease.duration_s) == (namespace, "connected", 5.0)
        assert lease.try_acquire()
        assert lease.is_leader()
    finally:
        lease.close()


@pytest.mark.parametrize("value", ["leader", "/leader", "ns/", "ns/a/b", ""])
def test_lease_name_must_be_namespace_slash_name(value: str) -> None:
    """--lease-name takes NAMESPACE/NAME; anything else is one line naming the option."""
    with pytest.raises(ChaosMonkeyError, match="--lease-name: expected NAMESPACE/NAME"):
        parse_lease_name(value)


def test_lease_name_parses() -> None:
    """The namespace and the name of the Lease."""
    assert parse_lease_name("chaosmonkey/chaosmonkey-leader") == (
        "chaosmonkey",
        "chaosmonkey-leader",
    )
