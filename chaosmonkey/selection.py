"""Which targets a policy picks: a chain of pure filters, then a random draw within the caps."""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from chaosmonkey.model import Target
from chaosmonkey.policy.models import Limits, Targets


@dataclass(frozen=True)
class Refusal:
    """A target that was drawn but not attacked, and why."""

    target: Target
    reason: str


@dataclass(frozen=True)
class Selection:
    eligible: list[Target]
    chosen: list[Target] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)


def _labels_match(labels: Mapping[str, str], wanted: Mapping[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in wanted.items())


def _any_name_matches(name: str, patterns: Iterable[str]) -> bool:
    return any(re.search(pattern, name) for pattern in patterns)


def is_candidate(target: Target, spec: Targets, now: float | None = None) -> bool:
    """Matches the selector, is not excluded, not protected, old enough (`minAge`, when `now` is
    given), and is up to be attacked."""
    if target.protected or target.excluded or not target.running:
        return False
    if spec.min_age and now is not None and not _old_enough(target, spec.min_age, now):
        return False
    if spec.opt_in and not target.opted_in:
        return False
    if not _labels_match(target.labels, spec.labels):
        return False
    if spec.names and not _any_name_matches(target.name, spec.names):
        return False
    excluded = spec.exclude
    if excluded.labels and _labels_match(target.labels, excluded.labels):
        return False
    return not _any_name_matches(target.name, excluded.names)


def _old_enough(target: Target, min_age: timedelta, now: float) -> bool:
    created = target.created_at
    return created is not None and now - created >= min_age.total_seconds()


def eligible(targets: Iterable[Target], spec: Targets, now: float | None = None) -> list[Target]:
    return [target for target in targets if is_candidate(target, spec, now)]


def choose(
    candidates: list[Target],
    everyone: Iterable[Target],
    limits: Limits,
    rng: random.Random,
    under_fault: Collection[str] = (),
) -> Selection:
    """Draws up to `maxTargets` candidates at random, keeping every group within
    `maxUnavailable` and, unless `allowLastMember`, with one available member at least.

    Members already unavailable count, and so do the targets of `under_fault` (ids of targets
    with a fault in place, which the backend may not show) and those drawn earlier."""
    size: Counter[str] = Counter()
    down: Counter[str] = Counter()
    for target in everyone:
        size[target.group] += 1
        down[target.group] += not _available(target, under_fault)
    chosen: list[Target] = []
    refused: list[Refusal] = []
    for target in rng.sample(candidates, len(candidates)):
        if len(chosen) == limits.max_targets:
            break
        if reason := _refusal(target, down, size, limits, under_fault):
            refused.append(Refusal(target, reason))
            continue
        down[target.group] += 1
        chosen.append(target)
    return Selection(eligible=candidates, chosen=chosen, refused=refused)


def _available(target: Target, under_fault: Collection[str]) -> bool:
    return target.available and target.id not in under_fault


def _refusal(
    target: Target,
    down: Counter[str],
    size: Counter[str],
    limits: Limits,
    under_fault: Collection[str],
) -> str | None:
    """Why attacking `target` now would break the group's limits, or None."""
    group = target.group
    if down[group] + 1 > limits.unavailable_allowed(size[group]):
        return (
            f"group {group}: {down[group]} of {size[group]} members unavailable, attacking one "
            f"more would exceed maxUnavailable {limits.max_unavailable}"
        )
    if target.id in under_fault:
        return f"{target.name} already has a fault in place"
    left = size[group] - down[group] - _available(target, under_fault)
    if left < 1 and not limits.allow_last_member:
        return (
            f"group {group}: attacking {target.name} would leave no available member "
            "(limits.allowLastMember is false)"
        )
    return None
