//! The Kafka pipeline, against real services on loopback (`scripts/bench-services` starts them:
//! tansu at `TEST_KAFKA_BROKERS`, s3s-fs at `TEST_S3_ENDPOINT` (moto, the tests' S3 server, is
//! the bottleneck at 50 registrations/s on two cores), mailtutan at
//! `TEST_SMTP_HOST`/`TEST_SMTP_PORT`), on PostgreSQL (`TEST_DATABASE_URL`) and SQLite:
//!
//! - relay throughput: `EVENTS` (default 200,000) events already in the log published to a fresh
//!   topic, in events/s;
//! - end-to-end latency: registrations at a steady `RATE` per second (default 50) for `SECONDS`
//!   (default 30), each measured from the moment its append returned to the welcome email
//!   accepted by the SMTP server and to `user_info.json` written to S3, p50/p99/max, with the
//!   relay and the workers running in this process, two consumers in each worker kind's group
//!   (as the compose file's two worker processes).
//!
//! Run: `scripts/bench-services cargo bench -p workers --bench pipeline` (`BACKENDS=postgres` or
//! `sqlite` for one).

use async_trait::async_trait;
use chrono::Utc;
use commands::tokens::{TokenMinter, TokenPurpose};
use commands::{ClaimHasher, CommandContext, CommandHandler};
use domain::user::{NewUser, UserAggregate, UserCommand};
use domain::values::{Email, PasswordHash, Role};
use domain::{Duration, UserId};
use eventstore::testing::{Backend, TestDb};
use eventstore::{AppendRequest, ExpectedVersion, NewEvent};
use objects::{Object, ObjectError, ObjectStore};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use workers::deliveries::DeliveryLog;
use workers::email::{
    EmailSettings, EmailWorker, Mailer, Message, SmtpMailer, SmtpSettings, SmtpTls, Templates,
};
use workers::kafka::{KafkaSettings, Relay};
use workers::storage::StorageWorker;
use workers::{Bus, WorkerError, WorkerRunner, WorkerSettings};

