"""The `chaosmonkey` command: parsing, exit codes and rendering; the work is done elsewhere.

Exit codes: 0 done (every attack recovered, or was a dry run or skipped); 1 an attack or command
failed; 2 invalid input; 3 the backend is unreachable or refused; 4 no target matches;
5 a revert failed; 6 a target did not recover (a finding).
"""

from __future__ import annotations

import json
import random
import signal
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import click

from chaosmonkey import __version__, logs
from chaosmonkey.agent import AGENT_PORT
from chaosmonkey.errors import ChaosMonkeyError, UsageError
from chaosmonkey.journal import DB_ENV, DEFAULT_DB, Journal, default_path
from chaosmonkey.model import AttackRecord, Outcome, RevertResult
from chaosmonkey.policy import Policy, load_paths, load_policy
from chaosmonkey.runtime import Runtime

EXIT_FAILED, EXIT_REVERT_FAILED, EXIT_NOT_RECOVERED = 1, 5, 6

db_option = click.option(
    "--db",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar=DB_ENV,
    default=default_path,
    show_default=DEFAULT_DB,
    help=f"The journal (SQLite); also ${DB_ENV}.",
)
output_option = click.option(
    "--output", "-o", type=click.Choice(["table", "json"]), default="table", show_default=True
)
policy_option = click.option(
    "--policy",
    "policy_path",
    required=True,
    type=click.Path(path_type=Path),
    help="A policy file.",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="chaosmonkey")
@click.option("--log-level", default="info", show_default=True, help="debug, info, warning, error")
def cli(log_level: str) -> None:
    """Chaos Monkey for Docker and Kubernetes: attacks on schedule, recovery measured."""
    logs.configure(log_level)


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@db_option
def validate(paths: tuple[Path, ...], db: Path) -> None:
    """Check policy files; each error is printed as PATH:LINE: message. Reads no journal:
    --db is accepted so that every command takes the same options."""
    policies = _policies(paths)
    click.echo(f"{len(policies)} valid {'policy' if len(policies) == 1 else 'policies'}", err=True)


@cli.command()
@policy_option
@output_option
@db_option
def targets(policy_path: Path, output: str, db: Path) -> None:
    """The targets the policy would pick from now."""
    policy = _policy(policy_path)
    with Runtime.open(db) as runtime:
        selection = runtime.engine.select(policy)
    if output == "json":
        _print_json(
            [
                {**t.ref(), "available": t.available, "healthy": t.healthy}
                for t in selection.eligible
            ]
        )
        return
    from chaosmonkey import render

    render.targets_table(policy.name, selection.eligible, policy.spec.limits)


@cli.command()
@policy_option
@click.option("--dry-run", is_flag=True, help="Change nothing, whatever the policy says.")
@output_option
@db_option
def attack(policy_path: Path, dry_run: bool, output: str, db: Path) -> None:
    """Run the policy once, now: schedule and window ignored, every other guard kept."""
    policy = _policy(policy_path)
    with Runtime.open(db) as runtime, _progress(policy.name) as notify:
        runtime.check_policies([policy])
        runtime.engine.notify = notify
        for signum in (signal.SIGINT, signal.SIGTERM):  # stop early, but revert first
            signal.signal(signum, lambda *_: runtime.engine.halted.set())
        records = runtime.engine.run_policy(
            policy, dry_run=True if dry_run else None, in_window_only=False
        )
    _print_records(records, output)
    sys.exit(_attack_exit_code(records))


