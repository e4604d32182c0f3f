"""Pure builders of the exact iptables and tc commands a network fault needs, and their parsers.

Every iptables rule carries `-m comment --comment chaosmonkey:<attack id>`: the tag is how we find,
later and from another process, exactly the rules one attack owns. A qdisc cannot carry a comment,
so its handle is derived from the tag instead (`handle_for`).

Packet loss and partition speak of packets: egress rules match what the target sends, ingress
rules what it receives. Redirection and shaping speak of connections (`Reach`): egress, those the
target opens; ingress, those opened to it (conntrack tells them apart: `--ctdir`).

Ports: egress rules match the peer's port (`--dport`). Ingress rules match packets coming FROM the
peer's port (`--sport`): an ingress partition from `db:5432` cuts the replies of the database we
talk to. Peers connecting to a port of ours are matched by giving no port (all their traffic).
Only IPv4 (iptables, not ip6tables). Loopback (`lo`) is never affected unless a destination lies
inside 127.0.0.0/8: rules for all traffic, or for a network that contains 127.0.0.0/8, exclude it.
"""

from __future__ import annotations

import ipaddress
import itertools
import re
import shlex
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

from chaosmonkey.netfaults.destinations import Destination

TAG_PREFIX = "chaosmonkey:"
DRAIN_PREFIX = "chaosmonkey-drain:"
LOOPBACK = ipaddress.IPv4Network("127.0.0.0/8")
IPTABLES = ("iptables", "-w", "2")  # -w: wait for the xtables lock (legacy backend; nft ignores it)

Mode = Literal["reject", "drop"]
Direction = Literal["egress", "ingress", "both"]

_ATTACK_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_RATE = re.compile(r"(?P<value>\d+(?:\.\d+)?)(?P<unit>[kmg]?bit|[kmg]?bps)")
_RATE_BITS = {"bit": 1, "kbit": 10**3, "mbit": 10**6, "gbit": 10**9,  # tc's units are SI
              "bps": 8, "kbps": 8 * 10**3, "mbps": 8 * 10**6, "gbps": 8 * 10**9}  # bps: bytes/s
_DEVICE = re.compile(r"[A-Za-z0-9_.:@-]{1,15}")
_COUNTERS = re.compile(r"\s*\[\d+:\d+\]$")
_MIN_BURST_BYTES = 16 * 1024
_GSO_MAX_BYTES = 64 * 1024
_HANDLES = range(0x4000, 0x7000)  # qdisc majors of ours
_MAX_PORTS = 15  # what one multiport match takes


def tag_for(attack_id: str) -> str:
    """`chaosmonkey:<attack_id>`; the id is 1-64 of [A-Za-z0-9_.-] so it needs no quoting."""
    if not _ATTACK_ID.fullmatch(attack_id):
        raise ValueError(f"attack id {attack_id!r} must be 1-64 characters of [A-Za-z0-9_.-]")
    return TAG_PREFIX + attack_id


def check_tag(tag: str) -> str:
    """The tag itself, once it is known to be one `tag_for` makes."""
    if not tag.startswith(TAG_PREFIX):
        raise ValueError(f"tag {tag!r} must start with {TAG_PREFIX!r}")
    return tag_for(tag.removeprefix(TAG_PREFIX))


@dataclass(frozen=True)
class IptablesRule:
    """One rule of ours: inserted at the top of a standard chain, so that it takes effect."""

    tag: str
    table: str
    chain: str
    spec: tuple[str, ...]

    def insert_argv(self, position: int = 1) -> list[str]:
        return [*IPTABLES, "-t", self.table, "-I", self.chain, str(position), *self.spec]

    def delete_argv(self) -> list[str]:
        return [*IPTABLES, "-t", self.table, "-D", self.chain, *self.spec]


