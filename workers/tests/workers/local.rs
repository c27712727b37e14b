//! Workers on the embedded bus against real databases (SQLite and PostgreSQL) and the local
//! folder object store: users' folders, retries and dead letters, restarts, verify and repair.

use crate::common::{self, minter};
use async_trait::async_trait;
use chrono::Utc;
use commands::tokens::{TokenPurpose, hash_token};
use commands::{ClaimHasher, CommandContext, CommandHandler};
use domain::user::{FirstCredential, NewUser, UserAggregate, UserCommand, UserEventType};
use domain::values::{Email, LanguageTag, PasswordHash, PersonName, PhoneNumber, Profile, Role};
use domain::{Duration, UserId};
use eventstore::testing::{Backend, TestDb};
use eventstore::{RecordedEvent, test_both_backends};
use objects::{LocalFolder, ObjectStore};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use workers::deliveries::{DeliveryFilter, DeliveryLog};
use workers::email::{EmailSettings, EmailWorker, EmlFolder, Template, Templates, Texts};
use workers::sms::{SmsFolder, SmsWorker};
use workers::storage::{StorageWorker, expected_keys, folder};
use workers::{Worker, WorkerError, WorkerRunner, WorkerSettings};

struct Fixture {
    _db: TestDb,
    _folder: tempfile::TempDir,
    database: eventstore::Database,
    log: eventstore::EventLog,
    commands: CommandHandler,
    objects: Arc<LocalFolder>,
}

async fn fixture(backend: Backend) -> Fixture {
    let db = TestDb::new(backend).await.expect("test database");
    let opened = db.open().await.expect("open");
    let folder = tempfile::tempdir().expect("folder");
    Fixture {
        objects: Arc::new(LocalFolder::new(folder.path())),
        commands: CommandHandler::new(opened.log.clone(), ClaimHasher::new([3; 32])),
        database: opened.database,
        log: opened.log,
        _db: db,
        _folder: folder,
    }
}

fn settings() -> WorkerSettings {
    WorkerSettings {
        max_attempts: 3,
        retry_base: std::time::Duration::from_millis(5),
        retry_cap: std::time::Duration::from_millis(20),
    }
}

impl Fixture {
    fn storage(&self) -> StorageWorker {
        StorageWorker::new(self.objects.clone(), self.commands.reader())
    }

    fn runner(&self, workers: Vec<Arc<dyn Worker>>) -> WorkerRunner {
        WorkerRunner::new(self.database.clone(), self.log.clone(), workers, settings())
    }

    async fn user(&self, id: UserId, command: UserCommand) {
        self.commands
            .execute::<UserAggregate>(&id.to_string(), command, CommandContext::default())
            .await
            .expect("command");
    }

    async fn register(&self, email: &str) -> UserId {
        common::register(&self.commands, email, None).await
    }

    async fn info(&self, id: UserId) -> serde_json::Value {
        let object = self
            .objects
            .get(&expected_keys(&id.to_string())[2])
            .await
            .expect("get")
            .expect("user_info.json");
        serde_json::from_slice(&object.bytes).expect("json")
    }
}

