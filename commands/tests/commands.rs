//! The command handler against real databases (SQLite and PostgreSQL).

use chrono::Utc;
use commands::{ClaimHasher, CommandContext, CommandError, CommandHandler};
use domain::user::{
    LockoutPolicy, NewUser, UserAggregate, UserCommand, UserError, UserEvent, UserState,
};
use domain::values::{Email, PasswordHash, PendingToken, Role, TokenHash};
use domain::{ClaimKind, Duration, UserId};
use eventstore::testing::{Backend, TestDb};
use eventstore::{IdempotencyKey, test_both_backends};

async fn handler(backend: Backend) -> (TestDb, CommandHandler) {
    let db = TestDb::new(backend).await.expect("test database");
    let log = db.open().await.expect("open").log;
    (db, CommandHandler::new(log, ClaimHasher::new([42; 32])))
}

fn register(user_id: UserId, email: &str) -> UserCommand {
    let now = Utc::now();
    UserCommand::Register {
        user: NewUser {
            user_id,
            email: Email::parse(email).expect("valid email"),
            username: None,
            phone: None,
            first_name: None,
            last_name: None,
            roles: [Role::parse("user").expect("valid")].into(),
            preferred_language: None,
        },
        password_hash: PasswordHash::new("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA"),
        email_verification: PendingToken {
            token_hash: TokenHash::from_bytes([1; 32]),
            issued_at: now,
            expires_at: now + Duration::hours(48),
        },
        at: now,
    }
}

fn new_id() -> UserId {
    UserId::from_uuid(uuid::Uuid::now_v7())
}

async fn registered(handler: &CommandHandler, email: &str) -> UserId {
    let id = new_id();
    handler
        .execute::<UserAggregate>(
            &id.to_string(),
            register(id, email),
            CommandContext::default(),
        )
        .await
        .expect("registered");
    id
}

/// 50 concurrent registrations of one address, differently cased: one wins, one claim exists.
async fn one_of_fifty_concurrent_registrations_of_an_email_wins(backend: Backend) {
    let (_db, handler) = handler(backend).await;
    let spellings = [
        "ann@example.com",
        "Ann@Example.com",
        "ANN@EXAMPLE.COM",
        "ann@EXAMPLE.com",
        "aNN@example.COM",
    ];
    let tasks: Vec<_> = (0..50)
        .map(|n| {
            let handler = handler.clone();
            let email = spellings[n % spellings.len()];
            tokio::spawn(async move {
                let id = new_id();
                handler
                    .execute::<UserAggregate>(
                        &id.to_string(),
                        register(id, email),
                        CommandContext::default(),
                    )
                    .await
            })
        })
        .collect();
    let (mut won, mut duplicates) = (0, 0);
    for task in tasks {
        match task.await.expect("task") {
            Ok(_) => won += 1,
            Err(CommandError::Duplicate { kind }) if kind == "email" => duplicates += 1,
            Err(other) => panic!("unexpected: {other}"),
        }
    }
    assert_eq!((won, duplicates), (1, 49));
    assert_eq!(handler.log().claim_count("email").await.expect("count"), 1);
    assert_eq!(
        handler.log().head().await.expect("head").position,
        2,
        "only the winner appended"
    );
    assert!(
        handler
            .find_owner(ClaimKind::Email, "ann@example.com")
            .await
            .expect("lookup")
            .is_some()
    );
}

/// Twenty parallel wrong passwords: exactly the policy's five are counted, then the lock holds.
async fn parallel_failed_logins_lock_after_exactly_the_limit(backend: Backend) {
    let (_db, handler) = handler(backend).await;
    let id = registered(&handler, "bob@example.com").await;
    let policy = LockoutPolicy {
        max_failed_attempts: 5,
        lock_duration: Duration::minutes(15),
        max_lock_duration: Duration::hours(1),
    };
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let handler = handler.clone();
            tokio::spawn(async move {
                let command = UserCommand::RecordFailedLogin {
                    policy,
                    at: Utc::now(),
                };
                handler
                    .execute::<UserAggregate>(&id.to_string(), command, CommandContext::default())
                    .await
            })
        })
        .collect();
    let (mut counted, mut refused_locked) = (0, 0);
    for task in tasks {
        match task.await.expect("task") {
            Ok(_) => counted += 1,
            Err(CommandError::Rejected(UserError::Locked { .. })) => refused_locked += 1,
            Err(other) => panic!("unexpected: {other}"),
        }
    }
    assert_eq!((counted, refused_locked), (5, 15));
    let loaded = handler
        .load::<UserAggregate>(&id.to_string(), None)
        .await
        .expect("load");
    let failures = loaded
        .history
        .iter()
        .filter(|(_, e)| matches!(e, UserEvent::LoginFailed { .. }))
        .count();
    assert_eq!(failures, 5);
    let UserState::Present(user) = loaded.state else {
        panic!("user exists")
    };
    assert!(user.is_locked(Utc::now()));
}

