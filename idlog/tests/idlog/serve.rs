//! `idlog serve` and start-up: with no configuration, bad configuration, PostgreSQL; a JWT key
//! rotation reaching a running server; the first administrator, from the command line or the
//! bootstrap settings.

use super::common::{self, idlog, start};
use eventstore::testing::{Backend, TestDb};
use std::process::Stdio;
use std::time::Duration;

async fn get_health(address: &str) -> reqwest::StatusCode {
    reqwest::get(format!("{address}/health"))
        .await
        .expect("request")
        .status()
}

#[tokio::test]
async fn serve_runs_on_the_embedded_default_with_no_configuration() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start(dir.path(), &[("IDLOG_SERVER_PORT", "0")]);
    assert!(
        server.address.starts_with("http://127.0.0.1:"),
        "{}",
        server.address
    );
    assert_eq!(get_health(&server.address).await, 200);
    for path in [
        "idlog-data/idlog.db",
        "idlog-data/objects",
        "idlog-data/mail",
        "idlog-data/claim.key",
        "idlog-data/token.key",
        "idlog-data/jwt-keys.json",
    ] {
        assert!(dir.path().join(path).exists(), "{path} is missing");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let keys = std::fs::metadata(dir.path().join("idlog-data/jwt-keys.json")).expect("keys");
        assert_eq!(
            keys.permissions().mode() & 0o777,
            0o600,
            "only the owner reads keys"
        );
    }
    let access_token = register_and_log_in(&server.address).await;
    assert_eq!(me_status(&server.address, &access_token).await, 200);
    let kid = published_kid(&server.address).await;
    drop(server);

    // A restart reuses the data folder and its keys: tokens issued before still work.
    let key = std::fs::read_to_string(dir.path().join("idlog-data/claim.key")).expect("key");
    let server = start(dir.path(), &[("IDLOG_SERVER_PORT", "0")]);
    assert_eq!(get_health(&server.address).await, 200);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("idlog-data/claim.key")).expect("key"),
        key
    );
    assert_eq!(published_kid(&server.address).await, kid);
    assert_eq!(me_status(&server.address, &access_token).await, 200);
}

async fn register_and_log_in(address: &str) -> String {
    let client = reqwest::Client::new();
    let credentials =
        serde_json::json!({"email": "ann@example.com", "password": "correct horse battery staple"});
    let registered = client
        .post(format!("{address}/api/v1/auth/register"))
        .json(&credentials)
        .send()
        .await
        .expect("register");
    assert_eq!(registered.status(), 201);
    let login =
        serde_json::json!({"login": "ann@example.com", "password": "correct horse battery staple"});
    let tokens = common::login(address, &login).await;
    tokens["access_token"]
        .as_str()
        .expect("access token")
        .to_owned()
}

async fn me_status(address: &str, token: &str) -> u16 {
    let client = reqwest::Client::new();
    client
        .get(format!("{address}/api/v1/auth/me"))
        .bearer_auth(token)
        .send()
        .await
        .expect("me")
        .status()
        .as_u16()
}

async fn published_kid(address: &str) -> String {
    let jwks: serde_json::Value = reqwest::get(format!("{address}/.well-known/jwks.json"))
        .await
        .expect("jwks")
        .json()
        .await
        .expect("json");
    jwks["keys"][0]["kid"].as_str().expect("kid").to_owned()
}

