#!/usr/bin/env bash
# The demo on a fresh host: a 3-container busybox web stack plus a protected container, and the
# monkey crashing one web container every 30 s in the foreground (Ctrl-C stops the monkey only).
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."

IMAGE=chaosmonkey-demo-web:local
PORT_BASE=${DEMO_PORT_BASE:-18080}   # shop-web-N on 127.0.0.1:PORT_BASE+N, the protected one on +0
DB=${CHAOSMONKEY_DB:-/var/lib/chaosmonkey/demo.db}
say() { echo "demo: $*"; }

bash deploy/setup-host.sh

say "building $IMAGE"
ctx=$(mktemp -d)
cp deploy/docker/demo-web/Dockerfile deploy/docker/demo-web/index.html "$ctx"/
cp /bin/busybox "$ctx"/busybox
DOCKER_BUILDKIT=0 docker build -q -t "$IMAGE" "$ctx" >/dev/null
rm -rf "$ctx"

say "replacing the demo containers"
docker ps -aq --filter label=chaosmonkey.io/demo=true | xargs -r docker rm -f >/dev/null
run() {  # NAME PORT [extra docker run args...]
    local name=$1 port=$2
    shift 2
    docker run -d --name "$name" --restart always -p "127.0.0.1:$port:8080" \
        --label chaosmonkey.io/demo=true --label app=shop-web \
        --label chaosmonkey.io/group=shop-web "$@" "$IMAGE" >/dev/null
    say "  $name  http://127.0.0.1:$port/"
}
for n in 1 2 3; do run "shop-web-$n" $((PORT_BASE + n)); done
run shop-web-protected "$PORT_BASE" --label chaosmonkey.io/protected=true

mkdir -p "$(dirname "$DB")"
.venv/bin/chaosmonkey validate deploy/docker/demo-policies
say "monkey running: metrics on http://127.0.0.1:${METRICS_PORT:-9797}/metrics, journal $DB"
say "watch: docker ps --filter label=chaosmonkey.io/demo=true; history: .venv/bin/chaosmonkey history --db $DB"
exec .venv/bin/chaosmonkey run --policies deploy/docker/demo-policies \
    --metrics-port "${METRICS_PORT:-9797}" --metrics-address "${METRICS_ADDRESS:-127.0.0.1}" --db "$DB"
