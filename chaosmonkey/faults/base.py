"""What every fault type is made of.

A `FaultSpec` is a fault as a policy writes it (`spec.fault`): its settings, where it is available,
how the engine sees it take effect (`impact`), how long it is held, and how it turns into a `Plan`
on one target. A `Plan` is exactly what the fault changes on that target: the journal keeps it
before it is applied, so that `revert` needs nothing else, even in a new process after a crash.
A plan acts through the operations a backend offers (`chaosmonkey.faults.ops`), never through an
SDK: the backends stay the only importers of theirs.
"""

from __future__ import annotations

import enum
import functools
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any, ClassVar, TypeVar, Union, get_args

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from chaosmonkey.errors import (
    BackendError,
    ChaosMonkeyError,
    PolicyError,
    RevertFailedError,
    TargetGone,
)
from chaosmonkey.model import RevertResult, Target
from chaosmonkey.schema import Model


class Impact(enum.StrEnum):
    """How the engine sees that a fault took effect."""

    SEEN = "seen"  # the backend's watch shows it: a container died or paused, a pod went away
    APPLIED = "applied"  # nothing the backend shows (network): in effect from apply to revert


class FaultSpec(Model):
    """A fault type as policies write it; each subclass is registered by its `type` literal."""

    type: str
    backends: ClassVar[tuple[str, ...]]  # where it is available
    impact: ClassVar[Impact] = Impact.SEEN
    network: ClassVar[bool] = False  # one of the network faults, for messages

    def held_for(self) -> timedelta | None:
        """How long the fault is kept before the monkey reverts it; None: it is not held."""
        return None

    def check_backend(self, backend: str) -> None:
        """Raises ValueError (a policy error) when the fault, or one of its settings, does not
        apply to `backend`."""
        if backend not in self.backends:
            raise ValueError(
                f"a {self.type} fault is not available on {backend}; expected one of "
                f"{available_on(backend)}"
            )

    def plan(self, attack_id: str, target: Target, ops: Any) -> Plan:
        """What the fault will change on `target`, asking the backend (`ops`) what it must know
        (addresses, where the target runs); no side effect."""
        raise NotImplementedError

    def injection(self, attack_id: str, target: Target, backend: object) -> Injection:
        """The attack's plan on `target`, refused (PolicyError) before anything is recorded when
        the fault does not apply to the target's backend, or the backend cannot carry it out."""
        try:
            self.check_backend(target.backend)
        except ValueError as error:
            raise PolicyError("spec.fault", str(error)) from None
        plan = self.plan(attack_id, target, backend)
        _operations(backend, plan)
        return Injection(attack_id, target, plan)


class Plan(BaseModel):
    """Exactly what a fault changes on one target, as the journal keeps it.

    Subclasses are registered by `kind`, the journal's name for them; `needs` is the operations
    protocol a backend must offer to apply them.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: ClassVar[str]
    needs: ClassVar[type]
    reversible: ClassVar[bool] = False

    @property
    def action(self) -> str:
        """The backend call that applies the plan, for people (logs, `status`, `revert`)."""
        return self.kind

    def apply(self, ops: Any, target: Target) -> float:
        """Makes the change; returns when (epoch seconds) the backend was asked to."""
        raise NotImplementedError

    def revert(self, ops: Any, target: Target) -> RevertResult:
        """Undoes the change from this record alone; only called on reversible plans."""
        raise NotImplementedError


@dataclass(frozen=True)
class Injection:
    """One attack's plan on its target: what the journal records before the fault is applied."""

    attack_id: str
    target: Target
    plan: Plan

    @property
    def backend(self) -> str:
        return self.target.backend

    @property
    def action(self) -> str:
        return self.plan.action

    @property
    def reversible(self) -> bool:
        return self.plan.reversible

    def apply(self, backend: object) -> float:
        """Applies the plan through `backend`'s operations (which `FaultSpec.injection` checked
        the backend offers when it made the injection); when the call was made."""
        return self.plan.apply(backend, self.target)

    def revert(self, backend: object) -> RevertResult:
        """Undoes the plan; a gone target has nothing left to undo. Any other failure is a
        RevertFailedError: the fault stays recorded as active."""
        if not self.reversible:
            return RevertResult.NOTHING_TO_REVERT
        try:
            return self.plan.revert(_operations(backend, self.plan), self.target)
        except TargetGone:
            return RevertResult.TARGET_GONE
        except RevertFailedError:
            raise
        except ChaosMonkeyError as error:
            raise RevertFailedError(f"cannot revert attack {self.attack_id}: {error}") from error


def _operations(backend: object, plan: Plan) -> Any:
    if not isinstance(backend, plan.needs):
        name = getattr(backend, "name", type(backend).__name__)
        raise BackendError(f"the {name} backend cannot carry out a {plan.kind} plan")
    return backend


FAULTS: dict[str, type[FaultSpec]] = {}  # by `type`, as policies name them
PLANS: dict[str, type[Plan]] = {}  # by `kind`, as the journal names them
SpecT = TypeVar("SpecT", bound=type[FaultSpec])
PlanT = TypeVar("PlanT", bound=type[Plan])


def register_fault(cls: SpecT) -> SpecT:
    """Makes a fault type known to policies by the value of its `type` literal."""
    spec: type[FaultSpec] = cls
    (name,) = get_args(spec.model_fields["type"].annotation)
    FAULTS[name] = cls
    return cls


def register_plan(cls: PlanT) -> PlanT:
    """Makes a plan known to the journal by its `kind`."""
    PLANS[cls.kind] = cls
    return cls


def available_on(backend: str) -> str:
    """The fault types a backend offers, for messages: "evict, kill or a network fault"."""
    names = [name for name, spec in FAULTS.items() if backend in spec.backends]
    own = sorted(name for name in names if not FAULTS[name].network)
    return ", ".join(own) + (" or a network fault" if len(own) < len(names) else "")


def fault_union() -> Any:
    """Every registered fault type as one pydantic type, told apart by `type` (for `spec.fault`
    and the node agent's requests)."""
    return Annotated[Union[tuple(FAULTS.values())], Field(discriminator="type")]  # noqa: UP007


def parse_fault(data: Any) -> FaultSpec:
    """A fault from its policy form (a mapping with `type`); raises pydantic's ValidationError."""
    fault: FaultSpec = _adapter(len(FAULTS)).validate_python(data)
    return fault


@functools.cache
def _adapter(registered: int) -> TypeAdapter[Any]:
    """Built once for as many types as are registered (building one takes milliseconds)."""
    return TypeAdapter(fault_union())
