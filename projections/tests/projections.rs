//! The projector and the read models against real databases (SQLite and PostgreSQL).

use chrono::{DateTime, Utc};
use commands::{ClaimHasher, CommandHandler};
use domain::organization::{Contact, OrgRole, OrganizationEvent, OrganizationStatus};
use domain::session::{EndReason, SessionEvent};
use domain::user::{LockKind, UserAggregate, UserEvent, UserState};
use domain::values::{
    DeviceName, Email, OrganizationName, PasswordHash, Permission, PersonName, Role, TokenHash,
    UserAgent,
};
use domain::{DomainEvent, Duration, OrganizationId, SessionId, UserId};
use eventstore::sql::{self, Arg, Dialect};
use eventstore::testing::{Backend, TestDb};
use eventstore::{
    Actor, ActorKind, AppendRequest, Database, EventLog, EventMetadata, ExpectedVersion, NewEvent,
    test_both_backends,
};
use projections::names::Names;
use projections::queries::{
    ActivityFilter, ListedStatus, OrganizationFilter, Queries, UserFilter, UserSort,
};
use projections::{Projector, ProjectorSettings, Until};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration as StdDuration;

struct Fixture {
    db: TestDb,
    log: EventLog,
    database: Database,
    projector: Projector,
    queries: Queries,
}

fn settings() -> ProjectorSettings {
    ProjectorSettings {
        batch_size: 7,
        max_attempts: 3,
        retry_base: StdDuration::from_millis(5),
        retry_cap: StdDuration::from_millis(20),
        poll_interval: StdDuration::from_millis(20),
    }
}

async fn fixture(backend: Backend) -> Fixture {
    let db = TestDb::new(backend).await.expect("test database");
    let opened = db.open().await.expect("open");
    let projector = Projector::new(
        opened.database.clone(),
        opened.log.clone(),
        projections::all(),
        settings(),
    );
    projector.prepare().await.expect("prepared");
    Fixture {
        db,
        log: opened.log,
        queries: Queries::new(opened.database.clone()),
        database: opened.database,
        projector,
    }
}

fn user_id() -> UserId {
    UserId::from_uuid(uuid::Uuid::now_v7())
}

fn email(text: &str) -> Email {
    Email::parse(text).expect("email")
}

fn registered(id: UserId, address: &str, at: DateTime<Utc>) -> UserEvent {
    UserEvent::UserRegistered {
        user_id: id,
        email: email(address).into(),
        username: None,
        phone: None,
        first_name: Some(PersonName::parse("Ann").expect("name")),
        last_name: Some(PersonName::parse("Lee").expect("name")),
        roles: [Role::parse("user").expect("role")].into(),
        password_hash: PasswordHash::new("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA"),
        preferred_language: None,
        at,
    }
}

impl Fixture {
    /// Appends `events` to a stream as `actor`; returns the last position.
    async fn append<E: DomainEvent>(
        &self,
        stream_type: &str,
        stream_id: &str,
        events: &[E],
        actor: Option<&str>,
    ) -> u64 {
        let mut request = AppendRequest::new(
            stream_id,
            stream_type,
            ExpectedVersion::Any,
            events
                .iter()
                .map(|event| NewEvent {
                    event_type: event.event_type().to_owned(),
                    schema_version: event.schema_version(),
                    payload: event.to_payload().expect("payload"),
                    personal_fields: Vec::new(),
                })
                .collect(),
        );
        request.metadata = EventMetadata {
            actor: Actor {
                kind: if actor.is_some() {
                    ActorKind::User
                } else {
                    ActorKind::System
                },
                id: actor.map(str::to_owned),
            },
            ip: Some("203.0.113.9".into()),
            user_agent: Some("tests/1.0".into()),
            ..EventMetadata::default()
        };
        self.log
            .append(request)
            .await
            .expect("append")
            .last_position
    }

    async fn user(&self, id: UserId, events: &[UserEvent]) -> u64 {
        let id = id.to_string();
        self.append("user", &id, events, Some(&id)).await
    }

    /// Every row of every read-model view, sorted: what two builds must agree on.
    async fn dump(&self) -> Value {
        let mut all = serde_json::Map::new();
        for (view, key) in [
            ("users", "user_id"),
            ("user_roles", "user_id, role"),
            ("organizations", "organization_id"),
            ("members", "organization_id, user_id"),
            ("sessions", "session_id"),
            ("devices", "user_id, device"),
            ("activity", "position"),
            ("daily", "metric, day, user_id"),
            ("partner_records", "position"),
            (
                "partner_daily",
                "organization_id, day, kind, direction, status",
            ),
        ] {
            all.insert(view.into(), self.rows(view, key).await);
        }
        Value::Object(all)
    }

