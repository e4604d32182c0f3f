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
    targets = [target(f"w{i}", group=f"g{i // 2}") for i in range(10)]
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
    targets = [target(f"w{i}", group=f"g{i // 2}") for i in range(20)]
    first = choose(targets, targets, Limits(max_targets=2), random.Random(7)).chosen
    again = choose(targets, targets, Limits(max_targets=2), random.Random(7)).chosen
    assert len(first) == 2
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


def test_a_lone_member_is_refused_by_default() -> None:
    """A group of one cannot be attacked without an outage: refused, naming the group and the
    field, unless limits.allowLastMember is true."""
    lone = [target("web-1")]
    selection = choose(lone, lone, Limits(), random.Random(0))
    assert selection.chosen == []
    assert [refusal.reason for refusal in selection.refused] == [
        "group web: attacking web-1 would leave no available member "
        "(limits.allowLastMember is false)"
    ]
    allowed = choose(lone, lone, Limits(allow_last_member=True), random.Random(0))
    assert allowed.chosen == lone


def test_the_last_available_member_is_refused_when_others_are_down() -> None:
    """Two of three members unhealthy (still running): the healthy one is the last, and is
    refused even though maxUnavailable 100% would allow it."""
    sick = Target("docker", "id-b", "b", "web", healthy=False)
    group = [target("a"), sick, Target("docker", "id-c", "c", "web", healthy=False)]
    limits = Limits(max_unavailable="100%", max_targets=3)
    selection = choose([group[0]], group, limits, random.Random(0))
    assert selection.chosen == []
    assert "attacking a would leave no available member" in selection.refused[0].reason
    assert sick.running
    assert not sick.available


def test_members_drawn_earlier_in_the_same_run_count() -> None:
    """Both members of a group up, maxTargets 2 and maxUnavailable 2: one is drawn, the other
    is then the last available member and is refused."""
    pair = [target("a"), target("b")]
    selection = choose(pair, pair, Limits(max_targets=2, max_unavailable=2), random.Random(0))
    assert len(selection.chosen) == 1
    [refusal] = selection.refused
    assert refusal.target not in selection.chosen
    assert "would leave no available member" in refusal.reason


def test_members_under_a_fault_count_as_down() -> None:
    """A member with a fault in place (given by id) counts as unavailable though the backend
    shows it up: with maxUnavailable 1 the group is full."""
    trio = [target("a"), target("b"), target("c")]
    selection = choose(trio[1:], trio, Limits(), random.Random(0), under_fault={"id-a"})
    assert selection.chosen == []
    assert "1 of 3 members unavailable" in selection.refused[0].reason
    assert choose(trio[1:], trio, Limits(), random.Random(0)).chosen != []


def test_a_target_with_a_fault_in_place_is_not_attacked_again() -> None:
    """Even where the group could bear another member down, the target already under a fault
    is refused; another member is drawn instead."""
    trio = [target("a"), target("b"), target("c")]
    limits = Limits(max_targets=3, max_unavailable=3)
    selection = choose(trio, trio, limits, random.Random(0), under_fault={"id-a"})
    chosen = [t.name for t in selection.chosen]
    assert chosen == sorted(set(chosen) - {"a"})
    assert chosen
    assert {r.target.name: r.reason for r in selection.refused}["a"] == (
        "a already has a fault in place"
    )


# (running, healthy): healthy, without a health check, unhealthy but running, stopped
STATES = [(True, True), (True, None), (True, False), (False, False)]


@settings(max_examples=300)
@given(
    st.lists(st.tuples(st.integers(0, 5), st.sampled_from(STATES)), max_size=30),
    st.integers(1, 6),
    st.sampled_from([1, 2, 3, "50%", "100%"]),
    st.booleans(),
    st.integers(0, 2**32),
)
def test_a_group_keeps_an_available_member(
    members: list[tuple[int, tuple[bool, bool | None]]],
    max_targets: int,
    max_unavailable: int | str,
    allow_last_member: bool,
    seed: int,
) -> None:
    """Whatever the fleet (healthy, no health check, unhealthy, stopped), a run leaves every
    group it attacks with an available member, unless allowLastMember; with it, a lone member
    may be attacked whenever maxUnavailable allows one."""
    everyone = [
        Target("docker", f"id{i}", f"t{i}", f"g{g}", running=running, healthy=healthy)
        for i, (g, (running, healthy)) in enumerate(members)
    ]
    limits = Limits(
        max_targets=max_targets,
        max_unavailable=max_unavailable,
        allow_last_member=allow_last_member,
    )
    selection = choose(eligible(everyone, Targets()), everyone, limits, random.Random(seed))
    for group in {t.group for t in selection.chosen}:
        left = [t for t in everyone if t.group == group and t.available]
        assert [t for t in left if t not in selection.chosen] or allow_last_member
    lone = [target("solo", "alone")]
    alone = choose(lone, lone, limits, random.Random(seed)).chosen
    assert alone == (lone if allow_last_member and limits.unavailable_allowed(1) else [])


def test_opt_in_attacks_only_enabled_targets() -> None:
    """With optIn, only targets labelled chaosmonkey.io/enabled=true are candidates."""
    targets = [target("a", **{"chaosmonkey.io/enabled": "true"}), target("b")]
    assert [t.name for t in eligible(targets, Targets(opt_in=True))] == ["a"]
    assert [t.name for t in eligible(targets, Targets())] == ["a", "b"]
