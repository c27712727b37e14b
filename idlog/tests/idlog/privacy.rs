//! Forgetting a person and exporting their data, with the real binary on SQLite and PostgreSQL:
//! after `idlog users forget`, no table of the database holds their email, phone or names in
//! clear, the chain still verifies, a rebuild gives the same erased read models, they cannot log
//! in or refresh, their address is free again, and other people's data is untouched.

use super::common::{self, text};
use eventstore::testing::{Backend, TestDb};
use eventstore::{Database, test_both_backends};
use serde_json::{Value, json};
use sqlx::Row;
use std::path::Path;
use std::time::Duration;

const PASSWORD: &str = "correct horse battery staple";

/// What was said about ann: none of it may be left in clear anywhere once she is forgotten.
const ANN_EMAIL: &str = "annabel.forgetme@example.com";
const ANN_SECRETS: &[&str] = &[
    "annabel.forgetme",
    "+14155550177",
    "annqx",
    "Annabel",
    "Quixotewell",
    "Zebrastraat",
    "Zenobia",
    "+14155550188",
    "phone-of-annabel",
];

/// Which of ann's values the SQLite files (the database, its write-ahead log and shared memory)
/// hold anywhere in their bytes, with the file.
fn on_disk(url: &str) -> Vec<String> {
    let path = url.trim_start_matches("sqlite://");
    let mut found = Vec::new();
    for suffix in ["", "-wal", "-shm"] {
        let file = format!("{path}{suffix}");
        let Ok(bytes) = std::fs::read(&file) else {
            continue;
        };
        for secret in ANN_SECRETS {
            if bytes
                .windows(secret.len())
                .any(|window| window == secret.as_bytes())
            {
                found.push(format!("{secret} in {file}"));
            }
        }
    }
    found
}

/// Whether PostgreSQL vacuumed `table` (in any schema) since the database was made.
async fn vacuumed(database: &Database, table: &str) -> bool {
    let Database::Postgres(pool) = database else {
        return false;
    };
    sqlx::query_scalar::<_, i64>(
        "SELECT count(*) FROM pg_stat_user_tables WHERE relname = $1 AND last_vacuum IS NOT NULL",
    )
    .bind(table)
    .fetch_one(pool)
    .await
    .is_ok_and(|count| count > 0)
}

/// Every text and JSON value of every table, searched for `needle`: which (table, column) hold it.
async fn tables_holding(database: &Database, needle: &str) -> Vec<String> {
    let pattern = format!("%{needle}%");
    let mut found = Vec::new();
    match database {
        Database::Postgres(pool) => {
            let columns = sqlx::query(
                "SELECT c.table_schema, c.table_name, c.column_name FROM information_schema.columns c \
                 JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name \
                 WHERE t.table_type = 'BASE TABLE' AND c.table_schema NOT IN ('pg_catalog', 'information_schema') \
                   AND c.data_type IN ('text', 'character varying', 'json', 'jsonb', 'ARRAY')",
            )
            .fetch_all(pool)
            .await
            .expect("columns");
            for row in columns {
                let (schema, table, column): (String, String, String) =
                    (row.get(0), row.get(1), row.get(2));
                let count: i64 = sqlx::query_scalar(&format!(
                    "SELECT count(*) FROM \"{schema}\".\"{table}\" WHERE CAST(\"{column}\" AS TEXT) LIKE $1"
                ))
                .bind(&pattern)
                .fetch_one(pool)
                .await
                .expect("scan");
                if count > 0 {
                    found.push(format!("{schema}.{table}.{column}"));
                }
            }
        }
        Database::Sqlite(pool) => {
            let tables: Vec<String> = sqlx::query_scalar(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
            )
            .fetch_all(pool)
            .await
            .expect("tables");
            for table in tables {
                let columns: Vec<String> =
                    sqlx::query_scalar(&format!("SELECT name FROM pragma_table_info('{table}')"))
                        .fetch_all(pool)
                        .await
                        .expect("columns");
                for column in columns {
                    let count: i64 = sqlx::query_scalar(&format!(
                        "SELECT count(*) FROM \"{table}\" WHERE CAST(\"{column}\" AS TEXT) LIKE ?"
                    ))
                    .bind(&pattern)
                    .fetch_one(pool)
                    .await
                    .expect("scan");
                    if count > 0 {
                        found.push(format!("{table}.{column}"));
                    }
                }
            }
        }
    }
    found
}

/// Every place any of ann's data is still in clear.
async fn ann_left_in(database: &Database) -> Vec<String> {
    let mut left = Vec::new();
    for needle in ANN_SECRETS {
        for place in tables_holding(database, needle).await {
            left.push(format!("{needle} in {place}"));
        }
    }
    left
}

