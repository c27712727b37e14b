//! The real `idlog` binary's storage folders, on SQLite and PostgreSQL: the server's worker
//! creates them on registration; `storage verify` and `storage rebuild` find and repair
//! differences; `workers status` and `dead-letters` report.

use eventstore::test_both_backends;
use eventstore::testing::{Backend, TestDb};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

const IDLOG: &str = env!("CARGO_BIN_EXE_idlog");

fn command(dir: &Path, url: &str, args: &[&str]) -> Command {
    let mut command = Command::new(IDLOG);
    command.current_dir(dir).args(args);
    for (key, _) in std::env::vars() {
        if key.starts_with("IDLOG_") {
            command.env_remove(key);
        }
    }
    command.env("IDLOG_DATABASE_URL", url);
    command
}

fn idlog(dir: &Path, url: &str, args: &[&str]) -> Output {
    command(dir, url, args)
        .stdin(Stdio::null())
        .output()
        .expect("idlog runs")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

async fn the_server_creates_folders_and_the_command_line_verifies_and_repairs_them(
    backend: Backend,
) {
    let db = TestDb::new(backend).await.expect("test database");
    let dir = tempfile::tempdir().expect("temp dir");
    let mut server = command(dir.path(), &db.url, &["serve"])
        .env("IDLOG_SERVER_PORT", "0")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("serve");
    let stdout = server.stdout.take().expect("stdout");
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
    let registered = reqwest::Client::new()
        .post(format!("{address}/api/v1/auth/register"))
        .json(&serde_json::json!({"email": "ann@example.com", "password": "correct horse battery staple"}))
        .send()
        .await
        .expect("register");
    assert_eq!(registered.status(), 201);
    let id = registered.json::<serde_json::Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let accounts = dir.path().join("idlog-data/objects/accounts").join(&id);
    let info = accounts.join("metadata/user_info.json");
    let mut waited = 0;
    while !info.exists() && waited < 200 {
        std::thread::sleep(Duration::from_millis(50));
        waited += 1;
    }
    let _ = server.kill();
    let _ = server.wait();
    assert!(info.exists(), "the worker wrote user_info.json");
    assert!(accounts.join("biometric-data").is_dir());
    assert!(accounts.join("performance-data").is_dir());
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&info).expect("read")).expect("json");
    assert_eq!(json["email"], "ann@example.com");

    let verified = idlog(dir.path(), &db.url, &["storage", "verify"]);
    assert!(verified.status.success(), "{}", text(&verified));
    assert!(text(&verified).contains("1 users checked: 0 objects missing, 0 orphans"));

    // Break it: a marker gone, a stranger's folder.
    std::fs::remove_dir(accounts.join("performance-data")).expect("removed");
    let stranger = dir
        .path()
        .join("idlog-data/objects/accounts/stranger/metadata");
    std::fs::create_dir_all(&stranger).expect("stranger");
    std::fs::write(stranger.join("user_info.json"), b"{}").expect("written");
    let verified = idlog(dir.path(), &db.url, &["storage", "verify"]);
    assert_eq!(verified.status.code(), Some(1), "{}", text(&verified));
    let out = text(&verified);
    assert!(
        out.contains(&format!("missing  accounts/{id}/performance-data/")),
        "{out}"
    );
    assert!(out.contains("orphan   accounts/stranger/"), "{out}");

    let refused = idlog(dir.path(), &db.url, &["storage", "rebuild", "--prune"]);
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused));
    let repaired = idlog(
        dir.path(),
        &db.url,
        &["storage", "rebuild", "--prune", "--yes"],
    );
    assert!(repaired.status.success(), "{}", text(&repaired));
    assert!(
        text(&repaired).contains("1 folders repaired, 1 orphans removed"),
        "{}",
        text(&repaired)
    );
    let verified = idlog(dir.path(), &db.url, &["storage", "verify"]);
    assert!(verified.status.success(), "{}", text(&verified));

    let status = idlog(dir.path(), &db.url, &["workers", "status"]);
    assert!(text(&status).contains("storage"), "{}", text(&status));
    let letters = idlog(dir.path(), &db.url, &["workers", "dead-letters"]);
    assert!(text(&letters).contains("no dead letters"));
    let retry = idlog(dir.path(), &db.url, &["workers", "retry"]);
    assert_eq!(retry.status.code(), Some(2));
}

test_both_backends!(the_server_creates_folders_and_the_command_line_verifies_and_repairs_them);
