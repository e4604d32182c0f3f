"""Chaos Monkey mode: each working day, a plan of which groups a policy attacks, and when.

A policy whose schedule has `meanTimeBetweenAttacks` (and optionally `minTimeBetweenAttacks`) is
not run on a timetable. Once per working day of its window (a day of `window.days`, not a blackout
day, in `window.timezone`), `draw_plan` decides for each eligible group: an attack with probability
1/mean (the mean counted in working days), at a uniformly random instant of that day's window,
unless the group's last attack (done, or planned) is fewer than `min` working days back. Every
group left out keeps its reason. The minimum lowers the effective rate below 1/mean.

The plan lives in the journal's database, table `plan`, written by `PlanStore` through its own
SQLite connection. `plan_today` draws a policy's plan once per local day; later calls (a restart,
`chaosmonkey plan` again) read the stored plan back unchanged.

A plan drawn during its day (`plan_today` at `now`) draws its times from the rest of the window
only: a time already past when drawn would be a run missed before anyone could run it.

The daemon (daemon.py) plans at its start and a second after each local midnight of a window's
timezone, and stores one scheduler job per planned row (`PlanStore.planned`): at its time, the job
attacks that group only and marks the row done (`PlanStore.mark_done`), or skipped with the reason
when nothing was attacked. A row whose time passed while no monkey ran is marked skipped as missed
(`PlanStore.mark_skipped`). `scheduling.trigger_for` has no trigger for this mode.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import Any
from zoneinfo import ZoneInfo

from chaosmonkey.durations import format_duration
from chaosmonkey.errors import PolicyError
from chaosmonkey.journal import SqliteStore
from chaosmonkey.policy.models import DAYS, Policy, Schedule, Window

WORKING_DAY = timedelta(days=1)
_TRIES = 64  # draws of a time before giving up on a window that a DST change swallowed


@dataclass(frozen=True)
class PlannedRun:
    """`group` is attacked at `at` (UTC)."""

    group: str
    at: datetime


@dataclass(frozen=True)
class Skipped:
    """`group` is not attacked that day, and why."""

    group: str
    reason: str


def is_chaos_monkey_mode(policy: Policy) -> bool:
    schedule = policy.spec.schedule
    return schedule is not None and schedule.chaos_monkey_mode


def check_policy(policy: Policy) -> tuple[Schedule, Window]:
    """The schedule and window of a Chaos-Monkey-mode policy; PolicyError otherwise."""
    schedule, window = policy.spec.schedule, policy.spec.window
    if schedule is None or not schedule.chaos_monkey_mode:
        raise PolicyError(policy.source, "spec.schedule: expected meanTimeBetweenAttacks")
    assert window is not None, "Spec refuses Chaos Monkey mode without a window"
    return schedule, window


def not_working_reason(window: Window, day: date) -> str | None:
    """None on a working day of the window; else why `day` is not one."""
    if any(blackout.covers(day) for blackout in window.blackout):
        return f"not a working day: {day.isoformat()} is a blackout day"
    name = DAYS[day.weekday()]
    if name not in window.days:
        return f"not a working day: {name} is not one of {', '.join(window.days)}"
    return None


def working_days_between(window: Window, after: date, until: date, enough: int) -> int:
    """Working days d with after < d <= until, counted up to `enough` at most."""
    count, day = 0, after
    while count < enough and day < until:
        day += timedelta(days=1)
        count += not_working_reason(window, day) is None
    return count


def draw_plan(
    policy: Policy,
    groups: Iterable[str],
    day: date,
    last_attack_by_group: Mapping[str, datetime],
    rng: random.Random,
    not_before: datetime | None = None,
) -> list[PlannedRun | Skipped]:
    """One day's plan for `policy`, one entry per group in name order; pure but for `rng`.

    Times are drawn from the window's part at or after `not_before` (a plan drawn late)."""
    schedule, window = check_policy(policy)
    ordered = sorted(set(groups))
    if reason := not_working_reason(window, day) or _window_over(window, day, not_before):
        return [Skipped(group, reason) for group in ordered]
    return [
        _draw_group(schedule, window, day, group, last_attack_by_group.get(group), rng, not_before)
        for group in ordered
    ]


def _window_over(window: Window, day: date, moment: datetime | None) -> str | None:
    zone = ZoneInfo(window.timezone)
    if moment is None or moment < datetime.combine(day, window.end, zone):
        return None
    drawn = moment.astimezone(zone)
    return f"drawn at {drawn:%Y-%m-%d %H:%M}, after the window ended ({window.end:%H:%M})"


