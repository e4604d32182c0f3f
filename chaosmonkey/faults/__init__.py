"""Fault types: one module each, registered by the `type` policies give it.

Each module holds a fault's policy model (a `FaultSpec`), how it turns into a `Plan` on each
backend it is available on, and how that plan is applied and reverted through the operations the
backend offers. Every module of this package is imported here, so that a new fault type is one
new module: the policy format, the engine, the journal and the node agent find it by its name.
"""

from __future__ import annotations

import importlib
import pkgutil

from chaosmonkey.faults.base import (
    FAULTS,
    PLANS,
    FaultSpec,
    Impact,
    Injection,
    Plan,
    fault_union,
    parse_fault,
)


def _import_every_module() -> None:
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")


_import_every_module()

__all__ = [
    "FAULTS",
    "PLANS",
    "FaultSpec",
    "Impact",
    "Injection",
    "Plan",
    "fault_union",
    "parse_fault",
]
