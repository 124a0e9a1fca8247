#!/usr/bin/env bash
# bench/prepared.sh: PostgreSQL's CPU per request with prepared statements, direct and through
# PgBouncer, against pgbench running the same statements: -M prepared flat out (the floor), -M
# prepared held to the service's rate (the same work at the same load), and -M extended once (what
# unnamed statements cost). Writes its section of BENCHMARKS.md (between the "prepared" markers;
# appended if absent). About 10 minutes on 2 cores once built.
#
#   bench/prepared.sh
#
# In order: starts the local Neon-like cluster (scripts/neon-local.sh start: PostgreSQL and
# PgBouncer >= 1.22 with max_prepared_statements = 1000), builds the release todo-server, makes a
# fresh database todo_bench_prep, starts two servers on it (one direct, one through PgBouncer; pool
# 6 each, the default), seeds through the API, then BENCH_ROUNDS rounds of each scenario in turn (list, get,
# update, create, then delete on tasks added for it; a VACUUM and a CHECKPOINT between scenarios).
# A round: wrk on the direct server, wrk on the pooled one, pgbench -M prepared (direct, and through
# PgBouncer for comparison), and pgbench -M prepared -R <each service run's rate>, running the adapter's statement
# (bench/pgbench/<scenario>.sql) over 6 connections, each run between two CPU snapshots (bench.py
# cpu: the PostgreSQL server's processes, not PgBouncer's). -M extended runs once per scenario. The
# report takes the median over rounds of each ratio, computed within its round.
#
# Knobs: BENCH_ROUNDS (3), BENCH_DURATION (6 s per run), BENCH_USERS (50), BENCH_TASKS (200),
# BENCH_CONNECTIONS (64), BENCH_POOL (6: the servers' pool, as by default, and pgbench's connections),
# BENCH_PIPELINE_DEPTH (16, the servers' database.pipeline_depth, as by default; 1: no pipelining), BENCH_REPORT
# (BENCHMARKS.md), BENCH_SERVER_BIN (a todo-server binary to use instead of building the release
# one). Raw results: target/bench-prepared/.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"

DURATION="${BENCH_DURATION:-6}"
ROUNDS="${BENCH_ROUNDS:-3}"
USERS="${BENCH_USERS:-50}"
TASKS="${BENCH_TASKS:-200}"
CONNS="${BENCH_CONNECTIONS:-64}"
POOL="${BENCH_POOL:-6}"
DEPTH="${BENCH_PIPELINE_DEPTH:-16}"
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
export APP__DATABASE__MAX_SIZE="$POOL" APP__DATABASE__PIPELINE_DEPTH="$DEPTH" APP__LOG__LEVEL=warn
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
# The seeding's dirty pages and autovacuum work would otherwise land in the first runs (tasks are
# vacuumed, and the checkpoint taken, by settle below, before each scenario).
psql_app -c 'VACUUM users' -c 'VACUUM sessions'
PINS="$(psql_app -c 'SELECT count(*) FROM bench.pin')"
NOW="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
EXPIRES="$(date -u -d '+1 day' +%Y-%m-%dT%H:%M:%SZ)"

cpu_snap() { # cpu_snap <server pid>
  python3 bench/bench.py cpu --server "$1" --postmaster "$POSTMASTER" --shell $$
}

run_wrk() { # run_wrk <server: direct|pooled> <scenario> <data file> <round>
  local server="$1" scenario="$2" data="$3" pid_var="${1}_PID" base_var="${1}_BASE"
  local name="$scenario-$server-r$4"
  cpu_snap "${!pid_var}" >"$OUT/cpu-$name-0.json"
  BENCH_SCENARIO="$scenario" BENCH_DATA="$data" BENCH_RESULT="$OUT/wrk-$name.txt" BENCH_THREADS=2 \
    wrk -t2 -c"$CONNS" -d"${DURATION}s" --timeout 10s -s bench/wrk/scenario.lua "${!base_var}" \
    >"$OUT/wrk-$name.log" 2>&1
  cpu_snap "${!pid_var}" >"$OUT/cpu-$name-1.json"
  echo "wrk $name: $(cat "$OUT/wrk-$name.txt")" >&2
}

wrk_rate() { # wrk_rate <scenario> <server> <round>: that run's requests per second
  grep -o 'rps=[0-9]*' "$OUT/wrk-$1-$2-r$3.txt" | cut -d= -f2
}

DELETE_NEXT=0 # delete's pgbench runs each take fresh victims, from here on
# shellcheck source=bench/pgbench_defines.sh
source bench/pgbench_defines.sh
run_pgbench() { # run_pgbench <scenario> <name> <pgbench options...>; PGBENCH_URL: where (direct)
  local scenario="$1" name="$1-$2"
  shift 2
  local start=0
  [[ "$scenario" == delete ]] && start="$DELETE_NEXT"
  pgbench_defines "$start"
  cpu_snap 0 >"$OUT/cpu-$name-0.json"
  pgbench -n "$@" -c "$POOL" -j 2 -T "$DURATION" -f "bench/pgbench/$scenario.sql" "${PGBENCH_DEFINES[@]}" \
    "${PGBENCH_URL:-$DB_URL}" >"$OUT/pgbench-$name.log" 2>&1 || true
  cpu_snap 0 >"$OUT/cpu-$name-1.json"
  echo "pgbench $name: $(grep -E '^tps' "$OUT/pgbench-$name.log" || tail -3 "$OUT/pgbench-$name.log")" >&2
  if [[ "$scenario" == delete ]]; then
    local done_txns
    done_txns="$(grep -oE 'actually processed: [0-9]+' "$OUT/pgbench-$name.log" | grep -oE '[0-9]+$' || echo 0)"
    DELETE_NEXT=$((DELETE_NEXT + done_txns / POOL + 100))
  fi
}