async fn a_stale_if_match_is_a_conflict(backend: Backend) {
    let (_db, handler) = handler(backend).await;
    let id = registered(&handler, "cy@example.com").await;
    let lock = UserCommand::Lock {
        reason: None,
        until: None,
        at: Utc::now(),
    };
    let stale = CommandContext {
        expected_version: Some(1),
        ..Default::default()
    };
    let error = handler
        .execute::<UserAggregate>(&id.to_string(), lock.clone(), stale)
        .await
        .expect_err("stale");
    assert!(
        matches!(
            error,
            CommandError::Conflict {
                expected: 1,
                actual: 2
            }
        ),
        "{error}"
    );
    let current = CommandContext {
        expected_version: Some(2),
        ..Default::default()
    };
    let executed = handler
        .execute::<UserAggregate>(&id.to_string(), lock, current)
        .await
        .expect("current");
    assert_eq!(executed.stream_version, 3);
}

async fn an_idempotent_retry_appends_once_and_returns_the_first_result(backend: Backend) {
    let (_db, handler) = handler(backend).await;
    let id = registered(&handler, "dee@example.com").await;
    let context = |fingerprint| CommandContext {
        idempotency: Some(IdempotencyKey {
            key: "lock-dee".into(),
            fingerprint: [fingerprint; 32],
        }),
        ..Default::default()
    };
    let lock = UserCommand::Lock {
        reason: None,
        until: None,
        at: Utc::now(),
    };
    let first = handler
        .execute::<UserAggregate>(&id.to_string(), lock.clone(), context(1))
        .await
        .expect("first");
    // A second admin lock would be accepted, so only the key keeps the retry from appending.
    let retry = handler
        .execute::<UserAggregate>(&id.to_string(), lock.clone(), context(1))
        .await
        .expect("retry");
    assert!(retry.replayed);
    assert_eq!(
        (retry.position, retry.stream_version),
        (first.position, first.stream_version)
    );
    assert_eq!(retry.events, first.events);
    assert_eq!(
        handler
            .log()
            .read_stream(&id.to_string())
            .await
            .expect("read")
            .len(),
        3
    );
    let error = handler
        .execute::<UserAggregate>(&id.to_string(), lock, context(2))
        .await
        .expect_err("reused");
    assert!(matches!(error, CommandError::IdempotencyKeyReused));
}

async fn a_command_that_changes_nothing_appends_nothing(backend: Backend) {
    let (_db, handler) = handler(backend).await;
    let id = registered(&handler, "eve@example.com").await;
    let grant = UserCommand::GrantRole {
        role: Role::parse("user").expect("valid"),
        at: Utc::now(),
    };
    let executed = handler
        .execute::<UserAggregate>(&id.to_string(), grant, CommandContext::default())
        .await
        .expect("ok");
    assert!(executed.events.is_empty());
    assert_eq!(executed.position, None);
    assert_eq!(handler.log().head().await.expect("head").position, 2);
}

async fn a_user_can_be_read_as_of_an_earlier_position(backend: Backend) {
    let (_db, handler) = handler(backend).await;
    let id = registered(&handler, "fay@example.com").await;
    let before_lock = handler.log().head().await.expect("head").position;
    let lock = UserCommand::Lock {
        reason: None,
        until: None,
        at: Utc::now(),
    };
    handler
        .execute::<UserAggregate>(&id.to_string(), lock, CommandContext::default())
        .await
        .expect("lock");
    let then = handler
        .load::<UserAggregate>(&id.to_string(), Some(before_lock))
        .await
        .expect("as of");
    let now = handler
        .load::<UserAggregate>(&id.to_string(), None)
        .await
        .expect("now");
    let locked = |state: &UserState| state.user().is_some_and(|u| u.is_locked(Utc::now()));
    assert!(!locked(&then.state));
    assert!(locked(&now.state));
    assert_eq!((then.version, now.version), (2, 3));
}

async fn deleting_a_user_frees_their_email_for_a_new_registration(backend: Backend) {
    let (_db, handler) = handler(backend).await;
    let id = registered(&handler, "gus@example.com").await;
    let again = new_id();
    let error = handler
        .execute::<UserAggregate>(
            &again.to_string(),
            register(again, "Gus@example.com"),
            CommandContext::default(),
        )
        .await
        .expect_err("taken");
    assert!(matches!(error, CommandError::Duplicate { .. }));
    handler
        .execute::<UserAggregate>(
            &id.to_string(),
            UserCommand::Delete { at: Utc::now() },
            CommandContext::default(),
        )
        .await
        .expect("delete");
    handler
        .execute::<UserAggregate>(
            &again.to_string(),
            register(again, "Gus@example.com"),
            CommandContext::default(),
        )
        .await
        .expect("the address is free again");
    let owner = handler
        .find_owner(ClaimKind::Email, "gus@example.com")
        .await
        .expect("lookup");
    assert_eq!(owner, Some(again.to_string()));
}

