"""Policy loading: valid files load, every kind of bad input names its file, line and field."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from chaosmonkey.errors import PolicyErrors
from chaosmonkey.faults.kill import KillFault
from chaosmonkey.faults.pause import PauseFault
from chaosmonkey.policy import load_paths, load_policy
from chaosmonkey.scheduling.scheduler import check_schedules

REPO = Path(__file__).resolve().parents[2]

VALID = """\
apiVersion: chaosmonkey/v1
kind: Policy
metadata:
  name: web-kill
spec:
  backend: docker
  dryRun: false
  targets:
    labels: {app: web}
  fault:
    type: kill
    signal: SIGKILL
  schedule:
    interval: 10m
  limits:
    maxTargets: 1
    maxUnavailable: 1
  recovery:
    timeout: 120s
"""


def write(tmp_path: Path, text: str, name: str = "policy.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def errors_of(path: Path) -> list[str]:
    """The errors of loading `path` as every command does: the policy format, then each cron
    schedule by the scheduler's parser."""
    with pytest.raises(PolicyErrors) as caught:
        check_schedules(load_paths([path]))
    return [str(error) for error in caught.value.errors]


def test_example_policies_are_valid() -> None:
    """Every policy shipped in policies/ validates."""
    policies = load_paths([REPO / "policies"])
    assert {policy.name for policy in policies} >= {"web-kill", "api-pause"}


def test_valid_policy_loads_with_defaults(tmp_path: Path) -> None:
    """A minimal policy loads, camelCase keys map to fields, and its source is file:line."""
    policy = load_policy(write(tmp_path, VALID))
    assert policy.spec.dry_run is False
    assert isinstance(policy.spec.fault, KillFault)
    assert policy.spec.fault.method == "crash"
    assert policy.spec.schedule is not None
    assert policy.spec.schedule.interval is not None
    assert policy.spec.schedule.interval.total_seconds() == 600
    assert policy.source.endswith("policy.yaml:1")


def test_dry_run_is_the_default(tmp_path: Path) -> None:
    """A policy without dryRun changes nothing."""
    policy = load_policy(write(tmp_path, VALID.replace("  dryRun: false\n", "")))
    assert policy.spec.dry_run is True


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "    signal: SIGKILL",
            "    signal: SIGKIL",
            ":12: spec.fault.signal: expected a signal name",
        ),
        (
            "    type: kill",
            "    type: explode",
            ":11: spec.fault.type: unknown fault type 'explode'",
        ),
        (
            "    timeout: 120s",
            "    timeout: -5s",
            ":19: spec.recovery.timeout: expected a duration",
        ),
        (
            "    timeout: 120s",
            "    timeout: soon",
            ":19: spec.recovery.timeout: expected a duration",
        ),
        (
            "    interval: 10m",
            "    cron: '61 * * * *'",
            ":14: spec.schedule.cron: expected a valid",
        ),
        (
            "    interval: 10m",
            "    cron: '0 9 * * 1-5'",
            ":14: spec.schedule.cron: expected weekday",
        ),
        ("    maxUnavailable: 1", "    maxUnavailable: 150%", ":17: spec.limits.maxUnavailable"),
        ("    maxTargets: 1", "    maxTargets: 0", ":16: spec.limits.maxTargets: Input should be"),
        (
            "    labels: {app: web}",
            "    labelz: {app: web}",
            ":9: spec.targets.labelz: unknown field",
        ),
        ("  name: web-kill", "  name: Web_Kill", ":4: metadata.name: String should match"),
        ("apiVersion: chaosmonkey/v1", "apiVersion: v2", ":1: apiVersion: Input should be"),
    ],
)
def test_bad_field_is_named_with_its_line(
    tmp_path: Path, old: str, new: str, expected: str
) -> None:
    """Each invalid field gives one line: path:line: field: what was expected."""
    assert old in VALID
    path = write(tmp_path, VALID.replace(old, new))
    [error] = errors_of(path)
    assert error.startswith(str(path)), error
    assert expected in error


def test_malformed_yaml_names_the_line(tmp_path: Path) -> None:
    """A YAML syntax error points at the line where the parser gave up."""
    path = write(tmp_path, VALID.replace("    labels: {app: web}", "    labels: {app: web"))
    [error] = errors_of(path)
    assert error.startswith(f"{path}:10: malformed YAML")


def test_duplicate_keys_are_errors(tmp_path: Path) -> None:
    """YAML silently keeps the last duplicate key; the loader refuses it."""
    path = write(tmp_path, VALID.replace("  dryRun: false\n", "  dryRun: false\n  dryRun: true\n"))
    [error] = errors_of(path)
    assert error == f"{path}:8: spec.dryRun: duplicate key"


def test_missing_fault_is_named(tmp_path: Path) -> None:
    """A spec without a fault names the missing field at the spec's line."""
    text = VALID.replace("  fault:\n    type: kill\n    signal: SIGKILL\n", "")
    [error] = errors_of(write(tmp_path, text))
    assert ":5: spec.fault: required field is missing" in error


def test_window_timezone_must_exist(tmp_path: Path) -> None:
    """An unknown timezone is refused at its line."""
    [error] = errors_of(write(tmp_path, VALID + "  window:\n    timezone: Mars/Olympus\n"))
    assert ":21: spec.window.timezone: expected an IANA timezone" in error


def test_window_must_be_ordered(tmp_path: Path) -> None:
    """A window whose end is before its start is refused at the window's line."""
    window = '  window:\n    start: "17:00"\n    end: "09:00"\n'
    [error] = errors_of(write(tmp_path, VALID + window))
    assert ":20: spec.window: expected start before end" in error


