"""The exact iptables and tc commands of network faults, and how saved rules are read back."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from chaosmonkey.errors import RevertFailedError
from chaosmonkey.netfaults.apply import remove_tagged, root_qdiscs
from chaosmonkey.netfaults.destinations import Destination
from chaosmonkey.netfaults.netns import CommandFailed
from chaosmonkey.netfaults.rules import (
    IptablesRule,
    Qdisc,
    Reach,
    bandwidth,
    burst_bytes,
    delete_argv,
    handle_for,
    is_tagged,
    limit_bytes,
    packet_loss,
    parse_rate,
    parse_save,
    partition,
    probability,
    redirect,
    shaping,
    strip_counters,
    tag_for,
)

TAG = tag_for("abc")
COMMENT = ("-m", "comment", "--comment", "chaosmonkey:abc")
DB = Destination("10.1.0.0/16", 5432)
PEER = Destination("172.17.0.3/32")
RESET = ("-j", "REJECT", "--reject-with", "tcp-reset")
UNREACHABLE = ("-j", "REJECT", "--reject-with", "icmp-port-unreachable")


def specs(rules: list[IptablesRule]) -> list[tuple[str, str, tuple[str, ...]]]:
    """(table, chain, spec) of each rule, in order."""
    return [(rule.table, rule.chain, rule.spec) for rule in rules]


def test_reject_egress_with_a_port_resets_tcp_only() -> None:
    """With a port only TCP is matched, so one tcp-reset rule is enough."""
    assert specs(partition(TAG, [DB], "reject", "egress")) == [
        ("filter", "OUTPUT", ("-d", "10.1.0.0/16", "-p", "tcp", "--dport", "5432", *COMMENT,
                              *RESET)),
    ]


def test_reject_without_a_port_answers_tcp_and_everything_else() -> None:
    """TCP gets a reset first; other protocols an ICMP port unreachable."""
    assert specs(partition(TAG, [PEER], "reject", "egress")) == [
        ("filter", "OUTPUT", ("-d", "172.17.0.3/32", "-p", "tcp", *COMMENT, *RESET)),
        ("filter", "OUTPUT", ("-d", "172.17.0.3/32", *COMMENT, *UNREACHABLE)),
    ]


def test_drop_ingress_with_a_port_matches_the_peers_source_port() -> None:
    """Ingress from db:5432 are packets coming from port 5432 of the database."""
    assert specs(partition(TAG, [DB], "drop", "ingress")) == [
        ("filter", "INPUT", ("-s", "10.1.0.0/16", "-p", "tcp", "--sport", "5432", *COMMENT,
                             "-j", "DROP")),
    ]


def test_both_directions_give_egress_then_ingress_rules() -> None:
    """`both` is the egress rules followed by the ingress rules, per destination."""
    rules = partition(TAG, [PEER, DB], "drop", "both")
    assert [(rule.chain, rule.spec[:2]) for rule in rules] == [
        ("OUTPUT", ("-d", "172.17.0.3/32")),
        ("OUTPUT", ("-d", "10.1.0.0/16")),
        ("INPUT", ("-s", "172.17.0.3/32")),
        ("INPUT", ("-s", "10.1.0.0/16")),
    ]


@pytest.mark.parametrize("destinations", [None, []])
def test_all_traffic_spares_loopback(destinations: list[Destination] | None) -> None:
    """Without destinations every rule excludes lo, in each direction."""
    assert specs(partition(TAG, destinations, "drop", "both")) == [
        ("filter", "OUTPUT", ("!", "-o", "lo", *COMMENT, "-j", "DROP")),
        ("filter", "INPUT", ("!", "-i", "lo", *COMMENT, "-j", "DROP")),
    ]


def test_loopback_is_blocked_only_when_named() -> None:
    """127.0.0.0/8 itself is blocked; 0.0.0.0/0, which only contains it, spares lo."""
    (named,) = partition(TAG, [Destination("127.0.0.0/8")], "drop", "egress")
    (wide,) = partition(TAG, [Destination("0.0.0.0/0")], "drop", "egress")
    assert named.spec == ("-d", "127.0.0.0/8", *COMMENT, "-j", "DROP")
    assert wide.spec == ("-d", "0.0.0.0/0", "!", "-o", "lo", *COMMENT, "-j", "DROP")


def test_bad_destinations_and_modes_are_refused() -> None:
    """Host bits, IPv6, ports out of range and unknown modes are ValueErrors naming the input."""
    with pytest.raises(ValueError, match="host bits"):
        partition(TAG, [Destination("10.1.0.1/16")], "drop", "egress")
    with pytest.raises(ValueError, match="only IPv4"):
        partition(TAG, [Destination("fd00::/8")], "drop", "egress")
    with pytest.raises(ValueError, match="port 70000"):
        partition(TAG, [Destination("10.0.0.1/32", 70000)], "drop", "egress")
    with pytest.raises(ValueError, match="'block'"):
        partition(TAG, None, "block", "egress")  # type: ignore[arg-type]


def test_packet_loss_rule() -> None:
    """A random statistic match with the probability in 4 decimals, then DROP."""
    (rule,) = packet_loss(TAG, [DB], 30, "egress")
    assert rule.insert_argv() == [
        "iptables", "-w", "2", "-t", "filter", "-I", "OUTPUT", "1",
        "-d", "10.1.0.0/16", "-p", "tcp", "--dport", "5432",
        "-m", "statistic", "--mode", "random", "--probability", "0.3000", *COMMENT, "-j", "DROP",
    ]


@pytest.mark.parametrize(
    ("percent", "text"), [(30, "0.3000"), (0.5, "0.0050"), (12.345, "0.1235"), (100, "1.0000")]
)
def test_probability_has_four_decimals(percent: float, text: str) -> None:
    """Percent -> probability, rounded to 4 decimals."""
    assert probability(percent) == text


@pytest.mark.parametrize("percent", [0, -1, 0.001, 100.5])
def test_probability_out_of_range(percent: float) -> None:
    """Nothing to drop, or more than everything, is refused."""
    with pytest.raises(ValueError, match="packet loss"):
        probability(percent)


def test_redirect_exempts_the_proxy_mark_and_loopback() -> None:
    """nat OUTPUT, the opening packets of TCP connections only, never the proxy's marked
    sockets, never lo without destinations."""
    target = ("-j", "REDIRECT", "--to-ports", "15000")
    mark = ("-m", "mark", "!", "--mark", "0xc4a0")
    assert specs(redirect(TAG, Reach(), 15000, 0xC4A0)) == [
        ("nat", "OUTPUT", ("-p", "tcp", "!", "-o", "lo", "--syn", *mark, *COMMENT, *target)),
    ]
    assert specs(redirect(TAG, Reach((DB,)), 15000, 0xC4A0)) == [
        ("nat", "OUTPUT", ("-p", "tcp", "-d", "10.1.0.0/16", "--dport", "5432", "--syn", *mark,
                           *COMMENT, *target)),
    ]


def test_insert_positions_are_explicit() -> None:
    """Rules go at a given position of a standard chain, so they take effect before others."""
    (rule,) = partition(TAG, [DB], "drop", "egress")
    assert rule.insert_argv(3)[:8] == ["iptables", "-w", "2", "-t", "filter", "-I", "OUTPUT", "3"]


def test_bandwidth_qdisc() -> None:
    """A tbf under our tag's handle, a burst of at least 16 KiB, a queue for a GSO packet."""
    qdisc = bandwidth(TAG, "eth0", "1mbit")
    assert qdisc.add_argvs() == [[
        "tc", "qdisc", "add", "dev", "eth0", "root", "handle", handle_for(TAG),
        "tbf", "rate", "1mbit", "burst", "16384", "limit", "81920",
    ]]


