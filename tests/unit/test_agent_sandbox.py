"""The node agent finds a pod's processes by the pod uid in their cgroup paths, in the kubelet's
cgroupfs and systemd layouts, and takes the oldest (the sandbox) as the namespace holder."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from chaosmonkey.agent.faults import FaultRequest
from chaosmonkey.agent.sandbox import check_uid, in_pod, pod_pids, sandbox_pid
from chaosmonkey.errors import TargetGone
from chaosmonkey.netfaults.rules import IptablesRule

UID = "1b2c3d4e-aaaa-bbbb-cccc-1234567890ab"
OTHER = "1b2c3d4e-aaaa-bbbb-cccc-1234567890ac"
CGROUPFS_V1 = "\n".join(
    f"{n}:{c}:/kubepods/besteffort/pod{UID}/c9eb42950365"
    for n, c in [(9, "name=systemd"), (4, "memory"), (1, "cpu")]
)
CGROUPFS_GUARANTEED = f"0::/kubepods/pod{UID}/0f3a"
SYSTEMD_V2 = (
    "0::/kubepods.slice/kubepods-burstable.slice/"
    f"kubepods-burstable-pod{UID.replace('-', '_')}.slice/cri-containerd-0f3a.scope"
)
SYSTEMD_GUARANTEED = f"0::/kubepods.slice/kubepods-pod{UID.replace('-', '_')}.slice/crio-0f3a.scope"


@pytest.mark.parametrize(
    "cgroup",
    [CGROUPFS_V1, CGROUPFS_GUARANTEED, SYSTEMD_V2, SYSTEMD_GUARANTEED],
    ids=["cgroupfs-v1", "cgroupfs-guaranteed", "systemd-v2", "systemd-guaranteed"],
)
def test_pod_cgroup_layouts_are_recognised(cgroup: str) -> None:
    """Each layout the kubelet makes puts the process in its pod, and in no other pod."""
    assert in_pod(cgroup, UID)
    assert not in_pod(cgroup, OTHER)


@pytest.mark.parametrize(
    "cgroup",
    [
        "0::/",
        "4:memory:/docker/0f3a",
        f"0::/system.slice/pod{UID}-backup.service",  # the uid inside another name
        f"0::/kubepods/besteffort/pod{UID}x/0f3a",  # a longer name
    ],
)
def test_other_cgroups_are_not_the_pod(cgroup: str) -> None:
    """The host, Docker containers, and names that merely contain the uid do not match."""
    assert not in_pod(cgroup, UID)


def fake_proc(root: Path, processes: dict[int, tuple[str, int]]) -> Path:
    """A /proc with `pid -> (cgroup text, start ticks)`, as the kernel writes the files."""
    for pid, (cgroup, start) in processes.items():
        (root / str(pid)).mkdir()
        (root / str(pid) / "cgroup").write_text(cgroup + "\n")
        fields = ["S", *["0"] * 18, str(start), "0"]  # field 22 of stat is the start time
        (root / str(pid) / "stat").write_text(f"{pid} (some (odd) name) {' '.join(fields)}\n")
    (root / "self").mkdir()
    return root


def test_the_oldest_process_of_the_pod_is_its_sandbox(tmp_path: Path) -> None:
    """Pids of the pod come oldest first, whatever their numbers; others are left out."""
    proc = fake_proc(
        tmp_path,
        {
            300: (CGROUPFS_V1, 500),  # an app container, restarted later
            40: ("0::/", 10),  # the host
            250: (CGROUPFS_V1.replace("c9eb42950365", "pause0"), 200),  # the sandbox
            260: (CGROUPFS_V1.replace(UID, OTHER), 100),  # another pod
        },
    )
    assert pod_pids(UID, proc) == [250, 300]
    assert sandbox_pid(UID, proc) == 250


def test_a_pod_without_processes_here_is_gone(tmp_path: Path) -> None:
    """No process of the pod on this node: TargetGone, which the agent answers as 404."""
    proc = fake_proc(tmp_path, {40: ("0::/", 10)})
    with pytest.raises(TargetGone, match=f"pod {UID} has no process on this node"):
        sandbox_pid(UID, proc)


def test_uids_are_checked_and_lowered() -> None:
    """A uid is a UUID; anything else (a path, say) is refused before /proc is read."""
    assert check_uid(UID.upper()) == UID
    with pytest.raises(ValueError, match="expected a UUID"):
        check_uid("../1")


def test_fault_requests_build_the_rules_the_monkey_recorded() -> None:
    """The agent makes the rules from the fault's spec with the planner the monkey uses: a
    partition of one peer, tagged, with the deadline on the agent's clock."""
    request = FaultRequest.model_validate(
        {
            "pod_uid": UID,
            "tag": "chaosmonkey:a1",
            "duration_s": 5.0,
            "fault": {"type": "partition", "duration": "4s"},
            "peers": [{"cidr": "10.0.0.7/32", "port": 5432}],
        }
    )
    spec = request.keeper_spec(now=1000.0)
    assert spec.deadline == 1005.0
    assert [change.tag for change in spec.changes] == ["chaosmonkey:a1"]
    (rule,) = spec.changes
    assert isinstance(rule, IptablesRule)
    assert (rule.table, rule.chain) == ("filter", "OUTPUT")
    assert rule.spec[:6] == ("-d", "10.0.0.7/32", "-p", "tcp", "--dport", "5432")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("tag", "other:a1", "must start with 'chaosmonkey:'"),
        ("pod_uid", "x", "expected a UUID"),
        ("duration_s", 10**6, "less than or equal to 86400"),
        ("fault", {"type": "kill"}, "expected a network fault, got a kill fault"),
        ("peers", [{"cidr": "::1/128"}], "expected an IPv4 network"),
    ],
)
def test_fault_requests_are_refused_when_malformed(field: str, value: object, message: str) -> None:
    """Only a policy's network faults, tagged by the monkey, bounded in time, on IPv4 peers."""
    body = {
        "pod_uid": UID,
        "tag": "chaosmonkey:a1",
        "duration_s": 5.0,
        "fault": {"type": "partition"},
        field: value,
    }
    with pytest.raises(ValidationError, match=message):
        FaultRequest.model_validate(body)
