#!/usr/bin/env bash
# A throwaway PostgreSQL cluster on 127.0.0.1 for the shared-study tests. Idempotent: a second call
# reuses the running cluster. Prints the URL to export as SLEEPTIME_TEST_POSTGRES_URL.
#   PGPORT_TEST (default 55432), PGDATA_TEST (default /tmp/sleeptime-pg/data)
set -euo pipefail
PORT="${PGPORT_TEST:-55432}"
BASE="${PGDATA_TEST_BASE:-/tmp/sleeptime-pg}"
DATA="$BASE/data"
USER_NAME=sleeptime
PASSWORD=sleeptime
DB=sleeptime_test
URL="postgresql://$USER_NAME:$PASSWORD@127.0.0.1:$PORT/$DB"

find_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }
BIN="$(find_bin || true)"
if [ -z "$BIN" ] || [ ! -x "$BIN/pg_ctl" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "installing PostgreSQL from Debian packages" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql >&2 \
            || { apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql >&2; }
        BIN="$(find_bin)"
    else
        echo "PostgreSQL binaries not found under /usr/lib/postgresql/*/bin and cannot apt-get install" >&2
        exit 1
    fi
fi

# The server refuses to run as root: run it as the 'postgres' system user (or the current user).
if [ "$(id -u)" = 0 ]; then
    RUN_AS=postgres
    id postgres >/dev/null 2>&1 || useradd --system --home "$BASE" postgres
    as_pg() { su postgres -s /bin/sh -c "$*"; }
else
    RUN_AS="$(id -un)"
    as_pg() { sh -c "$*"; }
fi
mkdir -p "$BASE"
[ "$(id -u)" = 0 ] && chown "$RUN_AS" "$BASE"

if [ ! -f "$DATA/PG_VERSION" ]; then
    as_pg "'$BIN/initdb' -D '$DATA' -U postgres --auth=trust -E UTF8 >'$BASE/initdb.log' 2>&1"
fi
if ! as_pg "'$BIN/pg_ctl' -D '$DATA' status" >/dev/null 2>&1; then
    as_pg "'$BIN/pg_ctl' -D '$DATA' -l '$BASE/server.log' -w -t 60 \
        -o \"-c listen_addresses=127.0.0.1 -p $PORT -k '$BASE'\" start" >&2
fi
PSQL="'$BIN/psql' -h 127.0.0.1 -p $PORT -U postgres -d postgres -v ON_ERROR_STOP=1 -qtA"
if [ "$(as_pg "$PSQL -c \"select 1 from pg_roles where rolname='$USER_NAME'\"")" != 1 ]; then
    as_pg "$PSQL -c \"create role $USER_NAME login password '$PASSWORD'\"" >&2
fi
if [ "$(as_pg "$PSQL -c \"select 1 from pg_database where datname='$DB'\"")" != 1 ]; then
    as_pg "$PSQL -c \"create database $DB owner $USER_NAME\"" >&2
fi
echo "$URL"