def test_shaping_chosen_connections_adds_an_htb_and_its_one_class() -> None:
    """The root htb passes unclassified packets straight through (no default class); the class
    under it has the rate; the CLASSIFY rules name that class."""
    changes = shaping(TAG, "eth0", "1mbit", Reach((), "both", (8080, 8443)))
    qdisc, *rules = changes
    assert isinstance(qdisc, Qdisc)
    handle = handle_for(TAG)
    assert qdisc.add_argvs() == [
        ["tc", "qdisc", "add", "dev", "eth0", "root", "handle", handle, "htb"],
        ["tc", "class", "add", "dev", "eth0", "parent", handle, "classid", handle + "1",
         "htb", "rate", "1mbit", "burst", "16384"],
    ]
    egress, ingress = rules
    assert isinstance(egress, IptablesRule)
    assert isinstance(ingress, IptablesRule)
    assert "ORIGINAL" in egress.spec
    assert "REPLY" in ingress.spec
    assert ingress.spec[ingress.spec.index("--sports") :][:2] == ("--sports", "8080,8443")


def test_ingress_redirect_leaves_the_proxy_port_and_loopback_alone() -> None:
    """Any served port but the proxy's own, from outside only (not `lo`)."""
    [rule] = redirect(TAG, Reach((Destination("10.0.0.0/24"),), "ingress"), 39001, 0xC4A0)
    assert (rule.table, rule.chain) == ("nat", "PREROUTING")
    assert rule.spec == (
        "-s", "10.0.0.0/24", "!", "-i", "lo", "-p", "tcp", "!", "--dport", "39001", "--syn",
        "-m", "comment", "--comment", TAG, "-j", "REDIRECT", "--to-ports", "39001",
    )


