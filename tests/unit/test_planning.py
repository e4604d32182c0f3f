"""Chaos Monkey mode: the schedule's fields, the daily draw, and the stored plan."""

from __future__ import annotations

import math
import random
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from chaosmonkey.guards.window import window_closed_reason
from chaosmonkey.policy.models import Policy, Schedule, Window
from chaosmonkey.scheduling.planning import (
    PlannedRun,
    PlanStore,
    Skipped,
    draw_plan,
    inside,
    plan_today,
    planned_jobs,
)

OFFICE = {
    "timezone": "Europe/Amsterdam",
    "days": ["mon", "tue", "wed", "thu", "fri"],
    "start": "09:00",
    "end": "17:00",
    "blackout": ["2026-03-04"],
}
GROUPS = [f"group-{n:02d}" for n in range(20)]
MONDAY = date(2026, 3, 2)
AMSTERDAM = ZoneInfo("Europe/Amsterdam")


def policy(mean: str = "2d", least: str | None = None, window: Any = OFFICE) -> Policy:
    schedule = {"meanTimeBetweenAttacks": mean}
    if least is not None:
        schedule["minTimeBetweenAttacks"] = least
    spec: dict[str, Any] = {"fault": {"type": "kill"}, "schedule": schedule}
    if window is not None:
        spec["window"] = window
    return Policy.model_validate(
        {"apiVersion": "chaosmonkey/v1", "kind": "Policy", "metadata": {"name": "cm"}, "spec": spec}
    )


def planned(items: list[PlannedRun | Skipped]) -> list[PlannedRun]:
    return [item for item in items if isinstance(item, PlannedRun)]


def test_mean_below_min_is_refused_naming_the_field() -> None:
    """A mean shorter than the minimum cannot be met: the error names meanTimeBetweenAttacks."""
    with pytest.raises(ValidationError, match="meanTimeBetweenAttacks: expected at least minTime"):
        Schedule.model_validate({"meanTimeBetweenAttacks": "2d", "minTimeBetweenAttacks": "3d"})


def test_mean_below_one_working_day_is_refused() -> None:
    """At most one attack per group per working day: a mean under 1d is refused."""
    with pytest.raises(ValidationError, match="meanTimeBetweenAttacks: expected 1d or more"):
        Schedule.model_validate({"meanTimeBetweenAttacks": "12h"})


def test_mean_excludes_interval_and_cron() -> None:
    """A schedule is one of interval, cron or meanTimeBetweenAttacks."""
    with pytest.raises(ValidationError, match="exactly one of interval or cron or mean"):
        Schedule.model_validate({"meanTimeBetweenAttacks": "2d", "interval": "1h"})


def test_min_needs_a_mean() -> None:
    """minTimeBetweenAttacks alone (or with cron) means nothing and is refused."""
    with pytest.raises(ValidationError, match="minTimeBetweenAttacks: expected only with"):
        Schedule.model_validate({"interval": "1h", "minTimeBetweenAttacks": "1d"})


def test_a_missing_window_is_refused() -> None:
    """Working days are the unit of the mean, so the mode needs a window: refused on loading."""
    with pytest.raises(ValueError, match=r"spec\n  Value error, expected a window"):
        policy(window=None)


def test_the_draw_is_deterministic_for_a_seed() -> None:
    """The same seed and inputs give the same plan, whatever order the groups come in."""
    first = draw_plan(policy(), GROUPS, MONDAY, {}, random.Random(7))
    again = draw_plan(policy(), reversed(GROUPS), MONDAY, {}, random.Random(7))
    assert first == again
    assert [item.group for item in first] == sorted(GROUPS)


