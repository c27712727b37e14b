//! The real `idlog` binary: start-up with no configuration, bad configuration, PostgreSQL.

use eventstore::testing::{Backend, TestDb};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const IDLOG: &str = env!("CARGO_BIN_EXE_idlog");

/// `idlog` in `dir` with only the given IDLOG_ variables (the test environment's are dropped).
fn idlog(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(IDLOG);
    command.current_dir(dir).args(args);
    for (key, _) in std::env::vars() {
        if key.starts_with("IDLOG_") {
            command.env_remove(key);
        }
    }
    command.envs(env.iter().copied());
    command
}

/// A running server and the address it printed.
struct Server {
    child: Child,
    address: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(dir: &Path, env: &[(&str, &str)]) -> Server {
    let mut child = idlog(dir, &["serve"], env)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(address) = line.split("listening on ").nth(1) {
                let _ = sender.send(address.to_owned());
            }
        }
    });
    let address = receiver
        .recv_timeout(Duration::from_secs(60))
        .expect("the server printed its address");
    Server { child, address }
}

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
    ] {
        assert!(dir.path().join(path).exists(), "{path} is missing");
    }
    drop(server);

    // A restart reuses the data folder and its claim key.
    let key = std::fs::read_to_string(dir.path().join("idlog-data/claim.key")).expect("key");
    let server = start(dir.path(), &[("IDLOG_SERVER_PORT", "0")]);
    assert_eq!(get_health(&server.address).await, 200);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("idlog-data/claim.key")).expect("key"),
        key
    );
}

#[test]
fn bad_configuration_fails_at_start_up_naming_the_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cases: [(&[(&str, &str)], &str); 4] = [
        (&[("IDLOG_SERVER_PORT", "eighty")], "server.port"),
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
