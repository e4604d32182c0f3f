"""`spec.stopConditions`: signs that the system is unhealthy, so that it must not be attacked."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from chaosmonkey.schema import Model, PositiveDuration


def _url(value: str) -> str:
    if not re.fullmatch(r"https?://\S+", value):
        raise ValueError(f"expected an http:// or https:// URL, got {value!r}")
    return value


def _query(value: str) -> str:
    if not value.strip():
        raise ValueError("expected a PromQL query, got an empty string")
    return value.strip()


HttpUrl = Annotated[str, AfterValidator(_url)]


class PromqlCondition(Model):
    """Breached when the instant query returns any sample, as an alerting rule fires."""

    url: HttpUrl
    query: Annotated[str, AfterValidator(_query)]


class HttpCondition(Model):
    """Breached when `url` does not answer `expectStatus` within `timeout`."""

    url: HttpUrl
    expect_status: int = Field(default=200, ge=100, le=599)
    timeout: PositiveDuration = timedelta(seconds=2)


class StopCondition(Model):
    """One check, asked before a run and during every attack of the policy."""

    name: str | None = Field(default=None, min_length=1)
    promql: PromqlCondition | None = None
    http: HttpCondition | None = None
    on_error: Literal["breach", "ignore"] = "breach"

    @model_validator(mode="after")
    def _one_of(self) -> StopCondition:
        if (self.promql is None) == (self.http is None):
            raise ValueError("expected exactly one of promql or http")
        if self.http is not None and self.on_error == "ignore":
            raise ValueError(
                "onError: applies to promql only; an http condition is breached when it fails"
            )
        return self

    def label(self, index: int) -> str:
        """How messages name it: its name, else its place in the policy."""
        return self.name or f"stopConditions[{index}]"
