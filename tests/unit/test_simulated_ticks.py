"""Thousands of simulated ticks of the whole decision path, checked against rules written here.

A controlled clock, a fleet held in memory whose members go down and come back, the real journal
and caps, and policies with windows (in zones with daylight saving), blackout days and limits.
Each tick the policies run as the daemon runs them; every fault the fleet receives is checked
against the window, the caps and the last-member rule, computed here without the code under test:
the local wall clock comes from each zone's daylight-saving rule written out below, not from the
tz database. Attacks end at once (a watch that sees impact and recovery at the fault's instant).
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import math
import os
import random
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import structlog.testing
from hypothesis import given, settings
from hypothesis import strategies as st

from chaosmonkey.engine import Engine
from chaosmonkey.errors import BackendError, NoTargets
from chaosmonkey.guards.caps import Caps
from chaosmonkey.journal import Journal
from chaosmonkey.model import Observation, Outcome, RevertResult, Target
from chaosmonkey.policy.models import Policy, Targets
from chaosmonkey.scheduling.planning import PlanStore, plan_today
from tests.unit.fakes import FakeBackend, FakeTimer, _attack_id

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ZONES = ("UTC", "Europe/Amsterdam", "America/New_York")
TICKS = 250

# --- the local wall clock, by each zone's rule ------------------------------------------------


def _sunday(year: int, month: int, nth: int) -> date:
    """The `nth` Sunday of a month; -1 for the last one."""
    if nth > 0:
        first = date(year, month, 1)
        return first + timedelta(days=(6 - first.weekday()) % 7 + 7 * (nth - 1))
    last = date(year, month + 1, 1) - timedelta(days=1)
    return last - timedelta(days=(last.weekday() + 1) % 7)


# per zone: winter and summer UTC offsets in hours, and when summer time starts and ends (UTC)
RULES: dict[str, tuple[int, int, Callable[[int], datetime], Callable[[int], datetime]]] = {
    "UTC": (0, 0, lambda year: datetime(year, 1, 1), lambda year: datetime(year, 1, 1)),  # none
    # the EU: from 01:00 UTC on the last Sunday of March to 01:00 UTC on the last of October
    "Europe/Amsterdam": (
        1,
        2,
        lambda year: datetime.combine(_sunday(year, 3, -1), time(1)),
        lambda year: datetime.combine(_sunday(year, 10, -1), time(1)),
    ),
    # the US: from 02:00 EST on the second Sunday of March to 02:00 EDT on the first of November
    "America/New_York": (
        -5,
        -4,
        lambda year: datetime.combine(_sunday(year, 3, 2), time(7)),
        lambda year: datetime.combine(_sunday(year, 11, 1), time(6)),
    ),
}


@functools.cache
def _summer_time(zone: str, year: int) -> tuple[datetime, datetime]:
    _, _, starts, ends = RULES[zone]
    return starts(year), ends(year)


def wall_clock(moment: datetime, zone: str) -> datetime:
    """`moment` on the local clock of `zone` (naive), by the rule written out above."""
    utc = moment.astimezone(UTC).replace(tzinfo=None)
    winter, summer, _, _ = RULES[zone]
    starts, ends = _summer_time(zone, utc.year)
    return utc + timedelta(hours=summer if starts <= utc < ends else winter)


def test_the_written_out_rules_agree_with_the_tz_database() -> None:
    """The checker's own clock matches zoneinfo from 2026 to 2034, the years the simulations
    below go through: every hour of the months with a change (offsets change on the hour), and
    every noon of the others."""
    zones = {zone: ZoneInfo(zone) for zone in ZONES}
    day = date(2026, 1, 1)
    while day.year < 2035:
        hours = range(24) if day.month in (3, 10, 11) else [12]
        for hour in hours:
            moment = datetime.combine(day, time(hour), UTC)
            for name, zone in zones.items():
                local = moment.astimezone(zone).replace(tzinfo=None)
                assert wall_clock(moment, name) == local, (moment, name)
        day += timedelta(days=1)


# --- what a scenario is made of ---------------------------------------------------------------


@dataclass(frozen=True)
class WindowRule:
    """A window as plain data, with its own answer to "open at this moment?"."""

    zone: str
    days: tuple[str, ...]
    start: time
    end: time
    blackout: tuple[tuple[date, date], ...] = ()  # inclusive ranges

    def is_working_day(self, day: date) -> bool:
        blacked_out = any(first <= day <= last for first, last in self.blackout)
        return DAY_NAMES[day.weekday()] in self.days and not blacked_out

    def open_at(self, moment: datetime) -> bool:
        local = wall_clock(moment, self.zone)
        return self.is_working_day(local.date()) and self.start <= local.time() < self.end

    def spec(self) -> dict[str, Any]:
        blackout: list[Any] = [
            first.isoformat()
            if first == last
            else {"from": first.isoformat(), "to": last.isoformat()}
            for first, last in self.blackout
        ]
        return {
            "timezone": self.zone,
            "days": list(self.days),
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "blackout": blackout,
        }


@dataclass(frozen=True)
class PolicyRule:
    name: str
    window: WindowRule
    tier: str | None  # the groups it may attack: one tier, or every group
    fault: str
    max_targets: int = 1
    max_unavailable: int | str = 1
    per_day: int | None = None
    at_once: int | None = None

    def policy(self) -> Policy:
        limits: dict[str, Any] = {
            "maxTargets": self.max_targets,
            "maxUnavailable": self.max_unavailable,
            "maxAttacksPerDay": self.per_day,
            "maxConcurrentFaults": self.at_once,
        }
        spec = {
            "dryRun": False,
            "targets": {"labels": {"tier": self.tier} if self.tier else {}},
            "fault": {"type": self.fault},
            "window": self.window.spec(),
            "limits": {key: value for key, value in limits.items() if value is not None},
            "recovery": {"timeout": "1s"},
        }
        return Policy.model_validate(
            {
                "apiVersion": "chaosmonkey/v1",
                "kind": "Policy",
                "metadata": {"name": self.name},
                "spec": spec,
            }
        )


@dataclass(frozen=True)
class Scenario:
    start: datetime
    groups: tuple[tuple[int, str], ...]  # (members, tier)
    policies: tuple[PolicyRule, ...]
    per_day: int | None  # the monkey's own caps
    at_once: int | None
    seed: int
    stuck_chance: float = 0.1  # how often a revert fails for a while


# --- the fleet --------------------------------------------------------------------------------


@dataclass
class Member:
    target: Target
    down_until: int = 0  # the tick it is back at
    stopped: bool = False  # down as stopped, or as running but unhealthy

    def seen_at(self, tick: int) -> Target:
        if tick >= self.down_until:
            return self.target
        return replace(self.target, running=not self.stopped, healthy=False)


@dataclass(frozen=True)
class Fault:
    """A fault the fleet received, and what was around it at that instant."""

    run: int
    policy: str
    at: datetime
    target: Target
    available_left: int  # in the target's group, once this fault is in place
    in_place: Counter[str]  # faults in place per policy, this one included


@dataclass
class InstantWatch:
    """Impact and recovery at the fault's instant: an attack takes no real time."""

    at: float

    def __enter__(self) -> InstantWatch:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        pass

    def wait_impact(self, deadline: float) -> float | None:
        return self.at

    def wait_recovered(self, deadline: float) -> Observation:
        return Observation(self.at, self.at)