def test_planned_times_are_inside_the_window() -> None:
    """Every planned time is on the day, within 09:00-17:00 Amsterdam, and passes the safety
    check that runs at attack time."""
    chaos = policy(mean="1d")
    for offset in range(0, 60):
        day = MONDAY + timedelta(days=offset)
        for run in planned(draw_plan(chaos, GROUPS, day, {}, random.Random(offset))):
            assert run.at.tzinfo == UTC
            assert window_closed_reason(chaos.spec.window, run.at) is None
            assert inside(window_of(chaos), day, run.at)


def window_of(chaos: Policy) -> Window:
    assert chaos.spec.window is not None
    return chaos.spec.window


def test_no_attacks_on_blackout_or_non_window_days() -> None:
    """A blackout day (Wed 4 March) and a weekend day plan nothing, each group with the reason."""
    chaos = policy(mean="1d")
    blackout = draw_plan(chaos, GROUPS, date(2026, 3, 4), {}, random.Random(1))
    saturday = draw_plan(chaos, GROUPS, date(2026, 3, 7), {}, random.Random(1))
    assert {item.reason for item in blackout if isinstance(item, Skipped)} == {
        "not a working day: 2026-03-04 is a blackout day"
    }
    assert all(isinstance(item, Skipped) for item in blackout + saturday)
    assert all(isinstance(item, Skipped) for item in saturday)
    assert {item.reason[:17] for item in saturday if isinstance(item, Skipped)} == {
        "not a working day"
    }


def test_drawn_out_groups_say_so() -> None:
    """With mean 2d some groups are left out, with the probability in the reason."""
    items = draw_plan(policy(mean="2d"), GROUPS, MONDAY, {}, random.Random(3))
    reasons = {item.reason for item in items if isinstance(item, Skipped)}
    assert reasons == {"drawn out (p=0.5)"}


def test_the_minimum_counts_working_days() -> None:
    """min 2d after an attack on Friday: Monday is too soon (one working day), Tuesday is not."""
    chaos = policy(mean="2d", least="2d")
    friday = datetime(2026, 3, 6, 10, 0, tzinfo=UTC)
    monday = draw_plan(chaos, ["web"], date(2026, 3, 9), {"web": friday}, random.Random(1))
    assert monday == [Skipped("web", "min 2d: last attack at 2026-03-06T11:00+01:00")]
    tuesday = draw_plan(chaos, ["web"], date(2026, 3, 10), {"web": friday}, random.Random(1))
    [item] = tuesday
    assert not (isinstance(item, Skipped) and item.reason.startswith("min"))


@pytest.mark.parametrize("seed", range(20))
def test_times_across_the_dst_change(seed: int) -> None:
    """On 2026-03-29 Amsterdam skips 02:00-03:00: a 01:00-04:00 window has two real hours, and
    every time lands in them, the UTC offset right on each side of the change."""
    window = {"timezone": "Europe/Amsterdam", "start": "01:00", "end": "04:00"}
    chaos = policy(mean="1d", window=window)
    [run] = draw_plan(chaos, ["web"], date(2026, 3, 29), {}, random.Random(seed))
    assert isinstance(run, PlannedRun)
    assert datetime(2026, 3, 29, 0, tzinfo=UTC) <= run.at < datetime(2026, 3, 29, 2, tzinfo=UTC)
    local = run.at.astimezone(AMSTERDAM)
    assert local.utcoffset() == timedelta(hours=1 if local.hour < 2 else 2)
    assert time(1) <= local.time() < time(4)


@pytest.mark.parametrize("seed", range(20))
def test_a_window_ending_in_the_dst_gap_is_never_left(seed: int) -> None:
    """A window 01:00-02:30 on the day 02:30 does not exist: every time is before 02:00 CET."""
    window = {"timezone": "Europe/Amsterdam", "start": "01:00", "end": "02:30"}
    [run] = draw_plan(
        policy(mean="1d", window=window), ["web"], date(2026, 3, 29), {}, random.Random(seed)
    )
    assert isinstance(run, PlannedRun)
    assert time(1) <= run.at.astimezone(AMSTERDAM).time() < time(2)