@dataclass(frozen=True)
class Qdisc:
    """Our root qdisc on `device`, under the handle of our tag: a token bucket (tbf) for all that
    leaves it, or (`classified`) an htb whose one class has the rate, for the packets our rules
    put in it (iptables CLASSIFY), the others passing straight through (htb's default 0)."""

    tag: str
    device: str
    rate: str
    burst_bytes: int
    limit_bytes: int
    classified: bool = False

    @property
    def handle(self) -> str:
        return handle_for(self.tag)

    @property
    def shaped_class(self) -> str:
        return self.handle + "1"

    def add_argvs(self) -> list[list[str]]:
        root = ["tc", "qdisc", "add", "dev", self.device, "root", "handle", self.handle]
        if not self.classified:
            return [[*root, "tbf", "rate", self.rate, "burst", str(self.burst_bytes),
                     "limit", str(self.limit_bytes)]]
        return [[*root, "htb"],
                ["tc", "class", "add", "dev", self.device, "parent", self.handle,
                 "classid", self.shaped_class, "htb", "rate", self.rate,
                 "burst", str(self.burst_bytes)]]


Change = IptablesRule | Qdisc


# --- builders ----------------------------------------------------------------------------------


def partition(
    tag: str, destinations: Sequence[Destination] | None, mode: Mode, direction: Direction
) -> list[IptablesRule]:
    """Cut traffic with `destinations` (None or empty: all but loopback), in order of evaluation.

    reject answers TCP with a reset and anything else with ICMP port unreachable, so callers fail
    at once; drop lets them time out.
    """
    if mode not in ("reject", "drop"):
        raise ValueError(f"partition mode {mode!r} must be 'reject' or 'drop'")
    rules = []
    for peer in _peers(destinations, direction):
        for matches, target in _partition_specs(peer, mode):
            rules.append(_rule(tag, "filter", peer.chain, matches, target))
    return rules


def packet_loss(
    tag: str, destinations: Sequence[Destination] | None, percent: float, direction: Direction
) -> list[IptablesRule]:
    """Drop `percent` % of the packets with `destinations`, independently at random."""
    loss = ["-m", "statistic", "--mode", "random", "--probability", probability(percent)]
    return [
        _rule(tag, "filter", peer.chain, [*peer.address, *peer.tcp_port, *loss], ["-j", "DROP"])
        for peer in _peers(destinations, direction)
    ]


@dataclass(frozen=True)
class Reach:
    """Which TCP connections a fault reaches: those the target opens (`egress`: to the
    destinations, or to anyone), those opened to it (`ingress`: from the destinations' addresses,
    or from anyone, to `ports` of its own, or to any), or both."""

    destinations: Sequence[Destination] = ()
    direction: Direction = "egress"
    ports: Sequence[int] = ()

    def __post_init__(self) -> None:
        if self.direction not in ("egress", "ingress", "both"):
            raise ValueError(f"direction {self.direction!r} must be 'egress', 'ingress' or 'both'")
        if len(self.ports) > _MAX_PORTS or not all(1 <= port <= 65535 for port in self.ports):
            raise ValueError(f"ports {list(self.ports)} must be 1-{_MAX_PORTS} ports in 1-65535")

    @property
    def egress(self) -> bool:
        return self.direction in ("egress", "both")

    @property
    def ingress(self) -> bool:
        return self.direction in ("ingress", "both")