ONE_SHOT = ("crash", "kill", "restart", "delete", "evict")  # operations nothing reverts


@dataclass
class SimulatedFleet(FakeBackend):
    """Members that go down and come back tick by tick; an attacked member is down for a few
    ticks, and now and then a revert fails (its fault stays in place) for a few ticks."""

    members: dict[str, Member] = field(default_factory=dict)
    down_ticks: tuple[int, int] = (1, 3)  # how long an attacked member stays down
    stuck_chance: float = 0.1  # how often a revert fails for a while
    now: datetime = datetime(2026, 1, 1, tzinfo=UTC)
    tick: int = 0
    run: int = 0
    policy: str = ""  # the policy running now
    seed: int = 0
    faults: list[Fault] = field(default_factory=list)
    in_place: dict[str, str] = field(default_factory=dict)  # attack id -> policy
    stuck_until: dict[str, int] = field(default_factory=dict)  # attack id -> tick
    one_shots: dict[str, int] = field(default_factory=dict)  # attack id -> run, of kills

    def chance(self, *about: object) -> random.Random:
        """Randomness that depends only on what it is about, not on thread order."""
        return random.Random(f"{self.seed}:{self.tick}:{':'.join(map(str, about))}")

    def next_tick(self, minutes: int) -> None:
        self.now += timedelta(minutes=minutes)
        self.tick += 1
        for member in self.members.values():
            rng = self.chance("churn", member.target.id)
            if rng.random() < 0.03:
                member.down_until = max(member.down_until, self.tick + rng.randint(1, 6))
                member.stopped = rng.random() < 0.5

    def list_targets(self, scope: Targets | None = None) -> list[Target]:
        return [member.seen_at(self.tick) for member in self.members.values()]

    def _apply(self, action: str, target: Target) -> float:
        rng, attack_id = self.chance("apply", target.id), str(_attack_id())
        with self.lock:
            self._drop_ended_one_shots()
            if action in ONE_SHOT:
                self.one_shots[attack_id] = self.run
            member = self.members[target.id]
            member.down_until = max(member.down_until, self.tick + rng.randint(*self.down_ticks))
            member.stopped = action in ("crash", "kill")
            if rng.random() < self.stuck_chance:  # its revert fails for a while: still in place
                self.stuck_until[attack_id] = self.tick + rng.randint(1, 8)
                member.down_until = max(member.down_until, self.stuck_until[attack_id])
            self.in_place[attack_id] = self.policy
            group = [m for m in self.members.values() if m.target.group == member.target.group]
            self.faults.append(
                Fault(
                    run=self.run,
                    policy=self.policy,
                    at=self.now,
                    target=target,
                    available_left=sum(m.seen_at(self.tick).available for m in group),
                    in_place=Counter(self.in_place.values()),
                )
            )
        return self.now.timestamp()

    def _drop_ended_one_shots(self) -> None:
        """A fault that is not reverted (a kill) is in place until its attack ends, which is
        before the next run starts (the engine records it reverted, with nothing to revert)."""
        for attack_id, run in list(self.one_shots.items()):
            if run < self.run:
                self.in_place.pop(attack_id, None)
                del self.one_shots[attack_id]

    def _revert(self, action: str, target: Target) -> RevertResult:
        attack_id = str(_attack_id())
        with self.lock:
            if self.stuck_until.get(attack_id, 0) > self.tick:
                raise BackendError(f"{target.name}: the engine does not answer")
            self.in_place.pop(attack_id, None)
        return RevertResult.REVERTED

    def watch(self, target: Target) -> InstantWatch:  # type: ignore[override]
        return InstantWatch(self.now.timestamp())


