"""Two `chaosmonkey run` processes on one journal, against real containers: one leads and attacks,
the other stands by, and takes over within the lease time when the leader is killed."""

from __future__ import annotations

import time
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from chaosmonkey.journal import Journal
from tests.integration.cli import LoggingMonkey, records, run_cli, unique_app, write_policy
from tests.integration.conftest import RunTarget, WaitFor

pytestmark = pytest.mark.docker

INTERVAL_S = 2.0
WATCH_S = 12.0  # how long the two monkeys are watched attacking as one
MARGIN_S = 3.0  # a lease beat, process start-up, the takeover's own reverts


class Monkey(LoggingMonkey):
    """A `chaosmonkey run` process on the journal's lease, logging to a file of its own."""

    def __init__(self, policies: Path, db: Path, log: Path, lease_s: float) -> None:
        super().__init__(log, "--policies", str(policies), "--lease-seconds", str(lease_s), db=db)

    def attack_ids(self) -> set[str]:
        """The attacks this process started (and wrote to the journal), by its own log."""
        return {line["attack_id"] for line in self.events("attack_recorded", "attack_not_run")}


def start_two(
    tmp_path: Path, app: str, monkeys: list[Monkey], wait_for: WaitFor, lease_s: float
) -> tuple[Monkey, Monkey]:
    """Two monkeys started together on one journal, killing app=`app` every 2 s; returns
    (leader, follower) once one leads and the other has stood by for a scheduled run."""
    policies = tmp_path / "policies"
    policies.mkdir()
    schedule = {"interval": f"{INTERVAL_S:g}s"}
    write_policy(policies, app, {"type": "kill", "method": "crash"}, schedule=schedule)
    # Created beforehand: two processes creating one new journal at once can fail, as SQLite's
    # switch to WAL does not wait for the lock it needs (Journal does not retry it yet).
    Journal(tmp_path / "j.db").close()
    for name in ("a", "b"):
        monkeys.append(Monkey(policies, tmp_path / "j.db", tmp_path / f"{name}.log", lease_s))
    wait_for(lambda: any(m.events("leadership_acquired") for m in monkeys), "a leader", 15)
    [leader] = [m for m in monkeys if m.events("leadership_acquired")]
    [follower] = [m for m in monkeys if m is not leader]
    wait_for(lambda: bool(follower.events("not_leader")), "the follower to stand by", 10)
    return leader, follower


def journal_attacks(db: Path) -> list[dict[str, Any]]:
    """Every attack in the journal, oldest first."""
    journal = Journal(db)
    try:
        return [record.to_dict() for record in reversed(journal.attacks(limit=1000))]
    finally:
        journal.close()


@pytest.mark.timing
def test_two_monkeys_attack_as_one(
    tmp_path: Path, run_target: RunTarget, wait_for: WaitFor, monkeys: list[Monkey]
) -> None:
    """Over 12 s of a kill every 2 s, each attack in the journal is one of the leader's runs:
    the follower attacks nothing, and no two attacks start within 1 s of each other."""
    app = unique_app()
    run_target(labels={"app": app}, restart="always")
    leader, follower = start_two(tmp_path, app, monkeys, wait_for, lease_s=10)
    time.sleep(WATCH_S)
    assert follower.stop() == 0  # first, so that it never takes over
    assert leader.stop() == 0
    history = records(
        run_cli("history", "--output", "json", "--limit", "1000", db=tmp_path / "j.db")
    )
    assert len(history) >= 3, history
    assert {r["id"] for r in history} == leader.attack_ids()
    assert len(history) == len(leader.events("attack_finished"))  # each run once, and finished
    assert follower.attack_ids() == set()
    assert not follower.events("leadership_acquired")
    assert not [r for r in history if "not the leader" in (r["reason"] or "")]
    starts = sorted(r["created_at"] for r in history)
    gaps = [later - earlier for earlier, later in pairwise(starts)]
    assert min(gaps) >= 1.0, gaps


@pytest.mark.timing
def test_a_follower_takes_over_from_a_killed_leader(
    tmp_path: Path, run_target: RunTarget, wait_for: WaitFor, monkeys: list[Monkey]
) -> None:
    """SIGKILL the leader: the follower takes the 3 s lease and attacks again within lease +
    interval + a margin, and goes on attacking alone."""
    lease_s = 3.0
    app = unique_app()
    run_target(labels={"app": app}, restart="always")
    db = tmp_path / "j.db"
    leader, follower = start_two(tmp_path, app, monkeys, wait_for, lease_s)
    wait_for(lambda: bool(leader.attack_ids()), "the leader's first attack", 20)
    leader.process.kill()
    killed_at = time.time()
    leader.process.wait()

    def since_kill() -> list[dict[str, Any]]:
        return [r for r in journal_attacks(db) if r["created_at"] > killed_at]

    wait_for(lambda: len(since_kill()) >= 2, "two attacks after the kill", 20)
    assert follower.events("leadership_acquired")
    after = since_kill()
    takeover_s = after[0]["created_at"] - killed_at
    assert takeover_s < lease_s + INTERVAL_S + MARGIN_S, after[0]
    assert {r["id"] for r in after} <= follower.attack_ids()
    assert not {r["id"] for r in after} & leader.attack_ids()
    assert follower.stop() == 0


def test_a_stopped_leader_hands_over_at_once(
    tmp_path: Path, run_target: RunTarget, wait_for: WaitFor, monkeys: list[Monkey]
) -> None:
    """SIGTERM the leader: it releases the lease as it exits, so the follower takes over at its
    next beat (a third of the lease), not once the 9 s lease would have run out."""
    lease_s = 9.0
    app = unique_app()
    run_target(labels={"app": app}, restart="always")
    leader, follower = start_two(tmp_path, app, monkeys, wait_for, lease_s)
    stopped_at = time.time()
    assert leader.stop() == 0
    assert leader.events("leadership_released")
    wait_for(lambda: bool(follower.events("leadership_acquired")), "the takeover", lease_s)
    [takeover] = follower.events("leadership_acquired")
    taken_s = datetime.fromisoformat(takeover["timestamp"]).timestamp() - stopped_at
    assert taken_s < lease_s / 3 + 1.0, taken_s
    assert takeover["token"] == 2
    assert follower.stop() == 0
