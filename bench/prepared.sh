#!/usr/bin/env bash
# bench/prepared.sh: PostgreSQL's CPU per request with prepared statements, direct and through
# PgBouncer, against pgbench's two ceilings (-M prepared and -M extended) running the same
# statements. Writes its section of BENCHMARKS.md (between the "prepared" markers; appended if
# absent). About 4 minutes on 2 cores once built.
#
#   bench/prepared.sh
#
# In order: starts the local Neon-like cluster (scripts/neon-local.sh start: PostgreSQL and
# PgBouncer >= 1.22 with max_prepared_statements = 1000), builds the release todo-server, makes a
# fresh database todo_bench_prep, starts two servers on it (one direct, one through PgBouncer; pool
# 15 each), seeds through the API, then per scenario (list, get, update, create, delete): wrk on the
# direct server, wrk on the pooled one, pgbench -M prepared and pgbench -M extended running the
# adapter's statement (bench/pgbench/<scenario>.sql) over 15 connections, each run between two CPU
# snapshots (bench.py cpu: the PostgreSQL server's processes, not PgBouncer's).
#
# Knobs: BENCH_DURATION (8 s per run), BENCH_USERS (50), BENCH_TASKS (200), BENCH_CONNECTIONS (64),
# BENCH_REPORT (BENCHMARKS.md), BENCH_SERVER_BIN (a todo-server binary to use instead of building the
# release one). Raw results: target/bench-prepared/.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"

