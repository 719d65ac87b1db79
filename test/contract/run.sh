#!/usr/bin/env bash
# make contract: our real server on a fresh database, behind `prism proxy --errors` so every
# real reply is validated against openapi.yaml's schemas, exercised by Dredd with the
# hookfile next to this script (which seeds the server and drives every documented status).
# See test/contract/README.md.
set -euo pipefail

cd "$(dirname "$0")/../.."
BIN=node_modules/.bin
WORK=$(mktemp -d "${TMPDIR:-/tmp}/coordinator-contract.XXXXXX")
STARTED_GROUPS=()

# Each background process runs in its own process group (setsid), so one kill reaches the
# children it forks too (tsx runs the server in a child node process).
cleanup() {
  local status=$?
  for group in "${STARTED_GROUPS[@]}"; do
    kill -TERM -- "-$group" 2>/dev/null || true
  done
  for group in "${STARTED_GROUPS[@]}"; do
    wait "$group" 2>/dev/null || true
  done
  # CONTRACT_LOG_DIR=<dir> keeps the server's and Prism's logs and the xunit report.
  if [[ -n "${CONTRACT_LOG_DIR:-}" ]]; then
    mkdir -p "$CONTRACT_LOG_DIR"
    cp "$WORK"/*.log "$WORK"/*.xml "$CONTRACT_LOG_DIR"/ 2>/dev/null || true
  fi
  rm -rf "$WORK"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
  node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });'
}

# Waits until something answers HTTP at $1 (any status), or fails after $2 seconds,
# or as soon as process $3 has died.
wait_for_http() {
  local url=$1 seconds=$2 pid=$3 deadline=$((SECONDS + $2))
  until curl -s -o /dev/null "$url"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "contract: process $pid died before $url answered" >&2
      return 1
    fi
    if ((SECONDS >= deadline)); then
      echo "contract: $url did not answer within ${seconds}s" >&2
      return 1
    fi
    sleep 0.2
  done
}

show_log_on_failure() {
  echo "---- $1 ----" >&2
  tail -n 50 "$2" >&2 || true
}

SERVER_PORT=$(free_port)
PROXY_PORT=$(free_port)
SERVER_URL="http://127.0.0.1:$SERVER_PORT"
PROXY_URL="http://127.0.0.1:$PROXY_PORT"
REGISTRATION_TOKEN="contract-registration-token"
ADMIN_TOKEN="contract-admin-token"
VIEWER_TOKEN="contract-viewer-token"
# Small limits so the 413 transactions cost a 1 MiB body, not 16 or 100 MiB.
BODY_LIMIT_MB=1
ARTIFACTS_LIMIT_MB=1

mkdir -p "$WORK/data"
HOST=127.0.0.1 PORT=$SERVER_PORT DATA_DIR="$WORK/data" \
  CI_REGISTRATION_TOKEN=$REGISTRATION_TOKEN CI_ADMIN_TOKEN=$ADMIN_TOKEN CI_VIEWER_TOKEN=$VIEWER_TOKEN \
  MAX_BODY_SIZE_MB=$BODY_LIMIT_MB MAX_ARTIFACTS_SIZE_MB=$ARTIFACTS_LIMIT_MB CI_LONG_POLL_SECONDS=0 \
  setsid "$BIN/tsx" src/server.ts >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
STARTED_GROUPS+=("$SERVER_PID")
wait_for_http "$SERVER_URL/api/v4/projects/1" 60 "$SERVER_PID" || { show_log_on_failure server "$WORK/server.log"; exit 1; }

# --validate-request=false: Prism would otherwise answer invalid requests itself with 422,
# and the 400 transactions must reach our server. Replies are still validated (--errors).
setsid "$BIN/prism" proxy -h 127.0.0.1 -p "$PROXY_PORT" --errors --validate-request=false \
  openapi.yaml "$SERVER_URL" >"$WORK/prism.log" 2>&1 &
PROXY_PID=$!
STARTED_GROUPS+=("$PROXY_PID")
# A route without PRIVATE-TOKEN security, so Prism forwards the probe instead of refusing it.
wait_for_http "$PROXY_URL/ci/api/v1/builds/0/artifacts" 60 "$PROXY_PID" || { show_log_on_failure prism "$WORK/prism.log"; exit 1; }

# In the background and its own process group too, so a signal to this script (which bash
# handles only between foreground commands) stops Dredd at once through cleanup().
CONTRACT_SERVER_URL=$SERVER_URL \
  CONTRACT_REGISTRATION_TOKEN=$REGISTRATION_TOKEN CONTRACT_ADMIN_TOKEN=$ADMIN_TOKEN \
  CONTRACT_VIEWER_TOKEN=$VIEWER_TOKEN CONTRACT_DATA_DIR="$WORK/data" \
  CONTRACT_BODY_LIMIT_BYTES=$((BODY_LIMIT_MB * 1024 * 1024)) \
  CONTRACT_ARTIFACTS_LIMIT_BYTES=$((ARTIFACTS_LIMIT_MB * 1024 * 1024)) \
  NODE_NO_WARNINGS=1 \
  setsid timeout --kill-after=10 "${CONTRACT_TIMEOUT_SECONDS:-120}" \
  "$BIN/dredd" openapi.yaml "$PROXY_URL" \
  --hookfiles=test/contract/hooks.cjs \
  --loglevel=error \
  --reporter xunit --output "$WORK/dredd-xunit.xml" &
DREDD_PID=$!
STARTED_GROUPS+=("$DREDD_PID")
DREDD_STATUS=0
wait "$DREDD_PID" || DREDD_STATUS=$?

if ((DREDD_STATUS != 0)); then
  # Dredd prints each failure's reply; a 500 VIOLATIONS body names the schema rule broken.
  grep -E 'Violation|error' "$WORK/prism.log" | tail -n 40 >&2 || true
  show_log_on_failure server "$WORK/server.log"
  echo "contract: Dredd exited with status $DREDD_STATUS" >&2
  node test/contract/failures.cjs "$WORK/dredd-xunit.xml"
fi
exit "$DREDD_STATUS"
