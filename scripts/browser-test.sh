#!/usr/bin/env bash
# Browser tests of the web pages (/ and /docs): Node's test runner drives
# Debian's Chromium headless through playwright-core against the real
# todo-server (the debug binary; scripts/test.sh builds it) on the local
# Neon-like PostgreSQL. Installs what is missing first: Chromium (apt-get)
# and the pinned npm packages (npm ci). Screenshots land in
# tests/browser/artifacts/. Extra arguments go to `node --test`.
# Knobs: CHROMIUM_PATH (default /usr/bin/chromium), TODO_SERVER_BIN,
# TEST_LOG=1 to echo the server's log, TEST_DATABASE_URL as for the
# end-to-end tests (the users a test registers are deleted afterwards).
set -euo pipefail
cd "$(dirname "$0")/.."

log() { echo "browser-test.sh: $*" >&2; }

as_root() {
  if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi
}

export CHROMIUM_PATH="${CHROMIUM_PATH:-/usr/bin/chromium}"
if [[ ! -x "$CHROMIUM_PATH" ]]; then
  log "installing chromium (apt-get)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  log "installing nodejs and npm (apt-get)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
fi

bin="${TODO_SERVER_BIN:-${CARGO_TARGET_DIR:-target}/debug/todo-server}"
[[ -x "$bin" ]] || { log "$bin is missing; build it first: cargo build --bin todo-server"; exit 1; }

cd tests/browser
pinned="$(node -p "require('./package.json').devDependencies['playwright-core']")"
installed="$(node -p "require('./node_modules/playwright-core/package.json').version" 2>/dev/null || true)"
if [[ "$installed" != "$pinned" ]]; then
  log "npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi
rm -rf artifacts
cd ../..
[[ -n "${TEST_DATABASE_URL:-}" ]] || scripts/neon-local.sh --test start >&2
DATABASE_URL="${TEST_DATABASE_URL:-$(scripts/neon-local.sh --test url)}"
export DATABASE_URL
cd tests/browser
node --test --test-concurrency=1 "$@" tests/
