#!/usr/bin/env bash
# neon-local.sh: a local PostgreSQL that behaves like Neon, provisioned by the project.
#
# Why: these machines cannot reach Neon, and the project talks to nothing but Neon-shaped
# PostgreSQL (TLS only, SCRAM with channel binding, a transaction-mode PgBouncer in front).
# This script gives every developer and CI run the same throwaway cluster inside the repo.
#
# Usage:
#   scripts/neon-local.sh [--test | --cluster NAME] [--port N] [--pooler-port N]
#                         start|stop|restart|reset|url|pooler-url|admin-url|status
#
# Clusters (paths relative to the repo root, so any cwd and any clone folder work):
#   default  "dev"  cluster: .local/neon-dev,  port $NEON_LOCAL_PORT (55432),
#                   PgBouncer on $NEON_LOCAL_POOLER_PORT (55433); fsync ON (the run command uses it).
#   --test   "test" cluster: .local/neon-test, port $NEON_LOCAL_TEST_PORT (56432),
#                   PgBouncer on $NEON_LOCAL_TEST_POOLER_PORT (56433);
#                   fsync, synchronous_commit and full_page_writes OFF for speed.
#   --cluster NAME  a cluster of its own (NAME: lowercase letters, digits, '-', '_'), e.g. one a
#                   fault test may stop and restart without touching the shared test cluster:
#                   .local/neon-NAME, port from --port, else $NEON_LOCAL_CLUSTER_PORT, else the
#                   port it last ran on; PgBouncer on --pooler-port, else
#                   $NEON_LOCAL_CLUSTER_POOLER_PORT, else the last one, else port + 1.
#                   Set up like the test cluster (fsync off). `--cluster dev` and
#                   `--cluster test` are the two clusters above.
#   --port N, --pooler-port N  override the ports of any cluster.
# All clusters can run at the same time.
#
# Subcommands:
#   start       Install Debian's postgresql if missing (one-time apt-get) and a PgBouncer >= 1.22
#               (see below), create the cluster if absent (CA + server cert, role/database `app`),
#               start PostgreSQL and PgBouncer. Idempotent: a running cluster is left alone, an
#               existing one is reused.
#   url         Start if needed (progress on stderr), print ONLY the direct URL on stdout:
#                 postgresql://app:PW@localhost:PORT/app?sslmode=require&channel_binding=require&sslrootcert=/abs/ca.pem
#   pooler-url  Same through PgBouncer (pool_mode=transaction, max_prepared_statements=1000, like
#               Neon's pooled endpoint). PgBouncer (1.24 included) cannot do SCRAM channel binding
#               with its clients, so this URL carries channel_binding=prefer.
#   admin-url   Start if needed, print a libpq keyword/value string for the superuser over the
#               cluster's unix socket (trust auth, no password, no TLS):
#                 host=/abs/socket/dir port=PORT user=postgres dbname=postgres
#               Works with `psql "$(scripts/neon-local.sh admin-url)"` and with
#               tokio_postgres::Config::from_str + NoTls (for pg_terminate_backend and the like).
#               The socket directory is the cluster directory (or a short /tmp path when the
#               cluster path is too long for a unix socket name).
#   stop        Fast shutdown of PgBouncer and PostgreSQL.
#   restart     Fast shutdown of PostgreSQL then start it again; PgBouncer keeps running (like
#               Neon's pooler while the compute restarts), or is started if it was not.
#   reset       stop, then delete the cluster directory.
#   status      Print whether PostgreSQL and PgBouncer are running; exit 0 if both are, 3 if not.
#
# Concurrency: every subcommand holds an flock on .local/neon-<cluster>.lock, so parallel test
# binaries may call `url` at the same time; only one creates or starts the cluster.
# As root the server and PgBouncer run as the `postgres` OS user (both refuse root); as another
# user they run as that user (then the packages must already be installed).
#
# PgBouncer: Neon's pooler is PgBouncer >= 1.22, which keeps protocol-level prepared statements
# in transaction mode; Debian 12's 1.18 cannot. The first start on such a machine (as root) adds a
# deb-src line for Debian 13 (trixie) in its own file (/etc/apt/sources.list.d/
# neon-local-trixie-src.sources), fetches the source package with `apt-get source`, builds it
# against libevent, OpenSSL and c-ares (about 30 s on 2 cores) and caches the binary in
# .local/pgbouncer/bin; later runs reuse it. A system PgBouncer >= 1.22 (Debian 13) is used as is.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"
readonly SCRIPT_DIR ROOT
readonly LOCAL_DIR="$ROOT/.local"

