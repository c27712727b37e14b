//! Writers of one process take turns at a SQLite file's write lock (SQLite only: PostgreSQL
//! has row locks, not one lock per database).

use eventstore::sqlite::{SqliteStorage, WriteTransaction};
use eventstore::testing::{Backend, TestDb};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use std::str::FromStr;
use std::time::Duration;

async fn storage() -> (TestDb, SqliteStorage) {
    let db = TestDb::new(Backend::Sqlite).await.expect("test database");
    let storage = SqliteStorage::open(&db.url, 4).await.expect("open");
    storage.migrate().await.expect("migrate");
    sqlx::query("CREATE TABLE turns (writer TEXT NOT NULL)")
        .execute(storage.pool())
        .await
        .expect("create table");
    (db, storage)
}

async fn write(tx: &mut WriteTransaction, writer: &str) {
    sqlx::query("INSERT INTO turns (writer) VALUES (?)")
        .bind(writer)
        .execute(&mut **tx)
        .await
        .expect("insert");
}

#[tokio::test]
async fn a_second_writer_waits_for_its_turn_instead_of_failing_busy() {
    let (db, _storage) = storage().await;
    // SQLite's busy handler off: a writer that met the lock taken would fail at once.
    let options = SqliteConnectOptions::from_str(&db.url)
        .expect("url")
        .busy_timeout(Duration::ZERO);
    let pool = SqlitePoolOptions::new()
        .max_connections(2)
        .connect_with(options)
        .await
        .expect("pool");

    let mut first = WriteTransaction::begin(&pool).await.expect("first begins");
    write(&mut first, "first").await;
    let second = tokio::spawn({
        let pool = pool.clone();
        async move {
            let mut second = WriteTransaction::begin(&pool).await?;
            write(&mut second, "second").await;
            second.commit().await
        }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        !second.is_finished(),
        "the second writer did not wait for its turn"
    );
    first.commit().await.expect("first commits");
    second
        .await
        .expect("task")
        .expect("the second writer, in its turn, commits");

    let writers: Vec<String> = sqlx::query_scalar("SELECT writer FROM turns ORDER BY rowid")
        .fetch_all(&pool)
        .await
        .expect("read");
    assert_eq!(writers, ["first", "second"]);
}

#[tokio::test]
async fn a_dropped_write_transaction_rolls_back_and_passes_the_turn_on() {
    let (_db, storage) = storage().await;
    let pool = storage.pool();
    let mut abandoned = WriteTransaction::begin(pool).await.expect("begins");
    write(&mut abandoned, "abandoned").await;
    drop(abandoned);

    let mut next = tokio::time::timeout(Duration::from_secs(5), WriteTransaction::begin(pool))
        .await
        .expect("the turn passed on when the transaction was dropped")
        .expect("begins");
    write(&mut next, "next").await;
    next.commit().await.expect("commits");

    let writers: Vec<String> = sqlx::query_scalar("SELECT writer FROM turns ORDER BY rowid")
        .fetch_all(pool)
        .await
        .expect("read");
    assert_eq!(writers, ["next"]);
}