def _draw_group(
    schedule: Schedule,
    window: Window,
    day: date,
    group: str,
    last: datetime | None,
    rng: random.Random,
    not_before: datetime | None = None,
) -> PlannedRun | Skipped:
    if reason := _too_soon(schedule.min_between_attacks, window, day, last):
        return Skipped(group, reason)
    assert schedule.mean_time_between_attacks is not None
    chance = WORKING_DAY / schedule.mean_time_between_attacks
    if rng.random() >= chance:
        return Skipped(group, f"drawn out (p={chance:.3g})")
    at = random_time(window, day, rng, not_before)
    if at is None:
        return Skipped(group, f"the window has no time on {day.isoformat()} (daylight saving)")
    return PlannedRun(group, at)


def _too_soon(least: timedelta, window: Window, day: date, last: datetime | None) -> str | None:
    if last is None or least <= timedelta(0):
        return None
    local = last.astimezone(ZoneInfo(window.timezone))
    needed = least / WORKING_DAY
    if working_days_between(window, local.date(), day, math.ceil(needed)) >= needed:
        return None
    return f"min {format_duration(least)}: last attack at {local.isoformat(timespec='minutes')}"


def random_time(
    window: Window, day: date, rng: random.Random, not_before: datetime | None = None
) -> datetime | None:
    """A uniformly random instant (UTC, whole seconds) of `day`'s window, at or after `not_before`
    when given, or None if there is none.

    Bounds are computed in the window's zone and converted to UTC, so a day of 23 or 25 hours
    weighs each real second once; a draw whose local clock falls outside (a wall time skipped by
    a DST change) is drawn again.
    """
    zone = ZoneInfo(window.timezone)
    first = datetime.combine(day, window.start, zone).astimezone(UTC)
    if not_before is not None:  # from the next whole second, so that `at` is never before it
        first = max(first, not_before.astimezone(UTC).replace(microsecond=0) + timedelta(seconds=1))
    span = datetime.combine(day, window.end, zone).astimezone(UTC) - first
    for _ in range(_TRIES if span > timedelta(0) else 0):
        at = (first + span * rng.random()).replace(microsecond=0)
        if inside(window, day, at):
            return at
    return None


def inside(window: Window, day: date, at: datetime) -> bool:
    """`at` is on `day` between the window's start (inclusive) and end, on the local clock."""
    local = at.astimezone(ZoneInfo(window.timezone))
    return local.date() == day and window.start <= local.time() < window.end


# --- the stored plan --------------------------------------------------------------------------

_SCHEMA = """
CREATE TABLE IF NOT EXISTS plan (
    policy TEXT NOT NULL,
    day TEXT NOT NULL,
    group_name TEXT NOT NULL,
    at REAL,
    status TEXT NOT NULL CHECK (status IN ('planned', 'skipped', 'done')),
    reason TEXT,
    PRIMARY KEY (policy, day, group_name)
);
CREATE INDEX IF NOT EXISTS plan_at ON plan (status, at);
"""
_COLUMNS = "policy, day, group_name, at, status, reason"


@dataclass(frozen=True)
class PlanEntry:
    """One stored row: `at` (UTC) for planned and done rows, `reason` for skipped ones."""

    policy: str
    day: date
    group: str
    at: datetime | None
    status: str
    reason: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "day": self.day.isoformat(),
            "group": self.group,
            "at": self.at.isoformat() if self.at else None,
            "status": self.status,
            "reason": self.reason,
        }


