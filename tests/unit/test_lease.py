"""The lease: one holder at a time, expiry hands over, tokens only grow, and the fence reads the
database rather than trusting what its holder last saw."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from chaosmonkey.daemon.leadership import Leadership
from chaosmonkey.errors import ChaosMonkeyError, NotLeader
from chaosmonkey.journal import Journal
from chaosmonkey.journal.lease import Lease

DURATION_S = 10.0


class FakeClock:
    """Wall-clock time that moves only when told to."""

    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def pair(tmp_path: Path, clock: FakeClock) -> Iterator[tuple[Lease, Lease]]:
    """Two monkeys' leases on one journal, on one fake clock."""
    db = tmp_path / "j.db"
    Journal(db).close()
    leases = tuple(Lease(db, holder, DURATION_S, clock=clock) for holder in ("a", "b"))
    yield leases[0], leases[1]
    for lease in leases:
        lease.close()


def test_only_one_acquires(pair: tuple[Lease, Lease]) -> None:
    """While the first holder's lease runs, the second cannot take it; the first can, again."""
    a, b = pair
    assert a.try_acquire()
    assert not b.try_acquire()
    assert a.try_acquire()
    assert (a.is_leader(), b.is_leader()) == (True, False)
    a.fence()
    with pytest.raises(NotLeader, match="taken by a with token 1"):
        b.fence()


def test_renewal_keeps_the_lease_and_its_token(pair: tuple[Lease, Lease], clock: FakeClock) -> None:
    """Renewed before it runs out, the lease outlives its first duration with the same token."""
    a, b = pair
    assert a.try_acquire()
    for _ in range(3):
        clock.advance(DURATION_S * 0.6)
        assert a.renew()
        assert not b.try_acquire()
    assert a.token == 1
    a.fence()


def test_expiry_hands_over_with_a_greater_token(
    pair: tuple[Lease, Lease], clock: FakeClock
) -> None:
    """Once the lease has expired the other takes it, with the next token, and the first cannot
    renew; taking it back gives yet another token."""
    a, b = pair
    assert a.try_acquire()
    clock.advance(DURATION_S)
    assert b.try_acquire()
    assert (a.token, b.token) == (1, 2)
    assert not a.renew()
    assert (a.is_leader(), b.is_leader()) == (False, True)
    b.release()
    assert a.try_acquire()
    assert a.token == 3


def test_fence_fails_for_the_old_holder_before_it_notices(
    pair: tuple[Lease, Lease], clock: FakeClock
) -> None:
    """After a takeover the old holder's fence refuses, though it has not tried to renew since:
    the fence asks the database, not a flag kept by the renewals."""
    a, b = pair
    assert a.try_acquire()
    a.fence()
    clock.advance(DURATION_S + 1)
    assert b.try_acquire()
    assert a.token == 1
    with pytest.raises(NotLeader) as raised:
        a.fence()
    assert "\n" not in str(raised.value)
    assert "taken by b with token 2" in str(raised.value)
    assert isinstance(raised.value, ChaosMonkeyError)


def test_fence_fails_once_the_lease_has_expired(
    pair: tuple[Lease, Lease], clock: FakeClock
) -> None:
    """An unrenewed lease stops fencing in at its expiry, even if no one else has taken it."""
    a, _ = pair
    assert a.try_acquire()
    clock.advance(DURATION_S - 0.1)
    a.fence()
    clock.advance(0.2)
    with pytest.raises(NotLeader, match="expired"):
        a.fence()
    assert not a.renew()


def test_release_hands_over_at_once(pair: tuple[Lease, Lease]) -> None:
    """A released lease is free before its expiry; the next holder's token is greater."""
    a, b = pair
    assert a.try_acquire()
    a.release()
    assert not a.is_leader()
    with pytest.raises(NotLeader, match="is free"):
        a.fence()
    assert b.try_acquire()
    assert b.token == 2


def test_release_by_a_former_holder_changes_nothing(
    pair: tuple[Lease, Lease], clock: FakeClock
) -> None:
    """A holder that lost the lease cannot free it from under its new holder."""
    a, b = pair
    assert a.try_acquire()
    clock.advance(DURATION_S)
    assert b.try_acquire()
    a.release()
    assert b.is_leader()
    b.fence()


def test_a_locked_database_is_a_failed_attempt(tmp_path: Path, clock: FakeClock) -> None:
    """While another process holds the write lock, acquiring fails (after a short wait) rather
    than raising, and the fence refuses a lease it never got."""
    db = tmp_path / "j.db"
    lease = Lease(db, "a", duration_s=0.3, clock=clock)
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        assert not lease.try_acquire()
    finally:
        other.execute("ROLLBACK")
        other.close()
    with pytest.raises(NotLeader):
        lease.fence()
    assert lease.try_acquire()
    lease.close()


def test_the_lease_lives_beside_the_journal(tmp_path: Path) -> None:
    """The lease table shares the journal's file, and the journal still opens and reads."""
    db = tmp_path / "j.db"
    lease = Lease(db, "a")
    assert lease.try_acquire()
    journal = Journal(db)
    assert journal.attacks() == []
    journal.close()
    lease.close()


def test_a_new_leader_leads_only_after_its_takeover_work(
    pair: tuple[Lease, Lease], clock: FakeClock
) -> None:
    """The daemon's leadership: jobs may run only once the left-overs of a takeover are handled,
    and a beat after the lease was taken over logs the loss and stops them."""
    a, b = pair
    seen: list[bool] = []
    leader = Leadership(a, on_acquired=lambda: seen.append(leader.leads()))
    leader.beat()
    assert seen == [False]
    assert leader.leads()
    clock.advance(DURATION_S)
    assert b.try_acquire()
    assert not leader.leads()
    leader.beat()
    assert not leader.leads()
    assert seen == [False]