DURATION="${BENCH_DURATION:-8}"
USERS="${BENCH_USERS:-50}"
TASKS="${BENCH_TASKS:-200}"
CONNS="${BENCH_CONNECTIONS:-64}"
POOL=15
OUT="$ROOT/target/bench-prepared"
rm -rf "$OUT"
mkdir -p "$OUT/data"
log() { printf '\n== %s  %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

log "tools, cluster, release build"
if ! command -v wrk >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi
scripts/neon-local.sh start >&2
BASE_URL="$(scripts/neon-local.sh url)"
POOLER_URL="$(scripts/neon-local.sh pooler-url)"
ADMIN_URL="$(scripts/neon-local.sh admin-url)"
POSTMASTER="$(head -1 .local/neon-dev/data/postmaster.pid)"
if [[ -n "${BENCH_SERVER_BIN:-}" ]]; then
  SERVER="$BENCH_SERVER_BIN"
else
  cargo build --release --bin todo-server >&2
  SERVER="$ROOT/target/release/todo-server"
fi

log "fresh database todo_bench_prep"
psql -q -v ON_ERROR_STOP=1 "$ADMIN_URL" -c "DROP DATABASE IF EXISTS todo_bench_prep WITH (FORCE)" \
  -c "CREATE DATABASE todo_bench_prep OWNER app" 2>&1 | grep -v NOTICE >&2 || true
DB_URL="${BASE_URL/\/app\?//todo_bench_prep?}"
POOLED_URL="${POOLER_URL/\/app\?//todo_bench_prep?}"
psql_app() { psql -qtA -v ON_ERROR_STOP=1 "$DB_URL" "$@"; }

JWT_SECRET="$(openssl rand -hex 32)"
export JWT_SECRET APP_ENV=development APP_CONFIG_DIR="$ROOT/config"
export APP__DATABASE__MAX_SIZE="$POOL" APP__LOG__LEVEL=warn
export APP__AUTH__LOGIN_MAX_FAILURES_PER_EMAIL=1000000 APP__AUTH__LOGIN_MAX_FAILURES_PER_CLIENT=1000000

start_server() { # start_server <name> <database url>: sets <name>_PID and <name>_BASE
  local name="$1" url="$2" port
  port="$(free_port)"
  DATABASE_URL="$url" PORT="$port" python3 bench/bench.py startup --port "$port" --log "$OUT/$name.log" \
    -- "$SERVER" >"$OUT/startup-$name.json"
  local pid
  pid="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["pid"])' "$OUT/startup-$name.json")"
  PIDS+=("$pid")
  printf -v "${name}_PID" '%s' "$pid"
  printf -v "${name}_BASE" '%s' "http://127.0.0.1:$port"
}

log "servers: direct and through PgBouncer"
direct_BASE="" # set by start_server
start_server direct "$DB_URL"
start_server pooled "$POOLED_URL"

log "seeding $USERS users x $TASKS tasks"
python3 bench/bench.py seed --base "$direct_BASE" --users "$USERS" --tasks "$TASKS" --prefix "$(date +%s)" \
  --out "$OUT/data" >"$OUT/seed.json"
cat "$OUT/seed.json" >&2

psql_app -f bench/pin.sql
psql_app -c 'VACUUM users' -c 'VACUUM sessions' -c 'VACUUM tasks'
# The seeding's dirty pages and autovacuum work would otherwise land in the first runs.
psql -q "$ADMIN_URL" -c CHECKPOINT
PINS="$(psql_app -c 'SELECT count(*) FROM bench.pin')"
NOW="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
EXPIRES="$(date -u -d '+1 day' +%Y-%m-%dT%H:%M:%SZ)"

cpu_snap() { # cpu_snap <server pid>
  python3 bench/bench.py cpu --server "$1" --postmaster "$POSTMASTER" --shell $$
}

run_wrk() { # run_wrk <server: direct|pooled> <scenario> <data file>
  local server="$1" scenario="$2" data="$3" pid_var="${1}_PID" base_var="${1}_BASE"
  local name="$scenario-$server"
  cpu_snap "${!pid_var}" >"$OUT/cpu-$name-0.json"
  BENCH_SCENARIO="$scenario" BENCH_DATA="$data" BENCH_RESULT="$OUT/wrk-$name.txt" BENCH_THREADS=2 \
    wrk -t2 -c"$CONNS" -d"${DURATION}s" --timeout 10s -s bench/wrk/scenario.lua "${!base_var}" \
    >"$OUT/wrk-$name.log" 2>&1
  cpu_snap "${!pid_var}" >"$OUT/cpu-$name-1.json"
  echo "wrk $name: $(cat "$OUT/wrk-$name.txt")" >&2
}

run_pgbench() { # run_pgbench <scenario> <prepared|extended> [first victim step]
  local scenario="$1" mode="$2" name="$1-$2" start="${3:-0}"
  cpu_snap 0 >"$OUT/cpu-$name-0.json"
  pgbench -n -M "$mode" -c "$POOL" -j 2 -T "$DURATION" -f "bench/pgbench/$scenario.sql" \
    -D loaded=0 -D pins="$PINS" -D i="$start" -D clients="$POOL" -D now="$NOW" -D expires="$EXPIRES" \
    -D hascursor=false -D zero_ts=1970-01-01T00:00:00Z -D nil_uuid=00000000-0000-0000-0000-000000000000 \
    -D limit=20 -D title="bench task" -D priority=medium \
    "$DB_URL" >"$OUT/pgbench-$name.log" 2>&1 || true
  cpu_snap 0 >"$OUT/cpu-$name-1.json"
  echo "pgbench $name: $(grep -E '^tps' "$OUT/pgbench-$name.log" || tail -3 "$OUT/pgbench-$name.log")" >&2
}

DATA="$OUT/data"
for scenario in list get update create; do
  log "scenario $scenario"
  run_wrk direct "$scenario" "$DATA/tasks.tsv"
  run_wrk pooled "$scenario" "$DATA/tasks.tsv"
  run_pgbench "$scenario" prepared
  run_pgbench "$scenario" extended
done

log "scenario delete"
# Every task now stored, shuffled, with its owner's token; half for each server.
psql_app -F $'\t' -c 'SELECT user_id, id FROM tasks ORDER BY random()' >"$DATA/all-tasks.tsv"
awk -F'\t' 'NR == FNR { token[$2] = $1; next } ($1 in token) { print token[$1] "\t" $2 }' \
  "$DATA/tokens.tsv" "$DATA/all-tasks.tsv" >"$DATA/delete.tsv"
half=$(( $(wc -l <"$DATA/delete.tsv") / 2 ))
head -n "$half" "$DATA/delete.tsv" >"$DATA/delete-direct.tsv"
tail -n +"$((half + 1))" "$DATA/delete.tsv" >"$DATA/delete-pooled.tsv"
echo "$half" >"$OUT/delete-pool.txt"
run_wrk direct delete "$DATA/delete-direct.tsv"
run_wrk pooled delete "$DATA/delete-pooled.tsv"
psql_app <<SQL
CREATE TABLE bench.victims AS
  SELECT (row_number() OVER (ORDER BY random()) - 1)::int AS n, p.session_id, p.user_id, gen_random_uuid() AS task_id
  FROM bench.pin p, generate_series(1, ceil(100000::numeric / $PINS)::int);
ALTER TABLE bench.victims ADD PRIMARY KEY (n);
INSERT INTO tasks (id, user_id, title, created_at, updated_at)
  SELECT task_id, user_id, 'victim', now(), now() FROM bench.victims;
ANALYZE tasks; ANALYZE bench.victims;
SQL
run_pgbench delete prepared
# Extended deletes victims prepared did not reach: its walk starts 45,000 victims in.
run_pgbench delete extended 3000

cat >"$OUT/meta.env" <<EOF
date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
cores=$(nproc)
postgres=$(psql -qtA "$ADMIN_URL" -c 'SHOW server_version' | cut -d' ' -f1)
pgbouncer=$("$(readlink -f "/proc/$(head -1 .local/neon-dev/pgbouncer/pgbouncer.pid)/exe")" --version | head -1 | cut -d' ' -f2)
duration=$DURATION
conns=$CONNS
pool=$POOL
git=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo +dirty)
EOF
python3 bench/report_prepared.py "$OUT" "${BENCH_REPORT:-BENCHMARKS.md}"
log "done: ${BENCH_REPORT:-BENCHMARKS.md} (raw results in $OUT)"