@cli.command()
@click.option("--policies", "policies_dir", required=True, type=click.Path(path_type=Path))
@click.option("--metrics-port", default=9797, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--metrics-address",
    default="127.0.0.1",
    show_default=True,
    help="Where /metrics listens; 0.0.0.0 for a Prometheus elsewhere (the monkey in a container).",
)
@click.option(
    "--lease-seconds",
    default=10.0,
    show_default=True,
    type=click.FloatRange(min=1.0),
    help="How long the leader's lease lasts; a follower takes over this long after a crash.",
)
@click.option(
    "--lease-name",
    metavar="NAMESPACE/NAME",
    help="Elect the leader on this Kubernetes Lease instead of the journal's lease "
    "(for monkeys that share no journal, such as the replicas of deploy/kubernetes).",
)
@click.option("--max-attacks-per-day", type=click.IntRange(1), help="Every policy together.")
@click.option("--max-concurrent-faults", type=click.IntRange(1), help="Every policy together.")
@click.option(
    "--keep-days",
    type=click.IntRange(1),
    help="Delete attacks that ended more than N days ago from the journal, at start and once a "
    "day (never one whose fault may still be in place).  [default: keep every attack]",
)
@db_option
def run(
    policies_dir: Path,
    metrics_port: int,
    metrics_address: str,
    lease_seconds: float,
    lease_name: str | None,
    max_attacks_per_day: int | None,
    max_concurrent_faults: int | None,
    keep_days: int | None,
    db: Path,
) -> None:
    """The daemon: every policy on its schedule, metrics on /metrics."""
    policies = _policies([policies_dir])
    from chaosmonkey.daemon import serve

    serve(
        policies,
        db,
        metrics_port,
        metrics_address,
        lease_s=lease_seconds,
        lease_name=lease_name,
        max_attacks_per_day=max_attacks_per_day,
        max_concurrent_faults=max_concurrent_faults,
        keep_days=keep_days,
    )


@cli.command()
@output_option
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1))
@db_option
def history(output: str, limit: int, db: Path) -> None:
    """The most recent attacks, newest first."""
    journal = _existing_journal(db)
    _print_records(journal.attacks(limit), output)


@cli.command()
@click.option("--all", "revert_all", is_flag=True, required=True, help="Every open fault.")
@output_option
@db_option
def revert(revert_all: bool, output: str, db: Path) -> None:
    """Undo every fault the journal holds as active."""
    with Runtime.open(_existing(db)) as runtime:
        results = runtime.engine.revert_open_faults()
    rows = [
        {
            "attack_id": inj.attack_id,
            "target": inj.target.name,
            "action": inj.action,
            "result": str(result),
        }
        for inj, result in results
    ]
    if output == "json":
        _print_json(rows)
    else:
        click.echo(f"{len(rows)} open fault(s)")
        for row in rows:
            click.echo(f"{row['attack_id']} {row['action']} on {row['target']}: {row['result']}")
    if any(row["result"].startswith("failed") for row in rows):
        sys.exit(EXIT_REVERT_FAILED)


@cli.command()
@click.option("--listen", help="HOST:PORT to accept connections on.")
@click.option("--upstream", help="HOST:PORT to relay them to, or original-destination.")
@click.option("--name", default="proxy", show_default=True, help="The proxy's name in the API.")
@click.option("--control", help="HOST:PORT of the control API.  [default: 127.0.0.1:8474]")
@click.option(
    "--config", type=click.Path(dir_okay=False, path_type=Path), help="Proxies and toxics (YAML)."
)
@click.option(
    "--token",
    envvar="CHAOSMONKEY_PROXY_TOKEN",
    show_envvar=True,
    help="Bearer token every API request must carry (better from the environment).",
)
@click.option(
    "--allow-upstream",
    "allow_upstream",
    multiple=True,
    metavar="CIDR",
    help="A network API-made proxies may relay to, besides loopback (repeatable).",
)
@click.option(
    "--allow-origin",
    "allow_origin",
    multiple=True,
    metavar="ORIGIN",
    help="A browser origin (http://host:port) allowed to use the API (repeatable).",
)
@click.option(
    "--max-connections",
    type=int,
    help="Open connections per proxy; more are reset.  [default: 1024]",
)
@click.option(
    "--max-buffer",
    type=int,
    metavar="BYTES",
    help="Bytes a connection holds back, half each way.  [default: 8388608]",
)
def proxy(
    listen: str | None,
    upstream: str | None,
    name: str,
    control: str | None,
    config: Path | None,
    token: str | None,
    allow_upstream: tuple[str, ...],
    allow_origin: tuple[str, ...],
    max_connections: int | None,
    max_buffer: int | None,
) -> None:
    """A TCP fault proxy: toxics added over its HTTP API, until SIGTERM or SIGINT."""
    from chaosmonkey.proxy.control import run_command

    run_command(
        listen,
        upstream,
        name,
        control,
        config,
        token=token,
        allow_upstream=allow_upstream,
        allow_origin=allow_origin,
        max_connections=max_connections,
        max_buffer=max_buffer,
    )


