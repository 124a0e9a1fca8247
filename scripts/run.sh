#!/usr/bin/env bash
# Runs todo-server on http://localhost:8080 (PORT overrides) against the
# local Neon-like PostgreSQL, which it starts (and installs) when needed.
# Extra arguments go to todo-server, e.g. `scripts/run.sh check`.
set -euo pipefail
cd "$(dirname "$0")/.."

DATABASE_URL="$(scripts/neon-local.sh url)"
export DATABASE_URL
secret_file=.local/jwt-secret
if [[ -z "${JWT_SECRET:-}" ]]; then
  if [[ ! -s "$secret_file" ]]; then
    mkdir -p .local
    (umask 077 && openssl rand -hex 32 >"$secret_file")
  fi
  JWT_SECRET="$(cat "$secret_file")"
  export JWT_SECRET
fi
export APP_ENV="${APP_ENV:-development}"
exec cargo run --release --quiet --bin todo-server -- "$@"