    /// The rows of a view as JSON text per row (dialect-neutral enough to compare builds).
    async fn rows(&self, view: &str, key: &str) -> Value {
        let name = Names::new(Dialect::of(&self.database)).view(view);
        let rows = match &self.database {
            Database::Postgres(pool) => sqlx::query_scalar::<_, String>(&format!(
                "SELECT CAST(row_to_json(t) AS TEXT) FROM (SELECT * FROM {name} ORDER BY {key}) t"
            ))
            .fetch_all(pool)
            .await,
            Database::Sqlite(pool) => {
                let columns: Vec<String> =
                    sqlx::query_scalar(&format!("SELECT name FROM pragma_table_info('{name}')"))
                        .fetch_all(pool)
                        .await
                        .expect("columns");
                let object = columns
                    .iter()
                    .map(|c| format!("'{c}', {c}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                sqlx::query_scalar::<_, String>(&format!(
                    "SELECT json_object({object}) FROM {name} ORDER BY {key}"
                ))
                .fetch_all(pool)
                .await
            }
        }
        .expect("rows");
        json!(rows)
    }
}

async fn count(database: &Database, view: &str, condition: &str) -> i64 {
    let name = Names::new(Dialect::of(database)).view(view);
    let rows: Vec<(i64,)> = sql::fetch_all(
        database,
        &format!("SELECT count(*) FROM {name} WHERE {condition}"),
        &[],
    )
    .await
    .expect("count");
    rows[0].0
}

/// A small, realistic history: registrations, verifications, logins (good and bad), a lock, an
/// organization with members, sessions started, refreshed and ended.
async fn history(f: &Fixture) -> (Vec<UserId>, OrganizationId) {
    let now = Utc::now();
    let mut users = Vec::new();
    for n in 0..6 {
        let id = user_id();
        f.user(id, &[registered(id, &format!("user{n}@example.com"), now)])
            .await;
        users.push(id);
    }
    f.user(
        users[0],
        &[UserEvent::EmailVerified {
            email: email("user0@example.com").into(),
            by_hand: None,
            at: now,
        }],
    )
    .await;
    for attempt in 1..=3 {
        f.user(
            users[1],
            &[UserEvent::LoginFailed {
                failed_attempts: attempt,
                at: now,
            }],
        )
        .await;
    }
    f.user(
        users[1],
        &[UserEvent::AccountLocked {
            kind: LockKind::Policy,
            reason: None,
            until: Some(now + Duration::minutes(15)),
            at: now,
        }],
    )
    .await;
    f.user(
        users[2],
        &[
            UserEvent::RoleGranted {
                role: Role::parse("COACH").expect("role"),
                at: now,
            },
            UserEvent::UserDeactivated {
                reason: None,
                at: now,
            },
        ],
    )
    .await;
    f.user(
        users[3],
        &[UserEvent::EmailChanged {
            old_email: email("user3@example.com").into(),
            new_email: email("renamed3@example.com").into(),
            at: now,
        }],
    )
    .await;
    f.user(users[4], &[UserEvent::UserDeleted { at: now }])
        .await;
    // An earlier session of user 0, ended.
    let ended = SessionId::from_uuid(uuid::Uuid::now_v7());
    f.append(
        "session",
        &ended.to_string(),
        &[
            SessionEvent::SessionStarted {
                session_id: ended,
                user_id: users[0],
                client: domain::session::SessionClient::Api,
                device: None,
                ip: None,
                user_agent: None,
                refresh_token_hash: TokenHash::from_bytes([11; 32]),
                idle_timeout_seconds: 1800,
                expires_at: now + Duration::days(30),
                at: now,
            },
            SessionEvent::SessionEnded {
                reason: EndReason::Logout,
                at: now,
            },
        ],
        Some(&users[0].to_string()),
    )
    .await;
    // A login of user 0 with its session.
    let session = SessionId::from_uuid(uuid::Uuid::now_v7());
    f.user(
        users[0],
        &[UserEvent::LoginSucceeded {
            session_id: Some(session),
            at: now,
        }],
    )
    .await;
    let session_id = session.to_string();
    f.append(
        "session",
        &session_id,
        &[SessionEvent::SessionStarted {
            session_id: session,
            user_id: users[0],
            client: domain::session::SessionClient::Api,
            device: Some(DeviceName::parse("Ann's phone").expect("device")),
            ip: Some("198.51.100.7".parse().expect("ip")),
            user_agent: Some(UserAgent::parse("phone/2.0").expect("agent")),
            refresh_token_hash: TokenHash::from_bytes([9; 32]),
            idle_timeout_seconds: 1800,
            expires_at: now + Duration::days(30),
            at: now,
        }],
        Some(&users[0].to_string()),
    )
    .await;
    f.append(
        "session",
        &session_id,
        &[SessionEvent::SessionRefreshed {
            refresh_token_hash: TokenHash::from_bytes([10; 32]),
            at: now + Duration::minutes(1),
        }],
        Some(&users[0].to_string()),
    )
    .await;
    let organization = OrganizationId::from_uuid(uuid::Uuid::now_v7());
    f.append(
        "organization",
        &organization.to_string(),
        &[
            OrganizationEvent::OrganizationCreated {
                organization_id: organization,
                name: OrganizationName::parse("Rowing Club").expect("name"),
                display_name: None,
                contact: Contact::default(),
                status: OrganizationStatus::Active,
                partner: None,
                at: now,
            },
            OrganizationEvent::MemberAdded {
                user_id: users[0],
                role: OrgRole::OrgAdmin,
                permissions: [Permission::parse("can_view_reports").expect("flag")].into(),
                at: now,
            },
            OrganizationEvent::MemberAdded {
                user_id: users[5],
                role: OrgRole::Member,
                permissions: Default::default(),
                at: now,
            },
        ],
        None,
    )
    .await;
    (users, organization)
}

