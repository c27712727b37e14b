//! Workers against real services that go away and come back, on SQLite and PostgreSQL: an S3
//! server (moto) and an SMTP sink (mailtutan), each this test's own process on its own port, so
//! stopping it disturbs no other test. The test command installs both (`TEST_MOTO_BIN`,
//! `TEST_MAILTUTAN_BIN`).

use crate::common;
use commands::tokens::TokenMinter;
use commands::{ClaimHasher, CommandHandler};
use domain::UserId;
use eventstore::test_both_backends;
use eventstore::testing::{Backend, TestDb};
use objects::ObjectStore;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use workers::deliveries::{DeliveryFilter, DeliveryLog};
use workers::email::{EmailSettings, EmailWorker, SmtpMailer, SmtpSettings, SmtpTls, Templates};
use workers::storage::{StorageWorker, expected_keys};
use workers::{WorkerRunner, WorkerSettings};

/// A service process of this test's; killed when dropped.
struct Service(Child);

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

async fn answers(port: u16) -> bool {
    tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_ok()
}

async fn start(program: &str, default: &str, args: &[String], ports: &[u16]) -> Service {
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    let program = std::env::var(program)
        .unwrap_or_else(|_| format!("{home}/.cache/idlog-ci/tools/{default}"));
    let child = Command::new(&program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|error| panic!("{program}: {error} (the test command installs it)"));
    let service = Service(child);
    for _ in 0..300 {
        let mut up = true;
        for port in ports {
            up &= answers(*port).await;
        }
        if up {
            return service;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{program} did not come up on {ports:?}");
}

async fn moto(port: u16) -> Service {
    start(
        "TEST_MOTO_BIN",
        "moto-5.2.5/bin/moto_server",
        &[
            "-H".into(),
            "127.0.0.1".into(),
            "-p".into(),
            port.to_string(),
        ],
        &[port],
    )
    .await
}

async fn mailtutan(smtp: u16, http: u16) -> Service {
    start(
        "TEST_MAILTUTAN_BIN",
        "mailtutan-0.3.0/bin/mailtutan",
        &[
            "--ip".into(),
            "127.0.0.1".into(),
            "--smtp-port".into(),
            smtp.to_string(),
            "--http-port".into(),
            http.to_string(),
        ],
        &[smtp, http],
    )
    .await
}

/// Retries that outlast a short outage.
fn patient() -> WorkerSettings {
    WorkerSettings {
        max_attempts: 1_000,
        retry_base: std::time::Duration::from_millis(20),
        retry_cap: std::time::Duration::from_millis(200),
    }
}

struct Fixture {
    _db: TestDb,
    database: eventstore::Database,
    log: eventstore::EventLog,
    commands: CommandHandler,
}

async fn fixture(backend: Backend) -> Fixture {
    let db = TestDb::new(backend).await.expect("test database");
    let opened = db.open().await.expect("open");
    Fixture {
        commands: CommandHandler::new(opened.log.clone(), ClaimHasher::new([3; 32])),
        database: opened.database,
        log: opened.log,
        _db: db,
    }
}

impl Fixture {
    async fn register(&self, email: &str) -> UserId {
        common::register(&self.commands, email, None).await
    }

    fn runner(&self, worker: Arc<dyn workers::Worker>, settings: WorkerSettings) -> WorkerRunner {
        WorkerRunner::new(
            self.database.clone(),
            self.log.clone(),
            vec![worker],
            settings,
        )
    }

    async fn dead_letters(&self) -> usize {
        self.runner(Arc::new(NoWorker), patient())
            .dead_letters(false)
            .await
            .expect("dead letters")
            .len()
    }
}

/// Only to read dead letters with.
struct NoWorker;

#[async_trait::async_trait]
impl workers::Worker for NoWorker {
    fn name(&self) -> &'static str {
        "none"
    }
    fn wants(&self, _: &eventstore::RecordedEvent) -> bool {
        false
    }
    async fn handle(&self, _: &eventstore::RecordedEvent) -> Result<(), workers::WorkerError> {
        Ok(())
    }
}

async fn an_s3_outage_delays_the_folders_and_loses_nothing(backend: Backend) {
    let f = fixture(backend).await;
    let port = free_port();
    let store = objects::S3Store::new(&objects::S3Settings {
        bucket: "outage".into(),
        endpoint: Some(format!("http://127.0.0.1:{port}")),
        region: "us-east-1".into(),
        path_style: true,
        access_key_id: "idlog-test".into(),
        secret_access_key: "idlog-test-secret".to_owned().into(),
    });
    let s3 = moto(port).await;
    store.ensure_bucket().await.expect("bucket");
    drop(s3);

    let ann = f.register("ann@example.com").await;
    let store = Arc::new(store);
    let runner = f.runner(
        Arc::new(StorageWorker::new(store.clone(), f.commands.reader())),
        patient(),
    );
    let _following = runner.spawn();
    tokio::time::sleep(std::time::Duration::from_millis(1_500)).await;

    // The server comes back (with its bucket: moto keeps nothing across a restart).
    let _s3 = moto(port).await;
    store.ensure_bucket().await.expect("bucket");
    let info = &expected_keys(&ann.to_string())[2];
    let mut written = None;
    for _ in 0..150 {
        written = store.get(info).await.ok().flatten();
        if written.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(written.is_some(), "user_info.json after the outage");
    // The folder's three keys are written one after another: wait for the last.
    let mut keys = Vec::new();
    for _ in 0..50 {
        keys = store.list(&format!("accounts/{ann}/")).await.expect("list");
        if keys.len() == 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(keys.len(), 3, "{keys:?}");
    assert_eq!(f.dead_letters().await, 0);
}

/// Messages the sink at `http` received, as (recipient, subject).
async fn received(http: u16) -> Vec<(String, String)> {
    let all: Vec<serde_json::Value> = reqwest::get(format!("http://127.0.0.1:{http}/api/messages"))
        .await
        .expect("the sink answers")
        .json()
        .await
        .expect("json");
    all.iter()
        .map(|m| {
            (
                m["recipients"][0].as_str().unwrap_or_default().to_owned(),
                m["subject"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

async fn an_smtp_outage_is_retried_dead_lettered_and_retried_by_the_operator(backend: Backend) {
    let f = fixture(backend).await;
    let (smtp, http) = (free_port(), free_port());
    let email = |settings: WorkerSettings| {
        let worker = EmailWorker::new(
            Arc::new(
                SmtpMailer::new(&SmtpSettings {
                    host: "127.0.0.1".into(),
                    port: smtp,
                    tls: SmtpTls::None,
                    username: None,
                    password: None,
                    timeout: std::time::Duration::from_secs(2),
                })
                .expect("mailer"),
            ),
            DeliveryLog::new(f.database.clone()),
            f.commands.reader(),
            TokenMinter::new([9; 32]),
            EmailSettings {
                product: "idlog".into(),
                from: "idlog <no-reply@example.com>".into(),
                public_url: "http://127.0.0.1:8080".into(),
                reset_url: "http://127.0.0.1:8080/reset?token=".into(),
            },
            Templates::english(),
        );
        f.runner(Arc::new(worker), settings)
    };
    let deliveries = DeliveryLog::new(f.database.clone());
    let all = DeliveryFilter {
        limit: 10,
        ..DeliveryFilter::default()
    };

    // No sink: three attempts, then the dead letters.
    f.register("ann@example.com").await;
    let impatient = email(WorkerSettings {
        max_attempts: 3,
        retry_base: std::time::Duration::from_millis(10),
        retry_cap: std::time::Duration::from_millis(20),
    });
    impatient.catch_up().await.expect("caught up");
    let letters = impatient.dead_letters(false).await.expect("letters");
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].attempts, 3);
    assert!(letters[0].error.contains("SMTP"), "{}", letters[0].error);
    let listed = deliveries.list(&all).await.expect("deliveries");
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].status.as_str(), listed[0].attempts), ("dead", 3));
    assert!(listed[0].last_error.is_some());

    // The sink is back: the operator's retry sends it, once.
    let sink = mailtutan(smtp, http).await;
    let report = impatient.retry(None).await.expect("retry");
    assert_eq!((report.succeeded, report.failed), (1, 0));
    assert_eq!(
        impatient.retry(None).await.expect("nothing left").succeeded,
        0
    );
    let got = received(http).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].0, "ann@example.com");
    let listed = deliveries.list(&all).await.expect("deliveries");
    assert_eq!((listed[0].status.as_str(), listed[0].attempts), ("sent", 4));

    // The sink goes away while the worker follows the log: it retries until it is back.
    drop(sink);
    let following = email(patient());
    let _running = following.spawn();
    f.register("bob@example.com").await;
    tokio::time::sleep(std::time::Duration::from_millis(1_500)).await;
    let _sink = mailtutan(smtp, http).await;
    let mut got = Vec::new();
    for _ in 0..150 {
        got = received(http).await;
        if !got.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].0, "bob@example.com");
    let bob = deliveries
        .list(&DeliveryFilter {
            recipient: Some("bob@example.com".into()),
            ..all.clone()
        })
        .await
        .expect("deliveries");
    assert_eq!(bob[0].status, "sent");
    assert!(bob[0].attempts > 1, "{bob:?}");
}

test_both_backends!(
    an_s3_outage_delays_the_folders_and_loses_nothing,
    an_smtp_outage_is_retried_dead_lettered_and_retried_by_the_operator,
);
