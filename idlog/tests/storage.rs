//! The real `idlog` binary's storage folders, on SQLite and PostgreSQL: the server's worker
//! creates them on registration; `storage verify` and `storage rebuild` find and repair
//! differences; `workers status` and `dead-letters` report.

use eventstore::test_both_backends;
use eventstore::testing::{Backend, TestDb};
use objects::ObjectStore;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

mod common;

use common::text;

/// The object store the binary is configured with, and the environment that configures it.
fn store(kind: Store, dir: &Path) -> (Arc<dyn ObjectStore>, Vec<(String, String)>) {
    match kind {
        Store::Local => (
            Arc::new(objects::LocalFolder::new(dir.join("idlog-data/objects"))),
            Vec::new(),
        ),
        Store::S3 => {
            let endpoint = std::env::var("TEST_S3_ENDPOINT")
                .unwrap_or_else(|_| "http://127.0.0.1:9000".to_owned());
            let bucket = format!("idlog-cli-{}", uuid::Uuid::new_v4().simple());
            let store = objects::S3Store::new(&objects::S3Settings {
                bucket: bucket.clone(),
                endpoint: Some(endpoint.clone()),
                region: "us-east-1".into(),
                path_style: true,
                access_key_id: "idlog-test".into(),
                secret_access_key: "idlog-test-secret".to_owned().into(),
            });
            let env = [
                ("IDLOG_STORAGE_BACKEND", "s3"),
                ("IDLOG_STORAGE_BUCKET", bucket.as_str()),
                ("IDLOG_STORAGE_ENDPOINT", endpoint.as_str()),
                ("IDLOG_STORAGE_ACCESS_KEY_ID", "idlog-test"),
                ("IDLOG_STORAGE_SECRET_ACCESS_KEY", "idlog-test-secret"),
            ]
            .map(|(key, value)| (key.to_owned(), value.to_owned()))
            .to_vec();
            (Arc::new(store), env)
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Store {
    Local,
    S3,
}

async fn folders_on(backend: Backend, kind: Store) {
    let db = TestDb::new(backend).await.expect("test database");
    let dir = tempfile::tempdir().expect("temp dir");
    let (objects, env) = store(kind, dir.path());
    let mut env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    env.push(("IDLOG_DATABASE_URL", db.url.as_str()));
    let idlog = |args: &[&str]| common::run(dir.path(), args, &env);
    let server = {
        let mut serving = env.clone();
        serving.push(("IDLOG_SERVER_PORT", "0"));
        common::start(dir.path(), &serving)
    };
    let address = server.address.clone();
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
    let [_, performance, info] = [
        format!("accounts/{id}/biometric-data/"),
        format!("accounts/{id}/performance-data/"),
        format!("accounts/{id}/metadata/user_info.json"),
    ];
    let mut found = None;
    for _ in 0..200 {
        found = objects.get(&info).await.expect("get");
        if found.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The welcome message, with a link that verifies the address.
    let mail = dir.path().join("idlog-data/mail");
    let mut welcome = None;
    for _ in 0..200 {
        welcome = std::fs::read_dir(&mail).ok().and_then(|entries| {
            entries
                .filter_map(Result::ok)
                .find(|entry| {
                    entry
                        .file_name()
                        .to_string_lossy()
                        .ends_with("-welcome.eml")
                })
                .and_then(|entry| std::fs::read_to_string(entry.path()).ok())
        });
        if welcome.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let welcome = welcome.expect("the welcome message was written");
    assert!(welcome.contains("To: ann@example.com"), "{welcome}");
    let link_start = welcome.find("http://").expect("a link");
    let link: String = welcome[link_start..]
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != '"')
        .collect();
    let path = link
        .split_once("/api/v1/")
        .map(|(_, rest)| format!("/api/v1/{rest}"))
        .expect("an API link");
    let followed = reqwest::get(format!("{address}{path}"))
        .await
        .expect("follow");
    assert_eq!(followed.status(), 200, "{link}");
    drop(server);
    let found = found.expect("the worker wrote user_info.json");
    let json: serde_json::Value = serde_json::from_slice(&found.bytes).expect("json");
    assert_eq!(json["email"], "ann@example.com");
    let folder = objects
        .list(&format!("accounts/{id}/"))
        .await
        .expect("list");
    assert!(
        folder.contains(&format!("accounts/{id}/biometric-data/")),
        "{folder:?}"
    );
    assert!(folder.contains(&performance), "{folder:?}");

    let verified = idlog(&["storage", "verify"]);
    assert!(verified.status.success(), "{}", text(&verified));
    assert!(text(&verified).contains("1 users checked: 0 objects missing, 0 orphans"));

    // Break it: a marker gone, a stranger's folder.
    objects.delete(&performance).await.expect("removed");
    objects
        .put(
            "accounts/stranger/metadata/user_info.json",
            b"{}",
            "application/json",
        )
        .await
        .expect("written");
    let verified = idlog(&["storage", "verify"]);
    assert_eq!(verified.status.code(), Some(1), "{}", text(&verified));
    let out = text(&verified);
    assert!(out.contains(&format!("missing  {performance}")), "{out}");
    assert!(out.contains("orphan   accounts/stranger/"), "{out}");

    let refused = idlog(&["storage", "rebuild", "--prune"]);
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused));
    let repaired = idlog(&["storage", "rebuild", "--prune", "--yes"]);
    assert!(repaired.status.success(), "{}", text(&repaired));
    assert!(
        text(&repaired).contains("1 folders repaired, 1 orphans removed"),
        "{}",
        text(&repaired)
    );
    let verified = idlog(&["storage", "verify"]);
    assert!(verified.status.success(), "{}", text(&verified));

    let status = idlog(&["workers", "status"]);
    assert!(text(&status).contains("storage"), "{}", text(&status));
    let letters = idlog(&["workers", "dead-letters"]);
    assert!(text(&letters).contains("no dead letters"));
    let retry = idlog(&["workers", "retry"]);
    assert_eq!(retry.status.code(), Some(2));
}

async fn the_server_creates_folders_and_the_command_line_verifies_and_repairs_them(
    backend: Backend,
) {
    folders_on(backend, Store::Local).await;
}

async fn the_same_on_s3(backend: Backend) {
    folders_on(backend, Store::S3).await;
}

test_both_backends!(
    the_server_creates_folders_and_the_command_line_verifies_and_repairs_them,
    the_same_on_s3,
);