async fn a_cached_state_sees_what_another_process_appended(backend: Backend) {
    let (db, first) = handler(backend).await;
    // A second handler on its own connection pool: another idlog process.
    let second = CommandHandler::new(
        db.open().await.expect("open").log,
        ClaimHasher::new([42; 32]),
    );
    let id = registered(&first, "ann@example.com").await;
    let warm = first
        .current::<UserAggregate>(&id.to_string())
        .await
        .expect("current");
    assert_eq!(warm.version, 2);
    let grant = UserCommand::GrantRole {
        role: Role::parse("COACH").expect("valid"),
        at: Utc::now(),
    };
    second
        .execute::<UserAggregate>(&id.to_string(), grant, CommandContext::default())
        .await
        .expect("grant");
    let fresh = first
        .current::<UserAggregate>(&id.to_string())
        .await
        .expect("current");
    assert_eq!(fresh.version, 3);
    let UserState::Present(user) = fresh.state else {
        panic!("no user")
    };
    assert!(user.roles.iter().any(|role| role.as_str() == "COACH"));
    // The cached fold equals a fold from the first event.
    let full = first
        .load::<UserAggregate>(&id.to_string(), None)
        .await
        .expect("load");
    assert_eq!(full.state, UserState::Present(user));
    // A command decided on the stale cache of the second handler loses the race and retries.
    let revoke = UserCommand::RevokeRole {
        role: Role::parse("COACH").expect("valid"),
        at: Utc::now(),
    };
    first
        .execute::<UserAggregate>(&id.to_string(), revoke, CommandContext::default())
        .await
        .expect("revoke");
    let grant_again = UserCommand::GrantRole {
        role: Role::parse("COACH").expect("valid"),
        at: Utc::now(),
    };
    let executed = second
        .execute::<UserAggregate>(&id.to_string(), grant_again, CommandContext::default())
        .await
        .expect("grant");
    assert_eq!(
        executed.stream_version, 5,
        "decided on the revoke it had not seen"
    );
}

