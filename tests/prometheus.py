"""A real Prometheus for tests: its own config, storage and loopback port in a temp dir."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import requests

PROMETHEUS_BIN = Path("/usr/bin/prometheus")
READY_TIMEOUT_S = 20.0
Result = list[dict[str, Any]]


class StartPrometheus(Protocol):
    """The `prometheus` fixture: starts one Prometheus scraping `scrape_targets` (host:port)."""

    def __call__(
        self, scrape_targets: list[str], scrape_interval: str = "1s"
    ) -> PrometheusHandle: ...


class PrometheusQueryError(RuntimeError):
    """Prometheus answered a query with an error status."""


class PrometheusHandle:
    """A running Prometheus, queried through its HTTP API."""

    def __init__(self, url: str) -> None:
        self.url = url

    def query(self, promql: str) -> Result:
        """Runs an instant query; a scalar comes back as one sample without labels."""
        response = requests.get(f"{self.url}/api/v1/query", params={"query": promql}, timeout=5)
        body = response.json()
        if body.get("status") != "success":
            error = f"{body.get('errorType')}: {body.get('error')}"
            raise PrometheusQueryError(f"{promql!r}: {error} (HTTP {response.status_code})")
        data = body["data"]
        if data["resultType"] in ("scalar", "string"):
            return [{"metric": {}, "value": data["result"]}]
        result: Result = data["result"]
        return result

    def wait_for(
        self, promql: str, predicate: Callable[[Result], bool], timeout: float = 15.0
    ) -> Result:
        """Polls `promql` until `predicate` holds on its result; fails with the last result."""
        deadline = time.monotonic() + timeout
        while True:
            result = self.query(promql)
            if predicate(result):
                return result
            if time.monotonic() > deadline:
                raise AssertionError(f"after {timeout} s, {promql!r} still gives {result}")
            time.sleep(0.25)


def values(result: Result, label: str) -> dict[str, float]:
    """{label value: sample value} of an instant-vector result."""
    return {sample["metric"].get(label, ""): float(sample["value"][1]) for sample in result}


@contextlib.contextmanager
def running_prometheus(
    tmp_path: Path, scrape_targets: list[str], scrape_interval: str = "1s"
) -> Iterator[PrometheusHandle]:
    """Starts Prometheus scraping `scrape_targets` (host:port) as job "chaosmonkey"; stops it."""
    config = tmp_path / "prometheus.yml"
    config.write_text(json.dumps(_config(scrape_targets, scrape_interval)))  # JSON is YAML
    port = _free_port()
    log_path = tmp_path / "prometheus.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                str(PROMETHEUS_BIN),
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--log.level=warn",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            _wait_ready(url, process, log_path)
            yield PrometheusHandle(url)
        finally:
            _stop(process)


def _config(scrape_targets: list[str], scrape_interval: str) -> dict[str, Any]:
    return {
        "global": {"scrape_interval": scrape_interval, "evaluation_interval": scrape_interval},
        "scrape_configs": [
            {"job_name": "chaosmonkey", "static_configs": [{"targets": scrape_targets}]}
        ],
    }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_ready(url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"prometheus exited with {process.returncode}: {log_path.read_text()}"
            )
        with contextlib.suppress(requests.ConnectionError):
            if requests.get(f"{url}/-/ready", timeout=1).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"prometheus not ready after {READY_TIMEOUT_S} s: {log_path.read_text()}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