class PlanStore(SqliteStore):
    """The `plan` table in the journal's database; safe to share between threads."""

    def __init__(self, path: Path | str) -> None:
        super().__init__(path, _SCHEMA, "plan")

    def __enter__(self) -> PlanStore:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def load(self, policy: str, day: date) -> list[PlanEntry]:
        rows = self._select(
            f"SELECT {_COLUMNS} FROM plan WHERE policy = ? AND day = ? ORDER BY group_name",
            policy,
            day.isoformat(),
        )
        return [_entry(row) for row in rows]

    def save(
        self, policy: str, day: date, items: Iterable[PlannedRun | Skipped]
    ) -> list[PlanEntry]:
        """Stores a day's plan unless one is stored already (the first writer wins); returns the
        stored plan."""
        with self._transaction() as db:
            known = db.execute(
                "SELECT 1 FROM plan WHERE policy = ? AND day = ? LIMIT 1", (policy, day.isoformat())
            ).fetchone()
            if not known:
                db.executemany(
                    f"INSERT INTO plan ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
                    [_row(policy, day, item) for item in items],
                )
        return self.load(policy, day)

    def mark_done(self, policy: str, day: date, group: str) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE plan SET status = 'done' WHERE policy = ? AND day = ? AND group_name = ?",
                (policy, day.isoformat(), group),
            )

    def mark_skipped(self, policy: str, day: date, group: str, reason: str) -> None:
        """A planned row that was not attacked (missed, or refused at its time), and why."""
        with self._transaction() as db:
            db.execute(
                "UPDATE plan SET status = 'skipped', reason = ? "
                "WHERE policy = ? AND day = ? AND group_name = ? AND status = 'planned'",
                (reason, policy, day.isoformat(), group),
            )

    def status(self, policy: str, day: date, group: str) -> str | None:
        """The row's status (planned, skipped, done); None without such a row."""
        rows = self._select(
            "SELECT status FROM plan WHERE policy = ? AND day = ? AND group_name = ?",
            policy,
            day.isoformat(),
            group,
        )
        return str(rows[0][0]) if rows else None

    def planned(self) -> list[PlanEntry]:
        """Every row still planned, whatever its time (past ones were missed), soonest first."""
        rows = self._select(
            f"SELECT {_COLUMNS} FROM plan WHERE status = 'planned' AND at IS NOT NULL ORDER BY at"
        )
        return [_entry(row) for row in rows]

    def planned_after(self, moment: datetime) -> list[PlanEntry]:
        rows = self._select(
            f"SELECT {_COLUMNS} FROM plan WHERE status = 'planned' AND at > ? ORDER BY at",
            moment.timestamp(),
        )
        return [_entry(row) for row in rows]

    def last_attacks(self, policy: str) -> dict[str, datetime]:
        """Per group: the last attack of `policy` (injected or dry run) or planned one."""
        last: dict[str, float] = {}
        rows = self._select(
            "SELECT group_name, MAX(at) FROM plan WHERE policy = ? AND status != 'skipped' "
            "GROUP BY group_name",
            policy,
        )
        if self._has_attacks_table():
            rows += self._select(
                "SELECT json_extract(target, '$.group'), MAX(COALESCE(injected_at, created_at)) "
                "FROM attacks WHERE policy = ? AND (injected_at IS NOT NULL OR outcome = 'dry_run')"
                " GROUP BY 1",
                policy,
            )
        for group, moment in rows:
            if group and moment is not None:
                last[group] = max(moment, last.get(group, moment))
        return {group: datetime.fromtimestamp(moment, UTC) for group, moment in last.items()}

    def _has_attacks_table(self) -> bool:
        return bool(
            self._select("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'attacks'")
        )


def _row(policy: str, day: date, item: PlannedRun | Skipped) -> tuple[Any, ...]:
    if isinstance(item, PlannedRun):
        return (policy, day.isoformat(), item.group, item.at.timestamp(), "planned", None)
    return (policy, day.isoformat(), item.group, None, "skipped", item.reason)


def _entry(row: tuple[Any, ...]) -> PlanEntry:
    at = datetime.fromtimestamp(row[3], UTC) if row[3] is not None else None
    return PlanEntry(row[0], date.fromisoformat(row[1]), row[2], at, row[4], row[5])


# --- drawing once a day -----------------------------------------------------------------------


def plan_today(
    store: PlanStore,
    policy: Policy,
    groups: Callable[[], Iterable[str]],
    now: datetime,
    rng: random.Random,
) -> list[PlanEntry]:
    """The plan of `policy` for `now`'s day in its window's zone, drawn and stored on first call,
    with times from `now` on.

    `groups` is called only when a plan is drawn. A day with no groups stores nothing."""
    _, window = check_policy(policy)
    day = now.astimezone(ZoneInfo(window.timezone)).date()
    if stored := store.load(policy.name, day):
        return stored
    items = draw_plan(policy, groups(), day, store.last_attacks(policy.name), rng, now)
    return store.save(policy.name, day, items)


def plan_policies(
    store: PlanStore,
    policies: Iterable[Policy],
    groups_of: Callable[[Policy], Iterable[str]],
    now: datetime,
    rng: random.Random,
) -> list[tuple[Policy, list[PlanEntry]]]:
    """Today's plan of each Chaos-Monkey-mode policy; every policy is checked before any draw."""
    chosen = [policy for policy in policies if is_chaos_monkey_mode(policy)]
    for policy in chosen:
        check_policy(policy)
    return [
        (policy, plan_today(store, policy, partial(groups_of, policy), now, rng))
        for policy in chosen
    ]


def planned_jobs(store: PlanStore, now: datetime) -> list[tuple[str, str, datetime]]:
    """(policy name, group, at) of every planned attack after `now`, soonest first: the jobs a
    daemon schedules."""
    return [
        (entry.policy, entry.group, entry.at)
        for entry in store.planned_after(now)
        if entry.at is not None
    ]