async fn directory_rows_follow_each_users_events(backend: Backend) {
    let f = fixture(backend).await;
    let (users, organization) = history(&f).await;
    f.projector.catch_up().await.expect("caught up");

    let page = f
        .queries
        .users(&UserFilter::default(), None)
        .await
        .expect("users");
    assert_eq!(page.total, Some(5), "deleted users are left out by default");
    let by_id = |id: UserId| {
        page.items
            .iter()
            .find(|u| u.id == id.to_string())
            .cloned()
            .expect("listed")
    };
    let ann = by_id(users[0]);
    assert_eq!(ann.verification_status, "email_verified");
    assert_eq!(ann.last_login_ip.as_deref(), Some("198.51.100.7"));
    assert_eq!(ann.last_login_device.as_deref(), Some("Ann's phone"));
    assert_eq!(ann.organizations.len(), 1);
    assert_eq!(ann.organizations[0].role, "org_admin");
    let locked = by_id(users[1]);
    assert_eq!(locked.status, ListedStatus::Locked);
    assert_eq!(locked.failed_attempts, 3);
    assert!(locked.locked_until.is_some());
    let inactive = by_id(users[2]);
    assert_eq!(inactive.status, ListedStatus::Inactive);
    assert_eq!(inactive.roles, vec!["COACH".to_owned(), "user".to_owned()]);
    assert_eq!(
        by_id(users[3]).email.as_deref(),
        Some("renamed3@example.com")
    );

    // Filters.
    let only = |filter: UserFilter| {
        let queries = f.queries.clone();
        async move {
            let page = queries.users(&filter, None).await.expect("users");
            let mut ids: Vec<String> = page.items.into_iter().map(|u| u.id).collect();
            ids.sort();
            ids
        }
    };
    let ids = |list: &[UserId]| {
        let mut ids: Vec<String> = list.iter().map(ToString::to_string).collect();
        ids.sort();
        ids
    };
    let filter = |f: fn(&mut UserFilter)| {
        let mut filter = UserFilter::default();
        f(&mut filter);
        filter
    };
    assert_eq!(
        only(filter(|f| f.role = Some("COACH".into()))).await,
        ids(&[users[2]])
    );
    assert_eq!(
        only(filter(|f| f.status = Some(ListedStatus::Deleted))).await,
        ids(&[users[4]])
    );
    assert_eq!(
        only(filter(|f| f.status = Some(ListedStatus::Locked))).await,
        ids(&[users[1]])
    );
    assert_eq!(
        only(filter(|f| f.verification = Some("email_verified".into()))).await,
        ids(&[users[0]])
    );
    assert_eq!(
        only(filter(|f| f.q = Some("RENAMED".into()))).await,
        ids(&[users[3]])
    );
    assert_eq!(only(filter(|f| f.q = Some("%".into()))).await, ids(&[]));
    let in_org = UserFilter {
        organization: Some(organization.to_string()),
        ..UserFilter::default()
    };
    assert_eq!(only(in_org).await, ids(&[users[0], users[5]]));
    // An org_admin's scope: only their organization's members, whatever the filter.
    let scoped = f
        .queries
        .users(&UserFilter::default(), Some(&[organization.to_string()]))
        .await
        .expect("scoped");
    assert_eq!(scoped.total, Some(2));

    // Keyset pagination visits every user once, in order, in any sort.
    for sort in [UserSort::Created, UserSort::Email, UserSort::LastLogin] {
        let mut seen = Vec::new();
        let mut filter = UserFilter {
            sort,
            limit: Some(2),
            ..UserFilter::default()
        };
        loop {
            let page = f.queries.users(&filter, None).await.expect("page");
            assert!(page.items.len() <= 2);
            seen.extend(page.items.into_iter().map(|u| u.id));
            match page.next_cursor {
                Some(cursor) => filter.cursor = Some(cursor),
                None => break,
            }
        }
        let mut sorted = seen.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 5, "{sort:?}: {seen:?}");
        assert_eq!(seen.len(), 5);
    }
    let bad = f
        .queries
        .users(
            &UserFilter {
                cursor: Some("zz".into()),
                ..UserFilter::default()
            },
            None,
        )
        .await;
    assert!(bad.is_err());

    // Organizations and members.
    let organizations = f
        .queries
        .organizations(
            &OrganizationFilter {
                q: Some("rowing".into()),
                ..OrganizationFilter::default()
            },
            None,
        )
        .await
        .expect("organizations");
    assert_eq!(organizations.len(), 1);
    assert_eq!(organizations[0].member_count, 2);
    let members = f
        .queries
        .members(&organization.to_string())
        .await
        .expect("members");
    assert_eq!(members.len(), 2);
    assert_eq!(members[0].email.as_deref(), Some("user0@example.com"));
    assert_eq!(
        members[0].permissions.0,
        vec!["can_view_reports".to_owned()]
    );
}

