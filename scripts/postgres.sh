#!/usr/bin/env bash
# Start (or stop) a throw-away PostgreSQL cluster for the tests, from Debian's `postgresql` package,
# owned by the postgres user, bound to 127.0.0.1, trusting local connections.
set -euo pipefail
action=$1 dir=$2 port=$3

pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

as_postgres() {
  if [ "$(id -un)" = postgres ]; then "$@"; elif [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi
}

if [ "$action" = stop ]; then
  bin=$(pg_bin); [ -n "$bin" ] && [ -d "$dir/data" ] && as_postgres "$bin/pg_ctl" -D "$dir/data" -m fast stop || true
  exit 0
fi

if [ -z "$(pg_bin)" ]; then
  echo "installing PostgreSQL from Debian's packages..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq postgresql >/dev/null
fi
bin=$(pg_bin)

if [ -d "$dir/data" ] && as_postgres "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
  echo "PostgreSQL already running in $dir"
else
  rm -rf "$dir"; mkdir -p "$dir"; chown postgres "$dir"
  as_postgres "$bin/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 >/dev/null
  as_postgres "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c synchronous_commit=off" start >/dev/null
fi
as_postgres "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='questline_test'" \
  | grep -q 1 || as_postgres "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres questline_test
echo "PostgreSQL ready on 127.0.0.1:$port"
