//! `idlog analysts grant`, on SQLite (refused) and PostgreSQL: a read-only role on the
//! `analytics` views and nothing else.

use super::common::{self, command_on, idlog_on, text};
use eventstore::test_both_backends;
use eventstore::testing::Backend;
use std::process::Stdio;

test_both_backends!(analysts_get_a_read_only_role_on_postgresql);

async fn analysts_get_a_read_only_role_on_postgresql(backend: Backend) {
    let (db, dir) = common::two_users(backend).await;
    let mut grant = command_on(
        dir.path(),
        &db.url,
        &[
            "analysts",
            "grant",
            "idlog_analyst_test",
            "--password-stdin",
        ],
    )
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("idlog runs");
    {
        use std::io::Write;
        let mut stdin = grant.stdin.take().expect("stdin");
        stdin
            .write_all(b"an analyst's passphrase\n")
            .expect("password");
    }
    let output = grant.wait_with_output().expect("finished");
    if backend == Backend::Sqlite {
        assert_eq!(output.status.code(), Some(2), "{}", text(&output));
        assert!(text(&output).contains("PostgreSQL"));
        return;
    }
    assert!(output.status.success(), "{}", text(&output));
    let rebuilt = idlog_on(
        dir.path(),
        &db.url,
        &["projections", "rebuild", "directory"],
    );
    assert!(rebuilt.status.success(), "{}", text(&rebuilt));
    // The role reads the (rebuilt, so re-created) views, and nothing else.
    let Some((base, name)) = db.url.rsplit_once('/') else {
        panic!("url")
    };
    let (scheme, rest) = base.split_once("://").expect("scheme");
    let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    let analyst_url =
        format!("{scheme}://idlog_analyst_test:an%20analyst%27s%20passphrase@{host}/{name}");
    let mut connection = <sqlx::PgConnection as sqlx::Connection>::connect(&analyst_url)
        .await
        .expect("the analyst connects");
    let users: i64 = sqlx::query_scalar("SELECT count(*) FROM analytics.users")
        .fetch_one(&mut connection)
        .await
        .expect("reads the users view");
    assert_eq!(users, 2);
    let events = sqlx::query_scalar::<_, i64>("SELECT count(*) FROM events")
        .fetch_one(&mut connection)
        .await;
    assert!(events.is_err(), "the log is not the analysts'");
    let write = sqlx::query("DELETE FROM analytics.users")
        .execute(&mut connection)
        .await;
    assert!(write.is_err(), "read only");
    let bad = idlog_on(
        dir.path(),
        &db.url,
        &["analysts", "grant", "Robert'); DROP"],
    );
    assert_eq!(bad.status.code(), Some(2));
}
