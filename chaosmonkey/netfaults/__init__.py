"""Network faults inside a target's network namespace, exactly and reversibly.

`rules` builds the iptables rules and the tc qdisc of a fault (pure), `netns` runs commands in a
namespace, `apply` applies changes and removes exactly those carrying one attack's tag.

    executor = NetnsExecutor(pid)                     # pins the namespace of the container's pid
    tag = tag_for(attack_id)
    peers = [Destination("172.17.0.3/32", 8080)]
    apply_changes(executor, partition(tag, peers, "reject", "egress"))
    report = remove_tagged(executor, tag)             # later, possibly from another process
"""

from chaosmonkey.netfaults.apply import (
    ForeignQdisc,
    RemovalReport,
    apply_changes,
    remove_tagged,
    snapshot,
)
from chaosmonkey.netfaults.destinations import Destination
from chaosmonkey.netfaults.netns import (
    CommandFailed,
    Executor,
    HostNamespaceRefused,
    NetnsExecutor,
    namespace_of,
)
from chaosmonkey.netfaults.rules import (
    Change,
    Direction,
    IptablesRule,
    Mode,
    Qdisc,
    Reach,
    bandwidth,
    packet_loss,
    parse_rate,
    partition,
    probability,
    redirect,
    tag_for,
)

__all__ = [
    "Change",
    "CommandFailed",
    "Destination",
    "Direction",
    "Executor",
    "ForeignQdisc",
    "HostNamespaceRefused",
    "IptablesRule",
    "Mode",
    "NetnsExecutor",
    "Qdisc",
    "Reach",
    "RemovalReport",
    "apply_changes",
    "bandwidth",
    "namespace_of",
    "packet_loss",
    "parse_rate",
    "partition",
    "probability",
    "redirect",
    "remove_tagged",
    "snapshot",
    "tag_for",
]
