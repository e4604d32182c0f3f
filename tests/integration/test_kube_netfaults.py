"""Network faults on Kubernetes pods through the node agent, for real on this machine: a real
`chaosmonkey agent` process on 127.0.0.1, a pod in the API simulator whose sandbox is a Docker
container made in the pod's cgroup (`--cgroup-parent .../pod<uid>`, as the kubelet makes it), its
app container joined to the sandbox's network, and the real `chaosmonkey attack` against the
simulator. Simulator only: a real cluster's pods are not on this machine.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import subprocess
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
from chaosmonkey.netfaults.apply import snapshot
from chaosmonkey.netfaults.keeper import find_keepers
from chaosmonkey.netfaults.netns import NetnsExecutor
from chaosmonkey.netfaults.rules import handle_for
from tests.integration.cli import records, run_cli, start_cli
from tests.integration.conftest import (
    HTTP_PORT,
    SESSION_ID,
    TEST_LABEL,
    RunTarget,
    WaitFor,
    free_port,
)
from tests.integration.test_netfaults import BIG_FILE_BYTES, download_s, received
from tests.integration.test_network_attack import address, fetch, timed_fetches
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
    log: Path  # its stderr: structlog's JSON lines

    def call(
        self, method: str, path: str, token: str | None = TOKEN, body: object = None
    ) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"http://{self.address}{path}", data, method=method)
        request.add_header("Content-Type", "application/json")
        if token is not None:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=15) as response:  # noqa: S310 - http://
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def tags(self) -> list[str]:
        status, faults = self.call("GET", "/faults")
        assert status == 200, faults
        return [fault["tag"] for fault in faults]

    def events(self, name: str) -> list[dict[str, Any]]:
        """The agent's log lines of one event."""
        lines = [line for line in self.log.read_text().splitlines() if line.startswith("{")]
        return [event for line in lines if (event := json.loads(line)).get("event") == name]


def start_agent(port: int, token_file: Path, log: Path, pod_logs: Path) -> subprocess.Popen[str]:
    """`chaosmonkey agent` on 127.0.0.1:`port`, its stderr appended to `log`, reading the pods'
    namespaces from `pod_logs` (the kubelet's /var/log/pods, as the simulator's pods would have
    it)."""
    with log.open("a") as stderr:
        return start_cli(
            *("agent", "--host", "127.0.0.1", "--port", str(port)),
            *("--token-file", str(token_file), "--pod-logs-dir", str(pod_logs)),
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )


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


def node_of(sim: KubeSim, pod: PodOnNode) -> str:
    """The node the simulator placed pod `web` on."""
    web = sim.get("pods", pod.namespace, "web")
    assert web is not None
    return str(web["spec"]["nodeName"])


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
    port, log = free_port(), tmp_path / "agent.log"
    pod_logs = tmp_path / "pod-logs"
    (pod_logs / f"{pod_on_node.namespace}_web_{pod_on_node.uid}").mkdir(parents=True)
    process = start_agent(port, token_file, log, pod_logs)
    own = agent_pod(kubesim, node_of(kubesim, pod_on_node), port)
    handle = Agent(process, f"127.0.0.1:{port}", own, log)
    try:
        wait_for(lambda: answers(f"http://{handle.address}/healthz"), "the agent to listen", 10)
        yield handle
    finally:
        handle.process.send_signal(signal.SIGTERM)  # the one running now (a test may restart it)
        handle.process.wait(timeout=10)


def agent_pod(kubesim: KubeSim, node: str, port: int) -> str:
    """An agent pod on `node`, at 127.0.0.1:`port`, in a new namespace of the monkey's; the
    namespace's name."""
    own = f"chaosmonkey-{uuid.uuid4().hex[:6]}"
    kubesim.create_namespace(own)
    kubesim.create_pod(own, "agent-x1", labels=AGENT_LABELS)

    def with_port() -> None:
        pod = kubesim.store.find("pods", own, "agent-x1")
        pod["spec"]["containers"][0]["ports"] = [{"name": "agent", "containerPort": port}]

    kubesim.call(with_port)
    place(kubesim, own, "agent-x1", node, podIP="127.0.0.1")
    return own


