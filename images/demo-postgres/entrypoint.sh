#!/bin/sh
# Entry point of the demo PostgreSQL image (PID 1).
# - First start (no $PGDATA/PG_VERSION): initdb with POSTGRES_USER and
#   POSTGRES_PASSWORD, password (scram) authentication from any address,
#   and CREATE DATABASE POSTGRES_DB.
# - Then runs postgres listening on every address, its socket in /tmp.
# - SIGTERM/SIGINT become SIGINT for postgres: a fast shutdown. PostgreSQL's
#   own answer to SIGTERM is a smart shutdown, which waits for every client
#   to disconnect, and the cache nodes keep pooled connections open: the pod
#   would sit out its grace period and be killed.
set -eu

POSTGRES_USER="${POSTGRES_USER:-kvring}"
POSTGRES_DB="${POSTGRES_DB:-kvring}"
if [ -z "${POSTGRES_PASSWORD:-}" ]; then
  echo "kvring-demo-postgres: POSTGRES_PASSWORD is required" >&2
  exit 2
fi
: "${PGDATA:?PGDATA must be set}"

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  mkdir -p "$PGDATA"
  chmod 0700 "$PGDATA"
  pwfile="$(mktemp)"
  printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
  initdb --pgdata="$PGDATA" --username="$POSTGRES_USER" --pwfile="$pwfile" \
    --auth-local=trust --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8
  rm -f "$pwfile"
  {
    echo 'host all all 0.0.0.0/0 scram-sha-256'
    echo 'host all all ::/0 scram-sha-256'
  } >>"$PGDATA/pg_hba.conf"
  if [ "$POSTGRES_DB" != postgres ]; then
    echo "CREATE DATABASE \"$POSTGRES_DB\" OWNER \"$POSTGRES_USER\";" |
      postgres --single -D "$PGDATA" -c unix_socket_directories=/tmp postgres >/dev/null
  fi
  echo "kvring-demo-postgres: initialized $PGDATA (user $POSTGRES_USER, database $POSTGRES_DB)"
fi

postgres -D "$PGDATA" -c listen_addresses='*' -c unix_socket_directories=/tmp "$@" &
pid=$!
trap 'kill -INT "$pid" 2>/dev/null || true' TERM INT
set +e
# `wait` returns early (status > 128) when a trapped signal arrives: wait
# again for postgres' own exit status. Bounded: a few signals at most; a
# postgres killed by a signal ends the loop with 127 (already reaped).
rc=1
for _ in 1 2 3 4 5; do
  wait "$pid"
  rc=$?
  [ "$rc" -le 128 ] && break
done
exit "$rc"
