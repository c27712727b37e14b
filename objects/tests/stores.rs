//! The same behaviour from every object store: the local folder, and S3 over a real connection
//! to the S3-compatible server the test command starts (`TEST_S3_ENDPOINT`, default
//! `http://127.0.0.1:9000`).

use objects::{LocalFolder, ObjectStore, S3Settings, S3Store};

/// A fresh bucket on the test server.
async fn s3() -> S3Store {
    let endpoint =
        std::env::var("TEST_S3_ENDPOINT").unwrap_or_else(|_| "http://127.0.0.1:9000".to_owned());
    let store = S3Store::new(&S3Settings {
        bucket: format!("idlog-test-{}", uuid::Uuid::new_v4().simple()),
        endpoint: Some(endpoint),
        region: "us-east-1".into(),
        path_style: true,
        access_key_id: "idlog-test".into(),
        secret_access_key: "idlog-test-secret".to_owned().into(),
    });
    store.ensure_bucket().await.expect("bucket created");
    store
        .ensure_bucket()
        .await
        .expect("an existing bucket is fine");
    store
}

async fn behaves(store: &dyn ObjectStore) {
    let key = "accounts/0190/profile/picture.png";
    assert_eq!(store.get(key).await.expect("get"), None);
    store.put(key, b"first", "image/png").await.expect("put");
    store.put(key, b"second", "image/png").await.expect("put");
    let object = store.get(key).await.expect("get").expect("stored");
    assert_eq!(object.bytes, b"second");
    assert_eq!(object.content_type, "image/png");
    store.delete(key).await.expect("delete");
    store.delete(key).await.expect("deleting again is fine");
    assert_eq!(store.get(key).await.expect("get"), None);

    // Folder markers, listing and removing a folder with what it holds.
    store
        .put("accounts/a/biometric-data/", b"", "application/x-directory")
        .await
        .expect("marker");
    store
        .put(
            "accounts/a/metadata/user_info.json",
            b"{}",
            "application/json",
        )
        .await
        .expect("file");
    store
        .put(
            "accounts/b/performance-data/",
            b"",
            "application/x-directory",
        )
        .await
        .expect("marker");
    assert!(
        store
            .get("accounts/a/biometric-data/")
            .await
            .expect("get")
            .is_some(),
        "a folder marker is found"
    );
    let listed = store.list("accounts/a/").await.expect("list");
    for key in [
        "accounts/a/biometric-data/",
        "accounts/a/metadata/user_info.json",
    ] {
        assert!(listed.contains(&key.to_owned()), "{key} in {listed:?}");
    }
    assert!(listed.iter().all(|key| key.starts_with("accounts/a/")));
    store.delete_prefix("accounts/a/").await.expect("removed");
    assert!(store.list("accounts/a/").await.expect("list").is_empty());
    assert!(
        store
            .list("accounts/")
            .await
            .expect("list")
            .contains(&"accounts/b/performance-data/".to_owned())
    );
    // Keys that would leave the store are refused before anything is sent.
    assert!(store.put("../escape", b"x", "text/plain").await.is_err());
}

#[tokio::test]
async fn the_local_folder_behaves_as_an_object_store() {
    let folder = tempfile::tempdir().expect("temp dir");
    behaves(&LocalFolder::new(folder.path())).await;
}

#[tokio::test]
async fn an_s3_bucket_behaves_as_an_object_store() {
    behaves(&s3().await).await;
}

#[tokio::test]
async fn listing_an_s3_bucket_follows_its_pages() {
    let store = s3().await;
    // More than one page of 1,000 keys.
    let keys: Vec<String> = (0..1_050).map(|n| format!("many/{n:05}.json")).collect();
    for chunk in keys.chunks(50) {
        let writes = chunk
            .iter()
            .map(|key| store.put(key, b"{}", "application/json"));
        for result in futures::future::join_all(writes).await {
            result.expect("put");
        }
    }
    assert_eq!(store.list("many/").await.expect("list"), keys);
}