# One round of a scenario: the service direct and pooled, pgbench -M prepared flat out, then
# pgbench -M prepared held to each service run's rate (-R), all within a minute of each other so
# the shared machine's state moves little between the figures that are compared.
run_round() { # run_round <scenario> <round> <direct data> <pooled data>
  local scenario="$1" round="$2"
  run_wrk direct "$scenario" "$3" "$round"
  run_wrk pooled "$scenario" "$4" "$round"
  run_pgbench "$scenario" "prepared-r$round" -M prepared
  PGBENCH_URL="$POOLED_URL" run_pgbench "$scenario" "prepared-pooled-r$round" -M prepared
  run_pgbench "$scenario" "rated-direct-r$round" -M prepared -R "$(wrk_rate "$scenario" direct "$round")"
  run_pgbench "$scenario" "rated-pooled-r$round" -M prepared -R "$(wrk_rate "$scenario" pooled "$round")"
}

DATA="$OUT/data"
settle() { # vacuum and checkpoint, so one phase's writes and autovacuum do not land in the next
  psql_app -c 'VACUUM (ANALYZE) tasks' >/dev/null
  psql -q "$ADMIN_URL" -c CHECKPOINT
}
# Creates change what list, get and update read, so each scenario's rounds run back to back, with
# the writing scenarios last.
for scenario in list get update create; do
  settle
  for round in $(seq 1 "$ROUNDS"); do
    log "scenario $scenario, round $round of $ROUNDS"
    run_round "$scenario" "$round" "$DATA/tasks.tsv" "$DATA/tasks.tsv"
  done
  run_pgbench "$scenario" extended -M extended
done

log "scenario delete: victims"
# The service deletes tasks of its seeded users, added here in bulk (how they were made does not
# matter to a delete): one slice per server and round, each more than a run can reach.
SLICE=$((DURATION * 25000))
psql_app -c "INSERT INTO tasks (id, user_id, title, created_at, updated_at)
  SELECT gen_random_uuid(), u.user_id, 'victim', now(), now()
  FROM (SELECT DISTINCT user_id FROM sessions) u, generate_series(1, ceil($SLICE * 2 * $ROUNDS / $USERS::numeric)::int)" >/dev/null
psql_app -F $'\t' -c "SELECT user_id, id FROM tasks WHERE title = 'victim' ORDER BY random()" >"$DATA/all-tasks.tsv"
awk -F'\t' 'NR == FNR { token[$2] = $1; next } ($1 in token) { print token[$1] "\t" $2 }' \
  "$DATA/tokens.tsv" "$DATA/all-tasks.tsv" >"$DATA/delete.tsv"
slice=$(( $(wc -l <"$DATA/delete.tsv") / (2 * ROUNDS) ))
echo "$slice" >"$OUT/delete-pool.txt"
# pgbench's victims: enough for every delete run of pgbench (flat out direct and through the pooler,
# two held to a rate, and -M extended once), each walking fresh ones from where the previous run stopped.
psql_app <<SQL
CREATE TABLE bench.victims AS
  SELECT (row_number() OVER (ORDER BY random()) - 1)::int AS n, p.session_id, p.user_id, gen_random_uuid() AS task_id
  FROM bench.pin p, generate_series(1, ceil(($ROUNDS * 4 + 1) * $SLICE::numeric / $PINS)::int);
ALTER TABLE bench.victims ADD PRIMARY KEY (n);
INSERT INTO tasks (id, user_id, title, created_at, updated_at)
  SELECT task_id, user_id, 'pgbench victim', now(), now() FROM bench.victims;
ANALYZE bench.victims;
SQL
settle
for round in $(seq 1 "$ROUNDS"); do
  log "scenario delete, round $round of $ROUNDS"
  sed -n "$(( (2 * round - 2) * slice + 1 )),$(( (2 * round - 1) * slice ))p" "$DATA/delete.tsv" >"$DATA/delete-direct.tsv"
  sed -n "$(( (2 * round - 1) * slice + 1 )),$(( 2 * round * slice ))p" "$DATA/delete.tsv" >"$DATA/delete-pooled.tsv"
  run_round delete "$round" "$DATA/delete-direct.tsv" "$DATA/delete-pooled.tsv"
done
run_pgbench delete extended -M extended

cat >"$OUT/meta.env" <<EOF
date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
cores=$(nproc)
postgres=$(psql -qtA "$ADMIN_URL" -c 'SHOW server_version' | cut -d' ' -f1)
pgbouncer=$("$(readlink -f "/proc/$(head -1 .local/neon-dev/pgbouncer/pgbouncer.pid)/exe")" --version | head -1 | cut -d' ' -f2)
duration=$DURATION
rounds=$ROUNDS
conns=$CONNS
pool=$POOL
depth=$DEPTH
bouncer_server_tls=$(sed -n 's/^server_tls_sslmode = //p' .local/neon-dev/pgbouncer/pgbouncer.ini)
git=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo +dirty)
EOF
python3 bench/report_prepared.py "$OUT" "${BENCH_REPORT:-BENCHMARKS.md}"
log "done: ${BENCH_REPORT:-BENCHMARKS.md} (raw results in $OUT)"