def write_policy(directory: Path, namespace: str, duration: str, **fault: Any) -> Path:
    """An armed policy on pod `web`: an ingress partition unless `fault` says otherwise."""
    fault = fault or {"type": "partition", "direction": "ingress"}
    document = {
        "apiVersion": "chaosmonkey/v1",
        "kind": "Policy",
        "metadata": {"name": "kube-partition"},
        "spec": {
            "backend": "kubernetes",
            "dryRun": False,
            "targets": {"namespaces": [namespace], "selector": "app=web"},
            "limits": {"allowLastMember": True},
            "fault": {**fault, "duration": duration},
            "recovery": {"timeout": "20s"},
        },
    }
    path = directory / "policy.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def monkey_env(kubesim: KubeSim, agents_namespace: str, tmp_path: Path) -> dict[str, str]:
    """The monkey's environment: the simulator, the agents' namespace (its own) and token."""
    kubeconfig = kubesim.write_kubeconfig(tmp_path / "kubeconfig")
    return {
        "KUBECONFIG": str(kubeconfig),
        "POD_NAMESPACE": agents_namespace,
        "CHAOSMONKEY_AGENT_TOKEN": TOKEN,
    }


def journal_tag(db: Path) -> str | None:
    """The tag of the fault the journal holds open (one attack per test), None before it."""
    if not db.exists():
        return None
    faults = Journal(db).open_faults()
    return f"chaosmonkey:{faults[0].attack_id}" if faults else None


def fault_held(agent: Agent, db: Path) -> Callable[[], bool]:
    """The journal marks its attack injected (the agent answered: the fault is applied; its
    fault is active from right before the call), and the agent holds it (other keepers may run
    on this machine)."""

    def held() -> bool:
        tag = journal_tag(db)
        injected = tag is not None and any(r.injected_at for r in Journal(db).attacks())
        return injected and tag in agent.tags()

    return held


def fault_applied(agent: Agent, url: str, db: Path) -> Callable[[], bool]:
    """The agent holds the journal's fault, and the pod no longer answers."""
    held = fault_held(agent, db)
    return lambda: held() and not answers(url)


def attack_on_pod(
    kubesim: KubeSim, pod: PodOnNode, agent: Agent, tmp_path: Path, duration: str, **fault: Any
) -> tuple[subprocess.Popen[str], Path]:
    """`chaosmonkey attack` with `fault` on the pod, started; the process and its journal."""
    db = tmp_path / "journal.db"
    policy = write_policy(tmp_path, pod.namespace, duration, **fault)
    env = monkey_env(kubesim, agent.namespace, tmp_path)
    return start_cli("attack", "--policy", str(policy), "-o", "json", db=db, env=env), db


def finished(attack: subprocess.Popen[str]) -> dict[str, Any]:
    """The attack's record once it ends on its own: recovered and reverted."""
    try:
        stdout, stderr = attack.communicate(timeout=60)
    finally:
        if attack.poll() is None:
            attack.kill()
    assert attack.returncode == 0, stderr
    (record,) = json.loads(stdout)
    assert (record["status"], record["revert"]) == ("recovered", "reverted"), record
    return dict(record)


def killed_once_it_holds(
    kubesim: KubeSim, pod: PodOnNode, agent: Agent, tmp_path: Path, duration: str,
    wait_for: WaitFor,
) -> tuple[str | None, Path, dict[str, str]]:
    """An ingress partition of `duration` on the pod, its monkey SIGKILLed once it holds: the
    fault's tag, the journal and the monkey's environment, to revert it with."""
    attack, db = attack_on_pod(kubesim, pod, agent, tmp_path, duration)
    try:
        wait_for(fault_applied(agent, pod.url, db), "the partition to hold", 15)
    finally:
        attack.kill()
        attack.communicate(timeout=10)
    return journal_tag(db), db, monkey_env(kubesim, agent.namespace, tmp_path)


def revert_all(db: Path, env: dict[str, str]) -> list[str]:
    """`chaosmonkey revert --all`: the result of each fault it found open."""
    result = run_cli("revert", "--all", "-o", "json", db=db, env=env)
    assert result.returncode == 0, result.stderr
    return [row["result"] for row in json.loads(result.stdout)]


