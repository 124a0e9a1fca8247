#!/usr/bin/env bash
# bench/pooler_hop.sh: what TLS on PgBouncer's hop to PostgreSQL costs PostgreSQL. Neon's pooler
# reaches its compute in plaintext (server_tls_sslmode=disable, host=localhost), and so does the
# local stand-in's; this puts the dev cluster's PgBouncer back on TLS over TCP for alternate runs of
# pgbench -M prepared through it, and reports PostgreSQL's CPU per transaction for each hop. The
# dev pooler's configuration is restored on exit.
#
#   bench/pooler_hop.sh [scenario (get)] [rounds (3)]
#
# Needs the database bench/prepared.sh leaves behind (todo_bench_prep, with bench.pin). With
# BENCH_STRACE=1, also counts the backends' system calls for 2 s of each run (`strace -c`).
set -euo pipefail
cd "$(dirname "$0")/.."
SCENARIO="${1:-get}"
ROUNDS="${2:-3}"
POOL="${BENCH_POOL:-6}"
DURATION="${BENCH_DURATION:-6}"
INI="$PWD/.local/neon-dev/pgbouncer/pgbouncer.ini"
OUT="$PWD/target/bench-pooler-hop"
mkdir -p "$OUT"

scripts/neon-local.sh start >&2
POOLER_URL="$(scripts/neon-local.sh pooler-url)"
DB_URL="$(scripts/neon-local.sh url)"
ADMIN_URL="$(scripts/neon-local.sh admin-url)"
POOLED_URL="${POOLER_URL/\/app\?//todo_bench_prep?}"
DB_URL="${DB_URL/\/app\?//todo_bench_prep?}"
POSTMASTER="$(head -1 .local/neon-dev/data/postmaster.pid)"
PORT="$(sed -n 's/^port = //p' .local/neon-dev/data/neon-local.conf)"
PIDFILE=.local/neon-dev/pgbouncer/pgbouncer.pid
PGBOUNCER="$(readlink -f "/proc/$(head -1 "$PIDFILE")/exe")"
PINS="$(psql -qtA "$DB_URL" -c 'SELECT count(*) FROM bench.pin')" \
  || { echo "no todo_bench_prep database: run bench/prepared.sh first" >&2; exit 1; }
NOW="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
EXPIRES="$(date -u -d '+1 day' +%Y-%m-%dT%H:%M:%SZ)"
# shellcheck source=bench/pgbench_defines.sh
source bench/pgbench_defines.sh
pgbench_defines 0

cp "$INI" "$OUT/plain.ini"
sed -e "s|^\* = host=.*|* = host=localhost port=$PORT|" \
  -e "s|^server_tls_sslmode = disable|server_tls_sslmode = verify-full\nserver_tls_ca_file = $PWD/.local/neon-dev/certs/ca.pem|" \
  "$OUT/plain.ini" >"$OUT/tls.ini"

restart_bouncer() { # restart_bouncer <ini>: PgBouncer on that configuration, its server connections new
  cp "$1" "$INI"
  local pid
  pid="$(head -1 "$PIDFILE")"
  kill -QUIT "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  if [[ "$(id -u)" -eq 0 ]]; then
    su postgres -s /bin/sh -c "'$PGBOUNCER' -d -q '$INI'"
  else
    "$PGBOUNCER" -d -q "$INI"
  fi
  sleep 0.5
}
trap 'restart_bouncer "$OUT/plain.ini"' EXIT

pg_ticks() {
  python3 bench/bench.py cpu --postmaster "$POSTMASTER" --shell $$ \
    | python3 -c 'import json, sys; c = json.load(sys.stdin); print(c["postgres"], c["hz"])'
}

printf '%-6s %-5s %-8s %10s %8s %18s\n' round hop "pg ssl" txns tps "PG µs per txn"
for round in $(seq "$ROUNDS"); do
  for hop in tls plain; do
    restart_bouncer "$OUT/$hop.ini"
    read -r before hz < <(pg_ticks)
    if [[ -n "${BENCH_STRACE:-}" ]]; then
      # The backends PgBouncer opened for this run, once it has opened them.
      (sleep 2; mapfile -t backends < <(pgrep -P "$POSTMASTER")
        timeout 2 strace -c -f "${backends[@]/#/-p}" 2>"$OUT/strace-$hop-r$round.txt" >/dev/null) &
    fi
    pgbench -n -M prepared -c "$POOL" -j 2 -T "$DURATION" -f "bench/pgbench/$SCENARIO.sql" \
      "${PGBENCH_DEFINES[@]}" "$POOLED_URL" >"$OUT/pgbench-$hop-r$round.log" 2>&1
    read -r after _ < <(pg_ticks)
    wait
    txns="$(grep -oE 'actually processed: [0-9]+' "$OUT/pgbench-$hop-r$round.log" | grep -oE '[0-9]+$')"
    tps="$(grep -oE '^tps = [0-9]+' "$OUT/pgbench-$hop-r$round.log" | grep -oE '[0-9]+$')"
    ssl="$(psql -qtA "$ADMIN_URL" -c "SELECT string_agg(DISTINCT ssl::text, ',') FROM pg_stat_ssl
      JOIN pg_stat_activity USING (pid) WHERE datname = 'todo_bench_prep'")"
    printf '%-6s %-5s %-8s %10s %8s %18s\n' "$round" "$hop" "$ssl" "$txns" "$tps" \
      "$(python3 -c "print(f'{($after - $before) * 1e6 / $hz / $txns:.1f}')")"
    if [[ -n "${BENCH_STRACE:-}" ]]; then
      awk '$NF ~ /^(recvfrom|sendto|epoll_wait|total)$/ { printf "         %s: %s calls in 2 s\n", $NF, $4 }' \
        "$OUT/strace-$hop-r$round.txt"
    fi
  done
done
