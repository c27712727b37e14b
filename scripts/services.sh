# Starts the services the tests need, on loopback only, installing them if missing. Idempotent:
# a service that already answers is left alone; only what this script starts is new.
# Sourced by scripts/test: PostgreSQL, an S3-compatible server (moto), an SMTP sink (mailtutan),
# a Kafka-protocol broker (tansu), and a headless browser for the pages (Chromium with
# chromedriver, and axe-core). Tools are installed under $TOOLS_DIR, kept between runs.

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
    # moto is installed even when another S3 server is used: the outage tests start their own.
    local venv="$TOOLS_DIR/moto-5.2.5"
    if [ ! -x "$venv/bin/moto_server" ]; then
        log "S3: installing moto 5.2.5 (PyPI) into $venv"
        mkdir -p "$TOOLS_DIR"
        python3 -m venv "$venv"
        "$venv/bin/pip" install --quiet --disable-pip-version-check 'moto[server]==5.2.5'
    fi
    export TEST_MOTO_BIN="$venv/bin/moto_server"
    if [ -n "${TEST_S3_ENDPOINT:-}" ]; then
        log "S3: using TEST_S3_ENDPOINT"
        return 0
    fi
    export TEST_S3_ENDPOINT="http://127.0.0.1:9000"
    if port_answers 9000; then
        log "S3: something answers on 127.0.0.1:9000; using it"
        return 0
    fi
    log "S3: starting moto on 127.0.0.1:9000"
    "$TEST_MOTO_BIN" -H 127.0.0.1 -p 9000 >"$TOOLS_DIR/moto.log" 2>&1 &
    STARTED_PIDS+=("$!")
    wait_for "moto" 60 port_answers 9000
    log "S3: ready"
}

# Installs a crate's binary under $TOOLS_DIR/NAME-VERSION unless that version is there already.
cargo_tool() { # name, version, extra cargo install arguments...
    local name=$1 version=$2; shift 2
    local root="$TOOLS_DIR/$name-$version"
    if [ ! -x "$root/bin/$name" ]; then
        log "$name: installing $version from crates.io (once; kept in $root)"
        mkdir -p "$TOOLS_DIR"
        # Its own target folder: the project's build cache stays the project's.
        CARGO_TARGET_DIR="$TOOLS_DIR/build-$name" cargo install "$name" --version "$version" --locked \
            --root "$root" --quiet "$@"
        rm -rf "$TOOLS_DIR/build-$name"
    fi
    printf '%s\n' "$root/bin/$name"
}

# Exports TEST_SMTP_HOST/PORT and TEST_SMTP_API for an SMTP sink that lets tests read the mail it
# received (mailtutan on 127.0.0.1:1025, its API on :1080), and TEST_MAILTUTAN_BIN for tests that
# start their own (to stop it).
ensure_smtp() {
    export TEST_MAILTUTAN_BIN
    TEST_MAILTUTAN_BIN=$(cargo_tool mailtutan 0.3.0)
    export TEST_SMTP_HOST=127.0.0.1 TEST_SMTP_PORT=1025 TEST_SMTP_API=http://127.0.0.1:1080
    if port_answers 1025 && port_answers 1080; then
        log "SMTP: something answers on 127.0.0.1:1025 and :1080; using it"
        return 0
    fi
    log "SMTP: starting mailtutan on 127.0.0.1:1025 (API on :1080)"
    # It keeps only the last 1,000 messages by default; the burst tests send more.
    "$TEST_MAILTUTAN_BIN" --ip 127.0.0.1 --smtp-port 1025 --http-port 1080 \
        --messages-limit 1000000 >"$TOOLS_DIR/mailtutan.log" 2>&1 &
    STARTED_PIDS+=("$!")
    wait_for "mailtutan" 30 port_answers 1025
    wait_for "mailtutan's API" 30 port_answers 1080
    log "SMTP: ready"
}

