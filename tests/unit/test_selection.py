"""Target choice: pure filters, then a random draw that keeps every group within its cap."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from chaosmonkey.model import PROTECTED_LABEL, Target
from chaosmonkey.policy.models import Exclude, Limits, Targets
from chaosmonkey.selection import choose, eligible


def target(name: str, group: str = "web", running: bool = True, **labels: str) -> Target:
    healthy = None if running else False
    return Target("docker", f"id-{name}", name, group, labels, running=running, healthy=healthy)


def test_every_selector_label_must_match() -> None:
    """A target missing one of the selector's labels is not a candidate."""
    targets = [target("a", app="web", tier="front"), target("b", app="web")]
    chosen = eligible(targets, Targets(labels={"app": "web", "tier": "front"}))
    assert [t.name for t in chosen] == ["a"]


def test_names_are_regular_expressions() -> None:
    """`names` keeps targets whose name matches any of the patterns."""
    targets = [target("shop-1"), target("blog-1"), target("shop-2")]
    chosen = eligible(targets, Targets(names=["^shop-"]))
    assert [t.name for t in chosen] == ["shop-1", "shop-2"]


def test_exclusions_protection_and_stopped_targets_are_left_out() -> None:
    """Excluded labels and names, the protected label and stopped targets are never candidates."""
    targets = [
        target("keep", app="web"),
        target("db", app="web", tier="db"),
        target("canary", app="web"),
        target("guarded", app="web", **{PROTECTED_LABEL: "true"}),
        target("down", running=False, app="web"),
    ]
    spec = Targets(labels={"app": "web"}, exclude=Exclude(labels={"tier": "db"}, names=["canary"]))
    assert [t.name for t in eligible(targets, spec)] == ["keep"]


def test_max_targets_caps_a_run() -> None:
    """No more than maxTargets are chosen, drawn from different groups when caps demand it."""
    targets = [target(f"w{i}", group=f"g{i}") for i in range(10)]
    selection = choose(targets, targets, Limits(max_targets=3), random.Random(1))
    assert len(selection.chosen) == 3


def test_members_already_down_count_against_max_unavailable() -> None:
    """With one member of the group already down and maxUnavailable 1, nothing is attacked."""
    up = [target("a"), target("b")]
    everyone = [*up, target("c", running=False)]
    selection = choose(up, everyone, Limits(max_targets=2, max_unavailable=1), random.Random(0))
    assert selection.chosen == []
    assert "1 of 3 members unavailable" in selection.refused[0].reason


def test_percentage_rounds_down() -> None:
    """maxUnavailable 50% of a group of 3 allows one member down, of 4 allows two."""
    assert Limits(max_unavailable="50%").unavailable_allowed(3) == 1
    assert Limits(max_unavailable="50%").unavailable_allowed(4) == 2
    assert Limits(max_unavailable="25%").unavailable_allowed(3) == 0


def test_the_draw_depends_only_on_the_seed() -> None:
    """The same seed picks the same targets: the random source is passed in."""
    targets = [target(f"w{i}", group=f"g{i}") for i in range(20)]
    first = choose(targets, targets, Limits(max_targets=2), random.Random(7)).chosen
    again = choose(targets, targets, Limits(max_targets=2), random.Random(7)).chosen
    assert first == again


@settings(max_examples=300)
@given(
    st.lists(st.tuples(st.integers(0, 5), st.booleans()), min_size=1, max_size=40),
    st.integers(1, 6),
    st.integers(1, 4),
    st.integers(0, 2**32),
)
def test_caps_are_never_exceeded(
    members: list[tuple[int, bool]], max_targets: int, max_unavailable: int, seed: int
) -> None:
    """Whatever the fleet, a run never exceeds maxTargets nor leaves a group with more
    than maxUnavailable members down (unless it already was before the run)."""
    everyone = [target(f"t{i}", f"g{g}", running=up) for i, (g, up) in enumerate(members)]
    limits = Limits(max_targets=max_targets, max_unavailable=max_unavailable)
    candidates = eligible(everyone, Targets())
    selection = choose(candidates, everyone, limits, random.Random(seed))
    assert len(selection.chosen) <= max_targets
    for group in {t.group for t in everyone}:
        down = sum(1 for t in everyone if t.group == group and not t.available)
        hit = sum(1 for t in selection.chosen if t.group == group)
        assert hit == 0 or down + hit <= max_unavailable


def test_opt_in_attacks_only_enabled_targets() -> None:
    """With optIn, only targets labelled chaosmonkey.io/enabled=true are candidates."""
    targets = [target("a", **{"chaosmonkey.io/enabled": "true"}), target("b")]
    assert [t.name for t in eligible(targets, Targets(opt_in=True))] == ["a"]
    assert [t.name for t in eligible(targets, Targets())] == ["a", "b"]
