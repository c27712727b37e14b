//! Query latency over large read models: `USERS` users (default 1,000,000) and `ACTIVITY`
//! activity rows (default 10,000,000), filled straight into the live read-model tables with
//! `generate_series` (this measures the queries, not the projector), on PostgreSQL
//! (`TEST_DATABASE_URL`). Each query runs `RUNS` times (default 200) with varying parameters,
//! one at a time; p50 and p99 are reported.
//! Run: `cargo bench -p projections --bench queries`.

use chrono::{Duration, Utc};
use eventstore::testing::{Backend, TestDb};
use projections::queries::{ActivityFilter, ListedStatus, Queries, UserFilter, UserSort};
use projections::{Projector, ProjectorSettings};
use std::time::Instant;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

async fn fill(database: &eventstore::Database, users: u64, activity: u64) {
    let statements = [
        format!(
            "INSERT INTO idlog_read.users_a SELECT \
               'u' || lpad(i::text, 9, '0'), 1, 'user' || i || '@example.com', \
               CASE WHEN i % 3 = 0 THEN 'name' || i END, 'Ann', 'Lee' || (i % 1000), \
               CASE WHEN i % 4 = 0 THEN '+1415' || lpad(i::text, 7, '0') END, \
               CASE WHEN i % 10 = 0 THEN '[\"coach\", \"user\"]'::jsonb ELSE '[\"user\"]'::jsonb END, \
               CASE WHEN i % 50 = 0 THEN 'inactive' WHEN i % 97 = 0 THEN 'deleted' ELSE 'active' END, \
               i % 100 = 1, CASE WHEN i % 100 = 1 THEN 'policy' END, \
               CASE WHEN i % 100 = 1 THEN now() + interval '1 hour' END, i % 4, \
               CASE WHEN i % 2 = 0 THEN now() - (i || ' seconds')::interval END, NULL, \
               CASE WHEN i % 2 = 0 THEN 'email_verified' ELSE 'not_verified' END, false, NULL, 'registered', \
               'user' || i || '@example.com ann lee' || (i % 1000), \
               now() - (i || ' seconds')::interval, now() - (i || ' seconds')::interval, \
               CASE WHEN i % 5 <> 0 THEN now() - ((i % 86400) || ' seconds')::interval END, \
               '198.51.100.' || (i % 250), NULL, NULL \
             FROM generate_series(1, {users}) i"
        ),
        format!(
            "INSERT INTO idlog_read.user_roles_a SELECT 'u' || lpad(i::text, 9, '0'), 'user' FROM generate_series(1, {users}) i"
        ),
        format!(
            "INSERT INTO idlog_read.user_roles_a SELECT 'u' || lpad(i::text, 9, '0'), 'coach' FROM generate_series(10, {users}, 10) i"
        ),
        // 1,000 organizations, every user in one of them.
        format!(
            "INSERT INTO idlog_read.members_a SELECT 'o' || (i % 1000), 'u' || lpad(i::text, 9, '0'), \
               CASE WHEN i < 1000 THEN 'org_admin' ELSE 'member' END, '[]'::jsonb, now(), now() \
             FROM generate_series(1, {users}) i"
        ),
        format!(
            "INSERT INTO idlog_read.activity_a SELECT i, 'e' || i, now() - (({activity} - i) / 100 || ' seconds')::interval, \
               'u' || lpad((i % {users} + 1)::text, 9, '0'), 'user', \
               (ARRAY['LoginSucceeded','LoginFailed','SessionRefreshed','ProfileUpdated','SessionStarted'])[i % 5 + 1], \
               'user', 'u' || lpad((i % {users} + 1)::text, 9, '0'), 'u' || lpad((i % {users} + 1)::text, 9, '0'), \
               CASE WHEN i % 20 = 0 THEN 'o' || (i % 1000) END, '198.51.100.' || (i % 250), 'bench/1.0', '{{}}'::jsonb \
             FROM generate_series(1, {activity}) i"
        ),
        // What autovacuum would have done by now: statistics and the visibility map.
        "VACUUM ANALYZE idlog_read.users_a, idlog_read.user_roles_a, idlog_read.members_a, idlog_read.activity_a"
            .to_owned(),
    ];
    for statement in statements {
        let started = Instant::now();
        eventstore::sql::execute(database, &statement, &[])
            .await
            .expect("filled");
        println!(
            "  filled in {:.1}s: {}",
            started.elapsed().as_secs_f64(),
            &statement[..60.min(statement.len())]
        );
    }
}

async fn measure<F, Fut>(name: &str, runs: u64, one: F)
where
    F: Fn(u64) -> Fut,
    Fut: Future<Output = usize>,
{
    let mut samples = Vec::with_capacity(runs as usize);
    let mut rows = 0;
    let mut empty = 0;
    for n in 0..runs {
        let started = Instant::now();
        let found = one(n).await;
        samples.push(started.elapsed().as_secs_f64() * 1000.0);
        rows += found;
        empty += usize::from(found == 0);
    }
    samples.sort_by(f64::total_cmp);
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    println!(
        "{name:<48} p50 {:>7.2} ms  p99 {:>7.2} ms  ({:.1} rows/query, {empty} found none)",
        at(0.5),
        at(0.99),
        rows as f64 / runs as f64
    );
}