async fn sessions_activity_and_analytics_are_counted_exactly(backend: Backend) {
    let f = fixture(backend).await;
    let (users, organization) = history(&f).await;
    f.projector.catch_up().await.expect("caught up");
    let head = f.log.head().await.expect("head").position;

    let sessions = f
        .queries
        .sessions(&users[0].to_string())
        .await
        .expect("sessions");
    assert_eq!(sessions.len(), 2);
    let open = sessions
        .iter()
        .find(|s| s.status == "active")
        .expect("an open session");
    assert_eq!(open.device.as_deref(), Some("Ann's phone"));
    assert!(
        open.last_used_at > open.started_at,
        "the refresh counts as use"
    );
    let ended = sessions
        .iter()
        .find(|s| s.status == "ended")
        .expect("an ended one");
    assert_eq!(ended.end_reason.as_deref(), Some("logout"));

    // One activity row per event, newest first, secrets left out.
    assert_eq!(
        count(&f.database, "activity", "1 = 1").await,
        i64::try_from(head).expect("small")
    );
    let page = f
        .queries
        .activity(&ActivityFilter {
            user: Some(users[0].to_string()),
            ..ActivityFilter::default()
        })
        .await
        .expect("activity");
    let actions: Vec<&str> = page.items.iter().map(|r| r.action.as_str()).collect();
    assert!(actions.contains(&"SessionRefreshed"), "{actions:?}");
    assert!(actions.contains(&"MemberAdded"), "{actions:?}");
    assert!(page.items.windows(2).all(|w| w[0].position > w[1].position));
    let started = page
        .items
        .iter()
        .find(|r| r.action == "SessionStarted")
        .expect("started");
    assert!(started.details.0.get("refresh_token_hash").is_none());
    assert_eq!(started.ip.as_deref(), Some("203.0.113.9"));
    let registration = f
        .queries
        .activity(&ActivityFilter {
            action: Some("UserRegistered".into()),
            limit: Some(4),
            ..ActivityFilter::default()
        })
        .await
        .expect("registrations");
    assert_eq!(registration.items.len(), 4);
    let rest = f
        .queries
        .activity(&ActivityFilter {
            action: Some("UserRegistered".into()),
            cursor: registration.next_cursor.clone(),
            ..ActivityFilter::default()
        })
        .await
        .expect("the rest");
    assert_eq!(rest.items.len(), 2);
    assert!(
        registration.items[0]
            .details
            .0
            .get("password_hash")
            .is_none()
    );

    let dashboard = f.queries.dashboard(30, None).await.expect("dashboard");
    assert_eq!(dashboard.window["registrations"], 6);
    assert_eq!(dashboard.window["failed_logins"], 3);
    assert_eq!(dashboard.window["logins"], 1);
    assert_eq!(dashboard.window["lockouts"], 1);
    assert_eq!(dashboard.window["email_verifications"], 1);
    assert_eq!(dashboard.login_success_rate, Some(0.25));
    assert_eq!(dashboard.users_by_status["locked"], 1);
    assert_eq!(dashboard.users_by_status["deleted"], 1);
    assert_eq!(dashboard.users_by_role["COACH"], 1);
    assert_eq!(dashboard.organizations_by_status["active"], 1);
    assert_eq!(dashboard.daily_active_users, 6, "everyone acted today");
    let per_org = f
        .queries
        .dashboard(30, Some(&organization.to_string()))
        .await
        .expect("organization dashboard");
    assert_eq!(per_org.window["registrations"], 2);
    assert_eq!(per_org.window["logins"], 1);
    let today = Utc::now().date_naive();
    let series = f
        .queries
        .daily("failed_logins", today - chrono::Days::new(2), today, None)
        .await
        .expect("series");
    assert_eq!(series.len(), 3);
    assert_eq!(series[2].value, 3);
    assert_eq!(series[0].value, 0);
    assert!(f.queries.daily("bogus", today, today, None).await.is_err());
    let funnel = f.queries.funnel(None).await.expect("funnel");
    assert_eq!(
        (
            funnel.registered,
            funnel.email_verified,
            funnel.both_verified
        ),
        (5, 1, 0)
    );

    // Pruning the activity read model leaves the log alone.
    let pruned = f
        .queries
        .prune_activity(Utc::now() + Duration::minutes(1))
        .await
        .expect("pruned");
    assert_eq!(pruned, head);
    assert_eq!(f.log.head().await.expect("head").position, head);
}