def test_ingress_redirect_to_served_ports_names_them_once() -> None:
    """One served port: `--dport`; several: one multiport match."""
    [one] = redirect(TAG, Reach((), "ingress", (8080,)), 39001, 0xC4A0)
    assert one.spec[:7] == ("!", "-i", "lo", "-p", "tcp", "--dport", "8080")
    [two] = redirect(TAG, Reach((), "ingress", (80, 443)), 39001, 0xC4A0)
    assert two.spec[3:9] == ("-p", "tcp", "-m", "multiport", "--dports", "80,443")


def test_reach_refuses_a_direction_or_ports_it_does_not_know() -> None:
    with pytest.raises(ValueError, match="direction"):
        Reach((), "sideways")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="ports"):
        Reach((), "ingress", (0,))


@pytest.mark.parametrize(
    ("rate", "bits"),
    [("1mbit", 10**6), ("500kbit", 500_000), ("10mbit", 10**7), ("1.5gbit", 1_500_000_000),
     ("64bit", 64), ("2kbps", 16_000), ("3mbps", 24_000_000), ("100bps", 800)],
)
def test_rates_in_tc_units(rate: str, bits: int) -> None:
    """tc's units are SI; bps means bytes per second."""
    assert parse_rate(rate) == bits


@pytest.mark.parametrize("rate", ["1", "1 mbit", "1Mbit", "mbit", "0kbit", "-1mbit", "1mib", ""])
def test_bad_rates(rate: str) -> None:
    """No unit, spaces, other cases, zero and unknown units are refused with the expected form."""
    with pytest.raises(ValueError, match="for example 1mbit"):
        parse_rate(rate)


def test_burst_is_20_ms_of_the_rate_but_at_least_16_kib() -> None:
    """Slow rates get 16 KiB; 100 mbit gets 20 ms of it (250 kB)."""
    assert burst_bytes(10**6) == 16384
    assert burst_bytes(10**8) == 250_000


def test_queue_is_50_ms_but_holds_a_gso_packet() -> None:
    """1 mbit: burst plus 64 KiB; 100 mbit: 50 ms of the rate (625 kB)."""
    assert limit_bytes(10**6, 16384) == 16384 + 65536
    assert limit_bytes(10**8, 250_000) == 625_000


def test_handles_differ_by_tag_and_avoid_automatic_ones() -> None:
    """Each attack has its own handle, below 8000: (where the kernel numbers qdiscs)."""
    handles = {handle_for(tag_for(f"{n:016x}")) for n in range(200)}
    assert len(handles) > 190
    assert all(0x4000 <= int(handle[:-1], 16) < 0x7000 for handle in handles)


def test_bad_tags_and_devices() -> None:
    """Tags are chaosmonkey:<id> with a plain id; devices are interface names."""
    with pytest.raises(ValueError, match="attack id"):
        tag_for("a b")
    with pytest.raises(ValueError, match="must start with"):
        partition("other:abc", None, "drop", "egress")
    with pytest.raises(ValueError, match="interface name"):
        bandwidth(TAG, "eth0; reboot", "1mbit")


SAVED = """\
# Generated by iptables-save v1.8.9 (nf_tables) on Mon Nov 23 16:55:47 2026
*filter
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [12:3456]
-A OUTPUT -d 172.17.0.3/32 -p tcp -m tcp --dport 8080 -m comment --comment "chaosmonkey:abc" \
-j REJECT --reject-with tcp-reset
-A OUTPUT -d 172.17.0.3/32 -m comment --comment "chaosmonkey:abcd" -j DROP
-A OUTPUT -d 203.0.113.7/32 -m comment --comment someone-else -j DROP
-A OUTPUT -m comment --comment "it's \\"odd\\" chaosmonkey:abc" -j DROP
COMMIT
# Completed on Mon Nov 23 16:55:47 2026
*nat
:OUTPUT ACCEPT [0:0]
-A OUTPUT ! -o lo -p tcp -m mark ! --mark 0xc4a0 -m comment --comment "chaosmonkey:abc" \
-j REDIRECT --to-ports 15000
COMMIT
"""


def test_parse_save_splits_tables_without_comments() -> None:
    """Each table's chain and rule lines, without the generated comments or COMMIT."""
    tables = parse_save(SAVED)
    assert list(tables) == ["filter", "nat"]
    assert tables["filter"][:2] == [":INPUT ACCEPT [0:0]", ":OUTPUT ACCEPT [12:3456]"]
    assert len(tables["filter"]) == 6


