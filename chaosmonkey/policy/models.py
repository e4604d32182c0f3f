"""The policy format `chaosmonkey/v1`: these field names are the interface users' files rely on."""

from __future__ import annotations

import datetime as dt
import re
from datetime import time, timedelta
from typing import TYPE_CHECKING, Annotated, Any, Literal
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
from chaosmonkey.faults import FaultSpec, fault_union
from chaosmonkey.policy import labelselector
from chaosmonkey.policy.stopconditions import StopCondition
from chaosmonkey.schema import Duration, Model

Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DAYS: tuple[Day, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _regex(pattern: str) -> str:
    try:
        re.compile(pattern)
    except re.error as error:
        raise ValueError(f"expected a regular expression, got {pattern!r}: {error}") from None
    return pattern


def _clock(value: Any) -> Any:
    if isinstance(value, time):
        return value
    if not isinstance(value, str) or not re.fullmatch(r"\d{2}:\d{2}(:\d{2})?", value):
        raise ValueError(f'expected a quoted time of day such as "09:00", got {value!r}')
    return value


Regex = Annotated[str, AfterValidator(_regex)]
Clock = Annotated[time, BeforeValidator(_clock)]


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


if TYPE_CHECKING:
    AnyFault = FaultSpec
else:  # every registered fault type, told apart by `type`
    AnyFault = fault_union()
NEVER_ATTACKED_NAMESPACES = ("kube-system",)


def check_cron_form(expression: str) -> str:
    """Five fields with weekdays by name; the scheduler checks each field's values when it loads
    the policy (`chaosmonkey.scheduling.scheduler.check_schedules`)."""
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(
            f"expected five cron fields (minute hour day month weekday), got {expression!r}"
        )
    if re.search(r"\d", fields[4]):
        raise ValueError(
            f"expected weekday names such as mon-fri in {expression!r}: numbered weekdays mean "
            "different days in different cron dialects"
        )
    return expression


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
        return None if value is None else check_cron_form(value)


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
    """Judges recovery by what a client sees as well as by the backend's state: one request every
    `interval`, failed when not answered as expected within `timeout`, slow (the service is
    degraded) when answered after `maxLatency`."""

    http: HttpProbe | None = None
    tcp: TcpProbe | None = None
    interval: Duration = timedelta(milliseconds=250)
    timeout: Duration = timedelta(seconds=1)
    max_latency: Duration | None = None

    @model_validator(mode="after")
    def _one_of(self) -> Probe:
        if (self.http is None) == (self.tcp is None):
            raise ValueError("expected exactly one of http or tcp")
        if self.interval <= timedelta(0) or self.timeout <= timedelta(0):
            raise ValueError("expected interval and timeout above zero")
        if self.max_latency is not None and not timedelta(0) < self.max_latency < self.timeout:
            raise ValueError(
                f"maxLatency: expected a duration above zero and below timeout "
                f"({format_duration(self.timeout)}), got {format_duration(self.max_latency)}"
            )
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
    fault: AnyFault
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
    def _fault_fits_backend(cls, fault: FaultSpec, info: ValidationInfo) -> FaultSpec:
        if backend := info.data.get("backend"):
            fault.check_backend(backend)
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


class Policy(Model):
    api_version: Literal["chaosmonkey/v1"]
    kind: Literal["Policy"]
    metadata: Metadata
    spec: Spec
    _source: str = PrivateAttr(default="")
    _lines: dict[tuple[str | int, ...], str] = PrivateAttr(default_factory=dict)

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def source(self) -> str:
        """`path:line` where the policy was read, or its name when it was built in code."""
        return self._source or self.name

    def where(self, *field: str | int) -> str:
        """`path:line` of a field (by its key path in the file, such as "spec", "schedule",
        "cron"), or of its nearest written parent; the policy's own place otherwise."""
        while field:
            if field in self._lines:
                return self._lines[field]
            field = field[:-1]
        return self.source
