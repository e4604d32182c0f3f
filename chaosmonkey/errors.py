"""The error family of chaosmonkey.

A `ChaosMonkeyError` is the user's to fix (bad input, an unreachable engine, a missing permission):
the command line prints its one-line message and exits non-zero, without a traceback.
Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class ChaosMonkeyError(Exception):
    """An error the user can act on; `str(error)` is one line: what, where, what was expected."""

    exit_code = 1


class PolicyError(ChaosMonkeyError):
    """A policy file is malformed or invalid. `where` is `path:line` (or the field)."""

    exit_code = 2

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}")
        self.where = where
        self.message = message


class PolicyErrors(ChaosMonkeyError):
    """Several policy errors found in one pass; each is printed on its own line."""

    exit_code = 2

    def __init__(self, errors: list[PolicyError]) -> None:
        super().__init__("\n".join(str(error) for error in errors))
        self.errors = errors


class UsageError(ChaosMonkeyError):
    """A command asked for something that is not there (a journal to steer, say): nothing done."""

    exit_code = 2


class BackendError(ChaosMonkeyError):
    """The backend (Docker engine, Kubernetes API) cannot be reached or refused a call."""

    exit_code = 3


class BackendUnavailable(BackendError):
    """The backend does not answer at all: nothing can be selected or attacked."""


class PermissionDenied(BackendError):
    """The backend answered, but refused us the permission we need."""


class TargetGone(BackendError):
    """The target disappeared between selection and the call (removed, replaced)."""


class FaultRefused(ChaosMonkeyError):
    """The backend refused the fault and changed nothing (an eviction a PodDisruptionBudget
    forbids): the attack is skipped, with this reason, rather than failed."""


class NoTargets(ChaosMonkeyError):
    """A policy's selector matches nothing on the backend."""

    exit_code = 4


class NoImpact(ChaosMonkeyError):
    """A fault was applied but the backend never showed its effect (recorded as failed)."""


class NotLeader(ChaosMonkeyError):
    """This monkey does not hold the lease (any more): it must not change a target."""


class RevertFailedError(ChaosMonkeyError):
    """A fault could not be reverted; it stays recorded as active in the journal."""

    exit_code = 5


def root_os_error(error: BaseException) -> OSError | None:
    """The OSError at the root of an SDK's transport error (requests and urllib3 nest it in
    causes, contexts, args and `reason`), or None."""
    seen: set[int] = set()
    pending: list[object] = [error]
    while pending:
        item = pending.pop(0)
        if not isinstance(item, BaseException) or id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, OSError) and item.strerror:
            return item
        reason = getattr(item, "reason", None)
        pending.extend([item.__cause__, item.__context__, reason, *item.args])
    return None
