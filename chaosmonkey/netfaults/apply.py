"""Applies network changes to one namespace, and removes exactly the ones a tag owns.

Removal needs nothing but the tag: it reads `iptables-save` and `tc qdisc show` in the namespace,
so it works from a new process after a crash. It fails closed: a delete that fails, or a tagged
rule still present afterwards, raises `RevertFailedError` naming the namespace and the rule.
A namespace that no longer exists took our rules with it: the report says so, without an error.
Tables that our first rule created stay behind, empty, with their default ACCEPT policies.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from chaosmonkey.errors import BackendError, ChaosMonkeyError, RevertFailedError, TargetGone
from chaosmonkey.netfaults.netns import Executor
from chaosmonkey.netfaults.rules import (
    Change,
    IptablesRule,
    Qdisc,
    delete_argv,
    handle_for,
    in_our_handles,
    is_tagged,
    parse_save,
    strip_counters,
    tag_of,
)

SNAPSHOT_TABLES = ("filter", "nat", "mangle")


@dataclass(frozen=True)
class RootQdisc:
    """A device's root qdisc, as `tc qdisc show` tells it."""

    device: str
    kind: str
    handle: str

    @property
    def kernel_default(self) -> bool:
        """The kernel's own (noqueue, pfifo_fast, mq...) has handle 0:, anything added has not."""
        return self.handle == "0:"


def root_qdiscs(text: str) -> dict[str, RootQdisc]:
    """`tc qdisc show` output -> {device: its root qdisc}."""
    roots = {}
    for line in text.splitlines():
        words = line.split()
        if words[:1] == ["qdisc"] and "root" in words and "dev" in words:
            device = words[words.index("dev") + 1]
            roots[device] = RootQdisc(device, words[1], words[2])
    return roots


class ForeignQdisc(ChaosMonkeyError):
    """The device already has a root qdisc that is not the kernel's default: we never replace it."""


@dataclass(frozen=True)
class RemovalReport:
    """What `remove_tagged` found and removed in one namespace."""

    tag: str
    rules_removed: dict[str, tuple[str, ...]] = field(default_factory=dict)  # table -> lines
    qdiscs_removed: tuple[str, ...] = ()  # devices whose root qdisc was ours
    namespace_gone: bool = False

    def __str__(self) -> str:
        rules = sum(len(lines) for lines in self.rules_removed.values())
        gone = ", namespace gone" if self.namespace_gone else ""
        return f"{self.tag}: {rules} rule(s), {len(self.qdiscs_removed)} qdisc(s) removed{gone}"


def apply_changes(executor: Executor, changes: Sequence[Change]) -> None:
    """Applies `changes` in order, rules at the top of their chains in the order given.

    On a failure part-way, removes everything the changes' tags own, then re-raises.
    """
    positions: Counter[tuple[str, str]] = Counter()
    tags: list[str] = []
    try:
        for change in changes:
            if change.tag not in tags:
                tags.append(change.tag)
            if isinstance(change, IptablesRule):
                positions[change.table, change.chain] += 1
                executor.run(change.insert_argv(positions[change.table, change.chain]))
            else:
                _add_qdisc(executor, change)
    except BaseException as error:
        for tag in tags:
            try:
                remove_tagged(executor, tag)
            except RevertFailedError as revert_error:
                raise revert_error from error
        raise


def remove_tagged(executor: Executor, tag: str) -> RemovalReport:
    """Deletes every iptables rule and the root qdiscs carrying `tag`, and checks they are gone."""
    removed: dict[str, list[str]] = {}
    devices: list[str] = []
    try:
        problems = _remove_rules(executor, tag, removed) + _remove_qdiscs(executor, tag, devices)
        problems += _leftovers(executor, tag)
    except TargetGone:
        return _report(tag, removed, devices, namespace_gone=True)
    except BackendError as error:  # iptables-save or tc could not even read: state unknown
        raise RevertFailedError(f"could not revert {tag} in {executor.name}: {error}") from error
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise RevertFailedError(f"could not revert {tag} in {executor.name}: {problems[0]}{more}")
    return _report(tag, removed, devices, namespace_gone=False)


@dataclass(frozen=True)
class Holdings:
    """What of ours a namespace holds, without knowing the attacks: the tags of its rules, and
    root tbf qdiscs whose handles lie in our range (a qdisc carries no tag, only its handle)."""

    tags: frozenset[str]
    qdiscs: tuple[RootQdisc, ...]