def test_the_agent_refuses_requests_without_its_token(agent: Agent) -> None:
    """No token, or another one: 401, and nothing listed or changed; the health check is open."""
    assert agent.call("GET", "/faults", token=None)[0] == 401
    status, body = agent.call("POST", "/faults", token="guess")  # noqa: S106
    assert status == 401
    assert "bearer token" in body["error"]
    assert agent.call("GET", "/faults")[0] == 200
    assert answers(f"http://{agent.address}/healthz")


def test_the_agent_refuses_what_its_limits_forbid(
    pod_on_node: PodOnNode, agent: Agent, tmp_path: Path
) -> None:
    """With the token: a fault over its maximum duration (1h by default), and a pod the kubelet
    puts in kube-system, are refused with a 403 and a one-line reason; nothing is applied."""
    partition, tags = {"type": "partition", "direction": "ingress"}, [new_tag(), new_tag()]
    too_long = {**fault_request(pod_on_node, tags[0], partition), "duration_s": 7200.0}
    status, body = agent.call("POST", "/faults", body=too_long)
    assert (status, body["reason"]) == (403, "duration"), body
    assert body["error"] == "duration_s 7200: over the agent's maximum of 1h (--max-duration)"
    pod_dir = tmp_path / "pod-logs" / f"{pod_on_node.namespace}_web_{pod_on_node.uid}"
    pod_dir.rename(pod_dir.with_name(f"kube-system_web_{pod_on_node.uid}"))
    kube_system = fault_request(pod_on_node, tags[1], partition)
    status, body = agent.call("POST", "/faults", body=kube_system)
    assert (status, body["reason"]) == (403, "namespace"), body
    assert body["error"] == f"pod {pod_on_node.uid} is in namespace kube-system: never attacked"
    assert not set(tags) & set(agent.tags())
    assert answers(pod_on_node.url)


def test_a_partition_holds_through_an_app_restart_and_is_reverted(
    kubesim: KubeSim, pod_on_node: PodOnNode, agent: Agent, tmp_path: Path, wait_for: WaitFor
) -> None:
    """The attack records the fault (with its agent and rules) before applying it; requests
    through the published port fail while it holds, even after the app container restarts
    (the fault lives in the sandbox's namespace), and succeed once the monkey reverts it."""
    attack, db = attack_on_pod(kubesim, pod_on_node, agent, tmp_path, "6s")
    try:
        wait_for(fault_applied(agent, pod_on_node.url, db), "the partition to hold", 15)
        (injection,) = Journal(db).open_faults()
        assert injection.target.id == pod_on_node.uid
        assert injection.plan.placement.agent == agent.address
        assert any("REJECT" in change.spec for change in injection.plan.keeper.changes)
        pod_on_node.app.restart(timeout=1)
        assert not answers(pod_on_node.url)
        assert f"chaosmonkey:{injection.attack_id}" in agent.tags()
        record = finished(attack)
    finally:
        if attack.poll() is None:
            attack.kill()
    assert f"chaosmonkey:{record['id']}" not in agent.tags()
    assert answers(pod_on_node.url)
    assert Journal(db).open_faults() == []


def test_a_killed_monkeys_fault_is_reverted_from_the_journal(
    kubesim: KubeSim, pod_on_node: PodOnNode, agent: Agent, tmp_path: Path, wait_for: WaitFor
) -> None:
    """SIGKILL in the middle of a one-hour partition: `revert --all`, a new process with only
    the journal, asks the recorded agent to remove it."""
    tag, db, env = killed_once_it_holds(kubesim, pod_on_node, agent, tmp_path, "1h", wait_for)
    assert not answers(pod_on_node.url)
    assert revert_all(db, env) == ["reverted"]
    assert tag not in agent.tags()
    assert answers(pod_on_node.url)


def test_the_keeper_ends_the_fault_at_its_deadline(
    kubesim: KubeSim, pod_on_node: PodOnNode, agent: Agent, tmp_path: Path, wait_for: WaitFor
) -> None:
    """Nobody reverts (the monkey is killed): the keeper removes the fault by itself after its
    duration; a later revert finds the pod already clean."""
    tag, db, env = killed_once_it_holds(kubesim, pod_on_node, agent, tmp_path, "2s", wait_for)
    wait_for(lambda: tag not in agent.tags() and answers(pod_on_node.url), "the fault's end", 15)
    assert revert_all(db, env) == ["already_clean"]


