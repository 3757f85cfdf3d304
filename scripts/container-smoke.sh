#!/usr/bin/env bash
# The container without Docker: the Dockerfile's install steps in a fresh virtual environment in a temp
# dir, then `consent-sync db upgrade` and `consent-sync run` against PostgreSQL (a database `smoke` that
# this script re-creates), /readyz = 200, the image's HEALTHCHECK command, and SIGTERM → exit 0.
#
#   scripts/container-smoke.sh        (PostgreSQL: $SMOKE_ADMIN_URL, default postgres@127.0.0.1:5432)
#
# Keep the install steps in step with the Dockerfile's build stage.
set -euo pipefail
cd "$(dirname "$0")/.."

ADMIN_URL="${SMOKE_ADMIN_URL:-postgresql://postgres@127.0.0.1:5432/postgres}"
DATABASE="${SMOKE_DATABASE:-smoke}"
WORK="$(mktemp -d)"
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT
say() { printf 'container-smoke: %s\n' "$*"; }

# --- the image's build stage: COPY requirements.lock pyproject.toml README.md connector/ (per
# .dockerignore), venv, pip: the locked runtime dependencies, then the package without dependencies ---
mkdir -p "$WORK/src"
cp requirements.lock pyproject.toml README.md "$WORK/src/"
tar --exclude='__pycache__' --exclude='*.pyc' -cf - connector | tar -xf - -C "$WORK/src"
say "installing into a fresh virtual environment (requirements.lock)"
python3 -m venv "$WORK/venv"
(cd "$WORK/src" && export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 \
    && "$WORK/venv/bin/pip" install -q --no-cache-dir -r requirements.lock \
    && "$WORK/venv/bin/pip" install -q --no-cache-dir --no-deps . \
    && "$WORK/venv/bin/pip" check >/dev/null)
BIN="$WORK/venv/bin"
PY="$BIN/python"

free_port() { "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_200() {  # url, seconds
    "$PY" - "$1" "$2" <<'PYTHON'
import sys, time, urllib.request, urllib.error
url, deadline = sys.argv[1], time.monotonic() + float(sys.argv[2])
while True:
    try:
        if urllib.request.urlopen(url, timeout=2).status == 200:
            sys.exit(0)
    except (urllib.error.URLError, OSError):
        pass
    if time.monotonic() > deadline:
        sys.exit(f"{url}: no 200 within {sys.argv[2]} s")
    time.sleep(0.2)
PYTHON
}

# --- PostgreSQL: a dedicated database ---
"$PY" - "$ADMIN_URL" "$DATABASE" <<'PYTHON'
import sys, psycopg
with psycopg.connect(sys.argv[1], autocommit=True) as connection:
    connection.execute(f'DROP DATABASE IF EXISTS "{sys.argv[2]}" WITH (FORCE)')
    connection.execute(f'CREATE DATABASE "{sys.argv[2]}"')
PYTHON
DATABASE_URL="$("$PY" -c 'import sys; from sqlalchemy.engine import make_url; print(make_url(sys.argv[1]).set(drivername="postgresql+psycopg", database=sys.argv[2]).render_as_string(hide_password=False))' "$ADMIN_URL" "$DATABASE")"

# --- the image's environment (Dockerfile ENV), on loopback and free ports ---
HTTP_PORT="$(free_port)"; METRICS_PORT="$(free_port)"; SANDBOX_PORT="$(free_port)"
export PATH="$BIN:$PATH" PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
export CONSENT_SYNC_HTTP__HOST=127.0.0.1 CONSENT_SYNC_HTTP__PORT="$HTTP_PORT"
export CONSENT_SYNC_LOGGING__FORMAT=json CONSENT_SYNC_METRICS_PORT="$METRICS_PORT"
export CONSENT_SYNC_MIGRATE_ON_START=false
export CONSENT_SYNC_HEALTH_URL="http://127.0.0.1:$HTTP_PORT/healthz"
export CONSENT_SYNC_DATABASE__URL="$DATABASE_URL"
export CONSENT_SYNC_SECURITY__SUPPRESSION_KEY="container-smoke-key"
export CONSENT_SYNC_MAILCHIMP__BASE_URL="http://127.0.0.1:$SANDBOX_PORT/3.0"
cd "$WORK"

consent-sync sandbox --port "$SANDBOX_PORT" >"$WORK/sandbox.log" 2>&1 &
PIDS+=("$!")
wait_200 "http://127.0.0.1:$SANDBOX_PORT/_sandbox/stats" 30

say "consent-sync db upgrade"
consent-sync db upgrade

say "consent-sync run (http :$HTTP_PORT)"
consent-sync run >"$WORK/run.log" 2>&1 &
RUN_PID=$!
PIDS+=("$RUN_PID")
if ! wait_200 "http://127.0.0.1:$HTTP_PORT/readyz" 60; then
    cat "$WORK/run.log"; exit 1
fi
say "/readyz = 200"

# The image's HEALTHCHECK command, verbatim.
python -c "import os, sys, urllib.request; sys.exit(urllib.request.urlopen(os.environ['CONSENT_SYNC_HEALTH_URL'], timeout=4).status != 200)"
say "HEALTHCHECK passes"

"$PY" - "http://127.0.0.1:$HTTP_PORT/metrics" <<'PYTHON'
import sys, time, urllib.request
deadline = time.monotonic() + 20
while b"consent_sync_daemon_leader 1.0" not in urllib.request.urlopen(sys.argv[1], timeout=4).read():
    if time.monotonic() > deadline:
        sys.exit("the scheduler did not become leader (consent_sync_daemon_leader on /metrics)")
    time.sleep(0.2)
PYTHON
say "scheduler leads; its metrics are on the service's /metrics"

kill -TERM "$RUN_PID"
STATUS=0
wait "$RUN_PID" || STATUS=$?
if [ "$STATUS" -ne 0 ]; then
    cat "$WORK/run.log"; say "consent-sync run exited $STATUS after SIGTERM"; exit 1
fi
say "SIGTERM → exit 0"
say "ok"