def holdings(executor: Executor) -> Holdings:
    """Every tag and qdisc of ours in the namespace, live or not."""
    tables = parse_save(executor.run(["iptables-save"]))
    tags = {tag for lines in tables.values() for line in lines if (tag := tag_of(line))}
    qdiscs = [root for root in _roots(executor) if _ours_by_handle(root)]
    return Holdings(frozenset(tags), tuple(qdiscs))


def remove_qdisc(executor: Executor, root: RootQdisc) -> None:
    """Deletes one root qdisc of ours by its handle (the kernel checks the handle, too)."""
    executor.run(["tc", "qdisc", "del", "dev", root.device, "root", "handle", root.handle])


def snapshot(executor: Executor) -> str:
    """The filter and nat tables (without counters) and the qdiscs, to compare before and after."""
    tables = parse_save(executor.run(["iptables-save"]))  # no -t: it would create missing tables
    lines = []
    for table in SNAPSHOT_TABLES:
        if table in tables:
            lines += [f"*{table}", *(strip_counters(line) for line in tables[table])]
    return "\n".join([*lines, executor.run(["tc", "qdisc", "show"]).strip()]) + "\n"


def _add_qdisc(executor: Executor, qdisc: Qdisc) -> None:
    """Adds our root qdisc (and its class), only in place of the kernel's default one; a class
    that fails leaves the root, which the caller's removal by tag takes away."""
    roots = root_qdiscs(executor.run(["tc", "qdisc", "show"]))
    root = roots.get(qdisc.device)
    if root is None:
        raise BackendError(f"no network device {qdisc.device} in {executor.name}")
    if not root.kernel_default:
        raise ForeignQdisc(
            f"{qdisc.device} in {executor.name} already has root qdisc {root.kind} {root.handle}: "
            "chaosmonkey limits bandwidth only over the kernel's default qdisc, never replaces one"
        )
    for argv in qdisc.add_argvs():
        executor.run(argv)


def _remove_rules(executor: Executor, tag: str, removed: dict[str, list[str]]) -> list[str]:
    """Deletes our rules, table by table; returns what could not be deleted."""
    problems = []
    for table, lines in parse_save(executor.run(["iptables-save"])).items():
        for line in filter(lambda line: is_tagged(line, tag), lines):
            try:
                executor.run(delete_argv(table, line))
            except TargetGone:
                raise
            except (BackendError, ValueError) as error:
                problems.append(f"rule {line!r} in table {table}: {error}")
            else:
                removed.setdefault(table, []).append(line)
    return problems


def _remove_qdiscs(executor: Executor, tag: str, devices: list[str]) -> list[str]:
    """Deletes root qdiscs with our tag's handle (the kernel checks the handle, too)."""
    problems = []
    ours = [root for root in _roots(executor) if root.handle == handle_for(tag)]
    for root in ours:
        try:
            remove_qdisc(executor, root)
        except TargetGone:
            raise
        except BackendError as error:
            problems.append(f"qdisc {root.handle} on {root.device}: {error}")
        else:
            devices.append(root.device)
    return problems


def _leftovers(executor: Executor, tag: str) -> list[str]:
    """What still carries the tag after the deletes: each one is a failure."""
    tables = parse_save(executor.run(["iptables-save"]))
    left = [
        f"rule {line!r} in table {table} is still present"
        for table, lines in tables.items()
        for line in lines
        if is_tagged(line, tag)
    ]
    return left + [
        f"qdisc {root.handle} on {root.device} is still present"
        for root in _roots(executor)
        if root.handle == handle_for(tag)
    ]


def _ours_by_handle(root: RootQdisc) -> bool:
    return root.kind in ("tbf", "htb") and in_our_handles(root.handle)


def _roots(executor: Executor) -> list[RootQdisc]:
    return list(root_qdiscs(executor.run(["tc", "qdisc", "show"])).values())


def _report(
    tag: str, removed: dict[str, list[str]], devices: list[str], *, namespace_gone: bool
) -> RemovalReport:
    rules = {table: tuple(lines) for table, lines in removed.items()}
    return RemovalReport(tag, rules, tuple(devices), namespace_gone)