def redirect(
    tag: str, reach: Reach, to_port: int, exempt_mark: int
) -> list[IptablesRule]:
    """Send the TCP connections `reach` names to a port of the namespace (its fault proxy):
    those the target opens from nat OUTPUT (to 127.0.0.1), those opened to it from PREROUTING
    (to the address they came in on). Only their opening packets (`--syn`) are matched: the
    nat table, once there, makes the kernel track connections it did not see open, and a
    mid-stream packet redirected to the proxy would be answered with a reset. Connections
    open before the fault keep their way.

    The proxy marks its own upstream sockets with SO_MARK `exempt_mark`, which are not redirected.
    """
    if not 1 <= to_port <= 65535:
        raise ValueError(f"redirect port {to_port} is not in 1-65535")
    if not 1 <= exempt_mark <= 0xFFFFFFFF:
        raise ValueError(f"exempt mark {exempt_mark} is not in 1-0xffffffff")
    mark = ["-m", "mark", "!", "--mark", hex(exempt_mark)]
    target = ["-j", "REDIRECT", "--to-ports", str(to_port)]
    rules = []
    if reach.egress:
        rules += [
            _rule(tag, "nat", "OUTPUT", ["-p", "tcp", *peer.address, *peer.port, "--syn", *mark],
                  target)
            for peer in _peers(reach.destinations, "egress")
        ]
    if reach.ingress:
        served = _served_ports(reach.ports, "--dport") or ["-p", "tcp", "!", "--dport",
                                                           str(to_port)]
        rules += [
            _rule(tag, "nat", "PREROUTING", [*_source(dest), "!", "-i", "lo", *served, "--syn"],
                  target)
            for dest in _each(reach.destinations)
        ]
    return rules


def drain_rules(tag: str, rules: Sequence[Change], to_port: int) -> list[IptablesRule]:
    """Inert redirects (of the proxy's own port to itself), one per nat chain of `rules`: the
    kernel stops translating connections already redirected once the last REDIRECT of the
    namespace is gone, so these stay while such connections finish. Their comment is not a
    tag (`chaosmonkey-drain:`): the fault's revert leaves them to the keeper that drains."""
    comment = ["-m", "comment", "--comment", DRAIN_PREFIX + check_tag(tag).removeprefix(TAG_PREFIX)]
    target = ["-j", "REDIRECT", "--to-ports", str(to_port)]
    matches = {"PREROUTING": ["-p", "tcp", "--dport", str(to_port)],
               "OUTPUT": ["-d", "127.0.0.1/32", "-p", "tcp", "--dport", str(to_port)]}
    nat = [rule for rule in rules if isinstance(rule, IptablesRule) and rule.table == "nat"]
    chains = dict.fromkeys(rule.chain for rule in nat)
    return [IptablesRule(tag, "nat", chain, (*matches[chain], *comment, *target))
            for chain in chains if chain in matches]


def shaping(tag: str, device: str, rate: str, reach: Reach | None) -> list[Change]:
    """Cap what the target sends on the connections `reach` names at `rate`, on `device`: an htb
    of ours, and CLASSIFY rules that put those packets in its class (None: all, with a tbf)."""
    if reach is None:
        return [bandwidth(tag, device, rate)]
    qdisc = replace(bandwidth(tag, device, rate), classified=True)
    into = ["-j", "CLASSIFY", "--set-class", qdisc.shaped_class]
    out = ["-o", device]
    rules: list[Change] = []
    if reach.egress:
        for dest in _each(reach.destinations):
            to = ["-d", dest.cidr] if dest else []
            port = ["-p", "tcp", "--dport", str(dest.port)] if dest and dest.port else []
            rules.append(_rule(tag, "mangle", "POSTROUTING",
                               [*to, *out, *port, *_ctdir("ORIGINAL")], into))
    if reach.ingress:
        for dest in _each(reach.destinations):
            to = ["-d", dest.cidr] if dest else []
            served = _served_ports(reach.ports, "--sport")
            rules.append(_rule(tag, "mangle", "POSTROUTING",
                               [*to, *out, *served, *_ctdir("REPLY")], into))
    return [qdisc, *rules]


def bandwidth(tag: str, device: str, rate: str) -> Qdisc:
    """Limit what leaves `device` to `rate` (tc units: 500kbit, 10mbit, 1mbps...)."""
    if not _DEVICE.fullmatch(device):
        raise ValueError(f"network device {device!r} is not a valid interface name")
    burst = burst_bytes(parse_rate(rate))
    return Qdisc(check_tag(tag), device, rate, burst, limit_bytes(parse_rate(rate), burst))


