"""Network faults in real containers' namespaces: iptables (nf_tables) and tc, applied and removed.

Traffic goes only to containers these tests start, from the host or from another such container.
"""

from __future__ import annotations

import math
import os
import re
import socket
import time
from collections.abc import Callable

import pytest
import requests
from docker.models.containers import Container

from chaosmonkey.errors import TargetGone
from chaosmonkey.netfaults import (
    Destination,
    ForeignQdisc,
    HostNamespaceRefused,
    Mode,
    NetnsExecutor,
    Reach,
    apply_changes,
    bandwidth,
    packet_loss,
    partition,
    redirect,
    remove_tagged,
    snapshot,
    tag_for,
)
from tests.integration.conftest import RunTarget

pytestmark = pytest.mark.docker

PINGS = 400
LOSS = 0.30
BIG_FILE_BYTES = 250_000  # 2 s at 1 mbit/s
FOREIGN_FILTER = ["-A", "OUTPUT", "-d", "203.0.113.7/32", "-j", "DROP",
                  "-m", "comment", "--comment", "someone-else"]
FOREIGN_NAT = ["-A", "OUTPUT", "-d", "203.0.113.8/32", "-p", "tcp", "-j", "REDIRECT",
               "--to-ports", "9"]

EMPTY_FILTER = "*filter\n:INPUT ACCEPT\n:FORWARD ACCEPT\n:OUTPUT ACCEPT\n"


def executor_of(container: Container) -> NetnsExecutor:
    """An executor pinned to the container's current network namespace."""
    container.reload()
    return NetnsExecutor(int(container.attrs["State"]["Pid"]))


def ip_of(container: Container) -> str:
    container.reload()
    return str(container.attrs["NetworkSettings"]["IPAddress"])


def fetch(container: Container, url: str) -> tuple[int, float]:
    """(exit status, seconds) of a 2 s bounded busybox wget run inside `container`."""
    started = time.monotonic()
    code, _ = container.exec_run(["timeout", "2", "wget", "-q", "-O", "-", url])
    return code, time.monotonic() - started


def host_connects(ip: str) -> bool:
    """Whether the host can open a TCP connection to ip:8080 within a second."""
    try:
        socket.create_connection((ip, 8080), timeout=1).close()
    except OSError:
        return False
    return True


def tagged_lines(executor: NetnsExecutor, tag: str) -> list[str]:
    return [line for line in snapshot(executor).splitlines() if f'"{tag}"' in line]


@pytest.mark.parametrize(("mode", "fast"), [("reject", True), ("drop", False)])
def test_egress_partition_and_revert(run_target: RunTarget, mode: Mode, fast: bool) -> None:
    """reject refuses at once, drop times out; after removal the peer answers again."""
    client, server = run_target(), run_target()
    executor, tag = executor_of(client), tag_for(f"egress-{mode}")
    url = f"http://{ip_of(server)}:8080/"
    peer = Destination(f"{ip_of(server)}/32", 8080)
    apply_changes(executor, partition(tag, [peer], mode, "egress"))
    code, seconds = fetch(client, url)
    assert code != 0
    assert seconds < 1.0 if fast else seconds > 1.9
    report = remove_tagged(executor, tag)
    assert len(report.rules_removed["filter"]) == 1
    assert fetch(client, url)[0] == 0


def test_ingress_partition_cuts_the_host_off(run_target: RunTarget) -> None:
    """With the host's bridge address partitioned on ingress, it cannot connect, then can again."""
    target = run_target()
    executor, tag = executor_of(target), tag_for("ingress")
    gateway = target.attrs["NetworkSettings"]["Gateway"]
    assert host_connects(ip_of(target))
    apply_changes(executor, partition(tag, [Destination(f"{gateway}/32")], "reject", "ingress"))
    started = time.monotonic()
    assert not host_connects(ip_of(target))
    assert time.monotonic() - started < 0.5  # refused by a reset, not timed out
    remove_tagged(executor, tag)
    assert host_connects(ip_of(target))


def test_packet_loss_is_30_percent_then_none(run_target: RunTarget) -> None:
    """Echo replies to a peer are lost at 30 % (within 4 sigma of 400 pings), then not at all."""
    target, peer = run_target(), run_target()
    executor, tag = executor_of(target), tag_for("loss")
    apply_changes(executor, packet_loss(tag, [Destination(f"{ip_of(peer)}/32")], 30, "egress"))
    lost = PINGS - received(peer, ip_of(target), PINGS)
    print(f"lost {lost} of {PINGS} pings ({lost / PINGS:.1%})")
    assert abs(lost - PINGS * LOSS) <= 4 * math.sqrt(PINGS * LOSS * (1 - LOSS))
    remove_tagged(executor, tag)
    assert received(peer, ip_of(target), 100) == 100


