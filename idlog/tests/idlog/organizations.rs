//! `idlog organizations ...`, on SQLite and PostgreSQL: organizations created with partner
//! details, listed and found by them, their details changed and removed (only with consent),
//! and bad input refused with exit code 2.

use super::common::{idlog_on, succeeds, text};
use eventstore::test_both_backends;
use eventstore::testing::{Backend, TestDb};

/// What a successful run printed on standard output, as JSON.
fn json_of(output: &std::process::Output) -> serde_json::Value {
    succeeds(output);
    serde_json::from_slice(&output.stdout).expect("json")
}

async fn partners_are_created_found_changed_and_removed(backend: Backend) {
    let db = TestDb::new(backend).await.expect("test database");
    let dir = tempfile::tempdir().expect("folder");
    let on = |args: &[&str]| idlog_on(dir.path(), &db.url, args);
    let migrated = on(&["migrate"]);
    assert!(migrated.status.success(), "{}", text(&migrated));

    let acme = json_of(&on(&[
        "organizations",
        "create",
        "acme",
        "--partner-code",
        "acme001",
        "--format",
        "EDIFACT",
        "--sender",
        "ACMESEND",
        "--receiver",
        "IDLOGRECV",
        "--contact-name",
        "Dana Reyes",
        "--contact-email",
        "dana@acme.example",
    ]));
    assert_eq!(acme["partner"]["code"], "ACME001");
    assert_eq!(acme["contact"]["name"], "Dana Reyes");
    assert_eq!(acme["partner"]["edi_format"], "EDIFACT");
    let id = acme["id"].as_str().expect("id").to_owned();
    succeeds(&on(&["organizations", "create", "plain"]));

    // Found by code in any case, and listed by it.
    let shown = succeeds(&on(&["organizations", "show", "--code", "Acme001"]));
    assert!(shown.contains(&id), "{shown}");
    let listed = succeeds(&on(&["organizations", "list", "--format", "EDIFACT"]));
    assert!(
        listed.contains("ACME001") && !listed.contains("plain"),
        "{listed}"
    );
    let searched = succeeds(&on(&[
        "organizations",
        "list",
        "--q",
        "idlogrecv",
        "--json",
    ]));
    let searched: serde_json::Value = serde_json::from_str(&searched).expect("json");
    assert_eq!(searched.as_array().map(Vec::len), Some(1));
    // The contact: changed from the command line, and searched.
    let changed = json_of(&on(&[
        "organizations",
        "contact",
        &id,
        "--contact-phone",
        "+1 415 555 0100",
    ]));
    assert_eq!(changed["contact"]["phone"], "+14155550100");
    assert_eq!(changed["contact"]["email"], "dana@acme.example");
    for q in ["reyes", "dana@acme", "+1415555"] {
        let found = succeeds(&on(&["organizations", "list", "--q", q, "--json"]));
        let found: serde_json::Value = serde_json::from_str(&found).expect("json");
        assert_eq!(found.as_array().map(Vec::len), Some(1), "{q}");
    }
    let nothing = on(&["organizations", "contact", &id]);
    assert_eq!(nothing.status.code(), Some(2), "{}", text(&nothing));
    let wrong = on(&["organizations", "contact", &id, "--contact-email", "nope"]);
    assert_eq!(wrong.status.code(), Some(2), "{}", text(&wrong));

    // The code is taken; bad values are the caller's error.
    for args in [
        &[
            "organizations",
            "create",
            "other",
            "--partner-code",
            "ACME001",
            "--sender",
            "A",
            "--receiver",
            "B",
        ][..],
        &[
            "organizations",
            "create",
            "other",
            "--partner-code",
            "A B",
            "--sender",
            "A",
            "--receiver",
            "B",
        ][..],
        &[
            "organizations",
            "create",
            "other",
            "--partner-code",
            "X",
            "--format",
            "PDF",
            "--sender",
            "A",
            "--receiver",
            "B",
        ][..],
        &["organizations", "create", "other", "--partner-code", "X"][..],
        &["organizations", "show", "--code", "NOPE"][..],
        &["organizations", "show", "not-an-id"][..],
        &["organizations", "list", "--format", "PDF"][..],
    ] {
        let refused = on(args);
        assert_eq!(
            refused.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&refused)
        );
        assert_eq!(
            String::from_utf8_lossy(&refused.stderr)
                .trim()
                .lines()
                .count(),
            1,
            "{}",
            text(&refused)
        );
    }

    // Changed, then removed only with consent.
    let changed = succeeds(&on(&[
        "organizations",
        "partner",
        &id,
        "--partner-code",
        "ACME002",
        "--communication",
        "api",
        "--sender",
        "ACMESEND",
        "--receiver",
        "IDLOGRECV",
    ]));
    assert!(
        changed.contains("ACME002") && changed.contains("\"api\""),
        "{changed}"
    );
    let unasked = on(&["organizations", "unpartner", &id]);
    assert_eq!(unasked.status.code(), Some(2), "{}", text(&unasked));
    let removed = json_of(&on(&["organizations", "unpartner", &id, "--yes"]));
    assert!(removed["partner"].is_null());
    // Its code is free again.
    succeeds(&on(&[
        "organizations",
        "create",
        "newco",
        "--partner-code",
        "ACME002",
        "--sender",
        "ACMESEND",
        "--receiver",
        "IDLOGRECV",
    ]));
}