@cli.command()
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on; the pod's own (0.0.0.0) when the monkey runs elsewhere.",
)
@click.option("--port", default=AGENT_PORT, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--token-file",
    required=True,
    envvar="CHAOSMONKEY_AGENT_TOKEN_FILE",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The shared bearer token (a mounted Secret); also $CHAOSMONKEY_AGENT_TOKEN_FILE.",
)
@click.option(
    "--namespaces",
    multiple=True,
    envvar="CHAOSMONKEY_AGENT_NAMESPACES",
    help="Namespaces whose pods may be attacked (repeat, or comma-separated); default: any but "
    "kube-system and the agent's own. Also $CHAOSMONKEY_AGENT_NAMESPACES.",
)
@click.option(
    "--own-namespace",
    envvar="POD_NAMESPACE",
    help="The agent's own namespace, refused unless listed; also $POD_NAMESPACE.",
)
@click.option(
    "--allow-host-network",
    is_flag=True,
    envvar="CHAOSMONKEY_AGENT_ALLOW_HOST_NETWORK",
    help="Let faults that set allowHostNetwork into pods on the node's network.",
)
@click.option(
    "--max-duration",
    default="1h",
    show_default=True,
    envvar="CHAOSMONKEY_AGENT_MAX_DURATION",
    help="The longest fault the agent holds.",
)
@click.option(
    "--pod-logs-dir",
    default="/var/log/pods",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The kubelet's pod log directories, whose names give each pod's namespace.",
)
def agent(
    host: str,
    port: int,
    token_file: Path,
    namespaces: tuple[str, ...],
    own_namespace: str | None,
    allow_host_network: bool,
    max_duration: str,
    pod_logs_dir: Path,
) -> None:
    """The node agent: network faults on this node's pods, over HTTP, until SIGTERM."""
    from chaosmonkey.agent.limits import AgentLimits
    from chaosmonkey.agent.server import read_token, serve

    limits = AgentLimits.from_options(own_namespace, namespaces, allow_host_network, max_duration)
    serve(host, port, read_token(token_file), limits, pod_logs_dir)


@cli.command()
@click.option("--reason", default="halted by hand", show_default=True)
@db_option
def halt(reason: str, db: Path) -> None:
    """Kill switch: stop new attacks and revert active ones, until `resume`."""
    with Runtime.open(_existing(db)) as runtime:
        reverted = runtime.halt(reason)
        left = runtime.journal.active_fault_counts()
    click.echo(f"halted: {reason}; {reverted} fault(s) reverted here, {sum(left.values())} active")
    if left:
        sys.exit(EXIT_REVERT_FAILED)


@cli.command()
@db_option
def resume(db: Path) -> None:
    """Lift the kill switch: attacks may start again."""
    was_halted = _existing_journal(db).resume()
    click.echo("resumed" if was_halted else "not halted: nothing to resume")


@cli.command()
@click.option("--policies", "policies_dir", type=click.Path(path_type=Path), help="For the plan.")
@output_option
@db_option
def status(policies_dir: Path | None, output: str, db: Path) -> None:
    """Armed or halted, the next scheduled and planned runs, and the active faults."""
    from chaosmonkey.scheduling.planning import PlanStore

    journal = _existing_journal(db)
    policies = _policies([policies_dir]) if policies_dir else []
    with PlanStore(db) as store:
        planned = store.planned_after(datetime.now(UTC))
    from chaosmonkey import status as status_report

    report = status_report.report(journal, policies, planned)
    if output == "json":
        _print_json(report)
        return
    click.echo(report["state"] + (f" ({report['halt_reason']})" if report["halt_reason"] else ""))
    for run in report["next_runs"]:
        armed = "" if run["armed"] else " (dry run)"
        group = f" on {run['group']}" if "group" in run else ""
        click.echo(f"next: {run['policy']}{group} at {run['at']}{armed}")
    for fault in report["active_faults"]:
        click.echo(f"active: {fault['attack_id']} {fault['action']} on {fault['target']}")