async fn registration_creates_the_folder_and_changes_rewrite_or_remove_it(backend: Backend) {
    let f = fixture(backend).await;
    let ann = f.register("ann@example.com").await;
    let bob = f.register("bob@example.com").await;
    let runner = f.runner(vec![Arc::new(f.storage())]);
    runner.catch_up().await.expect("caught up");
    for id in [ann, bob] {
        for key in expected_keys(&id.to_string()) {
            assert!(f.objects.get(&key).await.expect("get").is_some(), "{key}");
        }
    }
    let info = f.info(ann).await;
    assert_eq!(info["email"], "ann@example.com");
    assert_eq!(info["schema_version"], 1);
    assert_eq!(info["roles"], serde_json::json!(["user"]));

    // A profile change rewrites user_info.json; a deletion removes the whole folder.
    f.user(
        ann,
        UserCommand::UpdateProfile {
            first_name: Some(PersonName::parse("Ann").expect("name")),
            last_name: Some(PersonName::parse("Lee").expect("name")),
            profile: Profile::default(),
            at: Utc::now(),
        },
    )
    .await;
    f.user(bob, UserCommand::Delete { at: Utc::now() }).await;
    runner.catch_up().await.expect("caught up");
    assert_eq!(f.info(ann).await["first_name"], "Ann");
    assert!(
        f.objects
            .list(&folder(&bob.to_string()))
            .await
            .expect("list")
            .is_empty()
    );
    // Running again changes nothing: effects converge on the log's present.
    runner.catch_up().await.expect("again");
    let fresh = f.runner(vec![Arc::new(f.storage())]);
    fresh
        .catch_up()
        .await
        .expect("a restart resumes at the checkpoint");
    assert_eq!(f.info(ann).await["last_name"], "Lee");
    assert!(runner.dead_letters(true).await.expect("letters").is_empty());
}

/// Fails (or panics) for one user's events until told otherwise; counts what it handled.
struct Picky {
    refuse: String,
    panics: bool,
    fixed: std::sync::atomic::AtomicBool,
    handled: AtomicU32,
}

