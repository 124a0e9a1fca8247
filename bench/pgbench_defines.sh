# shellcheck shell=bash
# Sourced by bench/run.sh, bench/prepared.sh and bench/pooler_hop.sh: the pgbench variables that
# bench/pgbench/*.sql read, one list for every harness that runs them.

# pgbench_defines <first delete victim>: sets PGBENCH_DEFINES (-D options) from PINS, POOL, NOW
# and EXPIRES.
# shellcheck disable=SC2034 # read by the script that sources this file
pgbench_defines() {
  PGBENCH_DEFINES=(
    -D loaded=0 -D pins="$PINS" -D i="$1" -D clients="$POOL" -D now="$NOW" -D expires="$EXPIRES"
    -D hascursor=false -D zero_ts=1970-01-01T00:00:00Z -D nil_uuid=00000000-0000-0000-0000-000000000000
    -D limit=20 -D title="bench task" -D priority=medium
  )
}
