//! The real `idlog` binary's storage folders, on SQLite and PostgreSQL: the server's worker
//! creates them on registration; `storage verify` and `storage rebuild` find and repair
//! differences; `workers status` and `dead-letters` report.

use super::common::{self, text};
use eventstore::test_both_backends;
use eventstore::testing::{Backend, TestDb};
use objects::ObjectStore;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// The object store the binary is configured with, and the environment that configures it (on
/// S3, mail goes to the SMTP sink too).
fn store(kind: Store, dir: &Path) -> (Arc<dyn ObjectStore>, Vec<(&'static str, String)>) {
    match kind {
        Store::Local => (
            Arc::new(objects::LocalFolder::new(dir.join("idlog-data/objects"))),
            Vec::new(),
        ),
        Store::S3 => {
            let (store, mut env) = common::s3_bucket();
            env.extend(common::Sink::from_env().env());
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
    let mut env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    env.push(("IDLOG_DATABASE_URL", db.url.as_str()));
    let idlog = |args: &[&str]| common::run(dir.path(), args, &env);
    let server = {
        let mut serving = env.clone();
        serving.push(("IDLOG_SERVER_PORT", "0"));
        common::start(dir.path(), &serving)
    };
    let address = server.address.clone();
    // Tests share the SMTP sink: this one's messages go to its own domain.
    let domain = format!("@{}.example.com", uuid::Uuid::new_v4().simple());
    let email = format!("ann{domain}");
    let registered = reqwest::Client::new()
        .post(format!("{address}/api/v1/auth/register"))
        .json(&serde_json::json!({"email": email, "password": "correct horse battery staple"}))
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
    let welcome = match kind {
        Store::Local => welcome_file(&dir.path().join("idlog-data/mail")).await,
        Store::S3 => {
            let sink = common::Sink::from_env();
            let arrived = sink.wait_for(&domain, 1, 10).await;
            assert_eq!(arrived.len(), 1, "{arrived:?}");
            assert!(
                arrived[0].subject.starts_with("Welcome to idlog"),
                "{arrived:?}"
            );
            sink.text(arrived[0].id, "plain").await
        }
    };
    assert!(
        matches!(kind, Store::S3) || welcome.contains(&format!("To: {email}")),
        "{welcome}"
    );
    // Links point at the server's own address by default, port included, and open its page.
    let link = common::first_link(&welcome);
    assert!(
        link.starts_with(&format!("{address}/verify-email?token=")),
        "{link} is not on {address}"
    );
    let followed = reqwest::get(&link).await.expect("follow");
    assert_eq!(followed.status(), 200, "{welcome}");
    let page = followed.text().await.expect("page");
    assert!(page.contains("Email address verified"), "{page}");
    let user = common::login(
        &address,
        &serde_json::json!({"email": email, "password": "correct horse battery staple"}),
    )
    .await;
    assert!(user["access_token"].is_string(), "{user}");
    drop(server);
    let found = found.expect("the worker wrote user_info.json");
    let json: serde_json::Value = serde_json::from_slice(&found.bytes).expect("json");
    assert_eq!(json["email"], email.as_str());
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

/// The `.eml` file of the welcome message, once written.
async fn welcome_file(mail: &Path) -> String {
    for _ in 0..200 {
        let welcome = std::fs::read_dir(mail).ok().and_then(|entries| {
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
        if let Some(welcome) = welcome {
            return welcome;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no welcome message in {}", mail.display());
}

async fn the_server_creates_folders_and_the_command_line_verifies_and_repairs_them(
    backend: Backend,
) {
    folders_on(backend, Store::Local).await;
}

/// S3 for the folders and SMTP for the welcome message.
async fn the_same_on_s3_and_smtp(backend: Backend) {
    folders_on(backend, Store::S3).await;
}

test_both_backends!(
    the_server_creates_folders_and_the_command_line_verifies_and_repairs_them,
    the_same_on_s3_and_smtp,
);