def fleet_of(groups: tuple[tuple[int, str], ...], start: datetime, seed: int) -> SimulatedFleet:
    fleet = SimulatedFleet([], now=start, seed=seed)
    for number, (size, tier) in enumerate(groups):
        for index in range(size):
            name = f"g{number}-{index}"
            healthy = True if index % 2 == 0 else None  # with and without a health check
            target = Target("docker", name, name, f"g{number}", {"tier": tier}, healthy=healthy)
            fleet.members[name] = Member(target)
    return fleet


# --- running and checking ---------------------------------------------------------------------

SHARED_MEMORY = Path("/dev/shm")


@pytest.fixture(scope="module")
def new_db() -> Iterator[Callable[[], Path]]:
    """Paths for new journals, in memory-backed storage where the machine has it: the journal
    syncs each write to disk, which thousands of simulated attacks need not wait for."""
    where = SHARED_MEMORY if SHARED_MEMORY.is_dir() and os.access(SHARED_MEMORY, os.W_OK) else None
    with tempfile.TemporaryDirectory(prefix="chaosmonkey-sim-", dir=where) as scratch:
        paths = (Path(scratch) / f"journal-{n}.db" for n in itertools.count())
        yield lambda: next(paths)


def simulate(scenario: Scenario, db: Path) -> tuple[SimulatedFleet, Journal]:
    """TICKS ticks of a few minutes to a few hours; each tick every policy runs once, after the
    faults whose revert failed are tried again (as `chaosmonkey revert --all` would)."""
    journal = Journal(db)
    fleet = fleet_of(scenario.groups, scenario.start, scenario.seed)
    fleet.stuck_chance = scenario.stuck_chance
    engine = Engine(
        lambda name: fleet,
        journal,
        rng=random.Random(scenario.seed),
        caps=Caps(journal, scenario.per_day, scenario.at_once),
        clock=lambda: fleet.now,
        timer=FakeTimer(),  # a stuck revert's back-off passes in no time
    )
    policies = [rule.policy() for rule in scenario.policies]
    steps = random.Random(scenario.seed)
    with structlog.testing.capture_logs():  # thousands of lines nobody reads
        for _ in range(TICKS):
            fleet.next_tick(steps.choice([1, 10, 15, 30, 60, 90, 120, 180]))
            engine.revert_open_faults()
            for policy in policies:
                fleet.run += 1
                fleet.policy = policy.name
                with contextlib.suppress(NoTargets):  # every member of its groups stopped
                    engine.run_policy(policy)
    return fleet, journal