#[test]
fn bad_configuration_fails_at_start_up_naming_the_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cases: [(&[(&str, &str)], &str); 7] = [
        (&[("IDLOG_LOG_FORMAT", "xml")], "log.format"),
        (
            &[("IDLOG_SERVER_DEFAULT_LANGUAGE", "english please")],
            "server.default_language",
        ),
        (&[("IDLOG_SERVER_PORT", "eighty")], "server.port"),
        (
            &[("IDLOG_AUTH_LOCKOUT_ATTEMPTS", "0")],
            "auth.lockout_attempts",
        ),
        (&[("IDLOG_SERVER_PROT", "80")], "server.prot"),
        (
            &[("IDLOG_DATABASE_URL", "mysql://localhost/idlog")],
            "database.url",
        ),
        (
            &[("IDLOG_SECURITY_CLAIM_KEY", "short")],
            "security.claim_key",
        ),
    ];
    for (env, key) in cases {
        let output = idlog(dir.path(), &["serve"], env).output().expect("run");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{env:?}: {stderr}");
        assert!(
            stderr.contains(key),
            "{env:?}: the message should name {key}: {stderr}"
        );
        assert!(
            !dir.path().join("idlog-data").exists(),
            "nothing is created on bad configuration"
        );
    }
    std::fs::write(
        dir.path().join("idlog.toml"),
        "[server]\nport = 8080\nhots = \"0.0.0.0\"\n",
    )
    .expect("write");
    let output = idlog(dir.path(), &["serve"], &[]).output().expect("run");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("server.hots"));
}

/// Logs written to a file or a pipe carry no colour escapes; `log.format = json` writes one
/// JSON object a line.
#[test]
fn logs_are_plain_off_a_terminal_and_json_when_asked() {
    let dir = tempfile::tempdir().expect("temp dir");
    let create = [
        "users",
        "create",
        "ann@example.com",
        "--password",
        "a long enough passphrase",
    ];
    // A fresh data folder: generating its keys is logged.
    let text = common::run(dir.path(), &create, &[]);
    assert_eq!(text.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&text.stderr);
    assert!(stderr.contains("generated"), "{stderr}");
    assert!(
        !stderr.contains('\u{1b}'),
        "no colour escapes off a terminal: {stderr:?}"
    );

    let dir = tempfile::tempdir().expect("temp dir");
    let json = common::run(dir.path(), &create, &[("IDLOG_LOG_FORMAT", "json")]);
    assert_eq!(json.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&json.stderr);
    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON object a line"))
        .collect();
    assert!(!lines.is_empty(), "{stderr}");
    for line in &lines {
        assert!(
            line["timestamp"].is_string() && line["level"].is_string(),
            "{line}"
        );
    }
    assert!(
        lines.iter().any(|line| line["fields"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("generated"))),
        "{stderr}"
    );
}

#[tokio::test]
async fn database_url_switches_to_postgresql() {
    let db = TestDb::new(Backend::Postgres).await.expect("test database");
    let dir = tempfile::tempdir().expect("temp dir");
    let env = [
        ("IDLOG_DATABASE_URL", db.url.as_str()),
        ("IDLOG_SERVER_PORT", "0"),
    ];
    let output = idlog(dir.path(), &["migrate"], &env)
        .output()
        .expect("migrate");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let server = start(dir.path(), &env);
    assert_eq!(get_health(&server.address).await, 200);
    let ready = reqwest::get(format!("{}/health/ready", server.address))
        .await
        .expect("ready");
    assert_eq!(ready.status(), 200);
    drop(server);

    // Another process with another claim key would break uniqueness: it refuses to start.
    let other_key = "cd".repeat(32);
    let env = [
        ("IDLOG_DATABASE_URL", db.url.as_str()),
        ("IDLOG_SECURITY_CLAIM_KEY", other_key.as_str()),
    ];
    let output = idlog(dir.path(), &["serve"], &env).output().expect("run");
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("security.claim_key does not match"));
}