async fn send(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    token: Option<&str>,
    body: Option<Value>,
) -> reqwest::Response {
    let mut request = client
        .request(method, url)
        .header("user-agent", "phone-of-annabel");
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.expect("request")
}

/// Waits (bounded) until `check` holds.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..200 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what} did not happen within 20 s");
}

fn users_listed(dir: &Path, env: &[(&str, &str)], status: &str) -> Value {
    let output = common::run(
        dir,
        &["users", "list", "--status", status, "--format", "json"],
        env,
    );
    assert!(output.status.success(), "{}", text(&output));
    serde_json::from_slice(&output.stdout).expect("json")
}

async fn forgetting_leaves_nothing_in_clear(backend: Backend) {
    let db = TestDb::new(backend).await.expect("test database");
    let dir = tempfile::tempdir().expect("temp dir");
    let env = [("IDLOG_DATABASE_URL", db.url.as_str())];
    let idlog = |args: &[&str]| common::run(dir.path(), args, &env);
    let server = common::start(
        dir.path(),
        &[
            ("IDLOG_DATABASE_URL", db.url.as_str()),
            ("IDLOG_SERVER_PORT", "0"),
        ],
    );
    let api = |path: &str| format!("{}/api/v1{path}", server.address);
    let client = reqwest::Client::new();
    let created = idlog(&[
        "users",
        "create",
        "root@example.com",
        "--role",
        "admin",
        "--password",
        PASSWORD,
    ]);
    assert!(created.status.success(), "{}", text(&created));
    let admin = common::login(
        &server.address,
        &json!({"login": "root@example.com", "password": PASSWORD}),
    )
    .await;
    let admin = admin["access_token"].as_str().expect("token").to_owned();

    // Ann: every kind of personal data, in her events, her sessions' and the read models.
    let registered = send(
        &client,
        reqwest::Method::POST,
        api("/auth/register"),
        None,
        Some(json!({
            "email": ANN_EMAIL, "password": PASSWORD, "username": "annqx", "phone": "+14155550177",
            "first_name": "Annabel", "last_name": "Quixotewell",
        })),
    )
    .await;
    assert_eq!(registered.status(), 201);
    let ann: Value = registered.json().await.expect("json");
    let ann_id = ann["id"].as_str().expect("id").to_owned();
    let tokens = common::login(
        &server.address,
        &json!({"login": ANN_EMAIL, "password": PASSWORD, "device_name": "Annabel's phone"}),
    )
    .await;
    let ann_token = tokens["access_token"].as_str().expect("token").to_owned();
    let ann_refresh = tokens["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_owned();
    let profile = send(
        &client,
        reqwest::Method::PUT,
        api(&format!("/users/{ann_id}/profile")),
        Some(&ann_token),
        Some(json!({
            "address": {"line1": "12 Zebrastraat", "city": "Gent", "country": "BE"},
            "emergency_contact": {"name": "Zenobia", "phone": "+14155550188"},
            "preferred_language": "en",
        })),
    )
    .await;
    assert_eq!(
        profile.status(),
        200,
        "{}",
        profile.text().await.unwrap_or_default()
    );
    let wrong = send(
        &client,
        reqwest::Method::POST,
        api("/auth/login"),
        None,
        Some(json!({"login": ANN_EMAIL, "password": "not her password at all"})),
    )
    .await;
    assert_eq!(wrong.status(), 401);
    // Bob, who must come through untouched.
    let bob = client
        .post(api("/auth/register"))
        .json(
            &json!({"email": "bob.stays@example.com", "password": PASSWORD, "first_name": "Bobby"}),
        )
        .send()
        .await
        .expect("register bob");
    assert_eq!(bob.status(), 201);
    let bob_id = bob.json::<Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .to_owned();

    let folder = dir
        .path()
        .join(format!("idlog-data/objects/accounts/{ann_id}"));
    eventually("ann's folder", || async {
        folder.join("metadata/user_info.json").exists()
    })
    .await;
    let mail = dir.path().join("idlog-data/mail");
    eventually("the welcome message", || async {
        std::fs::read_dir(&mail)
            .map(|entries| entries.count() >= 2)
            .unwrap_or(false)
    })
    .await;
    let opened = db.open().await.expect("open");
    assert!(
        !ann_left_in(&opened.database).await.is_empty(),
        "the read models and the delivery log hold ann's data before"
    );

    // Her own copy first (right of access).
    let export = send(
        &client,
        reqwest::Method::GET,
        api(&format!("/users/{ann_id}/export")),
        Some(&ann_token),
        None,
    )
    .await;
    assert_eq!(export.status(), 200);
    let export: Value = export.json().await.expect("json");
    assert_eq!(export["user"]["email"], ANN_EMAIL);
    assert_eq!(export["profile"]["emergency_contact"]["name"], "Zenobia");
    assert_eq!(export["sessions"][0]["device"], "Annabel's phone");
    assert_eq!(
        export["events"][0]["payload"]["email"], ANN_EMAIL,
        "events decrypted"
    );
    assert!(
        export["events"][0]["payload"]
            .get("password_hash")
            .is_none(),
        "no secrets"
    );
    assert_eq!(
        export["session_events"].as_object().map(|s| s.len()),
        Some(1)
    );
    assert!(
        export["activity"]
            .as_array()
            .is_some_and(|rows| !rows.is_empty())
    );

    // Forgetting asks first: with no terminal and no --yes it refuses and changes nothing.
    let refused = idlog(&["users", "forget", ANN_EMAIL]);
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused));
    let forgot = idlog(&["users", "forget", ANN_EMAIL, "--yes"]);
    assert!(forgot.status.success(), "{}", text(&forgot));
    assert!(
        !text(&forgot).contains("warning"),
        "her events were all sealed: {}",
        text(&forgot)
    );

    // The read models, the delivery log and storage follow within a bounded wait.
    eventually("ann's folder removed", || async { !folder.exists() }).await;
    let database = opened.database.clone();
    let mut left = Vec::new();
    for _ in 0..100 {
        left = ann_left_in(&database).await;
        if left.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(left.is_empty(), "still in clear: {left:?}");
    // Nor on the disk: SQLite zeroes freed space and the write-ahead log with the old page
    // images is emptied; PostgreSQL vacuums the tables that held her data.
    match backend {
        Backend::Sqlite => {
            eventually("ann's data off the SQLite files", || async {
                on_disk(&db.url).is_empty()
            })
            .await;
        }
        Backend::Postgres => {
            for table in ["data_keys", "deliveries"] {
                eventually(&format!("{table} vacuumed"), || async {
                    vacuumed(&database, table).await
                })
                .await;
            }
        }
    }
    let forgotten = users_listed(dir.path(), &env, "forgotten");
    assert_eq!(forgotten.as_array().map(Vec::len), Some(1), "{forgotten}");
    assert_eq!(forgotten[0]["id"], ann_id.as_str());
    assert_eq!(forgotten[0]["email"], Value::Null);

    // The log still verifies; her events read back erased, not as errors.
    let verified = idlog(&["events", "verify"]);
    assert!(verified.status.success(), "{}", text(&verified));
    let history = send(
        &client,
        reqwest::Method::GET,
        api(&format!("/users/{ann_id}/history")),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(history.status(), 200);
    let history: Value = history.json().await.expect("json");
    assert_eq!(
        history["events"][0]["payload"]["email"],
        json!({"$erased": true})
    );
    assert_eq!(
        history["events"][0]["payload"]["roles"],
        json!(["user"]),
        "non-personal fields stay"
    );
    let last = history["events"]
        .as_array()
        .and_then(|events| events.last())
        .expect("events");
    assert_eq!(last["event_type"], "UserForgotten");

    // She cannot log in or refresh; her export and record are gone; her address is free.
    let login = send(
        &client,
        reqwest::Method::POST,
        api("/auth/login"),
        None,
        Some(json!({"login": ANN_EMAIL, "password": PASSWORD})),
    )
    .await;
    assert_eq!(login.status(), 401);
    let refresh = send(
        &client,
        reqwest::Method::POST,
        api("/auth/refresh"),
        None,
        Some(json!({"refresh_token": ann_refresh})),
    )
    .await;
    assert_eq!(refresh.status(), 401);
    let me = send(
        &client,
        reqwest::Method::GET,
        api("/auth/me"),
        Some(&ann_token),
        None,
    )
    .await;
    assert_eq!(me.status(), 401, "her sessions ended");
    let gone = send(
        &client,
        reqwest::Method::GET,
        api(&format!("/users/{ann_id}")),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(gone.status(), 404);
    let again = idlog(&["users", "forget", &ann_id, "--yes"]);
    assert_eq!(again.status.code(), Some(2), "{}", text(&again));
    let export_gone = idlog(&["users", "export", &ann_id]);
    assert_eq!(export_gone.status.code(), Some(2), "{}", text(&export_gone));
    // Bob's data is untouched.
    let bob_file = dir.path().join("bob.json");
    let exported = idlog(&[
        "users",
        "export",
        "bob.stays@example.com",
        "-o",
        bob_file.to_str().expect("path"),
    ]);
    assert!(exported.status.success(), "{}", text(&exported));
    let bob: Value =
        serde_json::from_slice(&std::fs::read(&bob_file).expect("file")).expect("json");
    assert_eq!(bob["user"]["id"], bob_id.as_str());
    assert_eq!(bob["user"]["first_name"], "Bobby");
    assert_eq!(
        bob["events"][0]["payload"]["email"],
        "bob.stays@example.com"
    );

    // Replaying the whole log into fresh read models gives the same erased result.
    let before = users_listed(dir.path(), &env, "forgotten");
    let rebuilt = idlog(&["projections", "rebuild"]);
    assert!(rebuilt.status.success(), "{}", text(&rebuilt));
    assert_eq!(users_listed(dir.path(), &env, "forgotten"), before);
    let left = ann_left_in(&database).await;
    assert!(left.is_empty(), "in clear after the rebuild: {left:?}");
    // And once the server has stopped.
    server.stop();
    if backend == Backend::Sqlite {
        let found = on_disk(&db.url);
        assert!(
            found.is_empty(),
            "in clear on disk after a shutdown: {found:?}"
        );
    }
    let server = common::start(
        dir.path(),
        &[
            ("IDLOG_DATABASE_URL", db.url.as_str()),
            ("IDLOG_SERVER_PORT", "0"),
        ],
    );
    let api = |path: &str| format!("{}/api/v1{path}", server.address);

    // Last (her address in clear again, now a new person's): the address is free.
    let anew = send(
        &client,
        reqwest::Method::POST,
        api("/auth/register"),
        None,
        Some(json!({"email": ANN_EMAIL, "password": PASSWORD})),
    )
    .await;
    assert_eq!(anew.status(), 201, "the address is free again");
    let anew_id = anew.json::<Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    assert_ne!(anew_id, ann_id, "a new person");
}

async fn master_keys_rotate_without_touching_the_log(backend: Backend) {
    let db = TestDb::new(backend).await.expect("test database");
    let dir = tempfile::tempdir().expect("temp dir");
    let env = [("IDLOG_DATABASE_URL", db.url.as_str())];
    let idlog = |args: &[&str]| common::run(dir.path(), args, &env);
    let created = idlog(&[
        "users",
        "create",
        "carol.rotates@example.com",
        "--password",
        PASSWORD,
    ]);
    assert!(created.status.success(), "{}", text(&created));
    let head = || {
        let verified = idlog(&["events", "verify"]);
        assert!(verified.status.success(), "{}", text(&verified));
        text(&verified)
    };
    let shows_carol = || {
        let shown = idlog(&["users", "show", "carol.rotates@example.com"]);
        shown.status.success() && text(&shown).contains("carol.rotates@example.com")
    };
    let before = head();
    let key_file = dir.path().join("idlog-data/master.key");
    let first_key = std::fs::read_to_string(&key_file).expect("generated master key");

    // The data folder's key: one command.
    let rotated = idlog(&["keys", "rotate-master"]);
    assert!(rotated.status.success(), "{}", text(&rotated));
    assert!(
        text(&rotated).contains("data keys re-wrapped"),
        "{}",
        text(&rotated)
    );
    let second_key = std::fs::read_to_string(&key_file).expect("master key");
    assert_ne!(first_key, second_key);
    assert!(!dir.path().join("idlog-data/master.key.next").exists());
    assert!(shows_carol(), "readable with the new key");
    assert_eq!(head(), before, "the log is untouched");
    std::fs::write(&key_file, &first_key).expect("the old key back");
    assert!(!shows_carol(), "the old key alone opens nothing any more");
    std::fs::write(&key_file, &second_key).expect("the new key back");

    // A configured key: the new one in place, the old one among the previous, then rewrap.
    let third_key = "ab".repeat(32);
    std::fs::write(
        dir.path().join("idlog.toml"),
        format!(
            "[security]\nmaster_key = \"{third_key}\"\nprevious_master_keys = [\"{}\"]\n",
            second_key.trim()
        ),
    )
    .expect("config");
    let refused = idlog(&["keys", "rotate-master"]);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
    assert!(
        text(&refused).contains("idlog keys rewrap"),
        "{}",
        text(&refused)
    );
    let rewrapped = idlog(&["keys", "rewrap"]);
    assert!(rewrapped.status.success(), "{}", text(&rewrapped));
    assert!(
        text(&rewrapped).contains("1 data keys re-wrapped"),
        "{}",
        text(&rewrapped)
    );
    std::fs::write(
        dir.path().join("idlog.toml"),
        format!("[security]\nmaster_key = \"{third_key}\"\n"),
    )
    .expect("config");
    assert!(shows_carol(), "readable with the configured key alone");
    assert_eq!(head(), before);
}

test_both_backends!(
    forgetting_leaves_nothing_in_clear,
    master_keys_rotate_without_touching_the_log,
);
