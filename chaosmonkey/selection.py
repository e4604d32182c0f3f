"""Which targets a policy picks: a chain of pure filters, then a random draw within the caps."""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Iterable, Mapping
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
    candidates: list[Target], everyone: Iterable[Target], limits: Limits, rng: random.Random
) -> Selection:
    """Draws up to `maxTargets` candidates at random, keeping every group within
    `maxUnavailable`, counting the members that are already unavailable."""
    size: Counter[str] = Counter()
    down: Counter[str] = Counter()
    for target in everyone:
        size[target.group] += 1
        down[target.group] += not target.available
    chosen: list[Target] = []
    refused: list[Refusal] = []
    for target in rng.sample(candidates, len(candidates)):
        if len(chosen) == limits.max_targets:
            break
        allowed = limits.unavailable_allowed(size[target.group])
        if down[target.group] + 1 > allowed:
            refused.append(Refusal(target, _over_cap(target.group, down, size, limits)))
            continue
        down[target.group] += 1
        chosen.append(target)
    return Selection(eligible=candidates, chosen=chosen, refused=refused)


def _over_cap(group: str, down: Counter[str], size: Counter[str], limits: Limits) -> str:
    return (
        f"group {group}: {down[group]} of {size[group]} members unavailable, attacking one more "
        f"would exceed maxUnavailable {limits.max_unavailable}"
    )