@cli.command()
@click.option("--policies", "policies_dir", required=True, type=click.Path(path_type=Path))
@output_option
@db_option
def plan(policies_dir: Path, output: str, db: Path) -> None:
    """Today's Chaos Monkey mode plan: which groups are attacked when, and why others are not.
    Drawn once a day per policy and stored in the journal; later calls print the stored plan."""
    from chaosmonkey.scheduling import planning

    policies = _policies([policies_dir])
    with Runtime.open(db) as runtime, planning.PlanStore(db) as store:
        plans = planning.plan_policies(
            store,
            policies,
            lambda policy: {target.group for target in runtime.engine.select(policy).eligible},
            datetime.now(UTC),
            random.Random(),
        )
    if output == "json":
        _print_json([entry.to_dict() for _, entries in plans for entry in entries])
        return
    if not plans:
        click.echo("no policy in Chaos Monkey mode (schedule.meanTimeBetweenAttacks)", err=True)
    for policy, entries in plans:
        zone = ZoneInfo(policy.spec.window.timezone if policy.spec.window else "UTC")
        for entry in entries:
            when = f"{entry.at.astimezone(zone):%Y-%m-%d %H:%M:%S %Z}" if entry.at else "-"
            why = f"left out: {entry.reason}" if entry.reason else entry.status
            click.echo(f"{policy.name}\t{entry.group}\t{when}\t{why}")


def _policies(paths: Iterable[Path]) -> list[Policy]:
    """Every policy in `paths`, each cron schedule checked (see `_checked`)."""
    return _checked(load_paths(paths))


def _policy(path: Path) -> Policy:
    """The single policy in `path`, its cron schedule checked (see `_checked`)."""
    return _checked([load_policy(path)])[0]


def _checked(policies: list[Policy]) -> list[Policy]:
    """The policies, once the scheduler's own parser accepts each cron schedule (it is imported
    only then: the policy format checks a cron's form alone)."""
    if any(policy.spec.schedule and policy.spec.schedule.cron for policy in policies):
        from chaosmonkey.scheduling.scheduler import check_schedules

        check_schedules(policies)
    return policies


def _existing_journal(db: Path) -> Journal:
    return Journal(_existing(db))


def _existing(db: Path) -> Path:
    """`db`, once it is a journal that exists: a command that only reads or steers never
    creates one (a halt of an empty journal in the wrong folder would stop nothing)."""
    if not db.exists():
        raise UsageError(
            f"{db}: no journal there: pass the --db of the monkey to read or steer (or set "
            f"${DB_ENV}); nothing was done"
        )
    return db


@contextmanager
def _progress(policy: str) -> Iterator[Callable[[str], None]]:
    """A spinner on a terminal for long waits; silent otherwise."""
    if not sys.stderr.isatty():
        yield lambda message: None
        return
    from chaosmonkey import render

    with render.spinner(policy) as notify:
        yield notify


def _print_records(records: list[AttackRecord], output: str) -> None:
    if output == "json":
        _print_json([record.to_dict() for record in records])
        return
    from chaosmonkey import render

    render.records_table(records)


def _attack_exit_code(records: list[AttackRecord]) -> int:
    """5 when a fault could not be reverted (it is still in place), 1 when an attack failed,
    6 when a target did not recover, else 0."""
    if any(record.revert_result is RevertResult.FAILED for record in records):
        return EXIT_REVERT_FAILED
    outcomes = {record.outcome for record in records}
    if Outcome.FAILED in outcomes:
        return EXIT_FAILED
    if Outcome.NOT_RECOVERED in outcomes:
        return EXIT_NOT_RECOVERED
    return 0


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2) + "\n")


def main() -> None:
    """Entry point: user errors print their lines and exit with their code, bugs keep tracebacks."""
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        sys.exit(130)
    except click.ClickException as error:
        error.show()
        sys.exit(error.exit_code)
    except ChaosMonkeyError as error:
        for line in str(error).splitlines():
            print(line, file=sys.stderr)
        sys.exit(error.exit_code)
