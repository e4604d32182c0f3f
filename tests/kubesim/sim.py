"""`KubeSim`: the simulated API server, served from a daemon thread, and its Python API.

Every call into the simulated cluster runs on the server's event loop (the only thread that
touches the store), and waits for its result.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from aiohttp import web

from tests.kubesim import kubelet as kubelet_module
from tests.kubesim import objects
from tests.kubesim.api import Api
from tests.kubesim.cluster import Kube
from tests.kubesim.controllers import Controllers
from tests.kubesim.disruption import Disruption, budget_status
from tests.kubesim.kubelet import Kubelet, Timing
from tests.kubesim.rbac import ADMIN_TOKEN, Rule, Users
from tests.kubesim.resources import BY_PLURAL
from tests.kubesim.server import Server
from tests.kubesim.status import already_exists
from tests.kubesim.store import Store, namespace_missing

Obj = dict[str, Any]
T = TypeVar("T")
CALL_TIMEOUT_S = 30.0
PHASES = ("Pending", "Running", "Succeeded", "Failed", "Unknown")


class KubeSim(Kube):
    """A Kubernetes API server simulator on 127.0.0.1, for the real `kubernetes` client.

    Use as a context manager: `with KubeSim() as sim: ...`; `sim.url` is where it listens.
    """

    is_simulator = True

    def __init__(
        self,
        *,
        ready_after_s: float = 0.1,
        termination_s: float = 0.2,
        pending_s: float = 0.02,
        history_size: int = 20_000,
    ) -> None:
        self.timing = Timing(pending_s, ready_after_s, termination_s)
        self.users = Users()
        self.url = ""
        self._history_size = history_size
        self._thread = threading.Thread(target=self._serve, name="kubesim", daemon=True)
        self._started = concurrent.futures.Future[None]()
        self._runner: web.AppRunner | None = None
        self._loop: asyncio.AbstractEventLoop
        self.store: Store  # these live on the loop, made once it runs
        self.kubelet: Kubelet
        self.controllers: Controllers
        self.disruption: Disruption
        self.api: Api

    # Lifecycle ---------------------------------------------------------------------------------

    def __enter__(self) -> KubeSim:
        self._loop = asyncio.new_event_loop()
        self._thread.start()
        self._started.result(timeout=CALL_TIMEOUT_S)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Ends open watches, stops serving and joins the thread."""
        if not self._thread.is_alive():
            return
        self._loop.call_soon_threadsafe(self.store.close_watches)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=CALL_TIMEOUT_S)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._start())
        except BaseException as error:  # handed to __enter__, which raises it
            self._started.set_exception(error)
            self._loop.close()
            return
        self._started.set_result(None)
        self._loop.run_forever()
        if self._runner is not None:
            self._loop.run_until_complete(self._runner.cleanup())
        self._loop.close()

    async def _start(self) -> None:
        self.store = Store(self._history_size)
        self.kubelet = Kubelet(self.store, self._loop, self.timing)
        self.controllers = Controllers(self.store, self.kubelet, self._loop)
        self.disruption = Disruption(self.store, self._loop)
        self.api = Api(self.store, self.kubelet, self.disruption)
        app = Server(self.store, self.api, self.users).app()
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"

    def call(self, function: Callable[[], T]) -> T:
        """Runs `function` on the server's loop, where the store lives; returns its result."""
        future = concurrent.futures.Future[T]()

        def run() -> None:
            try:
                future.set_result(function())
            except BaseException as error:
                future.set_exception(error)

        self._loop.call_soon_threadsafe(run)
        return future.result(timeout=CALL_TIMEOUT_S)

    # Settings ----------------------------------------------------------------------------------

    @property
    def termination_s(self) -> float:
        """How long a gracefully deleted pod takes to go (at most its grace period)."""
        return self.timing.termination_s

    @termination_s.setter
    def termination_s(self, seconds: float) -> None:
        self.timing.termination_s = seconds

    @property
    def pending_s(self) -> float:
        """How long a new pod stays Pending before it runs."""
        return self.timing.pending_s

    @pending_s.setter
    def pending_s(self, seconds: float) -> None:
        self.timing.pending_s = seconds

    def set_ready_after(self, seconds: float) -> None:
        """The default delay between a new pod running and turning Ready."""
        self.timing.ready_after_s = seconds

    def add_token(
        self, token: str, forbidden: Iterable[Rule] = (), user: str | None = None
    ) -> None:
        """A bearer token whose user gets 403 for the listed (verb, resource, namespace) rules;
        namespace None forbids it everywhere, "*" matches any verb or resource."""
        self.users.add(token, forbidden, user)

    def write_kubeconfig(
        self, path: str | Path, token: str = ADMIN_TOKEN, namespace: str = "default"
    ) -> Path:
        """A kubeconfig whose one context reaches this server with `token`."""
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "kubesim", "cluster": {"server": self.url}}],
            "users": [{"name": f"kubesim-{token}", "user": {"token": token}}],
            "contexts": [
                {
                    "name": "kubesim",
                    "context": {
                        "cluster": "kubesim",
                        "user": f"kubesim-{token}",
                        "namespace": namespace,
                    },
                }
            ],
            "current-context": "kubesim",
        }
        target = Path(path)
        target.write_text(json.dumps(config, indent=2))  # JSON is YAML
        return target

    # Objects -----------------------------------------------------------------------------------

    def _pod_template(self, name: str, labels: dict[str, str], host_network: bool) -> Obj:
        return objects.pod_template(name, labels, host_network)

    def _create_namespace(
        self, name: str, labels: dict[str, str], annotations: dict[str, str]
    ) -> Obj:
        namespace = objects.namespace(name, labels, annotations)
        return self.call(lambda: _copy(self._add("namespaces", namespace)))

    def _create_workload(
        self, resource: str, workload: Obj, ready_after_s: float | None, nodes: int = 0
    ) -> Obj:
        return self.call(lambda: self._add_workload(resource, workload, ready_after_s, nodes))

    def _create_pod(
        self, namespace: str, name: str, template: Obj, phase: str, ready: bool, age_s: float
    ) -> Obj:
        if phase not in PHASES:
            raise ValueError(f"phase {phase!r}: expected one of {', '.join(PHASES)}")
        pod = objects.pod_from_template(template, namespace, name, None)
        created = objects.now(-age_s)
        pod["metadata"]["creationTimestamp"] = created
        return self.call(lambda: self._add_pod(pod, phase, ready, created))

    def _create_pdb(self, budget: Obj) -> Obj:
        def add() -> Obj:
            budget["status"] = budget_status(self.store, budget, None)
            return _copy(self._add("poddisruptionbudgets", budget))

        return self.call(add)

    def restart_containers(self, namespace: str, name: str) -> Obj:
        """The pod's containers crash and restart in place (restartCount + 1, Ready again after
        the readiness delay), as after a kill of the container's process."""
        return self.call(
            lambda: _copy(self.kubelet.restart_containers(self.store.get("pods", namespace, name)))
        )

    # Reads -------------------------------------------------------------------------------------

    def pods(self, namespace: str | None = None) -> list[Obj]:
        """The current pods as API JSON (copies), in name order."""
        return self.items("pods", namespace)

    def items(self, resource: str, namespace: str | None = None) -> list[Obj]:
        """The current objects of `resource` ("pods", "deployments"...) as API JSON (copies)."""
        return self.call(lambda: [_copy(obj) for obj in self.store.items(resource, namespace)])

    def get(self, resource: str, namespace: str, name: str) -> Obj | None:
        """One object as API JSON (a copy), None when there is none."""
        return self.call(lambda: _copy_or_none(self.store.find(resource, namespace, name)))

    # On the loop -------------------------------------------------------------------------------

    def _check_new(self, resource: str, obj: Obj) -> None:
        """404 when the namespace is missing, 409 when the name is taken."""
        metadata = obj["metadata"]
        namespace = metadata.get("namespace", "")
        if BY_PLURAL[resource].namespaced and not self.store.has_namespace(namespace):
            raise namespace_missing(namespace)
        if self.store.find(resource, namespace, metadata["name"]) is not None:
            raise already_exists(BY_PLURAL[resource], metadata["name"])

    def _add(self, resource: str, obj: Obj) -> Obj:
        self._check_new(resource, obj)
        return self.store.create(resource, obj)

    def _add_workload(
        self, resource: str, workload: Obj, ready_after_s: float | None, nodes: int = 0
    ) -> Obj:
        stored = self._add(resource, workload)
        options = {"nodes": nodes} if nodes else {}
        self.controllers.adopt(resource, stored, ready_after_s, start_ready=True, **options)
        self.controllers.sync_now()
        return _copy(stored)

    def _add_pod(self, pod: Obj, phase: str, ready: bool, created: str) -> Obj:
        self._check_new("pods", pod)
        self.kubelet.schedule(pod)
        if phase == "Pending":
            kubelet_module.set_pending(pod)
        elif phase in ("Succeeded", "Failed"):
            kubelet_module.set_ended(pod, phase, created)
        else:
            kubelet_module.set_running(pod, ready=ready, at=created)
            pod["status"]["phase"] = phase
        return _copy(self.kubelet.place(pod))


def _copy(obj: Obj) -> Obj:
    return dict(objects.copy(obj))


def _copy_or_none(obj: Obj | None) -> Obj | None:
    return None if obj is None else _copy(obj)
