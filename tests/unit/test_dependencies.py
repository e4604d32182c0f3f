"""pyproject's dependencies: every library the monkey imports is declared, with a floor past the
advisories known for it, and the environment the tests run in satisfies them."""

from __future__ import annotations

import sys
import tomllib
from importlib import metadata
from pathlib import Path

import grimp
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

PYPROJECT = Path(__file__).parents[2] / "pyproject.toml"
# the first version past every advisory known for each (see the comment in pyproject.toml)
SAFE_FLOORS = {"aiohttp": "3.14.1", "requests": "2.33.0", "urllib3": "2.7.0"}


def declared() -> dict[str, Requirement]:
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    requirements = (Requirement(text) for text in project["dependencies"])
    return {canonicalize_name(requirement.name): requirement for requirement in requirements}


def imported_distributions() -> set[str]:
    """The distributions of the top-level packages outside the standard library that
    chaosmonkey imports."""
    graph = grimp.build_graph("chaosmonkey", include_external_packages=True)
    external = {module for module in graph.modules if not module.startswith("chaosmonkey")}
    external -= set(sys.stdlib_module_names)
    owners = metadata.packages_distributions()
    return {canonicalize_name(owners[module][0]) for module in external}


def test_every_imported_library_is_declared() -> None:
    assert imported_distributions() - declared().keys() == set()


@pytest.mark.parametrize(("name", "floor"), SAFE_FLOORS.items())
def test_floor_is_past_the_known_advisories(name: str, floor: str) -> None:
    """The declared lower bound (`>=`) is at least the safe floor."""
    lower = [
        Version(clause.version) for clause in declared()[name].specifier if clause.operator == ">="
    ]
    assert lower, f"{name}: no `>=` floor declared"
    assert max(lower) >= Version(floor)


@pytest.mark.parametrize("name", SAFE_FLOORS)
def test_the_installed_version_satisfies_the_floor(name: str) -> None:
    assert declared()[name].specifier.contains(metadata.version(name), prereleases=True)