# Exports TEST_KAFKA_BROKERS for a Kafka-protocol broker on 127.0.0.1:9092 (tansu, in memory).
ensure_kafka() {
    export TEST_KAFKA_BROKERS=127.0.0.1:9092
    if port_answers 9092; then
        log "Kafka: something answers on 127.0.0.1:9092; using it"
        return 0
    fi
    local tansu
    tansu=$(cargo_tool tansu 0.6.0 --features dynostore)
    # tansu reads a .env from its working folder: give it an empty one of its own.
    local work="$TOOLS_DIR/tansu-work"
    rm -rf "$work" && mkdir -p "$work"
    log "Kafka: starting tansu on 127.0.0.1:9092 (memory storage)"
    (cd "$work" && exec "$tansu" broker --listener-url tcp://127.0.0.1:9092 \
        --advertised-listener-url tcp://127.0.0.1:9092 --storage-engine memory://tansu/ \
        >"$TOOLS_DIR/tansu.log" 2>&1) &
    STARTED_PIDS+=("$!")
    wait_for "tansu" 30 port_answers 9092
    log "Kafka: ready"
}

# Exports TEST_S3_ENDPOINT for a faster S3-compatible server for benchmarks: s3s-fs (Rust, from
# crates.io, files under a temporary folder, SigV4 with the benchmarks' credentials) on
# 127.0.0.1:9010. moto, one Python process, tops out near 150 PUTs/s on this 2-core machine
# while everything else runs, which is what a pipeline benchmark would measure instead of
# idlog. s3s-fs lists no zero-byte keys ending in '/', so the tests keep moto.
ensure_bench_s3() {
    local s3s
    s3s=$(cargo_tool s3s-fs 0.14.1 --features binary)
    export TEST_S3_ENDPOINT="http://127.0.0.1:9010"
    if port_answers 9010; then
        log "S3 (bench): something answers on 127.0.0.1:9010; using it"
        return 0
    fi
    local root
    root=$(mktemp -d)
    log "S3 (bench): starting s3s-fs on 127.0.0.1:9010 (objects in $root)"
    "$s3s" --host 127.0.0.1 --port 9010 --access-key idlog-bench --secret-key idlog-bench-secret \
        "$root" >"$TOOLS_DIR/s3s-fs.log" 2>&1 &
    STARTED_PIDS+=("$!")
    wait_for "s3s-fs" 30 port_answers 9010
}

# Exports SCHEMATHESIS for the API fuzzer (schemathesis 4.32.5 from PyPI, in the tools cache).
ensure_schemathesis() {
    local venv="$TOOLS_DIR/schemathesis-4.32.5"
    if [ ! -x "$venv/bin/schemathesis" ]; then
        log "schemathesis: installing 4.32.5 (PyPI) into $venv"
        mkdir -p "$TOOLS_DIR"
        python3 -m venv "$venv"
        "$venv/bin/pip" install --quiet --disable-pip-version-check 'schemathesis==4.32.5'
    fi
    export SCHEMATHESIS="$venv/bin/schemathesis"
}

# Exports WEBDRIVER_URL for chromedriver on 127.0.0.1:9515 driving Debian's headless Chromium,
# and AXE_CORE_JS for axe-core (npm, pinned) that the page tests inject to check accessibility.
ensure_browser() {
    if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
        log "browser: installing Debian's chromium and chromium-driver"
        as_root apt-get install -y -qq chromium chromium-driver >/dev/null 2>&1 \
            || { as_root apt-get update -qq && as_root apt-get install -y -qq chromium chromium-driver >/dev/null; }
    fi
    local npm_dir="$TOOLS_DIR/npm-axe-core-4.14.1"
    export AXE_CORE_JS="$npm_dir/node_modules/axe-core/axe.min.js"
    if [ ! -f "$AXE_CORE_JS" ]; then
        log "browser: installing axe-core 4.14.1 (npm) into $npm_dir"
        mkdir -p "$npm_dir"
        npm install --prefix "$npm_dir" --no-audit --no-fund --silent axe-core@4.14.1 >/dev/null
    fi
    export WEBDRIVER_URL=http://127.0.0.1:9515
    if port_answers 9515; then
        log "browser: something answers on 127.0.0.1:9515; using it"
        return 0
    fi
    log "browser: starting chromedriver on 127.0.0.1:9515"
    chromedriver --port=9515 --allowed-ips=127.0.0.1 >"$TOOLS_DIR/chromedriver.log" 2>&1 &
    STARTED_PIDS+=("$!")
    wait_for "chromedriver" 30 port_answers 9515
    log "browser: ready"
}