fn env(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

/// `batch_messages`: 10,000 to measure the relay; 1 where tansu serves consumers (it cannot
/// serve one that resumes in the middle of a record batch).
fn kafka(batch_messages: u32) -> KafkaSettings {
    let run = uuid::Uuid::new_v4().simple().to_string();
    KafkaSettings {
        brokers: env("TEST_KAFKA_BROKERS", "127.0.0.1:9092"),
        topic: format!("idlog-bench-{run}"),
        partitions: 6,
        replication: 1,
        group_prefix: format!("bench-{run}-"),
        batch_messages,
        debug: None,
    }
}

/// When each key ending in `user_info.json` was first written, by user id.
#[derive(Debug)]
struct TimedStore {
    inner: objects::S3Store,
    written: Arc<Mutex<HashMap<String, Instant>>>,
}

#[async_trait]
impl ObjectStore for TimedStore {
    async fn put(&self, key: &str, bytes: &[u8], content_type: &str) -> Result<(), ObjectError> {
        self.inner.put(key, bytes, content_type).await?;
        if key.ends_with("metadata/user_info.json") {
            let user = key.split('/').nth(1).unwrap_or_default().to_owned();
            if let Ok(mut written) = self.written.lock() {
                written.entry(user).or_insert_with(Instant::now);
            }
        }
        Ok(())
    }
    async fn get(&self, key: &str) -> Result<Option<Object>, ObjectError> {
        self.inner.get(key).await
    }
    async fn delete(&self, key: &str) -> Result<(), ObjectError> {
        self.inner.delete(key).await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<String>, ObjectError> {
        self.inner.list(prefix).await
    }
}

/// When each recipient's message was accepted by the SMTP server.
#[derive(Debug)]
struct TimedMailer {
    inner: SmtpMailer,
    accepted: Arc<Mutex<HashMap<String, Instant>>>,
}

#[async_trait]
impl Mailer for TimedMailer {
    async fn send(&self, message: &Message) -> Result<(), WorkerError> {
        self.inner.send(message).await?;
        if let Ok(mut accepted) = self.accepted.lock() {
            accepted
                .entry(message.to.clone())
                .or_insert_with(Instant::now);
        }
        Ok(())
    }
}

async fn relay_throughput(backend: Backend, events: usize) {
    let db = TestDb::new(backend).await.expect("database");
    let opened = db.open().await.expect("open");
    let log = opened.log.clone();
    // Ten events per stream, appended by 16 writers.
    let started = Instant::now();
    let writers: Vec<_> = (0..16)
        .map(|writer| {
            let log = log.clone();
            tokio::spawn(async move {
                for stream in (writer..events / 10).step_by(16) {
                    let request = AppendRequest::new(
                        format!("bench-{stream}"),
                        "bench",
                        ExpectedVersion::Any,
                        (0..10)
                            .map(|n| NewEvent {
                                event_type: "Benchmarked".into(),
                                schema_version: 1,
                                payload: serde_json::json!({"stream": stream, "n": n, "note": "a payload of about the size of a registration's"}),
                                personal_fields: Vec::new(),
                            })
                            .collect(),
                    );
                    log.append(request).await.expect("append");
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.expect("writer");
    }
    eprintln!(
        "  {backend:?}: {events} events appended in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let settings = kafka(10_000);
    workers::kafka::ensure_topic(&settings)
        .await
        .expect("topic");
    let relay = Relay::new(opened.database.clone(), log, settings).expect("relay");
    let started = Instant::now();
    let published = relay.publish_to_head().await.expect("published");
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "relay   {backend:?}: {published} events in {seconds:.2} s = {:.0} events/s",
        published as f64 / seconds
    );
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn summary(what: &str, backend: Backend, mut latencies: Vec<f64>) {
    latencies.sort_by(f64::total_cmp);
    println!(
        "latency {backend:?} {what}: n={} p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        latencies.len(),
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or(f64::NAN)
    );
}

async fn end_to_end(backend: Backend, rate: u64, seconds: u64) {
    let db = TestDb::new(backend).await.expect("database");
    let opened = db.open().await.expect("open");
    let commands = CommandHandler::new(opened.log.clone(), ClaimHasher::new([3; 32]));
    let tokens = TokenMinter::new([9; 32]);
    let written = Arc::new(Mutex::new(HashMap::new()));
    let accepted = Arc::new(Mutex::new(HashMap::new()));
    let bucket = format!("idlog-bench-{}", uuid::Uuid::new_v4().simple());
    let store = objects::S3Store::new(&objects::S3Settings {
        bucket,
        endpoint: Some(env("TEST_S3_ENDPOINT", "http://127.0.0.1:9000")),
        region: "us-east-1".into(),
        path_style: true,
        access_key_id: "idlog-bench".into(),
        secret_access_key: "idlog-bench-secret".to_owned().into(),
    });
    store.ensure_bucket().await.expect("bucket");
    let mailer = TimedMailer {
        inner: SmtpMailer::new(&SmtpSettings {
            host: env("TEST_SMTP_HOST", "127.0.0.1"),
            port: env("TEST_SMTP_PORT", "1025").parse().expect("port"),
            tls: SmtpTls::None,
            username: None,
            password: None,
            timeout: std::time::Duration::from_secs(10),
        })
        .expect("mailer"),
        accepted: accepted.clone(),
    };
    let settings = kafka(1);
    workers::kafka::ensure_topic(&settings)
        .await
        .expect("topic");
    let runner = WorkerRunner::new(
        opened.database.clone(),
        opened.log.clone(),
        vec![
            Arc::new(StorageWorker::new(
                Arc::new(TimedStore {
                    inner: store,
                    written: written.clone(),
                }),
                commands.reader(),
            )),
            Arc::new(EmailWorker::new(
                Arc::new(mailer),
                DeliveryLog::new(opened.database.clone()),
                commands.reader(),
                tokens.clone(),
                EmailSettings {
                    product: "idlog".into(),
                    from: "idlog <no-reply@example.com>".into(),
                    public_url: "http://127.0.0.1:8080".into(),
                    reset_url: "http://127.0.0.1:8080/reset?token=".into(),
                },
                Templates::english(),
            )),
        ],
        WorkerSettings::default(),
    )
    .with_bus(Bus::Kafka(settings.clone()));
    let relay = Relay::new(opened.database.clone(), opened.log.clone(), settings).expect("relay");
    // Two members in each group, as the compose file's two worker processes.
    let mut running = runner.spawn();
    let second = runner.spawn();
    running.spawn(relay.run());
    // Let the consumer groups settle before measuring.
    tokio::time::sleep(std::time::Duration::from_secs(5)).await;

    let total = rate * seconds;
    let mut appended: Vec<(String, String, Instant)> = Vec::new();
    let mut ticker = tokio::time::interval(std::time::Duration::from_micros(1_000_000 / rate));
    let run = uuid::Uuid::new_v4().simple().to_string();
    for n in 0..total {
        ticker.tick().await;
        let id = UserId::from_uuid(uuid::Uuid::now_v7());
        let email = format!("user{n}@{run}.example.com");
        let now = Utc::now();
        let (email_verification, _) = tokens.issue(
            TokenPurpose::EmailVerification,
            id,
            now,
            Duration::hours(48),
        );
        commands
            .execute::<UserAggregate>(
                &id.to_string(),
                UserCommand::Register {
                    user: NewUser {
                        user_id: id,
                        email: Email::parse(&email).expect("email"),
                        username: None,
                        phone: None,
                        first_name: None,
                        last_name: None,
                        roles: [Role::parse("user").expect("role")].into(),
                        preferred_language: None,
                    },
                    password_hash: PasswordHash::new(
                        "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA",
                    ),
                    email_verification,
                    at: now,
                },
                CommandContext::default(),
            )
            .await
            .expect("registered");
        appended.push((id.to_string(), email, Instant::now()));
    }
    let deadline = Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let done = written.lock().map(|w| w.len()).unwrap_or(0)
            + accepted.lock().map(|a| a.len()).unwrap_or(0);
        if done >= 2 * appended.len() || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    drop(running);
    drop(second);
    let written = written.lock().expect("written").clone();
    let accepted = accepted.lock().expect("accepted").clone();
    let since = |at: Option<&Instant>, then: Instant| {
        at.map(|at| at.duration_since(then).as_secs_f64() * 1000.0)
    };
    let emails: Vec<f64> = appended
        .iter()
        .filter_map(|(_, email, then)| since(accepted.get(email), *then))
        .collect();
    let folders: Vec<f64> = appended
        .iter()
        .filter_map(|(id, _, then)| since(written.get(id), *then))
        .collect();
    println!("latency {backend:?}: {total} registrations at {rate}/s through Kafka");
    summary("welcome email accepted", backend, emails);
    summary("user_info.json written", backend, folders);
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let backends = match env("BACKENDS", "postgres,sqlite").as_str() {
        "postgres" => vec![Backend::Postgres],
        "sqlite" => vec![Backend::Sqlite],
        _ => vec![Backend::Postgres, Backend::Sqlite],
    };
    let events: usize = env("EVENTS", "200000").parse().expect("EVENTS");
    let rate: u64 = env("RATE", "50").parse().expect("RATE");
    let seconds: u64 = env("SECONDS", "30").parse().expect("SECONDS");
    for backend in backends {
        runtime.block_on(relay_throughput(backend, events));
        runtime.block_on(end_to_end(backend, rate, seconds));
    }
}
