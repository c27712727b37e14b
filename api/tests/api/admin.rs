//! Operators' actions over real HTTP, on SQLite and PostgreSQL: storage verification and repair.

use crate::common::problem;
use eventstore::test_both_backends;
use eventstore::testing::Backend;
use idlog::testing::spawn_app;
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery staple";

async fn administrators_verify_and_repair_storage(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, admin) = app.admin().await;
    let ann = app.register("ann@example.com", PASSWORD).await;
    let root = app.objects_folder.path().join("accounts").join(&ann);
    let mut waited = 0;
    while !root.join("metadata/user_info.json").exists() && waited < 400 {
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        waited += 1;
    }
    assert!(
        root.join("metadata/user_info.json").exists(),
        "the worker made the folder"
    );
    let verify = |token: String| {
        let app = &app;
        async move {
            app.send(
                reqwest::Method::POST,
                "/api/v1/admin/storage/verify",
                &token,
                None,
                &[],
            )
            .await
        }
    };
    let report: Value = verify(admin.clone()).await.json().await.expect("json");
    assert_eq!(report["missing"], json!([]), "{report}");
    assert_eq!(report["orphans"], json!([]));
    // Every user the directory holds is checked: the administrator too.
    assert_eq!(report["checked_users"], 2);

    std::fs::remove_dir(root.join("performance-data")).expect("removed");
    let stranger = app.objects_folder.path().join("accounts/stranger");
    std::fs::create_dir_all(&stranger).expect("stranger");
    std::fs::write(stranger.join("notes.txt"), b"?").expect("written");
    let report: Value = verify(admin.clone()).await.json().await.expect("json");
    assert_eq!(
        report["missing"],
        json!([[ann, format!("accounts/{ann}/performance-data/")]])
    );
    assert_eq!(report["orphans"], json!(["accounts/stranger/"]));

    let user = app.login("ann@example.com", PASSWORD).await["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    problem(verify(user.clone()).await, 403).await;
    let repaired = app
        .send(
            reqwest::Method::POST,
            "/api/v1/admin/storage/rebuild",
            &admin,
            Some(json!({"prune": true})),
            &[],
        )
        .await;
    assert_eq!(repaired.status(), 200);
    let repaired: Value = repaired.json().await.expect("json");
    assert_eq!(repaired, json!({"users_repaired": 1, "orphans_removed": 1}));
    let report: Value = verify(admin.clone()).await.json().await.expect("json");
    assert_eq!(
        (report["missing"].clone(), report["orphans"].clone()),
        (json!([]), json!([]))
    );
    let bad = app
        .send(
            reqwest::Method::POST,
            "/api/v1/admin/storage/rebuild",
            &admin,
            Some(json!({"prune": "yes"})),
            &[],
        )
        .await;
    problem(bad, 422).await;
}

test_both_backends!(administrators_verify_and_repair_storage);
