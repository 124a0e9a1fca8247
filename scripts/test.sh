#!/usr/bin/env bash
# Runs every test of the workspace against the local Neon-like PostgreSQL
# (TLS only, SCRAM with channel binding), starting it first if needed.
# With TEST_DATABASE_URL set, the end-to-end tests use that database instead
# (a Neon branch, say).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/neon-local.sh --test start >&2
# The end-to-end tests start the real binary.
cargo build --bin todo-server
cargo test --workspace --all-targets "$@"
