"""Network faults on Kubernetes pods through the node agent, for real on this machine: a real
`chaosmonkey agent` process on 127.0.0.1, a pod in the API simulator whose sandbox is a Docker
container made in the pod's cgroup (`--cgroup-parent .../pod<uid>`, as the kubelet makes it), its
app container joined to the sandbox's network, and the real `chaosmonkey attack` against the
simulator. Simulator only: a real cluster's pods are not on this machine.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import pytest
import yaml
from docker.models.containers import Container

from chaosmonkey.journal import Journal
from tests.integration.cli import run_cli
from tests.integration.conftest import HTTP_PORT, SESSION_ID, TEST_LABEL, WaitFor, free_port
from tests.kubesim import KubeSim

TOKEN = "s3cret-agent-token"  # noqa: S105 - the test agent's token
AGENT_LABELS = {"app.kubernetes.io/component": "chaosmonkey-agent"}


@dataclass
class PodOnNode:
    """A simulated pod whose sandbox and app are real containers on this machine."""

    namespace: str
    uid: str
    sandbox: Container
    app: Container
    url: str


@dataclass
class Agent:
    """A `chaosmonkey agent` process on 127.0.0.1, with the simulator's agent pod on its node."""

    process: subprocess.Popen[str]
    address: str
    namespace: str

    def call(self, method: str, path: str, token: str | None = TOKEN) -> tuple[int, Any]:
        request = urllib.request.Request(f"http://{self.address}{path}", method=method)
        if token is not None:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - http://
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def tags(self) -> list[str]:
        status, faults = self.call("GET", "/faults")
        assert status == 200, faults
        return [fault["tag"] for fault in faults]


def answers(url: str) -> bool:
    """Whether one HTTP request through the published port gets a response."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - http://
            return bool(response.status == 200)
    except (OSError, urllib.error.URLError):
        return False


def place(sim: KubeSim, namespace: str, name: str, node: str, **status: str) -> None:
    """Puts a simulated pod on `node` (and sets status fields such as podIP), as the scheduler
    and kubelet would."""

    def change() -> None:
        pod = sim.store.find("pods", namespace, name)
        pod["spec"]["nodeName"] = node
        pod["status"].update(status)
        if "podIP" in status:
            pod["status"]["podIPs"] = [{"ip": status["podIP"]}]
        sim.store.modified("pods", pod)

    sim.call(change)


@pytest.fixture
def pod_on_node(
    kubesim: KubeSim, docker_client: docker.DockerClient, target_image: str, wait_for: WaitFor
) -> Iterator[PodOnNode]:
    """Pod `web` in a new namespace; its sandbox holds the network namespace (and the published
    port), its app container (busybox httpd) joins it, both in the pod's cgroup."""
    namespace = f"shop-{uuid.uuid4().hex[:6]}"
    kubesim.create_namespace(namespace)
    uid = kubesim.create_pod(namespace, "web", labels={"app": "web"})["metadata"]["uid"]
    options: dict[str, Any] = {
        "detach": True,
        "labels": {TEST_LABEL: SESSION_ID},
        "cgroup_parent": f"/kubepods/besteffort/pod{uid}",
    }
    sandbox = docker_client.containers.run(
        target_image,
        ["/bin/busybox", "sleep", "3600"],
        name=f"cm-test-sandbox-{uid[:8]}",
        ports={HTTP_PORT: ("127.0.0.1", None)},
        **options,
    )
    app = docker_client.containers.run(
        target_image, network_mode=f"container:{sandbox.id}", **options
    )
    try:
        sandbox.reload()
        port = sandbox.attrs["NetworkSettings"]["Ports"][HTTP_PORT][0]["HostPort"]
        url = f"http://127.0.0.1:{port}/"
        wait_for(lambda: answers(url), "the pod's app to answer", 10)
        yield PodOnNode(namespace, uid, sandbox, app, url)
    finally:
        for container in (app, sandbox):
            with contextlib.suppress(docker.errors.APIError):
                container.remove(force=True)


@pytest.fixture
def agent(
    kubesim: KubeSim, pod_on_node: PodOnNode, tmp_path: Path, wait_for: WaitFor
) -> Iterator[Agent]:
    """The agent process, and its pod in the monkey's namespace on the web pod's node."""
    token_file = tmp_path / "agent-token"
    token_file.write_text(TOKEN + "\n")
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "chaosmonkey",
            "agent",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--token-file",
            str(token_file),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    own = f"chaosmonkey-{uuid.uuid4().hex[:6]}"
    kubesim.create_namespace(own)
    kubesim.create_pod(own, "agent-x1", labels=AGENT_LABELS)
    node = kubesim.get("pods", pod_on_node.namespace, "web")["spec"]["nodeName"]  # type: ignore[index]

    def with_port() -> None:
        pod = kubesim.store.find("pods", own, "agent-x1")
        pod["spec"]["containers"][0]["ports"] = [{"name": "agent", "containerPort": port}]

    kubesim.call(with_port)
    place(kubesim, own, "agent-x1", node, podIP="127.0.0.1")
    handle = Agent(process, f"127.0.0.1:{port}", own)
    try:
        wait_for(lambda: answers(f"http://{handle.address}/healthz"), "the agent to listen", 10)
        yield handle
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)