def test_unquoted_time_is_refused(tmp_path: Path) -> None:
    """YAML reads 9:00 unquoted as a number (540); the loader asks for quotes."""
    window = "  window:\n    start: 9:00\n"
    [error] = errors_of(write(tmp_path, VALID + window))
    assert ":21: spec.window.start: expected a quoted time of day" in error


def test_pause_takes_a_duration(tmp_path: Path) -> None:
    """The pause fault reads its duration."""
    text = VALID.replace(
        "    type: kill\n    signal: SIGKILL", "    type: pause\n    duration: 1m30s"
    )
    fault = load_policy(write(tmp_path, text)).spec.fault
    assert isinstance(fault, PauseFault)
    assert fault.duration.total_seconds() == 90


def test_every_file_is_checked_and_names_are_unique(tmp_path: Path) -> None:
    """Errors of all files come at once, and two policies may not share a name."""
    write(tmp_path, VALID, "a.yaml")
    write(tmp_path, VALID, "b.yaml")
    write(tmp_path, VALID.replace("SIGKILL", "SIGNOPE"), "c.yaml")
    with pytest.raises(PolicyErrors) as caught:
        load_paths([tmp_path])
    messages = [str(error) for error in caught.value.errors]
    assert len(messages) == 2
    assert any("c.yaml:12: spec.fault.signal" in m for m in messages)
    assert any("b.yaml:1: metadata.name: 'web-kill' is also used at" in m for m in messages)


def test_empty_and_missing_files(tmp_path: Path) -> None:
    """An empty file and a path that does not exist are errors that name them."""
    empty = write(tmp_path, "", "empty.yaml")
    assert errors_of(empty) == [f"{empty}:1: expected a policy, the file is empty"]
    missing = tmp_path / "nope.yaml"
    assert errors_of(missing) == [f"{missing}: no such file or directory"]


def test_a_document_that_is_not_a_mapping(tmp_path: Path) -> None:
    """A YAML list where a policy is expected is refused at its line."""
    path = write(tmp_path, "- a\n- b\n")
    assert errors_of(path) == [f"{path}:1: expected a mapping (a policy)"]


NETWORK = VALID.replace(
    "    type: kill\n    signal: SIGKILL\n", "    type: latency\n    delay: 200ms\n"
)


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("    delay: 200ms", "    delay: fast", "spec.fault.delay: expected a duration"),
        ("    delay: 200ms", "    delay: 0s", "spec.fault.delay: expected a duration above zero"),
        (
            "    type: latency\n    delay: 200ms",
            "    type: packet_loss\n    percent: 130",
            "spec.fault.percent: Input should be less than or equal to 100",
        ),
        (
            "    type: latency\n    delay: 200ms",
            "    type: packet_loss\n    percent: lots",
            "spec.fault.percent: Input should be a valid number",
        ),
        (
            "    type: latency\n    delay: 200ms",
            "    type: bandwidth\n    rate: 1 megabit",
            "spec.fault.rate: expected a rate such as 1mbit",
        ),
        (
            "    delay: 200ms",
            "    delay: 200ms\n    destinations: ['pay ments:80']",
            "spec.fault.destinations: expected host:port, a CIDR",
        ),
        (
            "    delay: 200ms",
            "    delay: 200ms\n    destinations: ['db:99999']",
            "spec.fault.destinations: expected a port from 1 to 65535",
        ),
        (
            "    delay: 200ms",
            "    delay: 200ms\n    destinations: ['10.0.0.0/40']",
            "spec.fault.destinations: expected host:port, a CIDR",
        ),
        (
            "    type: latency\n    delay: 200ms",
            "    type: partition\n    mode: shred",
            "spec.fault.mode: Input should be 'reject' or 'drop'",
        ),
    ],
)
def test_bad_network_fault_fields(tmp_path: Path, old: str, new: str, expected: str) -> None:
    """Unparsable delays, rates and percentages, percent outside 0-100 and malformed
    destinations are refused with the field and what was expected."""
    assert old in NETWORK
    [error] = errors_of(write(tmp_path, NETWORK.replace(old, new)))
    assert expected in error


def test_network_faults_read_their_fields(tmp_path: Path) -> None:
    """Each network fault type loads with its fields and a default duration of 60 s."""
    text = NETWORK.replace(
        "    delay: 200ms\n",
        "    delay: 200ms\n    jitter: 20ms\n    destinations: ['payments:8080', '10.1.0.0/16']\n",
    )
    fault = load_policy(write(tmp_path, text)).spec.fault
    assert fault.type == "latency"
    assert fault.destinations == ["payments:8080", "10.1.0.0/16"]
    assert fault.duration.total_seconds() == 60


LAUGHS = """\
apiVersion: chaosmonkey/v1
kind: Policy
metadata: {name: laughs}
spec:
  fault: {type: kill}
  a: &a [x, x, x, x, x, x, x, x, x, x]
  b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]
  c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]
  d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]
  e: [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]
"""


def test_aliases_that_expand_a_small_file_are_refused(tmp_path: Path) -> None:
    """A few hundred bytes whose aliases would expand to millions of values: one line at the
    document's start, before anything is built from it."""
    path = write(tmp_path, LAUGHS)
    assert len(LAUGHS) < 400
    [error] = errors_of(path)
    assert error.startswith(f"{path}:1: the document expands to more than 10,000 values")


def test_an_alias_that_contains_itself_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, VALID.replace("metadata:", "loop: &me [*me]\nmetadata:", 1))
    [error] = errors_of(path)
    assert "expands to more than 10,000 values" in error
