#!/usr/bin/env bash
# PostgreSQL and Redis for the tests that need real infrastructure (replicas, migrations on Postgres).
#
#   scripts/services.sh start    install (Debian packages, if missing) and start both on loopback; prints
#                                DATABASE_URL=postgresql+asyncpg://...  and  REDIS_URL=redis://...
#   scripts/services.sh stop     stop both (the data directory stays, so the next start is quick)
#   scripts/services.sh status   print the URLs when both run, exit 1 otherwise
#   scripts/services.sh purge    stop and delete the data directory
#
# Idempotent: starting what runs only prints the URLs again; stopping what is stopped does nothing.
# Only the URL lines go to stdout (everything else to stderr), so `eval`/`export $(...)` can read them.
# Settings: SERVICES_DIR (data, logs, password; default $TMPDIR/comfy-gateway-services), PG_PORT (55432),
# REDIS_PORT (56379), PG_DATABASE (comfy_gateway). PostgreSQL refuses to run as root: as root its cluster
# belongs to the `postgres` user of the Debian package and its commands run through runuser.
set -euo pipefail

STATE="${SERVICES_DIR:-${TMPDIR:-/tmp}/comfy-gateway-services}"
PG_PORT="${PG_PORT:-55432}"
REDIS_PORT="${REDIS_PORT:-56379}"
PG_DATABASE="${PG_DATABASE:-comfy_gateway}"
PG_DATA="$STATE/postgres/data"
PG_SOCKETS="$STATE/postgres/run"
PG_PASSWORD_FILE="$STATE/postgres/password"
REDIS_DIR="$STATE/redis"

say() { echo "services: $*" >&2; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
        say "need root (or sudo) to run: $*"
        return 1
    fi
}

# Run a PostgreSQL command as the cluster's owner (postgres when we are root, else ourselves).
as_pg() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

pg_bin() {
    local dir
    dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
    if [ -n "$dir" ] && [ -x "$dir/initdb" ]; then echo "$dir"; fi
}

apt_install() {
    say "installing $* (Debian packages)"
    export DEBIAN_FRONTEND=noninteractive
    # A stale package index makes install fail on a fresh machine: update once, then install.
    as_root apt-get update -qq >&2
    as_root apt-get install -y -qq --no-install-recommends "$@" >&2
}

ensure_installed() {
    local missing=()
    [ -n "$(pg_bin)" ] || missing+=(postgresql)
    command -v redis-server >/dev/null || missing+=(redis-server)
    if [ "${#missing[@]}" -gt 0 ]; then apt_install "${missing[@]}"; fi
    [ -n "$(pg_bin)" ] || { say "PostgreSQL is not installed"; exit 1; }
}

pg_password() { cat "$PG_PASSWORD_FILE"; }

database_url() { echo "postgresql+asyncpg://gateway:$(pg_password)@127.0.0.1:$PG_PORT/$PG_DATABASE"; }
redis_url() { echo "redis://127.0.0.1:$REDIS_PORT/0"; }

pg_running() { [ -f "$PG_DATA/PG_VERSION" ] && as_pg "$(pg_bin)/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1; }
redis_running() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG; }

start_postgres() {
    local bin
    bin="$(pg_bin)"
    mkdir -p "$STATE/postgres"
    if [ "$(id -u)" -eq 0 ]; then
        # The postgres user must reach its directories through the state directory.
        chmod 755 "$STATE" "$STATE/postgres"
    fi
    if [ ! -f "$PG_DATA/PG_VERSION" ]; then
        say "creating a PostgreSQL cluster in $PG_DATA"
        rm -rf "$PG_DATA"
        mkdir -p "$PG_DATA" "$PG_SOCKETS"
        [ -f "$PG_PASSWORD_FILE" ] || head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$PG_PASSWORD_FILE"
        if [ "$(id -u)" -eq 0 ]; then chown -R postgres: "$STATE/postgres"; fi
        chmod 700 "$PG_DATA"
        # Local socket connections are trusted (our own admin commands); TCP needs the password.
        as_pg "$bin/initdb" -D "$PG_DATA" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
            -E UTF8 --locale=C.UTF-8 >"$STATE/postgres/initdb.log" 2>&1 \
            || { cat "$STATE/postgres/initdb.log" >&2; exit 1; }
    fi
    if ! pg_running; then
        mkdir -p "$PG_SOCKETS"
        if [ "$(id -u)" -eq 0 ]; then chown postgres: "$PG_SOCKETS"; fi
        say "starting PostgreSQL on 127.0.0.1:$PG_PORT"
        # Tests may open many connections (two gateways, pools): a generous max_connections; fsync off
        # because this cluster holds test data only and durability would just slow the tests down.
        as_pg "$bin/pg_ctl" -D "$PG_DATA" -l "$STATE/postgres/server.log" -w -t 60 \
            -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $PG_SOCKETS -c max_connections=200 -c fsync=off" \
            start >&2 || { tail -n 20 "$STATE/postgres/server.log" >&2; exit 1; }
    fi
    local psql=("$bin/psql" -h "$PG_SOCKETS" -p "$PG_PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -qtA)
    if [ "$(as_pg "${psql[@]}" -c "SELECT 1 FROM pg_roles WHERE rolname = 'gateway'")" != "1" ]; then
        # CREATEDB: tests make a database of their own per test and drop it afterwards.
        as_pg "${psql[@]}" -c "CREATE ROLE gateway LOGIN CREATEDB PASSWORD '$(pg_password)'" >&2
    fi
    if [ "$(as_pg "${psql[@]}" -c "SELECT 1 FROM pg_database WHERE datname = '$PG_DATABASE'")" != "1" ]; then
        as_pg "${psql[@]}" -c "CREATE DATABASE \"$PG_DATABASE\" OWNER gateway" >&2
    fi
}

start_redis() {
    redis_running && return 0
    mkdir -p "$REDIS_DIR"
    say "starting Redis on 127.0.0.1:$REDIS_PORT"
    # No persistence: the tests use it for pub/sub and leases, which live in memory only.
    redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --daemonize yes --dir "$REDIS_DIR" \
        --pidfile "$REDIS_DIR/redis.pid" --logfile "$REDIS_DIR/redis.log" --save "" --appendonly no >&2
    for _ in $(seq 1 100); do
        redis_running && return 0
        sleep 0.1
    done
    say "Redis did not answer on port $REDIS_PORT"
    tail -n 20 "$REDIS_DIR/redis.log" >&2 || true
    exit 1
}

stop_all() {
    if [ -n "$(pg_bin)" ] && pg_running; then
        say "stopping PostgreSQL"
        as_pg "$(pg_bin)/pg_ctl" -D "$PG_DATA" -m fast -w stop >&2
    fi
    if command -v redis-cli >/dev/null && redis_running; then
        say "stopping Redis"
        redis-cli -h 127.0.0.1 -p "$REDIS_PORT" shutdown nosave >&2 || true
    fi
}

print_urls() {
    echo "DATABASE_URL=$(database_url)"
    echo "REDIS_URL=$(redis_url)"
}

case "${1:-}" in
    start)
        ensure_installed
        start_postgres
        start_redis
        print_urls
        ;;
    stop)
        stop_all
        ;;
    status)
        if [ -n "$(pg_bin)" ] && pg_running && redis_running; then print_urls; else exit 1; fi
        ;;
    purge)
        stop_all
        rm -rf "$STATE"
        ;;
    *)
        echo "usage: $0 start|stop|status|purge" >&2
        exit 2
        ;;
esac
