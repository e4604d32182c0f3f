"""Tables and the progress spinner for people at a terminal (rich); JSON output needs none of it.

Every text that comes from outside (names, labels, groups, reasons) is escaped: `[/x]` in a
container's name is printed as it is, never read as rich markup."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from chaosmonkey.model import AttackRecord, Outcome, ServiceImpact, Target
from chaosmonkey.policy.models import Limits

stdout = Console()
stderr = Console(stderr=True)


def targets_table(policy: str, targets: list[Target], limits: Limits) -> None:
    table = Table("name", "group", "id", "health", title=escape(f"{policy}: eligible targets"))
    for target in targets:
        name, group = escape(target.name), escape(target.group)
        table.add_row(name, group, escape(target.id[:12]), _health(target.healthy))
    stdout.print(table)
    stdout.print(
        f"each run picks up to {limits.max_targets} of them, "
        f"maxUnavailable {limits.max_unavailable} per group"
    )


def records_table(records: list[AttackRecord]) -> None:
    """An attack per row: how it ended, the recovery it was judged by (the service's when
    probed), the target's own, and what the probe saw of the service."""
    table = Table()
    columns = ("id", "policy", "target", "group", "fault", "status", "detect s", "recover s")
    for column in (*columns, "target back s", "service"):
        table.add_column(column, no_wrap=column in {"id", "status"})
    for r in records:
        table.add_row(
            r.id,
            escape(r.policy),
            escape(r.target.name),
            escape(r.target.group),
            r.fault,
            (r.outcome or r.status).value,
            _seconds(r.time_to_detect_seconds),
            _seconds(r.recovery_seconds),
            _seconds(r.target_recovery()["recovery_seconds"]),
            _service(r),
        )
    stdout.print(table)
    for r in records:
        if r.reason and r.outcome is not Outcome.RECOVERED:
            stdout.print(escape(f"{r.id}: {r.reason}"))


@contextmanager
def spinner(policy: str) -> Iterator[Callable[[str], None]]:
    """A spinner on stderr whose text the engine updates during long waits."""
    with stderr.status(escape(f"{policy}: selecting targets")) as status:
        yield lambda message: status.update(escape(f"{policy}: {message}"))


def _service(record: AttackRecord) -> str:
    """`none`, or `degraded 1.05 s` / `down 1.54 s`: the impact and how long it lasted."""
    service = record.service
    if service is None:
        return "-"
    if service.impact is ServiceImpact.NONE:
        return service.impact.value
    return f"{service.impact.value} {service.degraded_seconds:.2f} s"


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _health(healthy: bool | None) -> str:
    return {None: "no check", True: "healthy", False: "unhealthy"}[healthy]