#[tokio::test]
async fn rotating_the_jwt_key_reaches_a_running_server_and_keeps_old_tokens_valid() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start(dir.path(), &[("IDLOG_SERVER_PORT", "0")]);
    let old_token = register_and_log_in(&server.address).await;
    let old_kid = published_kid(&server.address).await;

    let output = idlog(dir.path(), &["keys", "rotate-jwt"], &[])
        .output()
        .expect("rotate");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let printed = String::from_utf8_lossy(&output.stdout);

    let mut kids = Vec::new();
    for _ in 0..100 {
        let jwks: serde_json::Value =
            reqwest::get(format!("{}/.well-known/jwks.json", server.address))
                .await
                .expect("jwks")
                .json()
                .await
                .expect("json");
        kids = jwks["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .map(|key| key["kid"].as_str().expect("kid").to_owned())
            .collect();
        if kids.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        kids.len(),
        2,
        "the running server publishes the new key beside the old one"
    );
    assert!(kids.contains(&old_kid));
    let new_kid = kids
        .iter()
        .find(|kid| **kid != old_kid)
        .expect("new kid")
        .clone();
    assert!(printed.contains(&new_kid), "{printed}");
    assert_eq!(
        me_status(&server.address, &old_token).await,
        200,
        "tokens of the retired key stay valid"
    );

    let login =
        serde_json::json!({"login": "ann@example.com", "password": "correct horse battery staple"});
    let tokens = common::login(&server.address, &login).await;
    let new_token = tokens["access_token"].as_str().expect("token");
    let header: serde_json::Value = serde_json::from_slice(
        &base64::Engine::decode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            new_token.split('.').next().expect("header"),
        )
        .expect("base64"),
    )
    .expect("json");
    assert_eq!(
        header["kid"],
        new_kid.as_str(),
        "new tokens are signed with the new key"
    );
}

#[tokio::test]
async fn the_first_administrator_comes_from_the_command_line_or_the_bootstrap_settings() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut create = idlog(
        dir.path(),
        &[
            "users",
            "create",
            "root@example.com",
            "--role",
            "admin",
            "--password-stdin",
        ],
        &[],
    )
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("spawn");
    {
        use std::io::Write;
        let mut stdin = create.stdin.take().expect("stdin");
        stdin
            .write_all(b"the administrator's passphrase\n")
            .expect("write");
    }
    let output = create.wait_with_output().expect("create");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("root@example.com"));
    let again = idlog(dir.path(), &["users", "create", "ROOT@example.com"], &[])
        .output()
        .expect("again");
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already taken"));
    let unknown = idlog(
        dir.path(),
        &["users", "create", "x@example.com", "--role", "wizard"],
        &[],
    )
    .output()
    .expect("role");
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("unknown role wizard"));

    let server = start(dir.path(), &[("IDLOG_SERVER_PORT", "0")]);
    assert_eq!(
        admin_can_create_users(&server.address, "root@example.com").await,
        201
    );
    drop(server);

    // On an empty log the bootstrap settings create the first administrator, once.
    let fresh = tempfile::tempdir().expect("temp dir");
    let bootstrap = [
        ("IDLOG_SERVER_PORT", "0"),
        ("IDLOG_BOOTSTRAP_ADMIN_EMAIL", "boss@example.com"),
        (
            "IDLOG_BOOTSTRAP_ADMIN_PASSWORD",
            "the administrator's passphrase",
        ),
    ];
    let server = start(fresh.path(), &bootstrap);
    assert_eq!(
        admin_can_create_users(&server.address, "boss@example.com").await,
        201
    );
    drop(server);
    let server = start(fresh.path(), &bootstrap);
    assert_eq!(
        get_health(&server.address).await,
        200,
        "a second start with the settings still set is fine"
    );
}

/// Logs in as `email` and creates a user; returns the status of the creation.
async fn admin_can_create_users(address: &str, email: &str) -> u16 {
    let client = reqwest::Client::new();
    let login = serde_json::json!({"login": email, "password": "the administrator's passphrase"});
    let tokens = common::login(address, &login).await;
    let token = tokens["access_token"].as_str().expect("token");
    client
        .post(format!("{address}/api/v1/users"))
        .bearer_auth(token)
        .json(&serde_json::json!({"email": "staff@example.com"}))
        .send()
        .await
        .expect("create")
        .status()
        .as_u16()
}