async fn a_rebuild_equals_the_incrementally_built_read_models(backend: Backend) {
    let f = fixture(backend).await;
    history(&f).await;
    // Built incrementally, a few events at a time, while the log grows.
    let following = f.projector.spawn();
    history(&f).await;
    let head = f.log.head().await.expect("head").position;
    assert!(
        f.projector
            .wait_for(head, &[], StdDuration::from_secs(20))
            .await
            .expect("waited")
    );
    drop(following);
    let incremental = f.dump().await;
    let before = f.projector.status().await.expect("status");
    for name in f.projector.names() {
        let report = f
            .projector
            .rebuild(name, None, &|_, _| {})
            .await
            .expect("rebuilt");
        assert!(report.swapped);
        assert_eq!(report.position, head);
    }
    let after = f.projector.status().await.expect("status");
    assert_ne!(
        before.projections[0].generation, after.projections[0].generation,
        "the fresh tables were swapped in"
    );
    assert_eq!(f.dump().await, incremental);
    // And a second rebuild swaps back.
    f.projector
        .rebuild("directory", None, &|_, _| {})
        .await
        .expect("rebuilt again");
    assert_eq!(f.dump().await, incremental);
}

async fn followers_in_two_processes_and_a_rebuild_meanwhile_apply_each_event_once(
    backend: Backend,
) {
    let f = fixture(backend).await;
    // A second process following the same read models: each follower's remembered checkpoint
    // goes stale whenever the other one moves it first.
    let reopened = f.db.open().await.expect("reopened");
    let other = Projector::new(
        reopened.database,
        reopened.log,
        projections::all(),
        settings(),
    );
    let following = (f.projector.spawn(), other.spawn());
    history(&f).await;
    // Fresh tables swapped in under both followers.
    f.projector
        .rebuild("directory", None, &|_, _| {})
        .await
        .expect("rebuilt");
    history(&f).await;
    let head = f.log.head().await.expect("head").position;
    for projector in [&f.projector, &other] {
        assert!(
            projector
                .wait_for(head, &[], StdDuration::from_secs(20))
                .await
                .expect("waited")
        );
    }
    drop(following);
    let followed = f.dump().await;
    for name in f.projector.names() {
        f.projector
            .rebuild(name, None, &|_, _| {})
            .await
            .expect("rebuilt");
    }
    assert_eq!(f.dump().await, followed, "every event applied exactly once");
}

async fn a_past_view_equals_folding_the_log_up_to_then(backend: Backend) {
    let f = fixture(backend).await;
    let (users, _) = history(&f).await;
    let then = f.log.head().await.expect("head").position;
    let later = Utc::now();
    f.user(users[1], &[UserEvent::AccountUnlocked { at: later }])
        .await;
    f.user(
        users[0],
        &[UserEvent::EmailChanged {
            old_email: email("user0@example.com").into(),
            new_email: email("moved0@example.com").into(),
            at: later,
        }],
    )
    .await;
    f.projector.catch_up().await.expect("caught up");
    let report = f
        .projector
        .rebuild("directory", Some(Until::Position(then)), &|_, _| {})
        .await
        .expect("past view");
    assert!(!report.swapped);
    assert_eq!(report.position, then);
    let handler = CommandHandler::new(f.log.clone(), ClaimHasher::new([1; 32]));
    let view = Names::new(Dialect::of(&f.database)).view("users_as_of");
    for id in &users {
        let folded = handler
            .load::<UserAggregate>(&id.to_string(), Some(then))
            .await
            .expect("folded");
        let UserState::Present(user) = folded.state else {
            panic!("absent")
        };
        let rows: Vec<(String, i64, bool, i64)> = sql::fetch_all(
            &f.database,
            &format!(
                "SELECT email, failed_attempts, locked, version FROM {view} WHERE user_id = $1"
            ),
            &[Arg::from(id.to_string())],
        )
        .await
        .expect("row");
        assert_eq!(
            rows,
            vec![(
                user.email.to_string(),
                i64::from(user.failed_logins),
                user.lock.is_some(),
                i64::try_from(folded.version).expect("small"),
            )]
        );
    }
    // The live view moved on; the past one did not.
    let live = f
        .queries
        .users(&UserFilter::default(), None)
        .await
        .expect("live");
    assert!(
        live.items
            .iter()
            .any(|u| u.email.as_deref() == Some("moved0@example.com"))
    );
    // By time: everything recorded up to now, nothing after.
    let cut = Utc::now();
    f.user(users[5], &[UserEvent::UserDeleted { at: cut }])
        .await;
    f.projector
        .rebuild("directory", Some(Until::Time(cut)), &|_, _| {})
        .await
        .expect("past view by time");
    let rows: Vec<(String,)> = sql::fetch_all(
        &f.database,
        &format!("SELECT status FROM {view} WHERE user_id = $1"),
        &[Arg::from(users[5].to_string())],
    )
    .await
    .expect("row");
    assert_eq!(rows, vec![("active".to_owned(),)]);
}