def write_policy(directory: Path, namespace: str, duration: str) -> Path:
    document = {
        "apiVersion": "chaosmonkey/v1",
        "kind": "Policy",
        "metadata": {"name": "kube-partition"},
        "spec": {
            "backend": "kubernetes",
            "dryRun": False,
            "targets": {"namespaces": [namespace], "selector": "app=web"},
            "limits": {"allowLastMember": True},
            "fault": {"type": "partition", "direction": "ingress", "duration": duration},
            "recovery": {"timeout": "20s"},
        },
    }
    path = directory / "policy.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def monkey_env(kubesim: KubeSim, agent: Agent, tmp_path: Path) -> dict[str, str]:
    kubeconfig = kubesim.write_kubeconfig(tmp_path / "kubeconfig")
    return {
        "KUBECONFIG": str(kubeconfig),
        "POD_NAMESPACE": agent.namespace,
        "CHAOSMONKEY_AGENT_TOKEN": TOKEN,
    }


def start_attack(policy: Path, db: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "chaosmonkey",
            "attack",
            "--policy",
            str(policy),
            "-o",
            "json",
            "--db",
            str(db),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **env},
    )


def journal_tag(db: Path) -> str | None:
    """The tag of the fault the journal holds open (one attack per test), None before it."""
    if not db.exists():
        return None
    faults = Journal(db).open_faults()
    return f"chaosmonkey:{faults[0].attack_id}" if faults else None


def fault_applied(agent: Agent, url: str, db: Path) -> Callable[[], bool]:
    """The agent holds the journal's fault (other keepers may run on this machine), and the
    pod no longer answers."""
    return lambda: (tag := journal_tag(db)) in agent.tags() and tag is not None and not answers(url)


def test_the_agent_refuses_requests_without_its_token(agent: Agent) -> None:
    """No token, or another one: 401, and nothing listed or changed; the health check is open."""
    assert agent.call("GET", "/faults", token=None)[0] == 401
    status, body = agent.call("POST", "/faults", token="guess")  # noqa: S106
    assert status == 401
    assert "bearer token" in body["error"]
    assert agent.call("GET", "/faults")[0] == 200
    assert answers(f"http://{agent.address}/healthz")


def test_a_partition_holds_through_an_app_restart_and_is_reverted(
    kubesim: KubeSim, pod_on_node: PodOnNode, agent: Agent, tmp_path: Path, wait_for: WaitFor
) -> None:
    """The attack records the fault (with its agent and rules) before applying it; requests
    through the published port fail while it holds, even after the app container restarts
    (the fault lives in the sandbox's namespace), and succeed once the monkey reverts it."""
    db = tmp_path / "journal.db"
    policy = write_policy(tmp_path, pod_on_node.namespace, "6s")
    attack = start_attack(policy, db, monkey_env(kubesim, agent, tmp_path))
    try:
        wait_for(fault_applied(agent, pod_on_node.url, db), "the partition to hold", 15)
        (injection,) = Journal(db).open_faults()
        assert injection.target.id == pod_on_node.uid
        assert injection.params["agent"] == agent.address
        assert "REJECT" in injection.params["keeper"]
        pod_on_node.app.restart(timeout=1)
        assert not answers(pod_on_node.url)
        assert f"chaosmonkey:{injection.attack_id}" in agent.tags()
        stdout, _ = attack.communicate(timeout=60)
    finally:
        if attack.poll() is None:
            attack.kill()
    (record,) = json.loads(stdout)
    assert (attack.returncode, record["status"], record["revert"]) == (0, "recovered", "reverted")
    assert f"chaosmonkey:{record['id']}" not in agent.tags()
    assert answers(pod_on_node.url)
    assert Journal(db).open_faults() == []


def test_a_killed_monkeys_fault_is_reverted_from_the_journal(
    kubesim: KubeSim, pod_on_node: PodOnNode, agent: Agent, tmp_path: Path, wait_for: WaitFor
) -> None:
    """SIGKILL in the middle of a one-hour partition: `revert --all`, a new process with only
    the journal, asks the recorded agent to remove it."""
    db = tmp_path / "journal.db"
    env = monkey_env(kubesim, agent, tmp_path)
    attack = start_attack(write_policy(tmp_path, pod_on_node.namespace, "1h"), db, env)
    try:
        wait_for(fault_applied(agent, pod_on_node.url, db), "the partition to hold", 15)
    finally:
        attack.kill()
        attack.communicate(timeout=10)
    tag = journal_tag(db)
    assert not answers(pod_on_node.url)
    result = run_cli("revert", "--all", "-o", "json", db=db, env=env)
    assert result.returncode == 0, result.stderr
    assert [row["result"] for row in json.loads(result.stdout)] == ["reverted"]
    assert tag not in agent.tags()
    assert answers(pod_on_node.url)


def test_the_keeper_ends_the_fault_at_its_deadline(
    kubesim: KubeSim, pod_on_node: PodOnNode, agent: Agent, tmp_path: Path, wait_for: WaitFor
) -> None:
    """Nobody reverts (the monkey is killed): the keeper removes the fault by itself after its
    duration; a later revert finds the pod already clean."""
    db = tmp_path / "journal.db"
    env = monkey_env(kubesim, agent, tmp_path)
    attack = start_attack(write_policy(tmp_path, pod_on_node.namespace, "2s"), db, env)
    try:
        wait_for(fault_applied(agent, pod_on_node.url, db), "the partition to hold", 15)
    finally:
        attack.kill()
        attack.communicate(timeout=10)
    tag = journal_tag(db)
    wait_for(lambda: tag not in agent.tags() and answers(pod_on_node.url), "the fault's end", 15)
    result = run_cli("revert", "--all", "-o", "json", db=db, env=env)
    assert [row["result"] for row in json.loads(result.stdout)] == ["already_clean"]


def test_a_pod_that_is_not_on_the_agents_node_is_gone(agent: Agent) -> None:
    """Reverting on a pod with no process on the node answers target_gone."""
    path = f"/faults/chaosmonkey:x1?podUid={uuid.uuid4()}"
    assert agent.call("DELETE", path) == (200, {"tag": "chaosmonkey:x1", "result": "target_gone"})
