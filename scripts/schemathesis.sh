#!/usr/bin/env bash
# schemathesis.sh: hostile-input fuzzing of the HTTP contract with Schemathesis.
#
# Why: the OpenAPI document served at /openapi.json is the contract clients code
# against. Schemathesis generates valid and invalid requests for every operation
# from that document and checks that the service never answers 5xx and that every
# answer (status, content type, headers, body) is one the document declares.
#
# What it does:
#   1. installs Schemathesis (pinned, from PyPI) into .local/schemathesis-venv if missing;
#   2. starts the local Neon-like test cluster (scripts/neon-local.sh --test start);
#   3. starts the already-built debug binary (${CARGO_TARGET_DIR:-target}/debug/todo-server;
#      scripts/test.sh builds it) on a free port, with the login limits raised so the
#      fuzzer's thousands of bad logins do not turn later logins into 429s;
#   4. registers a fresh user, logs in, creates a few tasks;
#   5. runs `st run` twice with a fixed seed and the checks not_a_server_error,
#      status_code_conformance, content_type_conformance, response_schema_conformance
#      and response_headers_conformance, plus the stricter ones listed at CHECKS, in the
#      phases coverage, fuzzing and stateful (examples too, when the document has any):
#        main: every operation but logout, with the user's token;
#        rest: logout and GET /openapi.json, with a second token of the same user;
#   6. prints the number of requests tried and exits non-zero on any failure, or when
#      fewer than 1000 requests were sent.
# The server is always stopped at exit (trap).
#
# Why logout runs on its own: it revokes the token every request carries, so in the
# main run the first generated logout would turn every later authenticated request
# into a 401 and the run would test nothing but the 401 path. In its own run, the
# first logout answers 204 and every later one must be the documented 401.
# GET /openapi.json needs a filter that names it: Schemathesis leaves out the
# operation that served the schema unless a filter selects it.
#
# Environment knobs:
#   SCHEMATHESIS_MAX_EXAMPLES  test cases per operation and phase (default 200)
#   SCHEMATHESIS_SEED          Hypothesis seed (default 20261127)
#   SCHEMATHESIS_WORKERS       concurrent workers (default 1; see WORKERS below)
#   SCHEMATHESIS_TIMEOUT       hard wall-clock bound per `st run`, in seconds (default 420)
#   SCHEMATHESIS_CHECKS        comma-separated checks (default: see CHECKS below)
# The seed fixes what is generated, but the stateful phase follows the server's answers
# (fresh ids every run) so the request count varies from run
# to run (about 2000 to 2500 with the defaults); the script fails below 1000.
# Reports (JUnit + NDJSON events) land in .local/schemathesis-report. Replay a
# failure with the curl command Schemathesis prints under it.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"
readonly ROOT

readonly ST_VERSION="4.32.5"
readonly VENV="$ROOT/.local/schemathesis-venv"
readonly REPORT_DIR="$ROOT/.local/schemathesis-report"
readonly BIN="${CARGO_TARGET_DIR:-target}/debug/todo-server"
readonly MAX_EXAMPLES="${SCHEMATHESIS_MAX_EXAMPLES:-200}"
readonly SEED="${SCHEMATHESIS_SEED:-20261127}"
# One worker: with two, Hypothesis describes strategies from two threads at
# once, and CPython 3.11's ast.parse is not thread-safe ("SystemError: AST
# constructor recursion depth mismatch", seen in a CI run).
readonly WORKERS="${SCHEMATHESIS_WORKERS:-1}"
readonly HARD_TIMEOUT="${SCHEMATHESIS_TIMEOUT:-420}"
readonly MIN_REQUESTS=1000
# The five conformance checks the contract needs, then the ones that catch what they
# cannot: a request that violates the schema but is still accepted
# (negative_data_rejection), an operation that works without the token (ignored_auth),
# a deleted task that can still be read (use_after_free), a created task that cannot
# (ensure_resource_availability), an undocumented method or a missing required header
# that is not refused (unsupported_method, missing_required_header).
# positive_data_acceptance stays off: it expects any string to be a valid `cursor`,
# which is opaque by design.
readonly CHECKS="${SCHEMATHESIS_CHECKS:-not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance,negative_data_rejection,ignored_auth,use_after_free,ensure_resource_availability,unsupported_method,missing_required_header}"

log() { echo "schemathesis.sh: $*" >&2; }
die() { log "$*"; exit 1; }

# --- 1. Schemathesis ------------------------------------------------------------
if [[ "$("$VENV/bin/st" --version 2>/dev/null || true)" != *"$ST_VERSION"* ]]; then
  log "installing schemathesis $ST_VERSION into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$ST_VERSION"
fi

[[ -x "$BIN" ]] || die "$BIN is missing; build it first: cargo build --bin todo-server"

# --- 2. Database ----------------------------------------------------------------
scripts/neon-local.sh --test start >&2
DATABASE_URL="$(scripts/neon-local.sh --test url)"