/// A projection that writes, then fails before the commit some of the time: what a crash between
/// applying a batch and committing it leaves behind.
struct Crashy {
    inner: Arc<dyn projections::Projection>,
    crashes: std::sync::atomic::AtomicU32,
}

#[async_trait::async_trait]
impl projections::Projection for Crashy {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn tables(&self) -> &'static [projections::Table] {
        self.inner.tables()
    }

    async fn apply(
        &self,
        tx: &mut sql::Tx,
        tables: &projections::Tables,
        events: &[eventstore::RecordedEvent],
    ) -> Result<(), projections::ApplyError> {
        self.inner.apply(tx, tables, events).await?;
        let crashes = self.crashes.load(std::sync::atomic::Ordering::SeqCst);
        if crashes > 0 && events.len() > 1 {
            self.crashes
                .store(crashes - 1, std::sync::atomic::Ordering::SeqCst);
            // What the connection dropping under us looks like.
            return Err(projections::ApplyError::Database(sqlx::Error::PoolClosed));
        }
        Ok(())
    }
}

async fn a_crash_before_the_commit_neither_loses_nor_repeats_an_event(backend: Backend) {
    let f = fixture(backend).await;
    for _ in 0..3 {
        history(&f).await;
    }
    let head = f.log.head().await.expect("head").position;
    let crashy: Vec<Arc<dyn projections::Projection>> = projections::all()
        .into_iter()
        .map(|inner| {
            Arc::new(Crashy {
                inner,
                crashes: std::sync::atomic::AtomicU32::new(4),
            }) as Arc<dyn projections::Projection>
        })
        .collect();
    let projector = Projector::new(f.database.clone(), f.log.clone(), crashy, settings());
    // Followers killed at arbitrary points, then started again, several times.
    for round in 0..6u64 {
        let tasks = projector.spawn();
        tokio::time::sleep(StdDuration::from_millis(3 + round * 7)).await;
        drop(tasks);
    }
    let tasks = projector.spawn();
    assert!(
        projector
            .wait_for(head, &[], StdDuration::from_secs(30))
            .await
            .expect("waited")
    );
    drop(tasks);
    assert_eq!(
        count(&f.database, "activity", "1 = 1").await,
        i64::try_from(head).expect("small")
    );
    let dashboard = f.queries.dashboard(1, None).await.expect("dashboard");
    assert_eq!(dashboard.window["registrations"], 18);
    assert_eq!(dashboard.window["failed_logins"], 9);
    assert_eq!(count(&f.database, "users", "1 = 1").await, 18);
    assert_eq!(count(&f.database, "sessions", "1 = 1").await, 6);
}