def check(scenario: Scenario, faults: list[Fault]) -> None:
    """Window, last member, faults at once and attacks per day, for every fault received."""
    rules = {rule.name: rule for rule in scenario.policies}
    for fault in faults:
        rule = rules[fault.policy]
        assert rule.window.open_at(fault.at), (fault, wall_clock(fault.at, rule.window.zone))
        assert fault.available_left >= 1, fault
        for cap, used in (
            (rule.at_once, fault.in_place[rule.name]),
            (scenario.at_once, sum(fault.in_place.values())),
        ):
            assert cap is None or used <= cap, (fault, cap)
        day = wall_clock(fault.at, rule.window.zone).date()
        today = [
            other
            for other in faults
            if other.run <= fault.run and wall_clock(other.at, rule.window.zone).date() == day
        ]
        mine = [other for other in today if other.policy == rule.name]
        assert rule.per_day is None or len(mine) <= rule.per_day, (fault, mine)
        assert scenario.per_day is None or len(today) <= scenario.per_day, (fault, today)


# --- scenarios --------------------------------------------------------------------------------

MAX_UNAVAILABLE: list[int | str] = [1, 2, "50%", "100%"]
# Amsterdam springs forward on 29 March 2026 and falls back on 25 October; New York on 8 March
# and 1 November. A scenario starts a few days before one of them, or anywhere in 2026.
AROUND_DST = [datetime(2026, 3, 5), datetime(2026, 3, 26), datetime(2026, 10, 22)]
AROUND_DST += [datetime(2026, 10, 29)]