#[tokio::main]
async fn main() {
    let users = env("USERS", 1_000_000);
    let activity = env("ACTIVITY", 10_000_000);
    let runs = env("RUNS", 200);
    let db = TestDb::new(Backend::Postgres).await.expect("test database");
    let opened = db.open().await.expect("open");
    let projector = Projector::new(
        opened.database.clone(),
        opened.log.clone(),
        projections::all(),
        ProjectorSettings::default(),
    );
    projector.prepare().await.expect("prepared");
    println!("filling {users} users and {activity} activity rows (PostgreSQL)");
    fill(&opened.database, users, activity).await;
    let queries = Queries::new(opened.database.clone());
    let list = |filter: UserFilter| {
        let queries = queries.clone();
        async move {
            queries
                .users(&filter, None)
                .await
                .expect("users")
                .items
                .len()
        }
    };
    measure("GET /users (newest first, with total)", runs, |_| {
        list(UserFilter::default())
    })
    .await;
    measure("GET /users?role=coach", runs, |_| {
        list(UserFilter {
            role: Some("coach".into()),
            ..UserFilter::default()
        })
    })
    .await;
    measure("GET /users?status=locked", runs, |_| {
        list(UserFilter {
            status: Some(ListedStatus::Locked),
            ..UserFilter::default()
        })
    })
    .await;
    measure("GET /users?organization=o{n}", runs, |n| {
        list(UserFilter {
            organization: Some(format!("o{}", n % 1000)),
            ..UserFilter::default()
        })
    })
    .await;
    measure("GET /users?q=user{n}@ (substring)", runs, |n| {
        list(UserFilter {
            q: Some(format!("user{}@", 1000 + n * 4099 % users)),
            ..UserFilter::default()
        })
    })
    .await;
    let some_user = |n: u64| 1000 + n * 4099 % users;
    measure("GET /users?email=user{n}@example.com (exact)", runs, |n| {
        list(UserFilter {
            email: Some(format!("user{}@example.com", some_user(n))),
            ..UserFilter::default()
        })
    })
    .await;
    measure("GET /users?username=name{3n} (exact)", runs, |n| {
        list(UserFilter {
            username: Some(format!("name{}", some_user(n) / 3 * 3)),
            ..UserFilter::default()
        })
    })
    .await;
    measure("GET /users?phone=+1415{4n} (exact)", runs, |n| {
        list(UserFilter {
            phone: Some(format!("+1415{:07}", some_user(n) / 4 * 4)),
            ..UserFilter::default()
        })
    })
    .await;
    measure("GET /users?created_from&created_to (1 day)", runs, |n| {
        let to = Utc::now() - Duration::days(i64::try_from(n % 10).unwrap_or(0));
        list(UserFilter {
            created_from: Some(to - Duration::days(1)),
            created_to: Some(to),
            ..UserFilter::default()
        })
    })
    .await;
    measure("GET /users?sort=email&order=asc (page 2)", runs, |_| {
        let queries = queries.clone();
        async move {
            let filter = UserFilter {
                sort: UserSort::Email,
                order: projections::queries::Order::Asc,
                ..UserFilter::default()
            };
            let first = queries.users(&filter, None).await.expect("first");
            let next = UserFilter {
                cursor: first.next_cursor,
                ..filter
            };
            queries
                .users(&next, None)
                .await
                .expect("second")
                .items
                .len()
        }
    })
    .await;
    let activity_page = |filter: ActivityFilter| {
        let queries = queries.clone();
        async move {
            queries
                .activity(&filter)
                .await
                .expect("activity")
                .items
                .len()
        }
    };
    measure("GET /activity (newest first)", runs, |_| {
        activity_page(ActivityFilter::default())
    })
    .await;
    measure("GET /activity?user=u{n}", runs, |n| {
        activity_page(ActivityFilter {
            user: Some(format!("u{:09}", n * 4099 % users + 1)),
            ..ActivityFilter::default()
        })
    })
    .await;
    measure("GET /activity?action=LoginFailed", runs, |_| {
        activity_page(ActivityFilter {
            action: Some("LoginFailed".into()),
            ..ActivityFilter::default()
        })
    })
    .await;
    measure("GET /activity?organization=o{n}", runs, |n| {
        activity_page(ActivityFilter {
            organization: Some(format!("o{}", n % 1000)),
            ..ActivityFilter::default()
        })
    })
    .await;
    measure("GET /activity?from&to (one hour, a day ago)", runs, |n| {
        let to = Utc::now() - Duration::hours(24 + i64::try_from(n % 24).unwrap_or(0));
        activity_page(ActivityFilter {
            from: Some(to - Duration::hours(1)),
            to: Some(to),
            ..ActivityFilter::default()
        })
    })
    .await;
    measure("GET /activity (page 2 by cursor)", runs, |_| {
        let queries = queries.clone();
        async move {
            let first = queries
                .activity(&ActivityFilter::default())
                .await
                .expect("first");
            queries
                .activity(&ActivityFilter {
                    cursor: first.next_cursor,
                    ..ActivityFilter::default()
                })
                .await
                .expect("second")
                .items
                .len()
        }
    })
    .await;
}