def test_tag_matching_is_exact() -> None:
    """chaosmonkey:abc matches its rules, never chaosmonkey:abcd's nor a comment mentioning it."""
    tables = parse_save(SAVED)
    ours = [line for line in tables["filter"] if is_tagged(line, TAG)]
    assert ours == [tables["filter"][2]]
    assert [line for line in tables["filter"] if is_tagged(line, tag_for("abcd"))] == [
        tables["filter"][3]
    ]
    assert is_tagged(tables["nat"][1], TAG)
    assert not is_tagged(':OUTPUT ACCEPT [0:0] --comment "chaosmonkey:abc"', TAG)


def test_saved_line_becomes_its_delete() -> None:
    """`-A CHAIN spec` -> `iptables -t TABLE -D CHAIN spec`, unquoted as iptables reads it."""
    line = parse_save(SAVED)["nat"][1]
    assert delete_argv("nat", line) == [
        "iptables", "-w", "2", "-t", "nat", "-D", "OUTPUT", "!", "-o", "lo", "-p", "tcp",
        "-m", "mark", "!", "--mark", "0xc4a0", "-m", "comment", "--comment", "chaosmonkey:abc",
        "-j", "REDIRECT", "--to-ports", "15000",
    ]
    with pytest.raises(ValueError, match="not a rule line"):
        delete_argv("filter", ":OUTPUT ACCEPT [0:0]")


def test_counters_are_stripped() -> None:
    """Chain counters change with traffic; the snapshot keeps only the policy."""
    assert strip_counters(":OUTPUT ACCEPT [12:3456]") == ":OUTPUT ACCEPT"
    assert strip_counters("-A OUTPUT -j DROP") == "-A OUTPUT -j DROP"


def test_root_qdiscs_per_device() -> None:
    """Root qdiscs by device; the kernel's own have handle 0:, anything added has another."""
    roots = root_qdiscs(
        "qdisc noqueue 0: dev lo root refcnt 2 \n"
        "qdisc tbf 4e53: dev eth0 root refcnt 3 rate 1Mbit burst 16Kb lat 50ms \n"
        "qdisc pfifo 10: dev eth0 parent 4e53:1 limit 1000p\n"
    )
    assert set(roots) == {"lo", "eth0"}
    assert roots["lo"].kernel_default
    assert (roots["eth0"].kind, roots["eth0"].handle) == ("tbf", "4e53:")
    assert not roots["eth0"].kernel_default



class ScriptedNamespace:
    """An `Executor` over iptables-save text, where `iptables -D` removes the line it names."""

    name = "the network namespace of pid 42"

    def __init__(self, saved: str, *, deletes: str = "work") -> None:
        self.saved, self.deletes = saved, deletes  # "work", "fail" or "are ignored"

    def run(self, argv: Sequence[str], timeout_s: float = 5.0) -> str:
        if argv[0] == "iptables-save":
            return self.saved
        if list(argv[:3]) == ["tc", "qdisc", "show"]:
            return "qdisc noqueue 0: dev eth0 root refcnt 2\n"
        if self.deletes == "fail":
            raise CommandFailed(self.name, argv, 1, "iptables: Bad rule.\n")
        if self.deletes == "work":
            lines = self.saved.splitlines()
            ours = [line for line in lines if line.startswith("-A ")]
            gone = next(line for line in ours if delete_argv(argv[4], line) == list(argv))
            self.saved = "\n".join(line for line in lines if line is not gone)
        return ""


def test_removal_deletes_only_the_tags_rules() -> None:
    """Both tables are searched; abcd's rule and foreign rules stay."""
    namespace = ScriptedNamespace(SAVED)
    report = remove_tagged(namespace, TAG)
    assert {table: len(lines) for table, lines in report.rules_removed.items()} == {
        "filter": 1, "nat": 1}
    assert str(report) == "chaosmonkey:abc: 2 rule(s), 0 qdisc(s) removed"
    assert "chaosmonkey:abcd" in namespace.saved
    assert "someone-else" in namespace.saved


@pytest.mark.parametrize(
    ("deletes", "why"), [("fail", "Bad rule"), ("are ignored", "still present")]
)
def test_removal_fails_closed(deletes: str, why: str) -> None:
    """A failed delete, or a tagged rule still there afterwards, is a RevertFailedError naming
    the namespace and the rule."""
    with pytest.raises(RevertFailedError, match=why) as raised:
        remove_tagged(ScriptedNamespace(SAVED, deletes=deletes), TAG)
    assert "pid 42" in str(raised.value)
    assert "--dport 8080" in str(raised.value)
    assert "\n" not in str(raised.value)
