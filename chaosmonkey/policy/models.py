"""The policy format `chaosmonkey/v1`: these field names are the interface users' files rely on."""

from __future__ import annotations

import datetime as dt
import re
import signal
from datetime import time, timedelta
from typing import Annotated, Any, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from chaosmonkey.durations import format_duration
from chaosmonkey.policy import labelselector
from chaosmonkey.policy.network import NetworkFault, NetworkFaultBase
from chaosmonkey.policy.stopconditions import StopCondition
from chaosmonkey.policy.types import Duration, Model

Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DAYS: tuple[Day, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _regex(pattern: str) -> str:
    try:
        re.compile(pattern)
    except re.error as error:
        raise ValueError(f"expected a regular expression, got {pattern!r}: {error}") from None
    return pattern


def _signal_name(value: str | int) -> str:
    name = str(value).upper()
    name = name if name.startswith("SIG") else f"SIG{name}"
    if name not in signal.Signals.__members__:
        raise ValueError(f"expected a signal name such as SIGKILL or SIGTERM, got {value!r}")
    return name


def _clock(value: Any) -> Any:
    if isinstance(value, time):
        return value
    if not isinstance(value, str) or not re.fullmatch(r"\d{2}:\d{2}(:\d{2})?", value):
        raise ValueError(f'expected a quoted time of day such as "09:00", got {value!r}')
    return value


Regex = Annotated[str, AfterValidator(_regex)]
Clock = Annotated[time, BeforeValidator(_clock)]
SignalName = Annotated[str, BeforeValidator(_signal_name)]


class Exclude(Model):
    labels: dict[str, str] = Field(default_factory=dict)
    names: list[Regex] = Field(default_factory=list)


class Targets(Model):
    labels: dict[str, str] = Field(default_factory=dict)
    names: list[Regex] = Field(default_factory=list)
    exclude: Exclude = Field(default_factory=Exclude)
    # docker: only targets labelled chaosmonkey.io/enabled=true; kubernetes: only pods of
    # namespaces annotated so
    opt_in: bool = False
    min_age: Duration | None = None  # targets younger than this are left alone
    # kubernetes only
    namespaces: list[str] = Field(default_factory=list)  # the allow-list; required
    selector: str | None = None  # a label selector such as "app=web,tier!=db"
    allow_host_network: bool = False  # hostNetwork pods share the node's network

    @field_validator("selector")
    @classmethod
    def _selector(cls, value: str | None) -> str | None:
        return None if value is None else labelselector.check(value)

    def kubernetes_fields(self) -> list[str]:
        """The Kubernetes-only fields this scope sets, by their policy names."""
        fields: dict[str, object] = {"namespaces": self.namespaces, "selector": self.selector}
        fields["allowHostNetwork"] = self.allow_host_network
        return [name for name, value in fields.items() if value]


class KillFault(Model):
    """The target's main process is killed. `crash` signals it as a crash would (the engine sees an
    unexpected exit, so restart policies apply); `api` asks the engine to kill it (a manual stop:
    restart policies do not bring it back)."""

    type: Literal["kill"]
    signal: SignalName = "SIGKILL"
    method: Literal["crash", "api"] = "crash"
    # kubernetes: the pod is deleted with this grace period (default 0: killed at once)
    grace_period: Duration | None = None

    @property
    def docker_settings(self) -> list[str]:
        """The Docker-only settings given other values than their defaults."""
        given = {"signal": self.signal != "SIGKILL", "method": self.method != "crash"}
        return [name for name, changed in given.items() if changed]


class EvictFault(Model):
    """Kubernetes: the pod is evicted through the Eviction API, so PodDisruptionBudgets apply (a
    refused eviction changes nothing). `gracePeriod` overrides the pod's own termination grace."""

    type: Literal["evict"]
    grace_period: Duration | None = None


class StopFault(Model):
    """Graceful stop (SIGTERM, then SIGKILL after `timeout`); started again by revert if nothing
    brought it back by the end of the recovery timeout."""

    type: Literal["stop"]
    timeout: Duration = timedelta(seconds=10)


class RestartFault(Model):
    type: Literal["restart"]
    timeout: Duration = timedelta(seconds=10)


class PauseFault(Model):
    """Freezes every process of the target for `duration`, then thaws them."""

    type: Literal["pause"]
    duration: Duration = timedelta(seconds=30)


ContainerFault = KillFault | StopFault | RestartFault | PauseFault
Fault = Annotated[ContainerFault | EvictFault | NetworkFault, Field(discriminator="type")]
FAULT_TYPES = frozenset(
    get_args(model.model_fields["type"].annotation)[0]
    for model in (*get_args(ContainerFault), EvictFault, *get_args(NetworkFault))
)
KUBERNETES_FAULTS = ("kill", "evict")
NEVER_ATTACKED_NAMESPACES = ("kube-system",)


class Schedule(Model):
    """When a policy runs: every `interval`, on `cron`, or in Chaos Monkey mode
    (`meanTimeBetweenAttacks`, in working days of the window: see chaosmonkey/planning.py)."""

    interval: Duration | None = None
    cron: str | None = None
    mean_time_between_attacks: Duration | None = None
    min_time_between_attacks: Duration | None = None  # Chaos Monkey mode only; default 0

    @model_validator(mode="after")
    def _one_of(self) -> Schedule:
        kinds = (self.interval, self.cron, self.mean_time_between_attacks)
        if sum(kind is not None for kind in kinds) != 1:
            raise ValueError("expected exactly one of interval or cron or meanTimeBetweenAttacks")
        if self.interval is not None and self.interval <= timedelta(0):
            raise ValueError("interval: expected a duration above zero")
        if self.min_time_between_attacks is not None and not self.chaos_monkey_mode:
            raise ValueError("minTimeBetweenAttacks: expected only with meanTimeBetweenAttacks")
        if self.chaos_monkey_mode:
            self._check_mean()
        return self

    def _check_mean(self) -> None:
        mean, least = self.mean_time_between_attacks, self.min_between_attacks
        assert mean is not None
        if mean < timedelta(days=1):
            raise ValueError(
                f"meanTimeBetweenAttacks: expected 1d or more (at most one attack per group "
                f"per working day), got {format_duration(mean)}"
            )
        if mean < least:
            raise ValueError(
                f"meanTimeBetweenAttacks: expected at least minTimeBetweenAttacks "
                f"({format_duration(least)}), got {format_duration(mean)}"
            )

    @property
    def chaos_monkey_mode(self) -> bool:
        """Attacks drawn at random each working day instead of run on a timetable."""
        return self.mean_time_between_attacks is not None

    @property
    def min_between_attacks(self) -> timedelta:
        return self.min_time_between_attacks or timedelta(0)

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is not None:
            from chaosmonkey.scheduling import check_cron

            check_cron(value)
        return value


class BlackoutDays(Model):
    """Days without attacks, in the window's timezone: one `date`, or `from` to `to` inclusive."""

    date: dt.date | None = None
    from_: dt.date | None = Field(default=None, alias="from")
    to: dt.date | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> BlackoutDays:
        if (self.date is None) == (self.from_ is None and self.to is None):
            raise ValueError("expected either date, or from and to")
        if self.date is None and (self.from_ is None or self.to is None):
            raise ValueError("expected both from and to")
        if self.from_ and self.to and self.from_ > self.to:
            raise ValueError("expected from on or before to")
        return self

    def covers(self, day: dt.date) -> bool:
        first, last = (self.date, self.date) if self.date else (self.from_, self.to)
        return first is not None and last is not None and first <= day <= last


def _blackout(value: Any) -> Any:
    """A bare date string is a one-day blackout."""
    return {"date": value} if isinstance(value, str | dt.date) else value


Blackout = Annotated[BlackoutDays, BeforeValidator(_blackout)]


class Window(Model):
    """When attacks may run; checked again at the moment an attack starts."""

    timezone: str = "UTC"
    days: list[Day] = Field(default_factory=lambda: list(DAYS))
    start: Clock = time(0, 0)
    end: Clock = time(23, 59, 59)
    blackout: list[Blackout] = Field(default_factory=list)  # holidays and freezes

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"expected an IANA timezone such as Europe/Amsterdam, got {value!r}"
            ) from None
        return value

    @model_validator(mode="after")
    def _ordered(self) -> Window:
        if self.start >= self.end:
            raise ValueError("expected start before end (windows do not cross midnight)")
        return self


