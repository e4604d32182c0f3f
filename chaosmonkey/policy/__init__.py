"""Policies: the `chaosmonkey/v1` models and the YAML loader with `file:line` errors."""

from chaosmonkey.policy.loader import load_file, load_paths, load_policy
from chaosmonkey.policy.models import Policy

__all__ = ["Policy", "load_file", "load_paths", "load_policy"]