def test_a_pod_that_is_not_on_the_agents_node_is_gone(agent: Agent) -> None:
    """Reverting on a pod with no process on the node answers target_gone."""
    path = f"/faults/chaosmonkey:x1?podUid={uuid.uuid4()}"
    assert agent.call("DELETE", path) == (200, {"tag": "chaosmonkey:x1", "result": "target_gone"})


FOREIGN_RULE = "-A INPUT -p udp -m udp --dport 9 -m comment --comment someone-else -j ACCEPT"


def in_sandbox(pod: PodOnNode, *argv: str) -> str:
    """A command's stdout, run in the pod's network namespace (the sandbox's)."""
    pod.sandbox.reload()
    pid = str(pod.sandbox.attrs["State"]["Pid"])
    done = subprocess.run(["nsenter", "-t", pid, "-n", *argv], capture_output=True, text=True,
                          check=True)
    return done.stdout


def sandbox_executor(pod: PodOnNode) -> NetnsExecutor:
    pod.sandbox.reload()
    return NetnsExecutor(int(pod.sandbox.attrs["State"]["Pid"]))


def fault_request(pod: PodOnNode, tag: str, fault: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A `POST /faults` body, as the monkey sends it, held for ten minutes."""
    return {"pod_uid": pod.uid, "tag": tag, "duration_s": 600.0, "fault": fault, **extra}


def new_tag() -> str:
    return f"chaosmonkey:t{uuid.uuid4().hex[:12]}"


def test_a_new_agent_removes_the_faults_whose_keepers_died(
    pod_on_node: PodOnNode, agent: Agent, tmp_path: Path, wait_for: WaitFor
) -> None:
    """The agent's container killed (agent and keepers SIGKILLed) leaves a partition and a
    bandwidth limit with no deadline; the next agent, before it serves, removes both and logs
    each with the pod and tag, while a foreign rule and a fault whose keeper lives stay."""
    in_sandbox(pod_on_node, "iptables", *FOREIGN_RULE.split())
    executor = sandbox_executor(pod_on_node)
    before = snapshot(executor)
    partition, shaped, live = new_tag(), new_tag(), new_tag()
    faults = {
        partition: {"type": "partition", "direction": "ingress"},
        shaped: {"type": "bandwidth", "rate": "1mbit", "direction": "both"},  # a bare tbf
        live: {"type": "packet_loss", "percent": 50},
    }
    for tag, fault in faults.items():
        peers = [{"cidr": "203.0.113.9/32"}] if tag == live else []
        status, held = agent.call("POST", "/faults", body=fault_request(pod_on_node, tag, fault,
                                                                         peers=peers))
        assert status == 201, held
    assert not answers(pod_on_node.url)
    agent.process.kill()
    agent.process.wait(timeout=10)
    for tag in (partition, shaped):
        (keeper,) = find_keepers(tag)
        os.kill(keeper, signal.SIGKILL)
    wait_for(lambda: not find_keepers(partition) and not find_keepers(shaped), "the keepers' end")
    assert not answers(pod_on_node.url)  # nobody left to end the partition
    agent.process = start_agent(int(agent.address.split(":")[1]), tmp_path / "agent-token",
                                agent.log, tmp_path / "pod-logs")
    wait_for(lambda: answers(f"http://{agent.address}/healthz"), "the new agent to listen", 20)
    assert answers(pod_on_node.url)
    removed = {(event["pod_uid"], event["tag"]) for event in agent.events("orphan_removed")}
    assert {(pod_on_node.uid, partition), (pod_on_node.uid, None)} <= removed
    assert live not in {tag for _, tag in removed}
    assert agent.tags().count(live) == 1
    assert in_sandbox(pod_on_node, "iptables-save").count(f'"{live}"') == 1
    assert agent.call("DELETE", f"/faults/{live}?podUid={pod_on_node.uid}")[1]["result"] == (
        "reverted"
    )
    assert snapshot(executor) == before  # the foreign rule, byte for byte, and nothing of ours
    assert FOREIGN_RULE in in_sandbox(pod_on_node, "iptables-save").splitlines()


# --- the other network faults, end to end --------------------------------------------------------


def ours_in(pod: PodOnNode, tag: str | None) -> list[str]:
    """The iptables lines and qdiscs of the pod's namespace that belong to `tag`."""
    if tag is None:
        return []
    rules = [line for line in in_sandbox(pod, "iptables-save").splitlines() if f'"{tag}"' in line]
    qdiscs = in_sandbox(pod, "tc", "qdisc", "show").splitlines()
    return rules + [line for line in qdiscs if f" {handle_for(tag)} " in line]


@pytest.mark.timing
def test_latency_delays_the_pods_requests_by_its_delay(
    kubesim: KubeSim,
    pod_on_node: PodOnNode,
    agent: Agent,
    run_target: RunTarget,
    tmp_path: Path,
    wait_for: WaitFor,
) -> None:
    """200 ms of latency to a server: each of 5 requests from the pod to it takes 200 ms more
    (within 25 %) than the same loop without the fault; after the revert, the redirect is gone
    and the requests are fast again."""
    server, app = run_target(), pod_on_node.app
    baseline, _ = timed_fetches(app, server, 5)
    destination = f"{address(server)}:8080"
    attack, db = attack_on_pod(kubesim, pod_on_node, agent, tmp_path, "6s",
                               type="latency", delay="200ms", destinations=[destination])
    wait_for(fault_held(agent, db), "the latency to hold", 15)
    tag = journal_tag(db)
    assert any("REDIRECT" in line for line in ours_in(pod_on_node, tag))
    slowed, output = timed_fetches(app, server, 5)
    finished(attack)
    assert b"fail" not in output
    assert (slowed - baseline) / 5 * 1000 == pytest.approx(200, rel=0.25)
    assert ours_in(pod_on_node, tag) == []
    after, _ = timed_fetches(app, server, 5)
    assert after < baseline + 0.5


def test_http_error_answers_the_pods_requests_with_its_status(
    kubesim: KubeSim,
    pod_on_node: PodOnNode,
    agent: Agent,
    run_target: RunTarget,
    tmp_path: Path,
    wait_for: WaitFor,
) -> None:
    """percent 100, status 503: each of 10 requests from the pod to the server gets 503 while
    the fault holds; after the revert, the server answers."""
    server, app = run_target(), pod_on_node.app
    url = f"http://{address(server)}:8080/"
    attack, db = attack_on_pod(kubesim, pod_on_node, agent, tmp_path, "5s", type="http_error",
                               status=503, destinations=[f"{address(server)}:8080"])
    wait_for(fault_held(agent, db), "the http_error to hold", 15)
    loop = f"for i in $(seq 10); do timeout 5 wget -q -O /dev/null {url} 2>&1 | head -1; done"
    _, output = app.exec_run(["sh", "-c", loop])
    tag = journal_tag(db)
    finished(attack)
    assert output.count(b"503") == 10, output[:500]
    assert ours_in(pod_on_node, tag) == []
    assert fetch(app, server)[0] == 0


def test_packet_loss_drops_about_its_percent_then_none(
    kubesim: KubeSim,
    pod_on_node: PodOnNode,
    agent: Agent,
    run_target: RunTarget,
    tmp_path: Path,
    wait_for: WaitFor,
) -> None:
    """50 % loss to a peer: its statistic DROP rule is in the pod's namespace, and of 200 pings
    from the peer, those the pod answers lie within 4 sigma of 100; after the revert, no rule
    and no loss."""
    peer = run_target()
    pod_ip = address(pod_on_node.sandbox)
    attack, db = attack_on_pod(kubesim, pod_on_node, agent, tmp_path, "6s", type="packet_loss",
                               percent=50, destinations=[address(peer)])
    wait_for(fault_held(agent, db), "the packet loss to hold", 15)
    tag = journal_tag(db)
    (rule,) = ours_in(pod_on_node, tag)
    assert f"-d {address(peer)}/32" in rule
    assert "--probability 0.5" in rule
    assert "-j DROP" in rule
    answered = received(peer, pod_ip, 200)
    finished(attack)
    assert abs(answered - 100) <= 4 * math.sqrt(200 * 0.5 * 0.5), answered
    assert ours_in(pod_on_node, tag) == []
    assert received(peer, pod_ip, 50) == 50


@pytest.mark.timing
def test_bandwidth_caps_what_the_pod_sends(
    kubesim: KubeSim, pod_on_node: PodOnNode, agent: Agent, tmp_path: Path, wait_for: WaitFor
) -> None:
    """1 mbit: our tbf is the root qdisc of the pod's eth0, and a 250 kB response through the
    published port comes at 1 mbit/s within 30 %; after the revert, the kernel's qdisc is back
    and the response fast."""
    blocks = f"count={BIG_FILE_BYTES // 1000}"
    pod_on_node.app.exec_run(["dd", "if=/dev/zero", "of=/www/big", "bs=1000", blocks])
    url = pod_on_node.url + "big"
    attack, db = attack_on_pod(kubesim, pod_on_node, agent, tmp_path, "6s",
                               type="bandwidth", rate="1mbit", direction="both")
    wait_for(fault_held(agent, db), "the bandwidth limit to hold", 15)
    tag = journal_tag(db)
    (qdisc,) = ours_in(pod_on_node, tag)
    assert qdisc.startswith(f"qdisc tbf {handle_for(str(tag))} dev eth0 root")
    shaped_s = download_s(url)
    finished(attack)
    assert BIG_FILE_BYTES * 8 / shaped_s == pytest.approx(1e6, rel=0.3)
    assert ours_in(pod_on_node, tag) == []
    assert download_s(url) < shaped_s / 5


# --- failures ------------------------------------------------------------------------------------


def test_an_unreachable_agent_fails_the_attack_cleanly(
    kubesim: KubeSim, pod_on_node: PodOnNode, tmp_path: Path
) -> None:
    """The pod's node has an agent pod, but nothing answers at its address: the attack exits
    non-zero with one line naming the agent, the journal records it failed with no open fault,
    and the pod was not touched."""
    port = free_port()  # nobody listens there
    env = monkey_env(kubesim, agent_pod(kubesim, node_of(kubesim, pod_on_node), port), tmp_path)
    db = tmp_path / "journal.db"
    policy = write_policy(tmp_path, pod_on_node.namespace, "3s")
    result = run_cli("attack", "--policy", str(policy), "-o", "json", db=db, env=env)
    assert result.returncode != 0
    (record,) = records(result)
    assert (record["status"], record["revert"]) == ("failed", "already_clean"), record
    assert record["reason"].startswith(f"the node agent at 127.0.0.1:{port} did not answer: ")
    assert "\n" not in record["reason"]
    (attack,) = Journal(db).attacks()
    assert (attack.outcome, attack.injected_at) == ("failed", None)
    assert Journal(db).open_faults() == []
    assert answers(pod_on_node.url)


def test_a_host_network_pod_is_refused(
    kubesim: KubeSim, pod_on_node: PodOnNode, agent: Agent, tmp_path: Path
) -> None:
    """A hostNetwork pod, selected (targets.allowHostNetwork), gets no network fault without the
    fault's own allowHostNetwork: one line naming the field, exit 2, nothing asked of the agent,
    nothing open in the journal."""
    kubesim.create_pod(pod_on_node.namespace, "node-web", labels={"app": "node-web"},
                       host_network=True)
    place(kubesim, pod_on_node.namespace, "node-web", node_of(kubesim, pod_on_node))
    db = tmp_path / "journal.db"
    policy = write_policy(tmp_path, pod_on_node.namespace, "3s")
    document = yaml.safe_load(policy.read_text())
    document["spec"]["targets"].update(selector="app=node-web", allowHostNetwork=True)
    policy.write_text(yaml.safe_dump(document))  # selected, but the fault does not allow it
    env = monkey_env(kubesim, agent.namespace, tmp_path)
    result = run_cli("attack", "--policy", str(policy), db=db, env=env)
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(
        f"spec.fault.allowHostNetwork: pod {pod_on_node.namespace}/node-web uses its node's network"
    )
    assert agent.events("fault_applied") == []
    assert not db.exists() or Journal(db).open_faults() == []