def _max_unavailable(value: Any) -> int | str:
    if isinstance(value, bool):
        raise ValueError("expected a number or a percentage such as 25%")
    if isinstance(value, int):
        if value < 1:
            raise ValueError("expected at least 1")
        return value
    match = re.fullmatch(r"(\d{1,3})%", str(value).strip())
    if not match or not 0 < int(match.group(1)) <= 100:
        raise ValueError(f"expected a number or a percentage from 1% to 100%, got {value!r}")
    return f"{int(match.group(1))}%"


class Limits(Model):
    max_targets: int = Field(default=1, ge=1)
    max_unavailable: Annotated[int | str, BeforeValidator(_max_unavailable)] = 1
    max_attacks_per_day: int | None = Field(default=None, ge=1)  # this policy's, since midnight
    max_concurrent_faults: int | None = Field(default=None, ge=1)  # this policy's, in place at once
    allow_last_member: bool = False  # may take down a group's last available member

    def unavailable_allowed(self, group_size: int) -> int:
        """How many members of a group of `group_size` may be down at once (percent rounds down)."""
        if isinstance(self.max_unavailable, int):
            return self.max_unavailable
        return group_size * int(self.max_unavailable.rstrip("%")) // 100


class HttpProbe(Model):
    url: str = Field(pattern=r"^https?://")
    expect_status: int = Field(default=200, ge=100, le=599)


