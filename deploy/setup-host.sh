#!/usr/bin/env bash
# Prepares a Debian 12 host (as root): packages, a Docker engine (started only if none answers), .venv.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."

say() { echo "setup-host: $*"; }
PACKAGES=(docker.io busybox-static iptables iproute2 debootstrap haproxy python3-venv)
NO_RECOMMENDS=(prometheus)

missing=()
for pkg in "${PACKAGES[@]}" "${NO_RECOMMENDS[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q "${PACKAGES[@]}"
    apt-get install -y -q --no-install-recommends "${NO_RECOMMENDS[@]}"
else
    say "packages already installed"
fi

engine_answers() { timeout 10 docker info >/dev/null 2>&1; }
if engine_answers; then
    say "Docker engine already answers, not starting one"
else
    log=/var/log/dockerd.log
    say "starting dockerd --storage-driver=vfs (log: $log)"
    setsid nohup dockerd --storage-driver=vfs >"$log" 2>&1 </dev/null &
    dockerd_pid=$!
    for _ in $(seq 60); do
        engine_answers && break
        if ! kill -0 "$dockerd_pid" 2>/dev/null; then
            say "dockerd exited; last lines of $log:" >&2
            tail -n 20 "$log" >&2
            exit 1
        fi
        sleep 1
    done
    engine_answers || { say "dockerd did not answer within 60 s; see $log" >&2; exit 1; }
    say "Docker engine ready"
fi

if [[ ! -x .venv/bin/python ]]; then
    say "creating .venv"
    python3 -m venv .venv
fi
say "installing chaosmonkey-sre[test] into .venv"
.venv/bin/pip install -q -e ".[test]"
say "done"
