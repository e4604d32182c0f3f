"""At start, the agent finds every pod's sandbox on its node and removes from each namespace
what chaosmonkey left there without a live keeper: tagged rules, and tbf qdiscs in its handle
range; foreign rules and qdiscs, and live keepers' faults, stay."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from chaosmonkey.agent.orphans import remove_orphans_in
from chaosmonkey.agent.sandbox import pod_of, sandboxes
from chaosmonkey.netfaults.keeper import MODULE, KeeperSpec
from chaosmonkey.netfaults.rules import delete_argv, handle_for, in_our_handles, tag_of
from tests.unit.test_agent_sandbox import CGROUPFS_V1, OTHER, SYSTEMD_V2, UID, fake_proc

DEAD, LIVE = "chaosmonkey:dead1", "chaosmonkey:live1"
FOREIGN = "-A INPUT -p udp -m udp --dport 9 -m comment --comment someone-else -j ACCEPT"
SAVED = f"""*filter
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT ! -i lo -p tcp -m comment --comment {DEAD} -j REJECT --reject-with tcp-reset
-A OUTPUT -d 10.0.0.7/32 -m comment --comment {LIVE} -j DROP
{FOREIGN}
COMMIT
"""


class Namespace:
    """An `Executor` over iptables-save text and root qdiscs; deletes change them."""

    name = "the network namespace of pid 42"

    def __init__(self, saved: str, qdiscs: dict[str, tuple[str, str]]) -> None:
        self.saved, self.qdiscs = saved, qdiscs  # device -> (kind, handle)

    def run(self, argv: Sequence[str], timeout_s: float = 5.0) -> str:
        if argv[0] == "iptables-save":
            return self.saved
        if list(argv[:3]) == ["tc", "qdisc", "show"]:
            return "".join(
                f"qdisc {kind} {handle} dev {device} root refcnt 2\n"
                for device, (kind, handle) in self.qdiscs.items()
            )
        if list(argv[:3]) == ["tc", "qdisc", "del"]:
            device, handle = argv[4], argv[7]
            assert self.qdiscs[device][1] == handle  # the kernel checks the handle
            self.qdiscs[device] = ("noqueue", "0:")
            return ""
        lines = self.saved.splitlines()
        gone = next(line for line in lines if line.startswith("-A ")
                    and delete_argv(argv[4], line) == list(argv))
        self.saved = "\n".join(line for line in lines if line is not gone) + "\n"
        return ""


def with_keeper(proc: Path, pid: int, tag: str) -> None:
    """A live keeper of `tag` in the fake /proc, its spec in its command line."""
    (proc / str(pid)).mkdir()
    argv = ["python", "-m", MODULE, KeeperSpec(tag, 0.0).to_json()]
    (proc / str(pid) / "cmdline").write_bytes("\0".join(argv).encode() + b"\0")


def test_only_faults_without_a_live_keeper_are_removed(tmp_path: Path) -> None:
    """The dead tag's rule and an untagged tbf of ours go, each logged with the pod; the live
    tag's rule and qdisc, a foreign rule and a foreign tbf (handle 1:) stay as they were."""
    with_keeper(tmp_path, 700, LIVE)
    untagged = "4001:" if handle_for(LIVE) != "4001:" else "4002:"
    namespace = Namespace(SAVED, {
        "eth0": ("tbf", untagged), "eth1": ("tbf", handle_for(LIVE)), "eth2": ("tbf", "1:"),
    })
    with capture_logs() as logs:
        assert remove_orphans_in(namespace, UID, tmp_path) == 2
    assert DEAD not in namespace.saved
    assert f"--comment {LIVE}" in namespace.saved
    assert FOREIGN in namespace.saved.splitlines()
    assert namespace.qdiscs == {
        "eth0": ("noqueue", "0:"), "eth1": ("tbf", handle_for(LIVE)), "eth2": ("tbf", "1:"),
    }
    removed = [(log["pod_uid"], log["tag"]) for log in logs if log["event"] == "orphan_removed"]
    assert removed == [(UID, DEAD), (UID, None)]


def test_a_clean_namespace_is_left_alone(tmp_path: Path) -> None:
    """Nothing of ours: nothing removed, nothing logged."""
    namespace = Namespace(SAVED.replace(DEAD, "other").replace(LIVE, "x"), {"eth0": ("tbf", "1:")})
    with capture_logs() as logs:
        assert remove_orphans_in(namespace, UID, tmp_path) == 0
    assert logs == []


def test_every_pods_sandbox_is_its_oldest_process(tmp_path: Path) -> None:
    """One sandbox per pod uid, in either cgroup layout; processes outside pods are not pods."""
    proc = fake_proc(tmp_path, {
        300: (CGROUPFS_V1, 500),
        250: (CGROUPFS_V1.replace("c9eb42950365", "pause0"), 200),
        260: (SYSTEMD_V2.replace(UID.replace("-", "_"), OTHER.replace("-", "_")), 100),
        40: ("0::/", 10),
    })
    assert sandboxes(proc) == {UID: 250, OTHER: 260}
    assert pod_of("4:memory:/docker/0f3a") is None


def test_tags_and_handles_of_ours_are_recognised() -> None:
    """A rule's tag is its chaosmonkey comment; our handles are 4000-6fff, as handle_for gives."""
    assert tag_of(SAVED.splitlines()[3]) == DEAD
    assert tag_of(FOREIGN) is None
    assert tag_of('-A INPUT -m comment --comment "chaosmonkey:bad id" -j DROP') is None
    assert in_our_handles(handle_for(DEAD))
    assert [in_our_handles(h) for h in ("4000:", "6fff:", "7000:", "1:", "0:", "x:")] == [
        True, True, False, False, False, False]


@pytest.mark.parametrize("handle", ["3fff:", "8001:"])
def test_qdiscs_outside_our_range_are_foreign(tmp_path: Path, handle: str) -> None:
    """A tbf with a handle outside our range is someone else's, even with no live keeper."""
    namespace = Namespace("*filter\nCOMMIT\n", {"eth0": ("tbf", handle)})
    assert remove_orphans_in(namespace, UID, tmp_path) == 0
    assert namespace.qdiscs == {"eth0": ("tbf", handle)}
