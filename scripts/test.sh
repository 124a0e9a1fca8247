#!/usr/bin/env bash
# Runs every test: the workspace's unit, adapter and end-to-end tests against
# the local Neon-like PostgreSQL (TLS only, SCRAM with channel binding),
# started first if needed, then Schemathesis against the running service's
# /openapi.json. With TEST_DATABASE_URL set, the end-to-end tests use that
# database instead (a Neon branch, say).
set -euo pipefail
cd "$(dirname "$0")/.."

# The overload test opens a thousand sockets on each side.
ulimit -n 8192 2>/dev/null || ulimit -n "$(ulimit -Hn)" || true
scripts/neon-local.sh --test start >&2
# tests/tests/dead_path.rs black-holes a database connection with nftables;
# tests/tests/replicas.rs runs replicas behind HAProxy. Both from Debian's packages.
missing=()
command -v nft >/dev/null || [ -x /usr/sbin/nft ] || missing+=(nftables)
command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ] || missing+=(haproxy)
if ((${#missing[@]})); then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq >&2
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi
# The end-to-end tests and Schemathesis start the real binary.
cargo build --bin todo-server
cargo test --workspace --all-targets "$@"
scripts/browser-test.sh
scripts/schemathesis.sh
