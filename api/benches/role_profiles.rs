//! The users list filtered by a role profile field (`role=student&department=physics`) against
//! the same list filtered by the role alone, over real HTTP in one run, rounds interleaved
//! (field, role, role, field, ...) so that the machine's drift falls on both alike. Every
//! student is in physics, so both answer the same pages of 50 and the same total: the
//! difference is the field's filter alone (an index lookup per row on the directory's
//! `user_role_fields`), at its dearest, when it leaves out nobody.
//!
//! Run: `cargo bench -p api --bench role_profiles` (PostgreSQL from `TEST_DATABASE_URL`;
//! `BACKENDS=postgres` or `sqlite` for one; `ROUNDS`, default 5, of `ROUND_SECONDS`, default 2,
//! per arm; `USERS`, default 4,000, half of them students).

use eventstore::testing::Backend;
use idlog::testing::{Options, TestApp, spawn_app_with};
use serde_json::json;

/// As in the `idlog` binary.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod support;
use support::{Arm, closed_loop, median, setting};

const CLIENTS: usize = 8;
const DEPARTMENTS: [&str; 3] = ["physics", "chemistry", "biology"];

/// A server with `users` users, every other one a student with a profile; the administrator's
/// token, once the directory has everything.
async fn server(backend: Backend, users: u64) -> (TestApp, String) {
    let app = spawn_app_with(backend, Options::default()).await;
    let (_, admin) = app.admin().await;
    let defined = app
        .send(
            reqwest::Method::POST,
            "/api/v1/roles",
            &admin,
            Some(json!({"name": "student", "fields": [
                {"name": "student_id", "type": "text", "required": true},
                {"name": "department", "type": "text", "required": true, "allowed": DEPARTMENTS},
                {"name": "year", "type": "integer", "allowed": ["1", "2", "3", "4"]},
            ]})),
            &[],
        )
        .await;
    assert_eq!(defined.status(), 201);
    for n in 0..users {
        let student = n % 2 == 0;
        let roles = if student {
            json!(["student", "user"])
        } else {
            json!(["user"])
        };
        let created = app
            .send(
                reqwest::Method::POST,
                "/api/v1/users",
                &admin,
                Some(json!({"email": format!("user{n}@example.com"), "roles": roles})),
                &[],
            )
            .await;
        assert_eq!(created.status(), 201);
        if !student {
            continue;
        }
        let created: serde_json::Value = created.json().await.expect("json");
        let id = created["id"].as_str().expect("id");
        let department = DEPARTMENTS[0];
        let set = app
            .send(
                reqwest::Method::PUT,
                &format!("/api/v1/users/{id}/role-profiles/student"),
                &admin,
                Some(json!({"student_id": format!("S-{n}"), "department": department, "year": n / 10 % 4 + 1})),
                &[],
            )
            .await;
        assert_eq!(set.status(), 200);
    }
    let head = app.head_position().await;
    app.projector
        .wait_for(head, &["directory"], std::time::Duration::from_secs(600))
        .await
        .expect("directory");
    (app, admin)
}

/// Each client asks for `path` as fast as it is answered for `seconds`.
async fn round(app: &TestApp, admin: &str, path: &str, seconds: u64) -> Arm {
    let clients = vec![(); CLIENTS];
    closed_loop(clients, seconds, async |_: &mut ()| {
        let answer = app.get_with_token(path, admin).await;
        assert_eq!(answer.status(), 200);
        let page: serde_json::Value = answer.json().await.expect("json");
        assert_eq!(page["items"].as_array().map(Vec::len), Some(50));
    })
    .await
}

async fn measure(backend: Backend) {
    let users = setting("USERS", 4_000);
    let (app, admin) = server(backend, users).await;
    let by_fields = "/api/v1/users?role=student&department=physics&limit=50";
    let by_role = "/api/v1/users?role=student&limit=50";
    let (rounds, seconds) = (setting("ROUNDS", 5), setting("ROUND_SECONDS", 2));
    // Warm-up, not recorded: connections, caches.
    round(&app, &admin, by_fields, 1).await;
    round(&app, &admin, by_role, 1).await;
    println!(
        "{CLIENTS} clients, {backend:?}, {users} users, {rounds} rounds of {seconds} s per arm"
    );
    println!(
        "| round | role and field | p50 ms | p99 ms | role alone | p50 ms | p99 ms | field / role |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    let mut ratios = Vec::new();
    for n in 1..=rounds {
        let (mut fields, mut role) = if n % 2 == 1 {
            let fields = round(&app, &admin, by_fields, seconds).await;
            (fields, round(&app, &admin, by_role, seconds).await)
        } else {
            let role = round(&app, &admin, by_role, seconds).await;
            (round(&app, &admin, by_fields, seconds).await, role)
        };
        let ratio = fields.per_second() / role.per_second();
        ratios.push(ratio);
        println!(
            "| {n} | {:.0}/s | {:.2} | {:.2} | {:.0}/s | {:.2} | {:.2} | {ratio:.2} |",
            fields.per_second(),
            fields.quantile(0.5),
            fields.quantile(0.99),
            role.per_second(),
            role.quantile(0.5),
            role.quantile(0.99),
        );
    }
    println!(
        "{backend:?}: median role-and-field / role-alone list throughput {:.2}",
        median(ratios)
    );
}

fn main() {
    support::on_each_backend(measure);
}
