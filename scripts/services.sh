# Starts the services the tests need, on loopback only, installing them if missing. Idempotent:
# a service that already answers is left alone; only what this script starts is new.
# Sourced by scripts/test; later issues add the Kafka-protocol broker, S3 and the SMTP sink.

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
