//! `idlog roles`: the role catalog lives in the log, so a role one process's configuration
//! brought in is the same role to every other process; administrators define, change and
//! retire roles, and set role holders' profiles, from the command line.

use crate::common::{idlog, idlog_on, start, succeeds, text};
use eventstore::test_both_backends;
use eventstore::testing::{Backend, TestDb};
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery staple";

async fn a_role_one_process_was_configured_with_is_every_processs(backend: Backend) {
    let db = TestDb::new(backend).await.expect("test database");
    let dir = tempfile::tempdir().expect("folder");
    let on = |args: &[&str]| idlog_on(dir.path(), &db.url, args);
    succeeds(&on(&["migrate"]));
    // A run configured with COACH grants it: the catalog goes into the log with it.
    let coached = idlog(
        dir.path(),
        &[
            "users",
            "create",
            "cy@example.com",
            "--role",
            "COACH",
            "--role",
            "user",
        ],
        &[
            ("IDLOG_DATABASE_URL", db.url.as_str()),
            ("IDLOG_AUTH_ROLES", "[COACH]"),
        ],
    )
    .output()
    .expect("idlog runs");
    succeeds(&coached);
    succeeds(&on(&[
        "users",
        "create",
        "ann@example.com",
        "--role",
        "admin",
        "--password",
        PASSWORD,
    ]));
    succeeds(&on(&["users", "create", "bob@example.com"]));

    // A server configured without COACH reads the catalog from the log, and grants it.
    let server = start(
        dir.path(),
        &[
            ("IDLOG_DATABASE_URL", db.url.as_str()),
            ("IDLOG_SERVER_PORT", "0"),
        ],
    );
    let client = reqwest::Client::new();
    let tokens: Value = client
        .post(format!("{}/api/v1/auth/login", server.address))
        .json(&json!({"login": "ann@example.com", "password": PASSWORD}))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("json");
    let token = tokens["access_token"].as_str().expect("token").to_owned();
    let catalog: Value = client
        .get(format!("{}/api/v1/roles", server.address))
        .bearer_auth(&token)
        .send()
        .await
        .expect("roles")
        .json()
        .await
        .expect("json");
    assert_eq!(catalog["source"], "log");
    let names: Vec<&str> = catalog["roles"]
        .as_array()
        .expect("roles")
        .iter()
        .filter_map(|role| role["name"].as_str())
        .collect();
    assert_eq!(names, ["COACH", "admin", "analyst", "auditor", "user"]);
    let bob = on(&["users", "show", "bob@example.com"]);
    let bob: Value = serde_json::from_slice(&bob.stdout).expect("bob as JSON");
    let granted = client
        .patch(format!(
            "{}/api/v1/users/{}",
            server.address,
            bob["user"]["id"].as_str().expect("id")
        ))
        .bearer_auth(&token)
        .json(&json!({"roles": ["COACH", "user"]}))
        .send()
        .await
        .expect("patch");
    assert_eq!(granted.status(), 200);
    server.stop();
    // Another configuration no longer brings roles in: the log's catalog is the catalog.
    let other = idlog(
        dir.path(),
        &["users", "create", "zed@example.com", "--role", "STUDENT"],
        &[
            ("IDLOG_DATABASE_URL", db.url.as_str()),
            ("IDLOG_AUTH_ROLES", "[STUDENT]"),
        ],
    )
    .output()
    .expect("idlog runs");
    assert_eq!(other.status.code(), Some(2), "{}", text(&other));
    assert!(
        text(&other).contains("unknown role STUDENT"),
        "{}",
        text(&other)
    );

    // Defined, changed, profiled and retired from the command line.
    succeeds(&on(&[
        "roles",
        "define",
        "student",
        "--field",
        "student_id:text:required",
        "--field",
        "department:text:required:physics,chemistry",
        "--field",
        "year:integer",
    ]));
    let listed = succeeds(&on(&["roles", "list"]));
    assert!(
        listed.contains(
            "student\tactive\t-\tstudent_id:text:required department:text:required:physics,chemistry year:integer"
        ),
        "{listed}"
    );
    let wrong_field = on(&["roles", "define", "staff", "--field", "position:rank"]);
    assert_eq!(wrong_field.status.code(), Some(2), "{}", text(&wrong_field));
    let twice = on(&["roles", "define", "student"]);
    assert_eq!(twice.status.code(), Some(2), "{}", text(&twice));
    assert!(text(&twice).contains("defined already"), "{}", text(&twice));

    succeeds(&on(&[
        "users",
        "create",
        "dee@example.com",
        "--role",
        "student",
    ]));
    let misfit = on(&[
        "roles",
        "profile",
        "dee@example.com",
        "student",
        "department=music",
        "year=second",
    ]);
    assert_eq!(misfit.status.code(), Some(2), "{}", text(&misfit));
    let said = text(&misfit);
    assert!(
        said.contains("student_id is required")
            && said.contains("department must be one of physics, chemistry")
            && said.contains("year must be a whole number"),
        "{said}"
    );
    succeeds(&on(&[
        "roles",
        "profile",
        "dee@example.com",
        "student",
        "student_id=0042",
        "department=physics",
        "year=2",
    ]));
    let dee = on(&["users", "show", "dee@example.com"]);
    let dee: Value = serde_json::from_slice(&dee.stdout).expect("dee as JSON");
    assert_eq!(
        dee["user"]["role_profiles"]["student"],
        json!({"student_id": "0042", "department": "physics", "year": 2})
    );

    let unasked = on(&["roles", "retire", "student"]);
    assert_eq!(unasked.status.code(), Some(2), "{}", text(&unasked));
    let built_in = on(&["roles", "retire", "user", "--yes"]);
    assert_eq!(built_in.status.code(), Some(2), "{}", text(&built_in));
    succeeds(&on(&["roles", "retire", "student", "--yes"]));
    let refused = on(&["users", "create", "eve@example.com", "--role", "student"]);
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused));
    assert!(
        text(&refused).contains("unknown role student"),
        "{}",
        text(&refused)
    );
    let listed = succeeds(&on(&["roles", "list", "--json"]));
    assert!(
        listed
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .any(|role| role["name"] == "student" && role["status"] == "retired"),
        "{listed}"
    );
}

test_both_backends!(a_role_one_process_was_configured_with_is_every_processs);
