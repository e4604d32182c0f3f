"""Runs each policy on its schedule; the only importer of apscheduler."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from chaosmonkey.policy.models import Policy

_NUMERIC_WEEKDAY = re.compile(r"\d")


def check_cron(expression: str) -> None:
    """Raises ValueError unless `expression` is a five-field crontab line with named weekdays."""
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(
            f"expected five cron fields (minute hour day month weekday), got {expression!r}"
        )
    if _NUMERIC_WEEKDAY.search(fields[4]):
        raise ValueError(
            f"expected weekday names such as mon-fri in {expression!r}: numbered weekdays mean "
            "different days in different cron dialects"
        )
    try:
        CronTrigger.from_crontab(expression, timezone="UTC")
    except ValueError as error:
        raise ValueError(f"expected a valid cron expression, got {expression!r}: {error}") from None


def has_trigger(policy: Policy) -> bool:
    """An interval or a cron; policies without a schedule run by hand, and Chaos Monkey mode
    policies by their daily plan (`chaosmonkey plan`)."""
    schedule = policy.spec.schedule
    return schedule is not None and not schedule.chaos_monkey_mode


def trigger_for(policy: Policy) -> BaseTrigger:
    """The APScheduler trigger of a policy's schedule, in its window's timezone."""
    schedule = policy.spec.schedule
    if schedule is None:
        raise ValueError(f"policy {policy.name} has no schedule")
    timezone = policy.spec.window.timezone if policy.spec.window else "UTC"
    if schedule.cron is not None:
        return CronTrigger.from_crontab(schedule.cron, timezone=timezone)
    assert schedule.interval is not None
    return IntervalTrigger(seconds=schedule.interval.total_seconds(), timezone=timezone)


def next_runs(policy: Policy, count: int, now: datetime | None = None) -> list[datetime]:
    """The next `count` fire times of a policy's schedule after `now`."""
    trigger = trigger_for(policy)
    now = now or datetime.now(UTC)
    runs: list[datetime] = []
    previous = None
    moment = now
    while len(runs) < count:
        fire = trigger.get_next_fire_time(previous, moment)
        if fire is None:
            break
        runs.append(fire)
        previous, moment = fire, fire + timedelta(microseconds=1)
    return runs


def start_scheduler(
    policies: list[Policy],
    job: Callable[[Policy], None],
    misfire_grace: timedelta = timedelta(seconds=30),
) -> BackgroundScheduler:
    """A started scheduler with one job per scheduled policy, running jobs in its threads."""
    scheduler = BackgroundScheduler(timezone=UTC)
    for policy in policies:
        if not has_trigger(policy):
            continue
        scheduler.add_job(
            job,
            trigger_for(policy),
            args=[policy],
            id=policy.name,
            name=policy.name,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=int(misfire_grace.total_seconds()),
        )
    scheduler.start()
    return scheduler
