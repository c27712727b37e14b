# Starts the services the tests need, on loopback only, installing them if missing. Idempotent:
# a service that already answers is left alone; only what this script starts is new.
# Sourced by scripts/test: PostgreSQL and an S3-compatible server (moto); the Kafka-protocol broker
# and the SMTP sink come with the rest of the workers.

log() { printf '==> %s\n' "$*" >&2; }

# Runs a command as root (directly, or through sudo when available).
as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null 2>&1; then sudo "$@"; else
        log "need root to run: $*"; return 1
    fi
}

wait_for() { # description, seconds, command...
    local what=$1 seconds=$2; shift 2
    for _ in $(seq 1 "$seconds"); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 1
    done
    log "$what did not come up within ${seconds}s"; return 1
}

# Exports TEST_DATABASE_URL for a PostgreSQL server on 127.0.0.1:5432 that lets us create databases.
ensure_postgres() {
    if [ -n "${TEST_DATABASE_URL:-}" ]; then
        log "PostgreSQL: using TEST_DATABASE_URL"
        return 0
    fi
    if ! command -v pg_ctlcluster >/dev/null 2>&1 && ! command -v pg_isready >/dev/null 2>&1; then
        log "PostgreSQL: installing (apt-get)"
        as_root apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    fi
    if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
        local version
        version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)
        if [ -z "$version" ]; then
            log "PostgreSQL is installed but has no cluster"; return 1
        fi
        log "PostgreSQL: starting cluster $version/main"
        as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
        wait_for "PostgreSQL" 30 pg_isready -h 127.0.0.1 -p 5432 -q
    fi
    # Trust auth on loopback (this project's machines) lets us in as postgres; Debian's default
    # (password auth on 127.0.0.1) needs a role with a password, created over the local socket.
    if psql "postgres://postgres@127.0.0.1:5432/postgres" -Atqc 'SELECT 1' >/dev/null 2>&1; then
        export TEST_DATABASE_URL="postgres://postgres@127.0.0.1:5432/postgres"
    else
        log "PostgreSQL: creating role idlog_test"
        as_root runuser -u postgres -- psql -q -c "DO \$\$ BEGIN
            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'idlog_test') THEN
                CREATE ROLE idlog_test LOGIN CREATEDB PASSWORD 'idlog_test';
            END IF; END \$\$;" >/dev/null
        export TEST_DATABASE_URL="postgres://idlog_test:idlog_test@127.0.0.1:5432/postgres"
    fi
    # Databases left by earlier runs' tests.
    psql "$TEST_DATABASE_URL" -Atqc "SELECT datname FROM pg_database WHERE datname LIKE 'idlog_test_%'" |
        while read -r name; do psql "$TEST_DATABASE_URL" -qc "DROP DATABASE IF EXISTS \"$name\"" >/dev/null 2>&1 || true; done
    log "PostgreSQL: ready"
}

# Where tools the tests need are installed (kept between runs, outside the checkout).
TOOLS_DIR="${IDLOG_TOOLS_DIR:-${HOME:-/root}/.cache/idlog-ci/tools}"

# Processes this script started, stopped when the test command exits.
STARTED_PIDS=()
stop_started() {
    for pid in "${STARTED_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
}
trap stop_started EXIT

port_answers() { # port
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Exports TEST_S3_ENDPOINT for an S3-compatible server on 127.0.0.1:9000 (moto, from PyPI).
ensure_s3() {
    if [ -n "${TEST_S3_ENDPOINT:-}" ]; then
        log "S3: using TEST_S3_ENDPOINT"
        return 0
    fi
    export TEST_S3_ENDPOINT="http://127.0.0.1:9000"
    if port_answers 9000; then
        log "S3: something answers on 127.0.0.1:9000; using it"
        return 0
    fi
    local venv="$TOOLS_DIR/moto-5.2.5"
    if [ ! -x "$venv/bin/moto_server" ]; then
        log "S3: installing moto 5.2.5 (PyPI) into $venv"
        mkdir -p "$TOOLS_DIR"
        python3 -m venv "$venv"
        "$venv/bin/pip" install --quiet --disable-pip-version-check 'moto[server]==5.2.5'
    fi
    log "S3: starting moto on 127.0.0.1:9000"
    "$venv/bin/moto_server" -H 127.0.0.1 -p 9000 >"$TOOLS_DIR/moto.log" 2>&1 &
    STARTED_PIDS+=("$!")
    wait_for "moto" 60 port_answers 9000
    log "S3: ready"
}