def probability(percent: float) -> str:
    """`percent` as the probability iptables' statistic match takes, with 4 decimals."""
    text = f"{percent / 100:.4f}"
    if not 0 < percent <= 100 or text == "0.0000":
        raise ValueError(f"packet loss {percent} % must be in 0.005-100")
    return text


def parse_rate(rate: str) -> int:
    """A tc rate (`1mbit`, `500kbit`, `2mbps`...) in bits per second; mbit is 10**6 bits."""
    found = _RATE.fullmatch(rate)
    if not found or float(found["value"]) <= 0:
        raise ValueError(f"rate {rate!r} must be a positive number with a unit among "
                         f"{', '.join(_RATE_BITS)} (for example 1mbit)")
    return round(float(found["value"]) * _RATE_BITS[found["unit"]])


def burst_bytes(rate_bits: int) -> int:
    """The bucket's size: 20 ms of the rate, at least 16 KiB (over the MTU, and a GSO burst)."""
    return max(rate_bits // 8 // 50, _MIN_BURST_BYTES)


def limit_bytes(rate_bits: int, burst: int) -> int:
    """The queue: 50 ms of the rate, but room for a burst and a 64 KiB GSO packet at least.

    With `latency 50ms` alone (6 kB at 1 mbit) tbf drops most of each segmented GSO packet:
    transfers slowed by TCP timeouts, one stalled 60 s in 5 tries; this limit made it exact.
    """
    return max(rate_bits // 8 // 20, burst + _GSO_MAX_BYTES)


def _served_ports(ports: Sequence[int], flag: Literal["--dport", "--sport"]) -> list[str]:
    """`-p tcp` and the match of our own ports (several: multiport), or nothing for any port."""
    if not ports:
        return []
    if len(ports) == 1:
        return ["-p", "tcp", flag, str(ports[0])]
    return ["-p", "tcp", "-m", "multiport", flag + "s", ",".join(map(str, ports))]


def _each(destinations: Sequence[Destination]) -> Sequence[Destination | None]:
    """The destinations, or None alone: any address."""
    return destinations or [None]


def _source(dest: Destination | None) -> list[str]:
    return ["-s", dest.cidr] if dest else []


def _ctdir(way: Literal["ORIGINAL", "REPLY"]) -> list[str]:
    """Packets going the way their connection was opened (ORIGINAL) or back (REPLY)."""
    return ["-m", "conntrack", "--ctdir", way]


def handle_for(tag: str) -> str:
    """Our qdisc handle for a tag: major 4000-6fff, below the kernel's automatic 8000 and up."""
    return f"{_HANDLES.start + zlib.crc32(tag.encode()) % len(_HANDLES):x}:"


def in_our_handles(handle: str) -> bool:
    """Whether a qdisc handle (`4a1f:`) lies in the range `handle_for` gives our tags."""
    major = handle.removesuffix(":")
    return re.fullmatch(r"[0-9a-f]{1,4}", major) is not None and int(major, 16) in _HANDLES


# --- parsing what the namespace says ------------------------------------------------------------


def parse_save(text: str) -> dict[str, list[str]]:
    """iptables-save output -> {table: its chain and rule lines}, without comments or COMMIT."""
    tables: dict[str, list[str]] = {}
    lines: list[str] = []
    for line in text.splitlines():
        if line.startswith("*"):
            lines = tables.setdefault(line[1:].strip(), [])
        elif line and not line.startswith("#") and line != "COMMIT":
            lines.append(line)
    return tables


def is_tagged(line: str, tag: str) -> bool:
    """Whether a saved rule carries exactly `tag` as its comment (never a longer tag)."""
    return tag in _comments(line)


def tag_of(line: str) -> str | None:
    """The chaosmonkey tag a saved rule carries as its comment, if any."""
    for comment in _comments(line):
        try:
            return check_tag(comment)
        except ValueError:
            continue
    return None


def _comments(line: str) -> list[str]:
    """The comments of a saved `-A` rule line."""
    if not line.startswith("-A "):
        return []
    try:
        words = shlex.split(line)
    except ValueError:  # a foreign rule shlex cannot read: ours always can
        return []
    return [b for a, b in itertools.pairwise(words) if a == "--comment"]


def delete_argv(table: str, line: str) -> list[str]:
    """The `iptables -D` that deletes the rule an iptables-save `-A CHAIN ...` line shows."""
    words = shlex.split(line)
    if len(words) < 2 or words[0] != "-A":
        raise ValueError(f"not a rule line of iptables-save: {line!r}")
    return [*IPTABLES, "-t", table, "-D", *words[1:]]


def strip_counters(line: str) -> str:
    """`:INPUT ACCEPT [12:345]` -> `:INPUT ACCEPT`: counters change, rules do not."""
    return _COUNTERS.sub("", line)


# --- helpers -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Peer:
    """What matches one destination in one direction: its chain, address and port matches."""

    chain: str
    address: list[str]  # [-d|-s cidr] [! -o|-i lo]
    port: list[str]  # [--dport|--sport port], only after `-p tcp`

    @property
    def tcp_port(self) -> list[str]:
        return ["-p", "tcp", *self.port] if self.port else []


def _peers(destinations: Sequence[Destination] | None, direction: Direction) -> list[_Peer]:
    if direction not in ("egress", "ingress", "both"):
        raise ValueError(f"direction {direction!r} must be 'egress', 'ingress' or 'both'")
    ways = [True, False] if direction == "both" else [direction == "egress"]
    return [_peer(egress, dest) for egress in ways for dest in _each(destinations or ())]


def _peer(egress: bool, dest: Destination | None) -> _Peer:
    chain, address, interface, port_flag = (
        ("OUTPUT", "-d", "-o", "--dport") if egress else ("INPUT", "-s", "-i", "--sport")
    )
    match = [address, dest.cidr] if dest else []
    if dest is None or _spares_loopback(dest):
        match += ["!", interface, "lo"]
    port = [port_flag, str(dest.port)] if dest and dest.port else []
    return _Peer(chain, match, port)


def _partition_specs(peer: _Peer, mode: Mode) -> list[tuple[list[str], list[str]]]:
    """(matches, target) of the rules for one peer."""
    if mode == "drop":
        return [([*peer.address, *peer.tcp_port], ["-j", "DROP"])]
    reset = [*peer.address, "-p", "tcp", *peer.port]
    rejects = ["-j", "REJECT", "--reject-with"]
    if peer.port:
        return [(reset, [*rejects, "tcp-reset"])]
    return [(reset, [*rejects, "tcp-reset"]), (peer.address, [*rejects, "icmp-port-unreachable"])]


def _rule(tag: str, table: str, chain: str, matches: list[str], target: list[str]) -> IptablesRule:
    """The rule with our comment between its matches and its target, as iptables-save shows it."""
    comment = ["-m", "comment", "--comment", check_tag(tag)]
    return IptablesRule(tag, table, chain, (*matches, *comment, *target))


def _spares_loopback(dest: Destination) -> bool:
    """Whether rules for `dest` must exclude `lo`: it contains loopback, but not explicitly."""
    try:
        network = ipaddress.ip_network(dest.cidr, strict=True)
    except ValueError as error:
        raise ValueError(f"destination {dest.cidr!r}: {error}") from None
    if network.version != 4:
        raise ValueError(f"destination {dest.cidr}: only IPv4 networks are supported")
    if dest.port is not None and not 1 <= dest.port <= 65535:
        raise ValueError(f"destination {dest.cidr}: port {dest.port} is not in 1-65535")
    return network.overlaps(LOOPBACK) and not network.subnet_of(LOOPBACK)
