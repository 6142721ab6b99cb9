# Sourced by scripts/test and scripts/bench: a throwaway PostgreSQL cluster in a temp folder on a free
# loopback port, run as the postgres user when we are root. `pg_start` sets PG_URL and arranges for
# the cluster to be stopped and removed when the calling script exits, whatever its exit status.
# `pgbouncer_start` (after pg_start) puts PgBouncer in transaction pooling mode in front of it and
# sets PGBOUNCER_URL; pg_stop stops it too.

source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

pg_run() {
  if [ "$(id -u)" = 0 ]; then
    su postgres -s /bin/bash -c "$(printf '%q ' "$@")"
  else
    "$@"
  fi
}

pg_start() {
  pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -z "$pg_bin" ] || [ ! -x "$pg_bin/initdb" ]; then
    echo "installing PostgreSQL from Debian" >&2
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq postgresql >/dev/null
    pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  fi
  pg_tmp=$(mktemp -d /tmp/app-pg.XXXXXX)
  chmod 755 "$pg_tmp"
  if [ "$(id -u)" = 0 ]; then chown postgres "$pg_tmp"; fi
  trap pg_stop EXIT
  local port
  port=$(free_port)
  pg_run "$pg_bin/initdb" -D "$pg_tmp/data" -U postgres --auth=trust --no-sync >/dev/null
  # The role `acc` must give its password (SCRAM), as on a real server, so a test can see a wrong
  # password refused; every other connection is trusted, which keeps the tests' many connections cheap.
  { echo "host all acc 127.0.0.1/32 scram-sha-256"; cat "$pg_tmp/data/pg_hba.conf"; } > "$pg_tmp/pg_hba.conf"
  pg_run cp "$pg_tmp/pg_hba.conf" "$pg_tmp/data/pg_hba.conf"
  # The suite's parallel tests peak near 200 connections (each AppDatabase is a pool of its own).
  pg_run "$pg_bin/pg_ctl" -D "$pg_tmp/data" -l "$pg_tmp/postgres.log" -w \
    -o "-p $port -k $pg_tmp -c listen_addresses=127.0.0.1 -c max_connections=400 $*" start >/dev/null
  PG_URL="postgres://postgres:test-db-password@127.0.0.1:$port/postgres?sslmode=disable"
  pg_port=$port
  export PATH="$pg_bin:$PATH"
  echo "PostgreSQL on 127.0.0.1:$port" >&2
}

pgbouncer_start() {
  if ! command -v pgbouncer >/dev/null && [ ! -x /usr/sbin/pgbouncer ]; then
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq pgbouncer >/dev/null
  fi
  local port
  port=$(free_port)
  echo '"postgres" ""' > "$pg_tmp/userlist.txt"
  cat > "$pg_tmp/pgbouncer.ini" <<INI
[databases]
* = host=127.0.0.1 port=$pg_port
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
auth_type = trust
auth_file = $pg_tmp/userlist.txt
pool_mode = transaction
max_client_conn = 1000
default_pool_size = 20
logfile = $pg_tmp/pgbouncer.log
pidfile = $pg_tmp/pgbouncer.pid
ignore_startup_parameters = extra_float_digits,application_name
INI
  if [ "$(id -u)" = 0 ]; then chown postgres "$pg_tmp/pgbouncer.ini" "$pg_tmp/userlist.txt"; fi
  pg_run "$(command -v pgbouncer || echo /usr/sbin/pgbouncer)" -d "$pg_tmp/pgbouncer.ini"
  for _ in $(seq 1 100); do
    python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), timeout=1).close()" 2>/dev/null && break
    sleep 0.05
  done
  PGBOUNCER_URL="postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
  echo "PgBouncer (transaction pooling) on 127.0.0.1:$port" >&2
}

pg_stop() {
  [ -n "${pg_tmp:-}" ] || return 0
  if [ -f "$pg_tmp/pgbouncer.pid" ]; then kill "$(cat "$pg_tmp/pgbouncer.pid")" 2>/dev/null || true; fi
  pg_run "$pg_bin/pg_ctl" -D "$pg_tmp/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$pg_tmp"
}