test_both_backends!(partners_are_created_found_changed_and_removed);

async fn permission_flags_are_defined_listed_and_retired_with_consent(backend: Backend) {
    let db = TestDb::new(backend).await.expect("test database");
    let dir = tempfile::tempdir().expect("folder");
    let on = |args: &[&str]| idlog_on(dir.path(), &db.url, args);
    let listed = succeeds(&on(&["organizations", "permissions"]));
    assert!(listed.contains("can_manage_settings"), "{listed}");
    succeeds(&on(&[
        "organizations",
        "define-permission",
        "can_sign_contracts",
    ]));
    let again = on(&["organizations", "define-permission", "can_sign_contracts"]);
    assert_eq!(again.status.code(), Some(2), "{}", text(&again));
    let unasked = on(&["organizations", "retire-permission", "can_sign_contracts"]);
    assert_eq!(unasked.status.code(), Some(2), "{}", text(&unasked));
    succeeds(&on(&[
        "organizations",
        "retire-permission",
        "can_sign_contracts",
        "--yes",
    ]));
    let listed = succeeds(&on(&["organizations", "permissions"]));
    assert!(listed.contains("can_sign_contracts (retired)"), "{listed}");
    let bad = on(&["organizations", "define-permission", "Can Fly"]);
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad));
}

test_both_backends!(permission_flags_are_defined_listed_and_retired_with_consent);

async fn api_keys_are_created_once_listed_and_revoked_with_consent(backend: Backend) {
    let db = TestDb::new(backend).await.expect("test database");
    let dir = tempfile::tempdir().expect("folder");
    let on = |args: &[&str]| idlog_on(dir.path(), &db.url, args);
    let acme = json_of(&on(&["organizations", "create", "acme"]));
    let id = acme["id"].as_str().expect("id").to_owned();
    let created = on(&[
        "organizations",
        "create-key",
        &id,
        "nightly import",
        "--permission",
        "can_upload_files",
        "--expires-in-days",
        "30",
    ]);
    succeeds(&created);
    // The key alone on standard output, for a script to take.
    let key = String::from_utf8_lossy(&created.stdout).trim().to_owned();
    assert!(key.starts_with("idlog_key_") && !key.contains(' '), "{key}");
    let listed = succeeds(&on(&["organizations", "keys", &id]));
    assert!(
        listed.contains("nightly import") && listed.contains("active"),
        "{listed}"
    );
    assert!(listed.contains("can_upload_files"), "{listed}");
    assert!(!listed.contains(&key[key.len() - 20..]), "{listed}");
    let key_id = listed
        .lines()
        .find(|line| line.contains("nightly import"))
        .and_then(|line| line.split_whitespace().next())
        .expect("the key's line")
        .to_owned();

    // Refused: a flag not in the catalog, a name in use, a key revoked unasked.
    for args in [
        &[
            "organizations",
            "create-key",
            &id,
            "other",
            "--permission",
            "can_fly",
        ][..],
        &["organizations", "create-key", &id, "nightly import"][..],
        &["organizations", "create-key", "not-an-id", "x"][..],
        &["organizations", "revoke-key", &id, &key_id][..],
    ] {
        let refused = on(args);
        assert_eq!(
            refused.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&refused)
        );
    }
    succeeds(&on(&["organizations", "revoke-key", &id, &key_id, "--yes"]));
    let listed = succeeds(&on(&["organizations", "keys", &id]));
    assert!(listed.contains("revoked"), "{listed}");
}

test_both_backends!(api_keys_are_created_once_listed_and_revoked_with_consent);