class TcpProbe(Model):
    host: str
    port: int = Field(ge=1, le=65535)


class Probe(Model):
    """Judges recovery by what a client sees instead of by the backend's state."""

    http: HttpProbe | None = None
    tcp: TcpProbe | None = None
    interval: Duration = timedelta(milliseconds=250)
    timeout: Duration = timedelta(seconds=1)

    @model_validator(mode="after")
    def _one_of(self) -> Probe:
        if (self.http is None) == (self.tcp is None):
            raise ValueError("expected exactly one of http or tcp")
        if self.interval <= timedelta(0) or self.timeout <= timedelta(0):
            raise ValueError("expected interval and timeout above zero")
        return self


class Recovery(Model):
    timeout: Duration = timedelta(seconds=120)
    probe: Probe | None = None


class Metadata(Model):
    name: str = Field(pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


class Spec(Model):
    backend: Literal["docker", "kubernetes"] = "docker"
    dry_run: bool = True
    targets: Targets = Field(default_factory=Targets, validate_default=True)
    fault: Fault
    schedule: Schedule | None = None
    window: Window | None = None
    limits: Limits = Field(default_factory=Limits)
    recovery: Recovery = Field(default_factory=Recovery)
    stop_conditions: list[StopCondition] = Field(default_factory=list)

    @field_validator("targets")
    @classmethod
    def _targets_fit_backend(cls, targets: Targets, info: ValidationInfo) -> Targets:
        backend = info.data.get("backend")
        if backend == "kubernetes":
            _check_kubernetes_scope(targets)
        elif backend == "docker" and (fields := targets.kubernetes_fields()):
            raise ValueError(f"{', '.join(fields)}: only with backend kubernetes")
        return targets

    @field_validator("fault")
    @classmethod
    def _fault_fits_backend(cls, fault: Fault, info: ValidationInfo) -> Fault:
        backend = info.data.get("backend")
        if backend == "kubernetes":
            _check_kubernetes_fault(fault)
        elif backend == "docker":
            _check_docker_fault(fault)
        return fault

    @model_validator(mode="after")
    def _plans_need_a_window(self) -> Spec:
        if self.schedule and self.schedule.chaos_monkey_mode and self.window is None:
            raise ValueError(
                "expected a window: meanTimeBetweenAttacks counts working days of the window"
            )
        return self


def _check_kubernetes_scope(targets: Targets) -> None:
    if not targets.namespaces:
        raise ValueError(
            "namespaces: expected the namespaces this policy may attack, such as [shop] "
            "(an allow-list, required with backend kubernetes)"
        )
    if never := [name for name in targets.namespaces if name in NEVER_ATTACKED_NAMESPACES]:
        raise ValueError(f"namespaces: {', '.join(never)} is never attacked; remove it")


def _check_kubernetes_fault(fault: Fault) -> None:
    if isinstance(fault, NetworkFaultBase):
        return  # applied by the node agent on the pod's node
    if fault.type not in KUBERNETES_FAULTS:
        raise ValueError(
            f"a {fault.type} fault is not available on kubernetes; "
            f"expected one of {', '.join(KUBERNETES_FAULTS)} or a network fault"
        )
    if isinstance(fault, KillFault) and (settings := fault.docker_settings):
        raise ValueError(
            f"{' and '.join(settings)}: docker settings; on kubernetes a kill deletes the pod "
            "(gracePeriod: 0 kills it at once)"
        )


def _check_docker_fault(fault: Fault) -> None:
    if isinstance(fault, EvictFault):
        raise ValueError("an evict fault (the Eviction API) needs backend kubernetes")
    if isinstance(fault, KillFault) and fault.grace_period is not None:
        raise ValueError(
            "gracePeriod: a kubernetes setting; on docker a kill takes signal and method"
        )


class Policy(Model):
    api_version: Literal["chaosmonkey/v1"]
    kind: Literal["Policy"]
    metadata: Metadata
    spec: Spec
    _source: str = PrivateAttr(default="")

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def source(self) -> str:
        """`path:line` where the policy was read, or its name when it was built in code."""
        return self._source or self.name