/// Waits until `handler` follows `stream_id` to `version` (another process's append is told by
/// its wake-up, not at once).
async fn followed_to(handler: &CommandHandler, stream_id: &str, version: u64) -> UserState {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let followed = handler
            .followed::<UserAggregate>(stream_id)
            .await
            .expect("followed");
        if followed.version == version {
            return followed.state;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still at version {} of {version}",
            followed.version
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// A followed state comes from memory, no read, and follows what another process appends.
async fn followed_states_need_no_read_and_follow_other_processes(backend: Backend) {
    let db = TestDb::new(backend).await.expect("test database");
    let opened = db.open().await.expect("open");
    let first = CommandHandler::new(opened.log, ClaimHasher::new([42; 32]));
    let second = CommandHandler::new(
        db.open().await.expect("open").log,
        ClaimHasher::new([42; 32]),
    );
    let id = registered(&first, "ann@example.com").await.to_string();
    let registered_version = first
        .followed::<UserAggregate>(&id)
        .await
        .expect("followed")
        .version;
    let grant = UserCommand::GrantRole {
        role: Role::parse("COACH").expect("valid"),
        at: Utc::now(),
    };
    second
        .execute::<UserAggregate>(&id, grant, CommandContext::default())
        .await
        .expect("grant");
    let UserState::Present(user) = followed_to(&first, &id, registered_version + 1).await else {
        panic!("no user")
    };
    assert!(user.roles.iter().any(|role| role.as_str() == "COACH"));
    // Read once to cache the state; from then on it needs no database at all.
    first.current::<UserAggregate>(&id).await.expect("current");
    opened.database.close().await;
    assert!(
        first.current::<UserAggregate>(&id).await.is_err(),
        "a read needs the database"
    );
    let remembered = first
        .followed::<UserAggregate>(&id)
        .await
        .expect("from memory");
    assert_eq!(remembered.version, registered_version + 1);
}

/// A singleton stream (the IP block list) is kept in memory while it does not exist too, and
/// follows what another process appends to it.
async fn a_singletons_absence_is_remembered_and_its_changes_followed(backend: Backend) {
    use domain::ip_block::{IP_BLOCKS_STREAM, IpBlockAggregate, IpBlockCommand, parse_network};
    let db = TestDb::new(backend).await.expect("test database");
    let opened = db.open().await.expect("open");
    let first = CommandHandler::new(opened.log, ClaimHasher::new([42; 32]));
    let second = CommandHandler::new(
        db.open().await.expect("open").log,
        ClaimHasher::new([42; 32]),
    );
    let absent = first
        .followed_singleton::<IpBlockAggregate>(IP_BLOCKS_STREAM)
        .await
        .expect("read");
    assert_eq!(absent.version, 0);
    let block = IpBlockCommand::Block {
        network: parse_network("192.0.2.1").expect("address"),
        reason: domain::values::Reason::parse("testing").expect("reason"),
        expires_at: None,
        at: Utc::now(),
    };
    second
        .execute::<IpBlockAggregate>(IP_BLOCKS_STREAM, block, CommandContext::default())
        .await
        .expect("block");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let followed = first
            .followed_singleton::<IpBlockAggregate>(IP_BLOCKS_STREAM)
            .await
            .expect("followed");
        if followed.version == 1 {
            assert_eq!(followed.state.blocks.len(), 1);
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the block never arrived"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    // From memory from now on, with no database.
    opened.database.close().await;
    let remembered = first
        .followed_singleton::<IpBlockAggregate>(IP_BLOCKS_STREAM)
        .await
        .expect("from memory");
    assert_eq!(remembered.version, 1);
    // An absent singleton is remembered as well.
    let other = TestDb::new(backend).await.expect("test database");
    let other_opened = other.open().await.expect("open");
    let third = CommandHandler::new(other_opened.log, ClaimHasher::new([42; 32]));
    third
        .followed_singleton::<IpBlockAggregate>(IP_BLOCKS_STREAM)
        .await
        .expect("read");
    other_opened.database.close().await;
    let still_absent = third
        .followed_singleton::<IpBlockAggregate>(IP_BLOCKS_STREAM)
        .await
        .expect("from memory");
    assert_eq!(still_absent.version, 0);
}

/// A command decided on an out-of-date state is checked against the log before it is refused,
/// conflicts with If-Match, or is found to change nothing.
async fn a_decision_on_an_old_state_is_checked_against_the_log(backend: Backend) {
    let (_db, handler) = handler(backend).await;
    let id = registered(&handler, "bea@example.com").await.to_string();
    let before = handler
        .current::<UserAggregate>(&id)
        .await
        .expect("current");
    let lock = UserCommand::Lock {
        reason: None,
        until: None,
        at: Utc::now(),
    };
    handler
        .execute::<UserAggregate>(&id, lock, CommandContext::default())
        .await
        .expect("lock");
    // Unlocking on the state from before the lock: "not locked" there, but locked in the log.
    let unlocked = handler
        .execute_on::<UserAggregate>(
            &id,
            before.state.clone(),
            before.version,
            UserCommand::Unlock { at: Utc::now() },
            CommandContext::default(),
        )
        .await
        .expect("unlocked after reading the log");
    assert_eq!(unlocked.stream_version, before.version + 2);
    // If-Match with the stream's real version, on a state older than it: no conflict.
    let relock = UserCommand::Lock {
        reason: None,
        until: None,
        at: Utc::now(),
    };
    let relocked = handler
        .execute_on::<UserAggregate>(
            &id,
            before.state.clone(),
            before.version,
            relock,
            CommandContext {
                expected_version: Some(unlocked.stream_version),
                ..CommandContext::default()
            },
        )
        .await
        .expect("If-Match of the current version");
    assert_eq!(relocked.stream_version, unlocked.stream_version + 1);
    // A real refusal still comes, after the read.
    let again = UserCommand::Lock {
        reason: None,
        until: Some(Utc::now() - Duration::hours(1)),
        at: Utc::now(),
    };
    let refused = handler
        .execute_on::<UserAggregate>(
            &id,
            before.state,
            before.version,
            again,
            CommandContext::default(),
        )
        .await;
    assert!(
        matches!(
            refused,
            Err(CommandError::Rejected(UserError::LockEndsInPast))
        ),
        "{refused:?}"
    );
}

test_both_backends!(
    a_cached_state_sees_what_another_process_appended,
    followed_states_need_no_read_and_follow_other_processes,
    a_singletons_absence_is_remembered_and_its_changes_followed,
    a_decision_on_an_old_state_is_checked_against_the_log,
    one_of_fifty_concurrent_registrations_of_an_email_wins,
    parallel_failed_logins_lock_after_exactly_the_limit,
    a_stale_if_match_is_a_conflict,
    an_idempotent_retry_appends_once_and_returns_the_first_result,
    a_command_that_changes_nothing_appends_nothing,
    a_user_can_be_read_as_of_an_earlier_position,
    deleting_a_user_frees_their_email_for_a_new_registration,
);