#[async_trait]
impl Worker for Picky {
    fn name(&self) -> &'static str {
        "picky"
    }

    fn wants(&self, event: &RecordedEvent) -> bool {
        event.event_type.parse() == Ok(UserEventType::UserRegistered)
    }

    async fn handle(&self, event: &RecordedEvent) -> Result<(), WorkerError> {
        if event.stream_id == self.refuse && !self.fixed.load(Ordering::SeqCst) {
            if self.panics {
                panic!("the mail server's library panicked");
            }
            return Err(WorkerError::Other("the mail server said no".into()));
        }
        self.handled.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

async fn a_failing_event_is_dead_lettered_without_holding_up_the_others(backend: Backend) {
    let f = fixture(backend).await;
    let poison = f.register("poison@example.com").await;
    for n in 0..5 {
        f.register(&format!("user{n}@example.com")).await;
    }
    let picky = Arc::new(Picky {
        refuse: poison.to_string(),
        panics: false,
        fixed: Default::default(),
        handled: AtomicU32::new(0),
    });
    let runner = f.runner(vec![picky.clone()]);
    // Followed live: the others are handled after the poison's retries, not blocked by it.
    let tasks = runner.spawn();
    let handled = async {
        while picky.handled.load(Ordering::SeqCst) < 5 {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(20), handled)
        .await
        .expect("the other events were handled");
    let letters = async {
        loop {
            let letters = runner.dead_letters(false).await.expect("letters");
            if !letters.is_empty() {
                return letters;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    };
    let letters = tokio::time::timeout(std::time::Duration::from_secs(20), letters)
        .await
        .expect("dead-lettered");
    drop(tasks);
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].stream_id, poison.to_string());
    assert_eq!(letters[0].attempts, 3);
    assert!(letters[0].error.contains("said no"));
    let status = runner.status().await.expect("status");
    assert_eq!(status[0].open_dead_letters, 1);

    // Still broken: the retry fails and keeps the letter; fixed: it succeeds, once.
    let report = runner.retry(None).await.expect("retried");
    assert_eq!((report.succeeded, report.failed), (0, 1));
    picky.fixed.store(true, Ordering::SeqCst);
    let report = runner.retry(Some(letters[0].id)).await.expect("retried");
    assert_eq!((report.succeeded, report.failed), (1, 0));
    assert_eq!(picky.handled.load(Ordering::SeqCst), 6);
    assert!(
        runner
            .dead_letters(false)
            .await
            .expect("letters")
            .is_empty()
    );
    let all = runner.dead_letters(true).await.expect("letters");
    assert_eq!(all[0].resolution.as_deref(), Some("retried"));
}

async fn a_panicking_worker_is_retried_and_dead_lettered_like_a_failing_one(backend: Backend) {
    let f = fixture(backend).await;
    let poison = f.register("poison@example.com").await;
    for n in 0..3 {
        f.register(&format!("user{n}@example.com")).await;
    }
    let picky = Arc::new(Picky {
        refuse: poison.to_string(),
        panics: true,
        fixed: Default::default(),
        handled: AtomicU32::new(0),
    });
    let runner = f.runner(vec![picky.clone()]);
    let tasks = runner.spawn();
    let settled = async {
        loop {
            let letters = runner.dead_letters(false).await.expect("letters");
            if !letters.is_empty() && picky.handled.load(Ordering::SeqCst) == 3 {
                return letters;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    };
    let letters = tokio::time::timeout(std::time::Duration::from_secs(20), settled)
        .await
        .expect("the others handled and the panicking event dead-lettered");
    // Give a follower that would start over from its checkpoint the time to do it.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    drop(tasks);
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].stream_id, poison.to_string());
    assert_eq!(letters[0].attempts, 3);
    assert!(
        letters[0].error.contains("panicked"),
        "{}",
        letters[0].error
    );
    assert_eq!(runner.dead_letters(false).await.expect("letters").len(), 1);
    assert_eq!(picky.handled.load(Ordering::SeqCst), 3);
}

async fn verify_finds_missing_and_foreign_objects_and_repair_fixes_both(backend: Backend) {
    let f = fixture(backend).await;
    let ann = f.register("ann@example.com").await;
    let bob = f.register("bob@example.com").await;
    let storage = f.storage();
    f.runner(vec![Arc::new(f.storage())])
        .catch_up()
        .await
        .expect("caught up");
    let users: BTreeSet<String> = [ann.to_string(), bob.to_string()].into();
    assert!(storage.verify(&users).await.expect("verify").is_clean());

    // A marker deleted by hand, and a stranger's object.
    let marker = expected_keys(&bob.to_string())[0].clone();
    f.objects.delete(&marker).await.expect("deleted");
    f.objects
        .put(
            "accounts/nobody/metadata/user_info.json",
            b"{}",
            "application/json",
        )
        .await
        .expect("put");
    let report = storage.verify(&users).await.expect("verify");
    assert_eq!(report.missing, vec![(bob.to_string(), marker.clone())]);
    assert_eq!(report.orphans, vec!["accounts/nobody/".to_owned()]);
    assert_eq!(report.checked_users, 2);

    // Without --prune the orphan stays; with it, it goes.
    let repaired = storage
        .repair(&report, false, &|_, _| {})
        .await
        .expect("repaired");
    assert_eq!(repaired.users_repaired, 1);
    assert_eq!(repaired.orphans_removed, 0);
    let report = storage.verify(&users).await.expect("verify");
    assert!(report.missing.is_empty());
    assert_eq!(report.orphans.len(), 1);
    storage
        .repair(&report, true, &|_, _| {})
        .await
        .expect("pruned");
    assert!(storage.verify(&users).await.expect("verify").is_clean());
}

/// The messages in the `.eml` folder, by file name.
fn messages(dir: &std::path::Path) -> Vec<(String, String)> {
    let mut messages: Vec<(String, String)> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|entry| entry.file_name().to_string_lossy().ends_with(".eml"))
                .map(|entry| {
                    (
                        entry.file_name().to_string_lossy().into_owned(),
                        std::fs::read_to_string(entry.path()).expect("message"),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    messages.sort();
    messages
}

/// The token of the first link in `message`.
fn token_in(message: &str) -> String {
    let start = message.find("token=").expect("a link with a token") + "token=".len();
    message[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .collect()
}

async fn emails_carry_working_links_once_per_event(backend: Backend) {
    let f = fixture(backend).await;
    let mail = tempfile::tempdir().expect("mail folder");
    let templates = Templates::english().with(
        "pt",
        Template::PasswordReset,
        Texts {
            subject: "{product}: redefinir a senha",
            text: "Abra {link}",
            html: "<a href=\"{link}\">redefinir</a>",
        },
    );
    let worker = EmailWorker::new(
        Arc::new(EmlFolder::new(mail.path())),
        DeliveryLog::new(f.database.clone()),
        f.commands.reader(),
        minter(),
        EmailSettings {
            product: "Acme ID".into(),
            from: "no-reply@acme.example".into(),
            public_url: "https://id.acme.example/".into(),
            reset_url: "https://app.acme.example/reset?token=".into(),
        },
        templates,
    );
    let ann = f.register("ann@example.com").await;
    let runner = f.runner(vec![Arc::new(worker)]);
    runner.catch_up().await.expect("caught up");
    let sent = messages(mail.path());
    assert_eq!(sent.len(), 1, "{sent:?}");
    let (name, welcome) = &sent[0];
    assert!(name.ends_with("-welcome.eml"), "{name}");
    assert!(welcome.contains("To: ann@example.com"));
    assert!(welcome.contains("Subject: Welcome to Acme ID: please verify your email"));
    assert!(welcome.contains("https://id.acme.example/verify-email?token="));
    // The link's token is the one the log holds the hash of: following it verifies the email.
    let token = token_in(welcome);
    f.user(
        ann,
        UserCommand::ConfirmEmailVerification {
            token_hash: hash_token(&token),
            at: Utc::now(),
        },
    )
    .await;

    // A reset in the user's language (Portuguese here, falling back to English elsewhere).
    f.user(
        ann,
        UserCommand::UpdateProfile {
            first_name: None,
            last_name: None,
            profile: Profile {
                preferred_language: Some(LanguageTag::parse("pt-BR").expect("tag")),
                ..Profile::default()
            },
            at: Utc::now(),
        },
    )
    .await;
    let (reset, reset_token) = minter().issue(
        TokenPurpose::PasswordReset,
        ann,
        Utc::now(),
        Duration::hours(1),
    );
    f.user(ann, UserCommand::RequestPasswordReset { token: reset })
        .await;
    runner.catch_up().await.expect("caught up");
    let sent = messages(mail.path());
    assert_eq!(sent.len(), 2, "{sent:?}");
    let reset_message = &sent
        .iter()
        .find(|(name, _)| name.ends_with("-password_reset.eml"))
        .expect("the reset message")
        .1;
    assert!(reset_message.contains("Subject: Acme ID: redefinir a senha"));
    assert_eq!(
        token_in(reset_message),
        secrecy::ExposeSecret::expose_secret(&reset_token).to_owned()
    );
    assert!(reset_message.contains("https://app.acme.example/reset?token="));

    // The delivery log has both, sent at the first attempt.
    let log = DeliveryLog::new(f.database.clone());
    let all = DeliveryFilter {
        limit: 100,
        ..DeliveryFilter::default()
    };
    let deliveries = log.list(&all).await.expect("deliveries");
    assert_eq!(
        deliveries
            .iter()
            .map(|d| (
                d.template.as_str(),
                d.status.as_str(),
                d.attempts,
                d.recipient.as_str()
            ))
            .collect::<Vec<_>>(),
        [
            ("password_reset", "sent", 1, "ann@example.com"),
            ("welcome", "sent", 1, "ann@example.com")
        ]
    );

    // Delivered again (a fresh runner from position 0): the delivery log says they went out, so
    // nothing is sent twice.
    for (name, _) in messages(mail.path()) {
        std::fs::remove_file(mail.path().join(name)).expect("remove");
    }
    forget_checkpoints(&f).await;
    runner.catch_up().await.expect("again");
    assert!(messages(mail.path()).is_empty());
    assert_eq!(log.list(&all).await.expect("deliveries").len(), 2);
}

async fn mail_to_a_forgotten_user_is_dropped_and_their_recipients_cleared(backend: Backend) {
    let f = fixture(backend).await;
    let mail = tempfile::tempdir().expect("mail folder");
    let worker = EmailWorker::new(
        Arc::new(EmlFolder::new(mail.path())),
        DeliveryLog::new(f.database.clone()),
        f.commands.reader(),
        minter(),
        EmailSettings {
            product: "Acme ID".into(),
            from: "no-reply@acme.example".into(),
            public_url: "https://id.acme.example/".into(),
            reset_url: "https://app.acme.example/reset?token=".into(),
        },
        Templates::english(),
    );
    let runner = f.runner(vec![Arc::new(worker), Arc::new(f.storage())]);
    // Cat's welcome goes out; then she is forgotten.
    let cat = f.register("cat@example.com").await;
    runner.catch_up().await.expect("caught up");
    assert_eq!(messages(mail.path()).len(), 1);
    // Ann is forgotten before the workers reach her welcome and her reset link.
    let ann = f.register("ann@example.com").await;
    let (reset, _) = minter().issue(
        TokenPurpose::PasswordReset,
        ann,
        Utc::now(),
        Duration::hours(1),
    );
    f.user(ann, UserCommand::RequestPasswordReset { token: reset })
        .await;
    let bob = f.register("bob@example.com").await;
    for forgotten in [ann, cat] {
        f.user(forgotten, UserCommand::Forget { at: Utc::now() })
            .await;
    }
    runner.catch_up().await.expect("caught up");

    let sent = messages(mail.path());
    assert_eq!(sent.len(), 2, "cat's earlier welcome and bob's: {sent:?}");
    assert!(
        sent.iter()
            .all(|(_, text)| !text.contains("ann@example.com"))
    );
    let deliveries = DeliveryLog::new(f.database.clone())
        .list(&DeliveryFilter {
            limit: 100,
            ..DeliveryFilter::default()
        })
        .await
        .expect("deliveries");
    let recipients: Vec<&str> = deliveries.iter().map(|d| d.recipient.as_str()).collect();
    assert_eq!(
        recipients,
        ["bob@example.com", ""],
        "cat's row kept, her address gone"
    );
    for user in [ann, cat] {
        assert!(
            f.objects
                .list(&folder(&user.to_string()))
                .await
                .expect("list")
                .is_empty(),
            "a forgotten user's folder is removed"
        );
    }
    assert!(
        !f.objects
            .list(&folder(&bob.to_string()))
            .await
            .expect("list")
            .is_empty()
    );
}

/// Forgets the email worker's checkpoint, as a lost checkpoint would.
async fn forget_checkpoints(f: &Fixture) {
    eventstore::sql::execute(&f.database, "DELETE FROM worker_checkpoints", &[])
        .await
        .expect("reset");
}

async fn phone_codes_go_out_by_text_message_and_verify_the_number(backend: Backend) {
    let f = fixture(backend).await;
    let sms = tempfile::tempdir().expect("sms folder");
    let worker = SmsWorker::new(
        Arc::new(SmsFolder::new(sms.path())),
        DeliveryLog::new(f.database.clone()),
        f.commands.reader(),
        minter(),
        "Acme ID",
    );
    let ann = f.register("ann@example.com").await;
    f.user(
        ann,
        UserCommand::ChangePhone {
            phone: Some(PhoneNumber::parse("+351912345678").expect("phone")),
            at: Utc::now(),
        },
    )
    .await;
    let at = Utc::now();
    let (_, code_hash) = minter().phone_code(ann, at);
    f.user(
        ann,
        UserCommand::RequestPhoneVerification {
            code_hash,
            expires_at: at + Duration::minutes(10),
            at,
        },
    )
    .await;
    f.runner(vec![Arc::new(worker)])
        .catch_up()
        .await
        .expect("caught up");
    let files: Vec<_> = std::fs::read_dir(sms.path())
        .expect("sms folder")
        .filter_map(Result::ok)
        .filter(|entry| entry.file_name().to_string_lossy().ends_with(".txt"))
        .collect();
    assert_eq!(files.len(), 1);
    let text = std::fs::read_to_string(files[0].path()).expect("message");
    assert!(text.starts_with("To: +351912345678"), "{text}");
    assert!(text.contains("valid 10 minutes"), "{text}");
    let code: String = text
        .split("code: ")
        .nth(1)
        .expect("a code")
        .chars()
        .take(6)
        .collect();
    // The code in the message is the one whose keyed hash the log holds.
    f.user(
        ann,
        UserCommand::ConfirmPhoneVerification {
            code_hash: minter().phone_code_hash(ann, &code),
            at: Utc::now(),
        },
    )
    .await;
    // It is in no event.
    let events = f.log.read_all(0, 100).await.expect("events");
    assert!(
        events
            .iter()
            .all(|event| !event.payload.to_string().contains(&code))
    );
}

/// An event that changes nothing in `user_info.json` (most profile updates) writes nothing; a
/// sync (what `idlog storage repair` runs) writes everything again.
async fn an_event_that_changes_nothing_in_user_info_writes_nothing(backend: Backend) {
    let f = fixture(backend).await;
    let ann = f.register("ann@example.com").await;
    let storage = Arc::new(f.storage());
    let runner = f.runner(vec![storage.clone()]);
    runner.catch_up().await.expect("caught up");
    let info_key = expected_keys(&ann.to_string())[2].clone();
    // Someone removes the file behind the worker's back.
    f.objects.delete_prefix(&info_key).await.expect("removed");
    let language_only = Profile {
        preferred_language: Some(LanguageTag::parse("pt-BR").expect("tag")),
        ..Profile::default()
    };
    f.user(
        ann,
        UserCommand::UpdateProfile {
            first_name: None,
            last_name: None,
            profile: language_only,
            at: Utc::now(),
        },
    )
    .await;
    runner.catch_up().await.expect("caught up");
    assert!(
        f.objects.get(&info_key).await.expect("get").is_none(),
        "the same user_info.json is not written again"
    );
    storage.sync(&ann.to_string()).await.expect("sync");
    assert_eq!(f.info(ann).await["email"], "ann@example.com");
    // A change to what it holds is written.
    f.user(
        ann,
        UserCommand::UpdateProfile {
            first_name: Some(PersonName::parse("Ann").expect("name")),
            last_name: None,
            profile: Profile::default(),
            at: Utc::now(),
        },
    )
    .await;
    runner.catch_up().await.expect("caught up");
    assert_eq!(f.info(ann).await["first_name"], "Ann");
    assert!(runner.dead_letters(true).await.expect("letters").is_empty());
}

async fn an_invitation_to_an_organization_is_mailed_to_the_invitee(backend: Backend) {
    let f = fixture(backend).await;
    let mail = tempfile::tempdir().expect("mail folder");
    let worker = EmailWorker::new(
        Arc::new(EmlFolder::new(mail.path())),
        DeliveryLog::new(f.database.clone()),
        f.commands.reader(),
        minter(),
        EmailSettings {
            product: "Acme ID".into(),
            from: "no-reply@acme.example".into(),
            public_url: "https://id.acme.example/".into(),
            reset_url: "https://app.acme.example/reset?token=".into(),
        },
        Templates::english(),
    );
    let ann = f.register("ann@example.com").await;
    let expires_at = Utc::now() + Duration::days(7);
    f.user(
        ann,
        UserCommand::NoteInvitation {
            organization_id: domain::OrganizationId::from_uuid(uuid::Uuid::now_v7()),
            organization_name: domain::values::OrganizationName::parse("Road <Runners>")
                .expect("name"),
            expires_at,
            at: Utc::now(),
        },
    )
    .await;
    let runner = f.runner(vec![Arc::new(worker)]);
    runner.catch_up().await.expect("caught up");
    let sent = messages(mail.path());
    let (_, invitation) = sent
        .iter()
        .find(|(name, _)| name.ends_with("-organization_invitation.eml"))
        .expect("the invitation message");
    assert!(invitation.contains("To: ann@example.com"));
    assert!(invitation.contains("Subject: Acme ID: Road <Runners> invites you to join"));
    assert!(invitation.contains("https://id.acme.example/account/invitations"));
    // The organization's name is escaped in the HTML part.
    assert!(invitation.contains("Road &lt;Runners&gt; invites you"));
    assert!(invitation.contains(&expires_at.format("%Y-%m-%d %H:%M UTC").to_string()));
}

/// A user an administrator creates with a password is welcomed with a verification link, and
/// told when an administrator sets their password.
async fn a_created_user_is_welcomed_and_told_of_a_password_set_for_them(backend: Backend) {
    let f = fixture(backend).await;
    let mail = tempfile::tempdir().expect("mail folder");
    let worker = EmailWorker::new(
        Arc::new(EmlFolder::new(mail.path())),
        DeliveryLog::new(f.database.clone()),
        f.commands.reader(),
        minter(),
        EmailSettings {
            product: "Acme ID".into(),
            from: "no-reply@acme.example".into(),
            public_url: "https://id.acme.example/".into(),
            reset_url: "https://app.acme.example/reset?token=".into(),
        },
        Templates::english(),
    );
    let cora = UserId::from_uuid(uuid::Uuid::now_v7());
    let now = Utc::now();
    let (email_verification, _) = minter().issue(
        TokenPurpose::EmailVerification,
        cora,
        now,
        Duration::hours(48),
    );
    let hash = PasswordHash::new("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA");
    f.user(
        cora,
        UserCommand::Create {
            user: NewUser {
                user_id: cora,
                email: Email::parse("cora@example.com").expect("email"),
                username: None,
                phone: None,
                first_name: None,
                last_name: None,
                roles: [Role::parse("user").expect("role")].into(),
                preferred_language: None,
            },
            credential: FirstCredential::Password {
                password_hash: hash.clone(),
                temporary: false,
                email_verification,
            },
            at: now,
        },
    )
    .await;
    let runner = f.runner(vec![Arc::new(worker)]);
    runner.catch_up().await.expect("caught up");
    let sent = messages(mail.path());
    assert_eq!(sent.len(), 1, "{sent:?}");
    let (name, welcome) = &sent[0];
    assert!(name.ends_with("-welcome.eml"), "{name}");
    assert!(welcome.contains("To: cora@example.com"));
    assert!(welcome.contains("https://id.acme.example/verify-email?token="));

    f.user(
        cora,
        UserCommand::SetPassword {
            password_hash: hash,
            temporary: false,
            at: Utc::now(),
        },
    )
    .await;
    runner.catch_up().await.expect("caught up");
    let sent = messages(mail.path());
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert!(
        sent.iter()
            .any(|(name, text)| name.ends_with("-password_changed.eml")
                && text.contains("To: cora@example.com")),
        "{sent:?}"
    );
}

test_both_backends!(
    a_created_user_is_welcomed_and_told_of_a_password_set_for_them,
    an_invitation_to_an_organization_is_mailed_to_the_invitee,
    an_event_that_changes_nothing_in_user_info_writes_nothing,
    mail_to_a_forgotten_user_is_dropped_and_their_recipients_cleared,
    phone_codes_go_out_by_text_message_and_verify_the_number,
    emails_carry_working_links_once_per_event,
    registration_creates_the_folder_and_changes_rewrite_or_remove_it,
    a_failing_event_is_dead_lettered_without_holding_up_the_others,
    a_panicking_worker_is_retried_and_dead_lettered_like_a_failing_one,
    verify_finds_missing_and_foreign_objects_and_repair_fixes_both,
);