async fn a_poison_event_is_dead_lettered_and_stops_only_its_projection(backend: Backend) {
    let f = fixture(backend).await;
    let (users, _) = history(&f).await;
    // A user event whose payload no reader understands.
    let poison = f
        .log
        .append(AppendRequest::new(
            users[0].to_string(),
            "user",
            ExpectedVersion::Any,
            vec![NewEvent {
                event_type: "EmailVerified".into(),
                schema_version: 1,
                payload: json!({"unexpected": true}),
                personal_fields: Vec::new(),
            }],
        ))
        .await
        .expect("appended")
        .last_position;
    let after = f
        .user(users[5], &[UserEvent::UserDeleted { at: Utc::now() }])
        .await;
    let tasks = f.projector.spawn();
    let others = ["activity", "analytics", "devices", "sessions"];
    assert!(
        f.projector
            .wait_for(after, &others, StdDuration::from_secs(20))
            .await
            .expect("waited"),
        "the other projections went past the poison"
    );
    let stopped = async {
        loop {
            let status = f.projector.status().await.expect("status");
            let directory = status
                .projections
                .iter()
                .find(|p| p.name == "directory")
                .cloned()
                .expect("directory");
            if directory.stopped_at.is_some() {
                return directory;
            }
            tokio::time::sleep(StdDuration::from_millis(20)).await;
        }
    };
    let directory = tokio::time::timeout(StdDuration::from_secs(20), stopped)
        .await
        .expect("stopped in time");
    assert_eq!(directory.stopped_at, Some(poison));
    assert_eq!(directory.position, poison - 1, "nothing skipped silently");
    assert_eq!(directory.open_dead_letters, 1);
    let letters = f.projector.dead_letters(false).await.expect("letters");
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].position, i64::try_from(poison).expect("small"));
    assert_eq!(letters[0].attempts, 3);
    assert!(
        letters[0].error.contains("EmailVerified"),
        "{}",
        letters[0].error
    );

    // Retrying fails again the same way; skipping moves on and applies what follows.
    f.projector.retry("directory").await.expect("retried");
    let again = async {
        loop {
            if f.projector
                .dead_letters(false)
                .await
                .expect("letters")
                .len()
                == 1
                && f.projector.status().await.expect("status").any_stopped()
            {
                return;
            }
            tokio::time::sleep(StdDuration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(StdDuration::from_secs(20), again)
        .await
        .expect("stopped again");
    assert_eq!(
        f.projector.skip("directory").await.expect("skipped"),
        poison
    );
    assert!(
        f.projector
            .wait_for(after, &["directory"], StdDuration::from_secs(20))
            .await
            .expect("waited")
    );
    drop(tasks);
    let deleted = f
        .queries
        .users(
            &UserFilter {
                status: Some(ListedStatus::Deleted),
                ..UserFilter::default()
            },
            None,
        )
        .await
        .expect("deleted");
    assert_eq!(
        deleted.items.len(),
        2,
        "the events after the poison were applied"
    );
    assert!(
        f.projector.skip("directory").await.is_err(),
        "not stopped now"
    );
}

async fn min_position_waits_and_then_sees_the_write(backend: Backend) {
    let f = fixture(backend).await;
    let tasks = f.projector.spawn();
    let id = user_id();
    let position = f
        .user(id, &[registered(id, "late@example.com", Utc::now())])
        .await;
    assert!(
        f.projector
            .wait_for(position, &["directory"], StdDuration::from_secs(10))
            .await
            .expect("waited")
    );
    let user = f
        .queries
        .user(&id.to_string())
        .await
        .expect("query")
        .expect("visible");
    assert_eq!(user.email.as_deref(), Some("late@example.com"));
    // A position nobody wrote yet: the wait ends at its timeout.
    assert!(
        !f.projector
            .wait_for(position + 100, &[], StdDuration::from_millis(100))
            .await
            .expect("waited")
    );
    drop(tasks);
    // A second projector process on the same database sees the same checkpoints.
    let reopened = f.db.open().await.expect("reopened");
    let other = Projector::new(
        reopened.database,
        reopened.log,
        projections::all(),
        settings(),
    );
    other
        .prepare()
        .await
        .expect("prepared again: nothing to do");
    assert!(
        other
            .wait_for(position, &["directory"], StdDuration::from_secs(1))
            .await
            .expect("waited")
    );
}

/// A log from before deleting ended memberships in the organization's stream: the read models
/// still end them, incrementally and on a rebuild.
async fn deleted_and_forgotten_users_are_no_members_of_their_organizations(backend: Backend) {
    let f = fixture(backend).await;
    let (users, organization) = history(&f).await;
    let now = Utc::now();
    f.append(
        "organization",
        &organization.to_string(),
        &[OrganizationEvent::MemberAdded {
            user_id: users[3],
            role: OrgRole::Member,
            permissions: Default::default(),
            at: now,
        }],
        None,
    )
    .await;
    f.projector.catch_up().await.expect("caught up");
    let members = |f: &Fixture| {
        let queries = f.queries.clone();
        async move {
            let mut ids: Vec<String> = queries
                .members(&organization.to_string())
                .await
                .expect("members")
                .into_iter()
                .map(|member| member.user_id)
                .collect();
            ids.sort();
            ids
        }
    };
    assert_eq!(members(&f).await.len(), 3);
    f.user(users[5], &[UserEvent::UserDeleted { at: now }])
        .await;
    f.user(users[3], &[UserEvent::UserForgotten { at: now }])
        .await;
    f.projector.catch_up().await.expect("caught up");
    assert_eq!(members(&f).await, vec![users[0].to_string()]);
    let condition = format!("organization_id = '{organization}'");
    assert_eq!(count(&f.database, "members", &condition).await, 1);
    let incremental = f.dump().await;
    f.projector
        .rebuild("directory", None, &|_, _| {})
        .await
        .expect("rebuilt");
    assert_eq!(members(&f).await, vec![users[0].to_string()]);
    assert_eq!(f.dump().await, incremental);
}

/// A session of `user` started from `agent` at `ip`, `minutes` after `start`.
async fn session_from(
    f: &Fixture,
    user: UserId,
    agent: &str,
    ip: &str,
    start: chrono::DateTime<Utc>,
    minutes: i64,
) {
    let session = SessionId::from_uuid(uuid::Uuid::now_v7());
    f.append(
        "session",
        &session.to_string(),
        &[SessionEvent::SessionStarted {
            session_id: session,
            user_id: user,
            client: domain::session::SessionClient::Page,
            device: None,
            ip: Some(ip.parse().expect("ip")),
            user_agent: Some(UserAgent::parse(agent).expect("agent")),
            refresh_token_hash: TokenHash::from_bytes([12; 32]),
            idle_timeout_seconds: 1800,
            expires_at: start + Duration::days(30),
            at: start + Duration::minutes(minutes),
        }],
        Some(&user.to_string()),
    )
    .await;
}

async fn known_devices_count_sign_ins_per_kind_of_device(backend: Backend) {
    let f = fixture(backend).await;
    let (users, _) = history(&f).await;
    let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
    let iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Safari/604.1";
    let start = Utc::now();
    // Two sign-ins from one kind of device in one batch, one more in a later batch.
    session_from(&f, users[1], firefox, "198.51.100.1", start, 1).await;
    session_from(&f, users[1], firefox, "198.51.100.2", start, 2).await;
    f.projector.catch_up().await.expect("caught up");
    session_from(&f, users[1], iphone, "198.51.100.3", start, 3).await;
    session_from(&f, users[1], firefox, "198.51.100.4", start, 4).await;
    f.projector.catch_up().await.expect("caught up");
    let devices = f
        .queries
        .devices(&users[1].to_string())
        .await
        .expect("devices");
    let summary: Vec<(&str, i64, Option<&str>)> = devices
        .iter()
        .map(|device| {
            (
                device.device.as_str(),
                device.sign_ins,
                device.last_ip.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("Firefox on Linux", 3, Some("198.51.100.4")),
            ("Safari on iPhone", 1, Some("198.51.100.3")),
        ]
    );
    assert!(devices[0].first_seen_at < devices[0].last_seen_at);
    // Forgetting keeps the kinds, not the addresses; a rebuild agrees.
    f.user(users[1], &[UserEvent::UserForgotten { at: Utc::now() }])
        .await;
    f.projector.catch_up().await.expect("caught up");
    let devices = f
        .queries
        .devices(&users[1].to_string())
        .await
        .expect("devices");
    assert_eq!(devices.len(), 2);
    assert!(devices.iter().all(|device| device.last_ip.is_none()));
    let incremental = f.dump().await;
    f.projector
        .rebuild("devices", None, &|_, _| {})
        .await
        .expect("rebuilt");
    assert_eq!(f.dump().await, incremental);
}

async fn two_activity_reads_in_one_statement_equal_them_apart(backend: Backend) {
    let f = fixture(backend).await;
    let (users, _) = history(&f).await;
    f.projector.catch_up().await.expect("caught up");
    let recent = ActivityFilter {
        user: Some(users[0].to_string()),
        without_routine: true,
        limit: Some(2),
        ..ActivityFilter::default()
    };
    let notified = ActivityFilter {
        user: Some(users[0].to_string()),
        actions: Some(vec!["LoginSucceeded".into(), "EmailVerified".into()]),
        limit: Some(5),
        ..ActivityFilter::default()
    };
    let (page, rows) = f
        .queries
        .activity_and(&recent, &notified)
        .await
        .expect("one statement");
    let lines = |rows: Vec<projections::activity::ActivityRow>| -> Vec<projections::activity::ActivityLine> {
        rows.into_iter().map(Into::into).collect()
    };
    let apart = f.queries.activity(&recent).await.expect("recent");
    assert_eq!(page.items, lines(apart.items));
    assert_eq!(page.next_cursor, apart.next_cursor);
    assert!(page.next_cursor.is_some(), "more than a page");
    let alone = f.queries.activity(&notified).await.expect("notified");
    assert_eq!(rows, lines(alone.items));
    assert!(!rows.is_empty());
    assert!(
        page.items
            .iter()
            .all(|row| row.action != "SessionRefreshed"),
        "routine rows left out"
    );
}

test_both_backends!(
    two_activity_reads_in_one_statement_equal_them_apart,
    known_devices_count_sign_ins_per_kind_of_device,
    deleted_and_forgotten_users_are_no_members_of_their_organizations,
    directory_rows_follow_each_users_events,
    sessions_activity_and_analytics_are_counted_exactly,
    a_rebuild_equals_the_incrementally_built_read_models,
    followers_in_two_processes_and_a_rebuild_meanwhile_apply_each_event_once,
    a_past_view_equals_folding_the_log_up_to_then,
    a_crash_before_the_commit_neither_loses_nor_repeats_an_event,
    a_poison_event_is_dead_lettered_and_stops_only_its_projection,
    min_position_waits_and_then_sees_the_write,
);