def simulate(chaos: Policy, days: int, seed: int) -> tuple[dict[str, list[int]], int]:
    """Runs `days` working days of plans, feeding each attack back as the group's last; returns
    the working-day index of each group's attacks, and how many working days were simulated."""
    rng = random.Random(seed)
    last: dict[str, datetime] = {}
    attacks: dict[str, list[int]] = {group: [] for group in GROUPS}
    day, working = MONDAY, 0
    while working < days:
        items = draw_plan(chaos, GROUPS, day, last, rng)
        if not all(str(getattr(item, "reason", "")).startswith("not a working") for item in items):
            for run in planned(items):
                attacks[run.group].append(working)
                last[run.group] = run.at
            working += 1
        day += timedelta(days=1)
    return attacks, working


@settings(max_examples=8, deadline=None)
@given(mean_days=st.integers(min_value=1, max_value=10), seed=st.integers(0, 2**32))
def test_attack_rate_matches_the_mean(mean_days: int, seed: int) -> None:
    """Over 2,000 working days with min 0, each group's attack rate is within a Hoeffding bound
    (failure chance 1e-9 per group) of 1/mean, and all groups together within a tighter one."""
    attacks, days = simulate(policy(mean=f"{mean_days}d"), 2000, seed)
    bound = math.sqrt(math.log(2 / 1e-9) / (2 * days))
    for group, indexes in attacks.items():
        assert abs(len(indexes) / days - 1 / mean_days) <= bound, group
    total = sum(len(indexes) for indexes in attacks.values()) / (days * len(GROUPS))
    assert abs(total - 1 / mean_days) <= bound / math.sqrt(len(GROUPS))


@settings(max_examples=8, deadline=None)
@given(
    mean_days=st.integers(min_value=1, max_value=6),
    min_days=st.integers(min_value=1, max_value=6),
    seed=st.integers(0, 2**32),
)
def test_no_two_attacks_closer_than_the_minimum(mean_days: int, min_days: int, seed: int) -> None:
    """With a minimum, consecutive attacks of a group are at least `min` working days apart."""
    chaos = policy(mean=f"{max(mean_days, min_days)}d", least=f"{min_days}d")
    attacks, _ = simulate(chaos, 2000, seed)
    for indexes in attacks.values():
        assert all(later - earlier >= min_days for earlier, later in pairwise(indexes))


def test_a_stored_plan_is_read_back_unchanged(tmp_path: Path) -> None:
    """A second draw the same local day, with another seed and other groups, returns the stored
    plan; the next day draws anew."""
    chaos = policy(mean="2d")
    now = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
    with PlanStore(tmp_path / "j.db") as store:
        first = plan_today(store, chaos, lambda: GROUPS, now, random.Random(1))
        again = plan_today(store, chaos, lambda: ["other"], now, random.Random(2))
        tomorrow = plan_today(
            store, chaos, lambda: ["other"], now + timedelta(days=1), random.Random(2)
        )
    assert first == again
    assert [entry.group for entry in first] == GROUPS
    assert [entry.group for entry in tomorrow] == ["other"]


def test_planned_jobs_and_last_attacks(tmp_path: Path) -> None:
    """planned_jobs lists the planned attacks after `now`; they count as each group's last."""
    chaos = policy(mean="1d", least="1d")
    now = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
    with PlanStore(tmp_path / "j.db") as store:
        entries = plan_today(store, chaos, lambda: ["api", "web"], now, random.Random(1))
        jobs = planned_jobs(store, now)
        last = store.last_attacks("cm")
        following = plan_today(
            store, chaos, lambda: ["api", "web"], now + timedelta(days=1), random.Random(1)
        )
    assert sorted(jobs, key=lambda job: job[1]) == [("cm", e.group, e.at) for e in entries]
    assert last == {entry.group: entry.at for entry in entries}
    assert all(entry.status == "planned" for entry in following)