# --- 3. Server ------------------------------------------------------------------
WORK="$(mktemp -d)"
SERVER_PID=""
cleanup() {
  local rc=$?
  if [[ -n "${ST_PID:-}" ]]; then
    kill -TERM "$ST_PID" 2>/dev/null || true
    wait "$ST_PID" 2>/dev/null || true
  fi
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  if [[ $rc -ne 0 && -s "$WORK/server.err" ]]; then
    log "last lines of the server's log:"
    tail -n 20 "$WORK/server.err" >&2
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

DATABASE_URL="$DATABASE_URL" \
JWT_SECRET="$(openssl rand -hex 32)" \
PORT=0 \
APP_ENV=test \
APP_CONFIG_DIR="$ROOT/config" \
APP__AUTH__LOGIN_MAX_FAILURES_PER_EMAIL=1000000 \
APP__AUTH__LOGIN_MAX_FAILURES_PER_CLIENT=1000000 \
  "$BIN" >"$WORK/server.out" 2>"$WORK/server.err" &
SERVER_PID=$!

BASE=""
for _ in $(seq 600); do
  if line="$(grep -m1 -o 'listening on http://[0-9.:]*' "$WORK/server.out" 2>/dev/null)"; then
    BASE="${line#listening on }"
    break
  fi
  kill -0 "$SERVER_PID" 2>/dev/null || die "todo-server exited before listening"
  sleep 0.1
done
[[ -n "$BASE" ]] || die "todo-server did not print its listening line within 60 s"
log "server at $BASE (pid $SERVER_PID)"

# --- 4. A user, tokens, a few tasks ----------------------------------------------
# A fresh account on the throwaway test database; its password is never printed.
EMAIL="schemathesis-$(openssl rand -hex 8)@example.com"
PASSWORD="$(openssl rand -hex 16)"
# api METHOD PATH [JSON] [TOKEN]: the answer's body on stdout; fails on a non-2xx answer.
api() {
  local args=(--silent --show-error --fail-with-body -X "$1" "$BASE$2" -H 'Content-Type: application/json')
  [[ -n "${3:-}" ]] && args+=(--data "$3")
  [[ -n "${4:-}" ]] && args+=(-H "Authorization: Bearer $4")
  curl "${args[@]}"
}
json_field() { "$VENV/bin/python" -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
login() { api POST /api/v1/auth/login "{\"email\":\"$EMAIL\",\"password\":\"$PASSWORD\"}" | json_field access_token; }

api POST /api/v1/auth/register "{\"email\":\"$EMAIL\",\"password\":\"$PASSWORD\",\"name\":\"Fuzz\"}" >/dev/null \
  || die "could not register the fuzzing user"
TOKEN="$(login)" || die "could not log in"
LOGOUT_TOKEN="$(login)" || die "could not log in a second time"
for title in "Buy milk" "Write report" "Call Alice"; do
  api POST /api/v1/tasks "{\"title\":\"$title\",\"priority\":\"high\",\"due_at\":\"2030-01-01T00:00:00Z\"}" "$TOKEN" >/dev/null \
    || die "could not create a task"
done

# --- 5. Fuzz ----------------------------------------------------------------------
rm -rf "$REPORT_DIR"
mkdir -p "$REPORT_DIR"
# run_st NAME TOKEN FILTER-ARGS...: one `st run`; its events go to $REPORT_DIR/NAME.ndjson.
# No --max-time: with it, fuzzing and stateful repeat until the budget is spent and
# the amount of work depends on the machine's speed. Without it every phase runs its
# examples once, and `timeout` is only the hard bound. `st` runs in the background and
# the shell waits for it, so Ctrl-C or SIGTERM reach the trap at once (a shell defers
# traps until a foreground child ends, and `timeout` sits in a process group of its own).
ST_PID=""
run_st() {
  local name="$1"
  export SCHEMATHESIS_TOKEN="$2"
  shift 2
  timeout --signal=TERM --kill-after=10 "$HARD_TIMEOUT" \
    "$VENV/bin/st" --config-file "$ROOT/scripts/schemathesis/schemathesis.toml" run "$BASE/openapi.json" \
    --checks "$CHECKS" \
    --phases examples,coverage,fuzzing,stateful \
    --max-examples "$MAX_EXAMPLES" \
    --seed "$SEED" \
    --generation-database none \
    --workers "$WORKERS" \
    --request-timeout 15 \
    --no-color \
    --report junit,ndjson --report-dir "$REPORT_DIR" \
    --report-junit-path "$REPORT_DIR/$name.junit.xml" \
    --report-ndjson-path "$REPORT_DIR/$name.ndjson" \
    "$@" &
  ST_PID=$!
  local rc=0
  wait "$ST_PID" || rc=$?
  ST_PID=""
  return "$rc"
}

MAIN_RC=0
run_st main "$TOKEN" --exclude-path /api/v1/auth/logout || MAIN_RC=$?
REST_RC=0
run_st rest "$LOGOUT_TOKEN" --include-path /api/v1/auth/logout --include-path /openapi.json || REST_RC=$?

# --- 6. Count ----------------------------------------------------------------------
# Every ScenarioFinished event carries its scenario's recorder; each recorded
# interaction is one HTTP request sent to the server.
REQUESTS="$("$VENV/bin/python" -c '
import json, sys
total = 0
for path in sys.argv[1:]:
    with open(path) as f:
        for line in f:
            finished = json.loads(line).get("ScenarioFinished")
            if finished:
                total += len(finished.get("recorder", {}).get("interactions", {}))
print(total)
' "$REPORT_DIR"/*.ndjson)" || REQUESTS=0
echo "schemathesis: $REQUESTS requests tried (seed $SEED, $MAX_EXAMPLES examples per operation and phase)"

if [[ $MAIN_RC -ne 0 || $REST_RC -ne 0 ]]; then
  die "schemathesis found failures (exit codes: main $MAIN_RC, rest $REST_RC; 124 is a timeout); see above and $REPORT_DIR"
fi
if (( REQUESTS < MIN_REQUESTS )); then
  die "only $REQUESTS requests were tried, fewer than $MIN_REQUESTS"
fi
log "passed"