readonly USAGE="neon-local.sh [--test | --cluster NAME] [--port N] [--pooler-port N] start|stop|restart|reset|url|pooler-url|admin-url|status"
CLUSTER=dev
CLUSTER_FLAG=""
COMMAND=""
PORT_ARG=""
POOLER_PORT_ARG=""
# Sets the cluster by name; dev and test are the two built-in ones.
pick_cluster() {
  local name="$1"
  [[ "$name" =~ ^[a-z0-9][a-z0-9_-]{0,39}$ ]] \
    || { echo "neon-local: cluster names are lowercase letters, digits, '-' and '_' (got '$name')" >&2; exit 2; }
  CLUSTER="$name"
  case "$name" in
    dev) CLUSTER_FLAG="" ;;
    test) CLUSTER_FLAG="--test" ;;
    *) CLUSTER_FLAG="--cluster $name" ;;
  esac
}
while (( $# > 0 )); do
  arg="$1"
  shift
  case "$arg" in
    --test) CLUSTER="test"; CLUSTER_FLAG="--test" ;;
    --cluster|--port|--pooler-port)
      (( $# > 0 )) || { echo "neon-local: $arg needs a value (usage: $USAGE)" >&2; exit 2; }
      case "$arg" in
        --cluster) pick_cluster "$1" ;;
        --port) PORT_ARG="$1" ;;
        --pooler-port) POOLER_PORT_ARG="$1" ;;
      esac
      shift ;;
    --cluster=*) pick_cluster "${arg#--cluster=}" ;;
    --port=*) PORT_ARG="${arg#--port=}" ;;
    --pooler-port=*) POOLER_PORT_ARG="${arg#--pooler-port=}" ;;
    -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    start|stop|restart|reset|url|pooler-url|admin-url|status)
      [[ -z "$COMMAND" ]] || { echo "neon-local: one subcommand only" >&2; exit 2; }
      COMMAND="$arg" ;;
    *) echo "neon-local: unknown argument '$arg' (usage: $USAGE)" >&2; exit 2 ;;
  esac
done
[[ -n "$COMMAND" ]] || { echo "usage: $USAGE" >&2; exit 2; }

if [[ "$CLUSTER" == test ]]; then
  PORT="${NEON_LOCAL_TEST_PORT:-56432}"
  POOLER_PORT="${NEON_LOCAL_TEST_POOLER_PORT:-56433}"
elif [[ "$CLUSTER" == dev ]]; then
  PORT="${NEON_LOCAL_PORT:-55432}"
  POOLER_PORT="${NEON_LOCAL_POOLER_PORT:-55433}"
else
  # A named cluster remembers its ports in .local/neon-NAME/ports ("PORT POOLER_PORT").
  LAST_PORTS=""
  [[ -r "$ROOT/.local/neon-$CLUSTER/ports" ]] && LAST_PORTS="$(cat "$ROOT/.local/neon-$CLUSTER/ports")"
  PORT="${PORT_ARG:-${NEON_LOCAL_CLUSTER_PORT:-${LAST_PORTS%% *}}}"
  # Without ports the cluster never ran: status, stop and reset then just say so.
  [[ -n "$PORT" || ! "$COMMAND" =~ ^(status|stop|reset)$ ]] || PORT=0
  [[ -n "$PORT" ]] || { echo "neon-local: cluster '$CLUSTER' needs a port: --port N or NEON_LOCAL_CLUSTER_PORT" >&2; exit 2; }
  if [[ -n "$POOLER_PORT_ARG${NEON_LOCAL_CLUSTER_POOLER_PORT:-}" ]]; then
    POOLER_PORT="${POOLER_PORT_ARG:-${NEON_LOCAL_CLUSTER_POOLER_PORT:-}}"
  elif [[ -n "$LAST_PORTS" && "${LAST_PORTS%% *}" == "$PORT" ]]; then
    POOLER_PORT="${LAST_PORTS##* }"
  elif [[ "$PORT" =~ ^[0-9]+$ ]]; then
    POOLER_PORT=$((PORT + 1))
  else
    POOLER_PORT=""
  fi
fi
[[ -z "$PORT_ARG" ]] || PORT="$PORT_ARG"
[[ -z "$POOLER_PORT_ARG" ]] || POOLER_PORT="$POOLER_PORT_ARG"
[[ "$PORT" =~ ^[0-9]+$ && "$POOLER_PORT" =~ ^[0-9]+$ ]] || { echo "neon-local: ports must be numbers" >&2; exit 2; }