@st.composite
def window_rules(draw: st.DrawFn, first: date) -> WindowRule:
    """Any window, or a wide one (ticks fall in it often); blackout days near the first day."""
    if draw(st.booleans()):
        quarter = draw(st.integers(0, 94))
        last = draw(st.integers(quarter + 1, 96))
    else:
        quarter = draw(st.integers(0, 48))
        last = draw(st.integers(quarter + 16, 96))
    weekdays = DAY_NAMES[:5]
    days = draw(
        st.sampled_from([DAY_NAMES, weekdays]) | st.sets(st.sampled_from(DAY_NAMES), min_size=1)
    )
    ranges = draw(st.lists(st.tuples(st.integers(0, 12), st.integers(0, 1)), max_size=2))
    return WindowRule(
        zone=draw(st.sampled_from(ZONES)),
        days=tuple(sorted(days, key=DAY_NAMES.index)),
        start=time(quarter // 4, quarter % 4 * 15),
        end=time(23, 59, 59) if last == 96 else time(last // 4, last % 4 * 15),
        blackout=tuple(
            (first + timedelta(days=offset), first + timedelta(days=offset + length))
            for offset, length in ranges
        ),
    )


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    start = draw(
        st.sampled_from(AROUND_DST) | st.datetimes(datetime(2026, 1, 1), datetime(2026, 12, 31))
    ).replace(tzinfo=UTC)
    rules = [
        PolicyRule(
            name=f"p{number}",
            window=draw(window_rules(start.date())),
            tier=draw(st.sampled_from([None, "front", "back"])),
            fault=draw(st.sampled_from(["kill", "stop"])),
            max_targets=draw(st.integers(1, 3)),
            max_unavailable=draw(st.sampled_from(MAX_UNAVAILABLE)),
            per_day=draw(st.none() | st.integers(1, 4)),
            at_once=draw(st.none() | st.integers(1, 3)),
        )
        for number in range(draw(st.integers(1, 3)))
    ]
    return Scenario(
        start=start,
        groups=tuple(
            draw(
                st.lists(
                    st.tuples(st.integers(1, 5), st.sampled_from(["front", "back"])),
                    min_size=2,
                    max_size=5,
                )
            )
        ),
        policies=tuple(rules),
        per_day=draw(st.none() | st.integers(1, 6)),
        at_once=draw(st.none() | st.integers(1, 4)),
        seed=draw(st.integers(0, 2**32)),
    )


@settings(max_examples=20, deadline=None)
@given(scenario=scenarios())
def test_simulated_ticks_keep_every_guardrail(
    scenario: Scenario, new_db: Callable[[], Path]
) -> None:
    """Over 250 ticks (20 scenarios: 5,000 ticks), no fault lands outside its window, leaves its
    group without an available member, or goes past a cap on faults at once or attacks per day
    (days in the window's timezone)."""
    fleet, journal = simulate(scenario, new_db())
    check(scenario, fleet.faults)
    attacked = [r for r in journal.attacks(10**6) if r.outcome is not Outcome.SKIPPED]
    assert len(attacked) == len(fleet.faults)
    journal.close()


ALWAYS = WindowRule("UTC", DAY_NAMES, time(0), time(23, 59, 59))
WEEKDAYS = WindowRule(
    "Europe/Amsterdam", DAY_NAMES[:5], time(8), time(20), ((date(2026, 3, 24), date(2026, 3, 24)),)
)
PAIRS = ((2, "front"), (2, "front"), (3, "back"))
GUARDS = {  # a scenario each guard must refuse in, some of the time
    "outside the window: ": ((PolicyRule("p", WEEKDAYS, None, "kill"),), None, None),
    "is a blackout day": ((PolicyRule("p", WEEKDAYS, None, "kill"),), None, None),
    "would leave no available member": ((PolicyRule("p", ALWAYS, "solo", "kill"),), None, None),
    "would exceed maxUnavailable": ((PolicyRule("p", ALWAYS, "front", "stop"),), None, None),
    "made its maxAttacksPerDay": ((PolicyRule("p", ALWAYS, None, "kill", per_day=1),), None, None),
    "has its maxConcurrentFaults in place": (
        (PolicyRule("p", ALWAYS, None, "stop", at_once=1),),
        None,
        None,
    ),
    "the monkey made its --max-attacks-per-day": (
        (PolicyRule("p", ALWAYS, "front", "kill"), PolicyRule("q", WEEKDAYS, "back", "stop")),
        2,
        None,
    ),
    "the monkey has its --max-concurrent-faults in place": (
        (PolicyRule("p", ALWAYS, "front", "kill"), PolicyRule("q", WEEKDAYS, "back", "stop")),
        None,
        1,
    ),
}


@pytest.mark.parametrize("refusal", list(GUARDS))
def test_each_guard_refuses_in_its_scenario(refusal: str, new_db: Callable[[], Path]) -> None:
    """Scenarios made to meet one guard each: the guard refuses some runs, others attack, and the
    properties above hold. So the properties are checked on runs that reach every refusal."""
    policies, per_day, at_once = GUARDS[refusal]
    scenario = Scenario(
        start=datetime(2026, 3, 20, tzinfo=UTC),
        groups=((1, "solo"), *PAIRS),
        policies=policies,
        per_day=per_day,
        at_once=at_once,
        seed=7,
        stuck_chance=0.5,
    )
    fleet, journal = simulate(scenario, new_db())
    check(scenario, fleet.faults)
    reasons = [record.reason or "" for record in journal.attacks(10**6)]
    assert any(refusal in reason for reason in reasons)
    assert fleet.faults or refusal == "would leave no available member"


# --- Chaos Monkey mode, day by day ------------------------------------------------------------

OFFICE = WindowRule(
    "Europe/Amsterdam",
    ("mon", "tue", "wed", "thu", "fri"),
    time(9),
    time(17),
    ((date(2026, 4, 3), date(2026, 4, 6)), (date(2026, 12, 24), date(2027, 1, 1))),
)


def chaos_monkey_policy(mean: str, least: str | None) -> Policy:
    schedule = {"meanTimeBetweenAttacks": mean}
    if least is not None:
        schedule["minTimeBetweenAttacks"] = least
    spec = {
        "dryRun": False,
        "fault": {"type": "kill"},
        "schedule": schedule,
        "window": OFFICE.spec(),
        "recovery": {"timeout": "1s"},
    }
    return Policy.model_validate(
        {"apiVersion": "chaosmonkey/v1", "kind": "Policy", "metadata": {"name": "cm"}, "spec": spec}
    )


def run_working_days(
    policy: Policy, sizes: list[int], working_days: int, seed: int, db: Path
) -> tuple[dict[str, list[datetime]], list[date]]:
    """Plans each day as the daemon does and runs each planned attack at its time through the
    engine; returns the times each group was attacked, and the working days gone through."""
    groups = tuple((size, "front") for size in sizes)
    fleet = fleet_of(groups, datetime(2026, 3, 2, tzinfo=UTC), seed)
    fleet.down_ticks, fleet.stuck_chance = (0, 0), 0.0  # back at once: every plan is carried out
    journal = Journal(db)
    engine = Engine(lambda name: fleet, journal, rng=random.Random(seed), clock=lambda: fleet.now)
    rng = random.Random(seed)
    attacks: dict[str, list[datetime]] = {f"g{n}": [] for n in range(len(sizes))}
    worked: list[date] = []
    day = date(2026, 3, 2)

    def groups_of() -> list[str]:
        return [target.group for target in engine.select(policy).eligible]

    with PlanStore(db) as store, structlog.testing.capture_logs():
        while len(worked) < working_days:
            worked += [day] if OFFICE.is_working_day(day) else []
            morning = datetime.combine(day, time(6), ZoneInfo(OFFICE.zone))
            for entry in plan_today(store, policy, groups_of, morning, rng):
                if entry.status != "planned" or entry.at is None:
                    continue
                fleet.now, fleet.tick = entry.at, fleet.tick + 1
                for record in engine.run_policy(policy, group=entry.group):
                    assert record.outcome is Outcome.RECOVERED, record.reason
                    attacks[record.target.group].append(fleet.now)
                store.mark_done(policy.name, day, entry.group)
            day += timedelta(days=1)
    journal.close()
    return attacks, worked


@settings(max_examples=2, deadline=None)
@given(
    mean_days=st.integers(5, 10),
    sizes=st.lists(st.integers(2, 4), min_size=1, max_size=2),
    seed=st.integers(0, 2**32),
)
def test_chaos_monkey_mode_attacks_each_group_at_one_over_the_mean(
    mean_days: int, sizes: list[int], seed: int, new_db: Callable[[], Path]
) -> None:
    """Over 2,000 working days with no minimum, a group is attacked on each working day with
    probability p = 1/mean, independently: its count is Binomial(n, p). It stays within 5 standard
    deviations of n*p (a normal tail of 6e-7 per group; below 1e-5 over every group of every
    example), each attack inside the window, at most one a day."""
    policy = chaos_monkey_policy(f"{mean_days}d", None)
    attacks, worked = run_working_days(policy, sizes, 2000, seed, new_db())
    n, p = len(worked), 1 / mean_days
    for group, times in attacks.items():
        assert abs(len(times) - n * p) <= 5 * math.sqrt(n * p * (1 - p)), (group, len(times))
        assert all(OFFICE.open_at(at) for at in times), group
        days = [wall_clock(at, OFFICE.zone).date() for at in times]
        assert len(set(days)) == len(days), group


def working_days_after(rule: WindowRule, first: date, last: date) -> int:
    """Working days d with first < d <= last."""
    return sum(
        rule.is_working_day(first + timedelta(days=offset))
        for offset in range(1, (last - first).days + 1)
    )


@settings(max_examples=2, deadline=None)
@given(
    least_half_days=st.integers(1, 10),
    extra_half_days=st.integers(0, 6),
    sizes=st.lists(st.integers(2, 4), min_size=1, max_size=2),
    seed=st.integers(0, 2**32),
)
def test_chaos_monkey_mode_never_attacks_closer_than_the_minimum(
    least_half_days: int,
    extra_half_days: int,
    sizes: list[int],
    seed: int,
    new_db: Callable[[], Path],
) -> None:
    """With minTimeBetweenAttacks (in half days, 12h to 5d), two attacks of a group are always
    at least that many working days apart (a working day counts whole). Gaps average at most
    ceil(min) + mean <= 13 working days, so 600 days bring some 46 attacks at the fewest: ten
    is far below what any group gets."""
    least = least_half_days * 12
    mean = max(24, least + extra_half_days * 12)  # at least one working day
    policy = chaos_monkey_policy(f"{mean}h", f"{least}h")
    attacks, _ = run_working_days(policy, sizes, 600, seed, new_db())
    for group, times in attacks.items():
        days = [wall_clock(at, OFFICE.zone).date() for at in times]
        for earlier, later in itertools.pairwise(days):
            assert working_days_after(OFFICE, earlier, later) >= least / 24, (group, later)
        assert len(times) >= 10, group