def received(container: Container, ip: str, count: int) -> int:
    """How many of `count` pings from `container` to `ip` (10 ms apart) were answered."""
    _, output = container.exec_run(["ping", "-q", "-c", str(count), "-i", "0.01", "-W", "1", ip])
    found = re.search(rb"(\d+) packets received", output)
    assert found, output
    return int(found[1])


@pytest.mark.timing
def test_bandwidth_limits_responses_to_1_mbit(
    run_target: RunTarget, published_url: Callable[[Container], str]
) -> None:
    """A 250 kB response through the published port comes at 1 mbit/s within 20 %, then fast."""
    target = run_target()
    blocks = f"count={BIG_FILE_BYTES // 1000}"
    target.exec_run(["dd", "if=/dev/zero", "of=/www/big", "bs=1000", blocks])
    url = published_url(target) + "big"
    executor, tag = executor_of(target), tag_for("bandwidth")
    apply_changes(executor, [bandwidth(tag, "eth0", "1mbit")])
    shaped_s = download_s(url)
    print(f"1mbit: {BIG_FILE_BYTES * 8 / shaped_s / 1e6:.3f} mbit/s in {shaped_s:.2f} s")
    assert BIG_FILE_BYTES * 8 / shaped_s == pytest.approx(1e6, rel=0.2)
    assert remove_tagged(executor, tag).qdiscs_removed == ("eth0",)
    free_s = download_s(url)
    print(f"after removal: {free_s:.3f} s")
    assert free_s < shaped_s / 10


def download_s(url: str) -> float:
    started = time.monotonic()
    response = requests.get(url, timeout=10)
    assert len(response.content) == BIG_FILE_BYTES
    return time.monotonic() - started


def test_foreign_rules_survive_and_tags_stay_apart(run_target: RunTarget) -> None:
    """Rules and qdiscs of two attacks come off one by one; others' rules stay byte for byte."""
    target = run_target()
    executor = executor_of(target)
    executor.run(["iptables", *FOREIGN_FILTER])
    executor.run(["iptables", "-t", "nat", *FOREIGN_NAT])
    before = snapshot(executor)
    first, second = tag_for("first"), tag_for("second")
    shaped = bandwidth(first, "eth0", "5mbit")
    changes = [*partition(first, None, "drop", "both"), *redirect(first, Reach(), 15000, 0xC4A0)]
    apply_changes(executor, [*changes, shaped])
    apply_changes(executor, packet_loss(second, [Destination("10.9.0.0/16", 80)], 5, "ingress"))
    assert len(tagged_lines(executor, first)) == 3
    report = remove_tagged(executor, first)
    assert (len(report.rules_removed["filter"]), len(report.rules_removed["nat"])) == (2, 1)
    assert report.qdiscs_removed == ("eth0",)
    assert tagged_lines(executor, first) == []
    assert len(tagged_lines(executor, second)) == 1
    remove_tagged(executor, second)
    assert snapshot(executor) == before


def test_removal_after_restart_and_after_removal(run_target: RunTarget) -> None:
    """A restarted container has a new namespace, a removed one none: reports, no exceptions."""
    target = run_target()
    old, tag = executor_of(target), tag_for("restarted")
    apply_changes(old, partition(tag, None, "reject", "egress"))
    target.restart(timeout=0)
    report = remove_tagged(old, tag)
    assert report.namespace_gone
    assert report.rules_removed == {}
    new = executor_of(target)  # the kernel may reuse the namespace's inode: the pid differs
    assert new.pid != old.pid
    assert not remove_tagged(new, tag).namespace_gone
    assert tagged_lines(new, tag) == []
    target.remove(force=True)
    assert remove_tagged(new, tag).namespace_gone
    with pytest.raises(TargetGone):
        new.run(["iptables-save"])


def test_bandwidth_refuses_a_foreign_qdisc_and_rolls_back(run_target: RunTarget) -> None:
    """Over a qdisc it did not create, nothing is changed; rules applied before it come off.

    Only the filter table, which our first rule created, stays: empty, with ACCEPT policies.
    """
    target = run_target()
    executor, tag = executor_of(target), tag_for("refused")
    executor.run(["tc", "qdisc", "add", "dev", "eth0", "root", "handle", "1:", "tbf",
                  "rate", "5mbit", "burst", "16kb", "latency", "50ms"])
    before = snapshot(executor)
    changes = [*partition(tag, None, "drop", "egress"), bandwidth(tag, "eth0", "1mbit")]
    with pytest.raises(ForeignQdisc, match=r"eth0 .* already has root qdisc tbf 1:"):
        apply_changes(executor, changes)
    assert snapshot(executor) == EMPTY_FILTER + before


def test_the_hosts_own_namespace_is_refused() -> None:
    """Our own process's namespace is the host's here: nothing runs in it."""
    with pytest.raises(HostNamespaceRefused, match="host's network namespace"):
        NetnsExecutor(os.getpid()).run(["iptables-save"])