# The cluster lives at .local/neon-<cluster>. When the postgres OS user cannot reach the repo
# (a clone under /root, say), that path becomes a symlink to a directory under /var/lib.
readonly LINK_DIR="$LOCAL_DIR/neon-$CLUSTER"
readonly LOCK_FILE="$LOCAL_DIR/neon-$CLUSTER.lock"
readonly INSTALL_LOCK="$LOCAL_DIR/neon-install.lock"
readonly APP_USER=app
readonly APP_DB=app
readonly PGBOUNCER_MIN=1.22
readonly PGBOUNCER_PREFIX="$LOCAL_DIR/pgbouncer"
readonly PGBOUNCER_SOURCES=/etc/apt/sources.list.d/neon-local-trixie-src.sources

# All our paths are absolute; a cwd the postgres user cannot read would only cause warnings.
cd /

log() { echo "neon-local[$CLUSTER]: $*" >&2; }
die() { echo "neon-local[$CLUSTER]: error: $*" >&2; exit 1; }

if [[ $EUID -eq 0 ]]; then IS_ROOT=1; else IS_ROOT=0; fi

# Runs a command as the OS user that owns the cluster, with the lock fd closed so that
# daemons never inherit (and hold) the lock.
as_pg() {
  if (( IS_ROOT )); then
    runuser -u postgres -- "$@" 9>&-
  else
    "$@" 9>&-
  fi
}

