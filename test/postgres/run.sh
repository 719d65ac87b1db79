#!/usr/bin/env bash
# Runs a command (the test suite) against a real PostgreSQL, named to it by TEST_DATABASE_URL.
#
# With TEST_DATABASE_URL already set, that server is used as it is: the tests create (and drop)
# a database of their own for every coordinator they start, so the role needs CREATEDB.
# Without it: installs Debian's postgresql when its programs are missing, starts a throwaway
# cluster (initdb + pg_ctl) in a temporary directory on a free loopback port, runs the command,
# then stops the cluster and removes the directory, whatever the command's outcome.
set -euo pipefail
cd "$(dirname "$0")/../.."

if [[ -n "${TEST_DATABASE_URL:-}" ]]; then
  exec "$@"
fi

as_root() {
  if [[ "$(id -u)" -eq 0 ]]; then "$@"; else sudo "$@"; fi
}

# Debian keeps the server programs out of PATH, under /usr/lib/postgresql/<major>/bin.
find_bindir() {
  local candidate
  if command -v pg_config >/dev/null 2>&1; then
    candidate=$(pg_config --bindir 2>/dev/null || true)
    if [[ -x "$candidate/initdb" && -x "$candidate/pg_ctl" ]]; then echo "$candidate"; return 0; fi
  fi
  for candidate in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [[ -x "$candidate/initdb" && -x "$candidate/pg_ctl" ]]; then echo "$candidate"; return 0; fi
  done
  return 1
}

BINDIR=$(find_bindir || true)
if [[ -z "$BINDIR" ]]; then
  echo 'postgres: installing Debian'\''s postgresql with apt-get' >&2
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends postgresql >/dev/null
  BINDIR=$(find_bindir) || { echo 'postgres: initdb not found after installing postgresql' >&2; exit 1; }
fi

# PostgreSQL refuses to run as root: root runs the cluster as the postgres user the package made.
RUN_AS=()
CLUSTER_USER=$(id -un)
if [[ "$(id -u)" -eq 0 ]]; then
  CLUSTER_USER=postgres
  id -u "$CLUSTER_USER" >/dev/null 2>&1 || CLUSTER_USER=nobody
  RUN_AS=(runuser -u "$CLUSTER_USER" --)
fi

CLUSTER=$(mktemp -d "${TMPDIR:-/tmp}/coordinator-postgres.XXXXXX")
chmod 755 "$CLUSTER"
[[ ${#RUN_AS[@]} -eq 0 ]] || chown "$CLUSTER_USER" "$CLUSTER"
STARTED=0

cleanup() {
  local status=$?
  if ((STARTED)); then
    "${RUN_AS[@]}" "$BINDIR/pg_ctl" -D "$CLUSTER/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  if ((status != 0)) && [[ -f "$CLUSTER/server.log" ]]; then
    echo '---- postgres server log (last lines) ----' >&2
    tail -n 30 "$CLUSTER/server.log" >&2 || true
  fi
  rm -rf "$CLUSTER"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

PORT=$(node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });')
"${RUN_AS[@]}" "$BINDIR/initdb" -D "$CLUSTER/data" -U coordinator --auth=trust -E UTF8 --locale=C.UTF-8 >"$CLUSTER/initdb.log" 2>&1 \
  || { cat "$CLUSTER/initdb.log" >&2; exit 1; }
# A throwaway cluster: fsync off makes CREATE DATABASE (one per test coordinator) cheap. The
# server under test still asks for durable commits; only this cluster's disk writes are lazy.
# Its socket stays in its own directory; it listens on loopback only.
# POSTGRES_DURABLE=1 (make bench) keeps PostgreSQL's defaults, so that its figures are those
# of a server that keeps what it commits.
LAZY_DISK="-c fsync=off -c full_page_writes=off"
[[ "${POSTGRES_DURABLE:-}" == 1 ]] && LAZY_DISK=""
STARTED=1
"${RUN_AS[@]}" "$BINDIR/pg_ctl" -D "$CLUSTER/data" -l "$CLUSTER/server.log" -w -t 60 \
  -o "-p $PORT -k $CLUSTER -c listen_addresses=127.0.0.1 $LAZY_DISK -c max_connections=300" \
  start >/dev/null

export TEST_DATABASE_URL="postgres://coordinator@127.0.0.1:$PORT/postgres"
echo "postgres: throwaway cluster on 127.0.0.1:$PORT ($("$BINDIR/postgres" --version))" >&2
"$@"