# ---------------------------------------------------------------------------------------------
# Paths derived from the cluster directory.
set_paths() {
  DIR="$1"
  DATA="$DIR/data"
  CERTS="$DIR/certs"
  BOUNCER="$DIR/pgbouncer"
  PW_FILE="$DIR/app-password"
  READY="$DIR/.ready"
  PORTS_FILE="$DIR/ports"
  PG_LOG="$DIR/postgres.log"
  # A unix socket name is limited to 107 bytes; fall back to a short /tmp directory.
  if (( ${#DIR} + 20 > 100 )); then
    SOCK_DIR="/tmp/neon-local-$(printf '%s' "$DIR" | sha1sum | cut -c1-12)"
  else
    SOCK_DIR="$DIR"
  fi
}

resolve_dir() {
  if [[ -L "$LINK_DIR" ]]; then
    set_paths "$(readlink -f "$LINK_DIR")"
  else
    set_paths "$LINK_DIR"
  fi
}

# ---------------------------------------------------------------------------------------------
# Binaries.
pg_bindir() {
  local version=""
  if [[ -n "${DATA:-}" && -f "$DATA/PG_VERSION" ]]; then
    version="$(cat "$DATA/PG_VERSION")"
    [[ -x "/usr/lib/postgresql/$version/bin/postgres" ]] && { echo "/usr/lib/postgresql/$version/bin"; return; }
  fi
  local dir
  dir="$(printf '%s\n' /usr/lib/postgresql/*/bin | grep -v '\*' | sort -V | tail -n 1 || true)"
  if [[ -n "$dir" && -x "$dir/initdb" && -x "$dir/postgres" ]]; then
    if [[ -n "$version" ]]; then
      die "the cluster in $DIR was made by PostgreSQL $version, whose server binaries are missing; delete it with: $0 $CLUSTER_FLAG reset"
    fi
    echo "$dir"
  fi
}

# Whether version $1 is at least $2 (dotted numbers).
version_at_least() {
  [[ -n "$1" && "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n 1)" == "$2" ]]
}

# The path of a PgBouncer >= $PGBOUNCER_MIN: the cached build, else the system's if new enough.
find_pgbouncer() {
  local bin version
  for bin in "$PGBOUNCER_PREFIX/bin/pgbouncer" "$(command -v pgbouncer 2>/dev/null || true)" /usr/sbin/pgbouncer; do
    [[ -n "$bin" && -x "$bin" ]] || continue
    version="$("$bin" --version 2>/dev/null | awk 'NR == 1 { print $2 }')" || true
    if version_at_least "$version" "$PGBOUNCER_MIN"; then echo "$bin"; return 0; fi
  done
  return 1
}

have_binaries() {
  [[ -n "$(pg_bindir)" ]] && find_pgbouncer >/dev/null
}

# apt-get, quiet on stdout; services it starts must not inherit (and hold) our lock files.
apt_quiet() {
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 -q "$@" >&2 8>&- 9>&-
}

# Downloads PgBouncer's Debian 13 source package into the current directory.
fetch_pgbouncer_source() {
  # APT::Sandbox::User=root: the download lands in a directory _apt may not write to.
  apt-get -q -o APT::Sandbox::User=root source --download-only pgbouncer/trixie >&2 8>&- 9>&-
}

# Builds PgBouncer from Debian 13's source package into $PGBOUNCER_PREFIX (as root, with the
# install lock held).
build_pgbouncer() {
  local work="$LOCAL_DIR/pgbouncer-build"
  log "building PgBouncer >= $PGBOUNCER_MIN from Debian 13's source package (one time; cached in $PGBOUNCER_PREFIX)"
  if [[ ! -f "$PGBOUNCER_SOURCES" ]]; then
    cat >"$PGBOUNCER_SOURCES" <<'EOF'
# Added by neon-local.sh: the source of Debian 13's PgBouncer (>= 1.22 keeps prepared statements
# in transaction mode), built locally on older releases. Source packages only.
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    apt_quiet update
  fi
  apt_quiet install -y --no-install-recommends --no-upgrade dpkg-dev gcc make libc6-dev pkg-config \
    libevent-dev libssl-dev libc-ares-dev
  rm -rf "$work"
  mkdir -p "$work"
  if ! (cd "$work" && fetch_pgbouncer_source); then
    apt_quiet update
    (cd "$work" && fetch_pgbouncer_source) \
      || die "apt-get source pgbouncer/trixie failed (see $PGBOUNCER_SOURCES)"
  fi
  local dsc
  dsc="$(find "$work" -maxdepth 1 -name 'pgbouncer_*.dsc' | head -n 1)"
  [[ -n "$dsc" ]] || die "apt-get source left no pgbouncer .dsc in $work"
  dpkg-source -x "$dsc" "$work/src" >"$work/build.log" 2>&1 \
    || { tail -n 20 "$work/build.log" >&2; die "dpkg-source -x failed (log: $work/build.log)"; }
  if ! (cd "$work/src" \
        && ./configure --with-cares --without-pam --without-systemd \
        && make -j"$(nproc)") >>"$work/build.log" 2>&1 8>&- 9>&-; then
    tail -n 30 "$work/build.log" >&2
    die "building PgBouncer failed (log: $work/build.log)"
  fi
  mkdir -p "$PGBOUNCER_PREFIX/bin"
  install -m 755 "$work/src/pgbouncer" "$PGBOUNCER_PREFIX/bin/pgbouncer.new"
  mv -f "$PGBOUNCER_PREFIX/bin/pgbouncer.new" "$PGBOUNCER_PREFIX/bin/pgbouncer"
  cp "$work/build.log" "$PGBOUNCER_PREFIX/build.log"
  rm -rf "$work"
  log "built $("$PGBOUNCER_PREFIX/bin/pgbouncer" --version | head -n 1)"
}

install_packages() {
  have_binaries && return 0
  (( IS_ROOT )) || die "PostgreSQL server binaries or PgBouncer >= $PGBOUNCER_MIN are missing; run this script once as root (it installs Debian's postgresql and builds PgBouncer from Debian 13's source)"
  exec 8>"$INSTALL_LOCK"
  flock 8
  if [[ -z "$(pg_bindir)" ]]; then
    log "installing Debian's postgresql package (one time)"
    # Debian's postgresql package may create and start its own cluster on 5432; we neither
    # depend on it nor touch it.
    apt_quiet update
    apt_quiet install -y postgresql
  fi
  find_pgbouncer >/dev/null || build_pgbouncer
  exec 8>&-
  have_binaries || die "postgresql or PgBouncer >= $PGBOUNCER_MIN still missing after installing"
}

ensure_os_user() {
  (( IS_ROOT )) || return 0
  if ! id -u postgres >/dev/null 2>&1; then
    log "creating OS user postgres"
    useradd --system --user-group --home-dir /var/lib/postgresql --shell /bin/bash postgres
  fi
}

ipv6_loopback() {
  [[ -r /proc/net/if_inet6 ]] && grep -q '^00000000000000000000000000000001 ' /proc/net/if_inet6
}

# ---------------------------------------------------------------------------------------------
# Liveness, by pid file (cheap enough for every `url` call).
pid_alive() { # pid expected-comm-prefix
  local pid="$1" want="$2" comm
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  # A dead daemon stays a zombie until PID 1 reaps it, which in containers may take a while.
  local stat
  stat="$(cat "/proc/$pid/stat" 2>/dev/null || true)"
  [[ "${stat##*) }" != Z* ]] || return 1
  comm="$(cat "/proc/$pid/comm" 2>/dev/null || true)"
  [[ -z "$comm" || "$comm" == "$want"* ]]
}

pg_pid() { if [[ -f "$DATA/postmaster.pid" ]]; then head -n 1 "$DATA/postmaster.pid"; fi; }
bouncer_pid() { if [[ -f "$BOUNCER/pgbouncer.pid" ]]; then head -n 1 "$BOUNCER/pgbouncer.pid"; fi; }
pg_running() { pid_alive "$(pg_pid)" postgres; }
bouncer_running() { pid_alive "$(bouncer_pid)" pgbouncer; }

# ---------------------------------------------------------------------------------------------
# Creation.
choose_dir() {
  mkdir -p "$LOCAL_DIR"
  [[ -e "$LINK_DIR" ]] && { resolve_dir; return; }
  local target="$LINK_DIR"
  if (( IS_ROOT )) && ! runuser -u postgres -- test -x "$LOCAL_DIR" 2>/dev/null; then
    target="/var/lib/neon-local/$(printf '%s' "$LINK_DIR" | sha1sum | cut -c1-12)-$CLUSTER"
    log "the postgres user cannot reach $LOCAL_DIR; keeping the cluster in $target (symlinked)"
    rm -rf "$target"
    mkdir -p "$target"
    chmod 755 /var/lib/neon-local
    ln -sfn "$target" "$LINK_DIR"
  fi
  set_paths "$target"
}

make_certs() {
  local ext="$CERTS/server.ext"
  mkdir -p "$CERTS"
  # ECDSA P-256 with SHA-256: tokio-postgres-rustls offers no channel binding for Ed25519.
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$CERTS/ca.key" 2>/dev/null
  openssl req -x509 -new -key "$CERTS/ca.key" -sha256 -days 3650 \
    -subj "/CN=neon-local throwaway CA ($CLUSTER)" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out "$CERTS/ca.pem" 2>/dev/null
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$CERTS/server.key" 2>/dev/null
  openssl req -new -key "$CERTS/server.key" -subj "/CN=localhost" -out "$CERTS/server.csr" 2>/dev/null
  cat >"$ext" <<'EOF'
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
EOF
  openssl x509 -req -in "$CERTS/server.csr" -CA "$CERTS/ca.pem" -CAkey "$CERTS/ca.key" \
    -set_serial "0x$(openssl rand -hex 16)" -days 825 -sha256 -extfile "$ext" \
    -out "$CERTS/server.pem" 2>/dev/null
  rm -f "$CERTS/server.csr" "$ext"
  chmod 600 "$CERTS/ca.key" "$CERTS/server.key"
  chmod 644 "$CERTS/ca.pem" "$CERTS/server.pem"
}

create_cluster() {
  local bindir="$1"
  log "creating cluster in $DIR (port $PORT)"
  rm -rf "$DATA" "$CERTS" "$BOUNCER" "$READY"
  mkdir -p "$DIR" "$BOUNCER"
  make_certs
  if [[ ! -s "$PW_FILE" ]]; then
    (umask 077; openssl rand -hex 24 >"$PW_FILE")
  fi
  chmod 600 "$PW_FILE"
  (( IS_ROOT )) && chown -R postgres:postgres "$DIR"
  # ca.pem is public; the keys, the password file and the data directory are private.
  chmod 755 "$DIR" "$CERTS"

  local initdb_flags=(-D "$DATA" -U postgres --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C)
  # The test cluster (and any named one) skips initdb's final fsync, as it runs with fsync off anyway.
  [[ "$CLUSTER" != dev ]] && initdb_flags+=(-N)
  as_pg "$bindir/initdb" "${initdb_flags[@]}" >"$DIR/initdb.log" 2>&1 \
    || { tail -n 20 "$DIR/initdb.log" >&2; die "initdb failed (log: $DIR/initdb.log)"; }

  local listen="127.0.0.1"
  ipv6_loopback && listen="127.0.0.1,::1"
  {
    echo "# neon-local settings"
    echo "port = $PORT"
    echo "listen_addresses = '$listen'"
    echo "unix_socket_directories = '$SOCK_DIR'"
    echo "max_connections = 200"
    echo "ssl = on"
    echo "ssl_cert_file = '$CERTS/server.pem'"
    echo "ssl_key_file = '$CERTS/server.key'"
    echo "ssl_min_protocol_version = 'TLSv1.2'"
    echo "password_encryption = 'scram-sha-256'"
    echo "timezone = 'UTC'"
    echo "log_timezone = 'UTC'"
    if [[ "$CLUSTER" != dev ]]; then
      echo "fsync = off"
      echo "synchronous_commit = off"
      echo "full_page_writes = off"
    else
      echo "fsync = on"
    fi
  } | as_pg tee "$DATA/neon-local.conf" >/dev/null
  echo "include 'neon-local.conf'" | as_pg tee -a "$DATA/postgresql.conf" >/dev/null

  {
    echo "# neon-local: TLS + SCRAM only over TCP. The unix socket is for PgBouncer (SCRAM, as the"
    echo "# app role) and for local admin use."
    echo "local   all $APP_USER                 scram-sha-256"
    echo "local   all all                 trust"
    echo "hostssl all all 127.0.0.1/32    scram-sha-256"
    echo "hostssl all all ::1/128         scram-sha-256"
  } | as_pg tee "$DATA/pg_hba.conf" >/dev/null
}

start_server() {
  local bindir="$1"
  mkdir -p "$SOCK_DIR"
  (( IS_ROOT )) && chown postgres:postgres "$SOCK_DIR"
  log "starting PostgreSQL on port $PORT"
  if ! as_pg "$bindir/pg_ctl" -D "$DATA" -l "$PG_LOG" -w -t 120 -s start >/dev/null 2>&1; then
    tail -n 20 "$PG_LOG" >&2 || true
    die "PostgreSQL did not start (log: $PG_LOG)"
  fi
}

psql_admin() {
  local bindir="$1"; shift
  as_pg "$bindir/psql" -X -q -v ON_ERROR_STOP=1 -h "$SOCK_DIR" -p "$PORT" -U postgres -d postgres "$@"
}

bootstrap_roles() {
  local bindir="$1" pw
  pw="$(cat "$PW_FILE")"
  [[ "$pw" =~ ^[0-9a-f]+$ ]] || die "unexpected password format in $PW_FILE"
  # The password travels on stdin, never on a command line.
  psql_admin "$bindir" -f - >/dev/null <<EOF
SELECT format('CREATE ROLE %I LOGIN CREATEDB PASSWORD %L', '$APP_USER', '$pw')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$APP_USER')
\gexec
SELECT format('ALTER ROLE %I LOGIN CREATEDB PASSWORD %L', '$APP_USER', '$pw')
 WHERE EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$APP_USER')
   AND NOT EXISTS (SELECT 1 FROM pg_authid WHERE rolname = '$APP_USER' AND rolpassword LIKE 'SCRAM-SHA-256\$%')
\gexec
SELECT format('CREATE DATABASE %I OWNER %I', '$APP_DB', '$APP_USER')
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = '$APP_DB')
\gexec
EOF
}

write_bouncer_config() {
  local bindir="$1" secret listen="127.0.0.1"
  ipv6_loopback && listen="127.0.0.1,::1"
  mkdir -p "$BOUNCER"
  secret="$(psql_admin "$bindir" -At -c "SELECT rolpassword FROM pg_authid WHERE rolname = '$APP_USER'")"
  [[ "$secret" == SCRAM-SHA-256\$* ]] || die "role $APP_USER has no SCRAM secret"
  (umask 077; printf '"%s" "%s"\n' "$APP_USER" "$secret" >"$BOUNCER/userlist.txt")
  # PgBouncer's own quoting: '...' with '' for a quote.
  local socket="$SOCK_DIR"
  [[ "$socket" =~ [[:space:]\'] ]] && socket="'${socket//\'/\'\'}'"
  cat >"$BOUNCER/pgbouncer.ini" <<EOF
;; neon-local: PgBouncer in front of the $CLUSTER cluster, shaped like Neon's pooled endpoint
;; (transaction mode, protocol-level prepared statements kept; no channel binding to clients).
[databases]
;; Any database the app role creates is reachable: the name the client asks for is used.
;; Like Neon's (compute/etc/pgbouncer.ini: host=localhost, server_tls_sslmode=disable), PgBouncer
;; reaches PostgreSQL in plaintext on the same host. Over the unix socket here, as the cluster's
;; TCP port is TLS-only; with SCRAM (pg_hba), like Neon's auth_user.
* = host=$socket port=$PORT

[pgbouncer]
listen_addr = $listen
listen_port = $POOLER_PORT
unix_socket_dir =
pool_mode = transaction
default_pool_size = 5
min_pool_size = 0
reserve_pool_size = 0
max_client_conn = 2000
query_wait_timeout = 120
;; Neon's value: PgBouncer renames each client's named statements and prepares them on whichever
;; server connection runs them (an LRU of this many per server connection).
max_prepared_statements = 1000
auth_type = scram-sha-256
auth_file = $BOUNCER/userlist.txt
;; Like Neon's pooler: no startup parameters beyond the ones PgBouncer tracks itself.
ignore_startup_parameters =
client_tls_sslmode = require
client_tls_cert_file = $CERTS/server.pem
client_tls_key_file = $CERTS/server.key
client_tls_protocols = secure
server_tls_sslmode = disable
logfile = $BOUNCER/pgbouncer.log
pidfile = $BOUNCER/pgbouncer.pid
log_connections = 0
log_disconnections = 0
EOF
  (( IS_ROOT )) && chown -R postgres:postgres "$BOUNCER"
  chmod 600 "$BOUNCER/userlist.txt"
}

# The PgBouncer binary, somewhere the postgres OS user can run it from.
runnable_pgbouncer() {
  local pgb
  pgb="$(find_pgbouncer)" || die "no PgBouncer >= $PGBOUNCER_MIN (run this script once as root)"
  if (( IS_ROOT )) && ! runuser -u postgres -- test -x "$pgb" 2>/dev/null; then
    local copy
    copy="/var/lib/neon-local/bin/pgbouncer-$(sha1sum "$pgb" | cut -c1-12)"
    if [[ ! -x "$copy" ]]; then
      mkdir -p /var/lib/neon-local/bin
      chmod 755 /var/lib/neon-local /var/lib/neon-local/bin
      install -m 755 "$pgb" "$copy.new"
      mv -f "$copy.new" "$copy"
    fi
    pgb="$copy"
  fi
  echo "$pgb"
}

start_bouncer() {
  local bindir="$1" pgb
  pgb="$(runnable_pgbouncer)"
  write_bouncer_config "$bindir"
  rm -f "$BOUNCER/pgbouncer.pid"
  log "starting PgBouncer on port $POOLER_PORT"
  # max_client_conn 2000 needs file descriptors; runuser's PAM session resets the soft limit,
  # so it is raised in the daemon's own shell.
  # shellcheck disable=SC2016 # expanded by that inner shell
  if ! as_pg bash -c 'ulimit -n 4096 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true; exec "$0" -d -q "$1"' \
      "$pgb" "$BOUNCER/pgbouncer.ini" >/dev/null 2>"$BOUNCER/start.err"; then
    cat "$BOUNCER/start.err" >&2 || true
    tail -n 20 "$BOUNCER/pgbouncer.log" >&2 || true
    die "PgBouncer did not start (log: $BOUNCER/pgbouncer.log)"
  fi
  # -d returns once the daemon forked; wait until it listens.
  local i
  for i in $(seq 1 100); do
    if bouncer_running && port_listening "$POOLER_PORT"; then return 0; fi
    sleep 0.05
  done
  tail -n 20 "$BOUNCER/pgbouncer.log" >&2 || true
  die "PgBouncer did not come up on port $POOLER_PORT (log: $BOUNCER/pgbouncer.log)"
}

ports_match() { [[ "$(cat "$PORTS_FILE" 2>/dev/null || true)" == "$PORT $POOLER_PORT" ]]; }

port_listening() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# ---------------------------------------------------------------------------------------------
# Subcommands (called with the cluster lock held).
do_start() {
  if [[ -e "$LINK_DIR" ]]; then resolve_dir; fi
  if [[ -n "${DIR:-}" && -f "$READY" ]] && ports_match && pg_running && bouncer_running \
      && bouncer_current; then
    return 0
  fi
  install_packages
  ensure_os_user
  choose_dir
  local bindir
  bindir="$(pg_bindir)"
  [[ -n "$bindir" ]] || die "no PostgreSQL server binaries under /usr/lib/postgresql"
  if [[ ! -f "$READY" || ! -f "$DATA/PG_VERSION" ]]; then
    # A directory without the ready marker is a half-made cluster: make it again.
    if pg_running; then as_pg "$bindir/pg_ctl" -D "$DATA" -m immediate -w -s stop >/dev/null 2>&1 || true; fi
    create_cluster "$bindir"
    start_server "$bindir"
    bootstrap_roles "$bindir"
    touch "$READY"
  else
    if ! ports_match; then
      log "ports changed to $PORT/$POOLER_PORT: reconfiguring"
      do_stop
      as_pg sed -i "s/^port = .*/port = $PORT/" "$DATA/neon-local.conf"
    fi
    pg_running || start_server "$bindir"
  fi
  echo "$PORT $POOLER_PORT" >"$PORTS_FILE"
  if bouncer_running && ! bouncer_current; then
    log "replacing a PgBouncer started by an earlier version of this script"
    stop_bouncer
  fi
  if ! bouncer_running; then
    start_bouncer "$bindir"
  fi
}

# Whether the running PgBouncer was started by this version of the script (one that keeps
# prepared statements and reaches PostgreSQL in plaintext, as Neon's does); one started earlier
# (Debian 12's 1.18, or one with TLS to PostgreSQL) is replaced.
bouncer_current() {
  grep -q '^max_prepared_statements = 1000' "$BOUNCER/pgbouncer.ini" 2>/dev/null \
    && grep -q '^server_tls_sslmode = disable' "$BOUNCER/pgbouncer.ini"
}

stop_bouncer() {
  local pid i
  pid="$(bouncer_pid)"
  # SIGQUIT: immediate shutdown (SIGTERM would wait for every client to leave). A short grace
  # period, then SIGKILL: nothing in a throwaway pooler is worth waiting for.
  kill -QUIT "$pid" 2>/dev/null || true
  for i in $(seq 1 20); do pid_alive "$pid" pgbouncer || break; sleep 0.05; done
  if pid_alive "$pid" pgbouncer; then
    kill -KILL "$pid" 2>/dev/null || true
    for i in $(seq 1 40); do pid_alive "$pid" pgbouncer || break; sleep 0.05; done
  fi
  rm -f "$BOUNCER/pgbouncer.pid"
  log "PgBouncer stopped"
}

do_stop() {
  [[ -e "$LINK_DIR" ]] || { log "no cluster"; return 0; }
  resolve_dir
  if bouncer_running; then stop_bouncer; fi
  rm -f "$BOUNCER/pgbouncer.pid"
  if pg_running; then
    local bindir
    bindir="$(pg_bindir)"
    as_pg "$bindir/pg_ctl" -D "$DATA" -m fast -w -t 60 -s stop >/dev/null \
      || as_pg "$bindir/pg_ctl" -D "$DATA" -m immediate -w -s stop >/dev/null
    log "PostgreSQL stopped"
  fi
}

do_restart() {
  do_start
  local bindir
  bindir="$(pg_bindir)"
  log "restarting PostgreSQL (fast shutdown)"
  as_pg "$bindir/pg_ctl" -D "$DATA" -m fast -w -t 60 -s stop >/dev/null
  start_server "$bindir"
  bouncer_running || start_bouncer "$bindir"
}

do_reset() {
  do_stop
  if [[ -L "$LINK_DIR" ]]; then
    rm -rf "$(readlink -f "$LINK_DIR")"
    rm -f "$LINK_DIR"
  else
    rm -rf "$LINK_DIR"
  fi
  [[ -n "${SOCK_DIR:-}" && "$SOCK_DIR" == /tmp/neon-local-* ]] && rm -rf "$SOCK_DIR"
  log "cluster deleted"
}

do_status() {
  local rc=0
  if [[ ! -e "$LINK_DIR" ]]; then
    echo "$CLUSTER: no cluster ($LINK_DIR absent)"
    return 3
  fi
  resolve_dir
  if pg_running; then
    echo "$CLUSTER: PostgreSQL running (pid $(pg_pid)) on port $PORT, data $DATA"
  else
    echo "$CLUSTER: PostgreSQL not running (port $PORT, data $DATA)"; rc=3
  fi
  if bouncer_running; then
    echo "$CLUSTER: PgBouncer running (pid $(bouncer_pid)) on port $POOLER_PORT"
  else
    echo "$CLUSTER: PgBouncer not running (port $POOLER_PORT)"; rc=3
  fi
  return $rc
}

# Percent-encodes a string for a URL query value (keeps unreserved characters and '/').
urlencode() {
  local s="$1" out="" c i
  for ((i = 0; i < ${#s}; i++)); do
    c="${s:i:1}"
    case "$c" in
      [a-zA-Z0-9.~_/-]) out+="$c" ;;
      *) out+="$(printf '%%%02X' "'$c")" ;;
    esac
  done
  printf '%s' "$out"
}

print_url() { # port channel_binding
  local pw
  pw="$(cat "$PW_FILE")"
  printf 'postgresql://%s:%s@localhost:%s/%s?sslmode=require&channel_binding=%s&sslrootcert=%s\n' \
    "$APP_USER" "$(urlencode "$pw")" "$1" "$APP_DB" "$2" "$(urlencode "$CERTS/ca.pem")"
}

print_admin_url() {
  local host="$SOCK_DIR"
  if [[ "$host" =~ [[:space:]\'\\] ]]; then
    host="${host//\\/\\\\}"
    host="'${host//\'/\\\'}'"
  fi
  printf 'host=%s port=%s user=postgres dbname=postgres\n' "$host" "$PORT"
}

main() {
  mkdir -p "$LOCAL_DIR"
  if [[ "$COMMAND" == status ]]; then do_status; return; fi
  exec 9>"$LOCK_FILE"
  flock 9
  case "$COMMAND" in
    start) do_start ;;
    url) do_start; print_url "$PORT" require ;;
    pooler-url) do_start; print_url "$POOLER_PORT" prefer ;;
    admin-url) do_start; print_admin_url ;;
    stop) do_stop ;;
    restart) do_restart ;;
    reset) do_reset ;;
    status) do_status ;;
  esac
}

main
