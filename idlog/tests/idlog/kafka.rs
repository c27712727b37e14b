//! Workers through Kafka, with the real binary and real services on loopback (the test command
//! starts them: tansu as the Kafka-protocol broker, moto as S3, mailtutan as the SMTP sink), on
//! SQLite and PostgreSQL: `idlog serve` relays the log, `idlog worker` processes share each worker
//! kind's consumer group.

use super::common::{self, Server, Sink, WorkerProcess};
use eventstore::testing::{Backend, TestDb};
use futures::StreamExt;
use objects::ObjectStore;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

const PASSWORD: &str = "correct horse battery staple";

/// One test's world: its database, topic, consumer groups, bucket and mail domain.
struct Stack {
    db: TestDb,
    dir: tempfile::TempDir,
    env: Vec<(&'static str, String)>,
    objects: objects::S3Store,
    sink: Sink,
    /// Every address of this test ends with it.
    domain: String,
    /// The administrator `serve` creates on the empty log.
    admin: String,
}

async fn stack(backend: Backend) -> Stack {
    let db = TestDb::new(backend).await.expect("test database");
    let dir = tempfile::tempdir().expect("temp dir");
    let (objects, mut env) = common::s3_bucket();
    let sink = Sink::from_env();
    env.extend(sink.env());
    let run = uuid::Uuid::new_v4().simple().to_string();
    let admin = format!("root@{run}.example.org");
    env.extend([
        ("IDLOG_DATABASE_URL", db.url.clone()),
        (
            "IDLOG_KAFKA_BROKERS",
            std::env::var("TEST_KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".to_owned()),
        ),
        ("IDLOG_KAFKA_TOPIC", format!("idlog-test-{run}")),
        ("IDLOG_KAFKA_PARTITIONS", "4".to_owned()),
        ("IDLOG_KAFKA_GROUP_PREFIX", format!("test-{run}-")),
        // tansu cannot serve a consumer resuming in the middle of a record batch.
        ("IDLOG_KAFKA_BATCH_MESSAGES", "1".to_owned()),
        ("IDLOG_SERVER_PORT", "0".to_owned()),
        ("IDLOG_LIMITS_REGISTER_PER_IP", "0".to_owned()),
        // Cheap password hashing: these tests are about the workers.
        ("IDLOG_AUTH_ARGON2_MEMORY_KIB", "1024".to_owned()),
        ("IDLOG_AUTH_ARGON2_ITERATIONS", "1".to_owned()),
        (
            "IDLOG_BOOTSTRAP_ADMIN_EMAIL",
            format!("root@{run}.example.org"),
        ),
        ("IDLOG_BOOTSTRAP_ADMIN_PASSWORD", PASSWORD.to_owned()),
    ]);
    Stack {
        db,
        dir,
        env,
        objects,
        sink,
        domain: format!("@{run}.example.com"),
        admin,
    }
}

impl Stack {
    fn env(&self) -> Vec<(&str, &str)> {
        self.env.iter().map(|(k, v)| (*k, v.as_str())).collect()
    }

    fn serve(&self) -> Server {
        common::start(self.dir.path(), &self.env())
    }

    fn worker(&self, name: &str) -> WorkerProcess {
        WorkerProcess::start(self.dir.path(), &self.env(), &self.log(name))
    }

    /// Waits until the email consumer of each named worker has partitions (joining a group takes
    /// the broker a few seconds).
    async fn wait_for_assignments(&self, names: &[&str]) {
        for _ in 0..300 {
            let assigned = names.iter().all(|name| {
                std::fs::read_to_string(self.log(name)).is_ok_and(|log| {
                    log.lines().any(|line| {
                        line.contains("email")
                            && line.contains("partitions assigned")
                            && !line.contains("partitions=[]")
                    })
                })
            });
            if assigned {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the workers did not get partitions\n{}", self.logs());
    }

    fn log(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(format!("{name}.log"))
    }

    /// The last lines of every worker's log, for a failure's message.
    fn logs(&self) -> String {
        let mut out = String::new();
        for entry in std::fs::read_dir(self.dir.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "log") {
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                let lines: Vec<&str> = text.lines().collect();
                out.push_str(&format!("--- {}\n", path.display()));
                for line in lines.iter().filter(|line| line.contains("partitions ")) {
                    out.push_str(line);
                    out.push('\n');
                }
                out.push_str("...\n");
                for line in &lines[lines.len().saturating_sub(10)..] {
                    out.push_str(line);
                    out.push('\n');
                }
            }
        }
        out
    }

    /// Registers `count` users over HTTP, a few at a time; their ids in order.
    async fn register(&self, server: &Server, first: usize, count: usize) -> Vec<String> {
        let client = reqwest::Client::new();
        futures::stream::iter(first..first + count)
            .map(|n| {
                let client = client.clone();
                let email = format!("user{n}{}", self.domain);
                let url = format!("{}/api/v1/auth/register", server.address);
                async move {
                    let response = client
                        .post(url)
                        .json(&serde_json::json!({"email": email, "password": PASSWORD}))
                        .send()
                        .await
                        .expect("register");
                    assert_eq!(response.status(), 201);
                    let body: serde_json::Value = response.json().await.expect("json");
                    body["id"].as_str().expect("id").to_owned()
                }
            })
            .buffered(8)
            .collect()
            .await
    }

    /// Every object under `accounts/`, by user id.
    async fn folders(&self) -> BTreeMap<String, BTreeSet<String>> {
        let mut folders: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for key in self.objects.list("accounts/").await.expect("list") {
            let user = key.split('/').nth(1).unwrap_or_default().to_owned();
            folders.entry(user).or_default().insert(key);
        }
        folders
    }

    /// Waits until each of `users` has its three objects (the administrator `serve` created
    /// has a folder too: counting folders would not do).
    async fn wait_for_folders(
        &self,
        users: &[String],
        seconds: u64,
    ) -> BTreeMap<String, BTreeSet<String>> {
        let deadline = std::time::Instant::now() + Duration::from_secs(seconds);
        loop {
            let folders = self.folders().await;
            let complete = users
                .iter()
                .all(|user| folders.get(user).is_some_and(|keys| keys.len() == 3));
            if complete || std::time::Instant::now() > deadline {
                return folders;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The delivery log, straight from the database.
    async fn deliveries(&self) -> Vec<workers::deliveries::Delivery> {
        let opened = self.db.open().await.expect("open");
        workers::deliveries::DeliveryLog::new(opened.database)
            .list(&workers::deliveries::DeliveryFilter {
                limit: 1000,
                ..Default::default()
            })
            .await
            .expect("deliveries")
            .into_iter()
            .filter(|d| d.recipient.ends_with(&self.domain))
            .collect()
    }
}

/// Each user: exactly the three objects, and a `user_info.json` about them.
async fn assert_folders(stack: &Stack, users: &[String]) {
    let folders = stack.wait_for_folders(users, 90).await;
    for id in users {
        let keys = folders.get(id).cloned().unwrap_or_default();
        assert_eq!(
            keys,
            BTreeSet::from([
                format!("accounts/{id}/biometric-data/"),
                format!("accounts/{id}/metadata/user_info.json"),
                format!("accounts/{id}/performance-data/"),
            ]),
            "user {id}\n{}",
            stack.logs()
        );
    }
    let info = stack
        .objects
        .get(&format!("accounts/{}/metadata/user_info.json", users[0]))
        .await
        .expect("get")
        .expect("user_info.json");
    let info: serde_json::Value = serde_json::from_slice(&info.bytes).expect("json");
    assert_eq!(info["id"], users[0].as_str());
    assert!(
        info["email"]
            .as_str()
            .is_some_and(|email| email.ends_with(&stack.domain))
    );
}

/// Welcome messages per recipient.
fn per_recipient(messages: &[common::SinkMessage]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for message in messages {
        assert!(
            message.subject.starts_with("Welcome to idlog"),
            "{message:?}"
        );
        for recipient in &message.recipients {
            *counts.entry(recipient.clone()).or_default() += 1;
        }
    }
    counts
}

async fn two_worker_processes_in_one_group_do_each_effect_once(backend: Backend) {
    let stack = stack(backend).await;
    let server = stack.serve();
    let _first = stack.worker("first");
    let _second = stack.worker("second");
    stack.wait_for_assignments(&["first", "second"]).await;
    let users = stack.register(&server, 0, 40).await;

    let arrived = stack.sink.wait_for(&stack.domain, 40, 90).await;
    assert_eq!(arrived.len(), 40, "welcome messages\n{}", stack.logs());
    assert_folders(&stack, &users).await;
    // Anything sent twice would have arrived by now.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let arrived = stack.sink.messages_to(&stack.domain).await;
    let counts = per_recipient(&arrived);
    assert_eq!(counts.len(), 40);
    assert!(counts.values().all(|&n| n == 1), "{counts:?}");

    // The delivery log: each message sent at its first attempt.
    let deliveries = stack.deliveries().await;
    assert_eq!(deliveries.len(), 40);
    assert!(
        deliveries
            .iter()
            .all(|d| d.status == "sent" && d.attempts == 1 && d.template == "welcome"),
        "{deliveries:?}"
    );
    // Every worker's group commits past what it skipped: none reports a lag once idle (the SMS
    // worker wanted none of these events).
    let mut status = String::new();
    for _ in 0..100 {
        status = common::text(&common::run(
            stack.dir.path(),
            &["workers", "status"],
            &stack.env(),
        ));
        let lags: Vec<&str> = status
            .lines()
            .skip(1)
            .filter_map(|line| line.split_whitespace().nth(2))
            .collect();
        if !lags.is_empty() && lags.iter().all(|lag| *lag == "0") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let sms = status
        .lines()
        .find(|line| line.starts_with("sms"))
        .unwrap_or_default();
    assert_eq!(sms.split_whitespace().nth(2), Some("0"), "{status}");
    assert!(
        status
            .lines()
            .skip(1)
            .all(|line| line.split_whitespace().nth(2) == Some("0")),
        "{status}"
    );

    // Both processes took part: the group shared the partitions.
    for name in ["first", "second"] {
        let log = std::fs::read_to_string(stack.log(name)).unwrap_or_default();
        assert!(
            log.contains("sending a message"),
            "{name} did nothing:\n{log}"
        );
    }

    // The same over HTTP, for administrators.
    let client = reqwest::Client::new();
    let login = common::login(
        &server.address,
        &serde_json::json!({"email": stack.admin, "password": PASSWORD}),
    )
    .await;
    let token = login["access_token"].as_str().expect("token");
    let page: serde_json::Value = client
        .get(format!(
            "{}/api/v1/admin/deliveries?template=welcome&limit=25",
            server.address
        ))
        .bearer_auth(token)
        .send()
        .await
        .expect("deliveries")
        .json()
        .await
        .expect("json");
    let items = page["items"].as_array().expect("items");
    assert_eq!(items.len(), 25, "{page}");
    let next: serde_json::Value = client
        .get(format!(
            "{}/api/v1/admin/deliveries?template=welcome&limit=25&before={}",
            server.address, page["next_before"]
        ))
        .bearer_auth(token)
        .send()
        .await
        .expect("deliveries")
        .json()
        .await
        .expect("json");
    // 41 welcomes in all: the 40 users' and the bootstrap administrator's (created with a
    // password, so welcomed too).
    assert_eq!(next["items"].as_array().map(Vec::len), Some(16), "{next}");
    assert!(next["next_before"].is_null());
    let bad = client
        .get(format!(
            "{}/api/v1/admin/deliveries?status=lost",
            server.address
        ))
        .bearer_auth(token)
        .send()
        .await
        .expect("deliveries");
    assert_eq!(bad.status(), 400);
}

async fn a_worker_killed_in_a_burst_loses_nothing(backend: Backend) {
    let stack = stack(backend).await;
    let server = stack.serve();
    let _steady = stack.worker("steady");
    let mut victim = stack.worker("victim");
    let mut users = stack.register(&server, 0, 150).await;
    // SIGKILL in the middle of the burst: no chance to commit offsets or finish an effect.
    victim.kill();
    let killed = std::time::Instant::now();
    users.extend(stack.register(&server, 150, 200).await);
    // Restarted well after its consumer session expired (10 s). Kafka would also hand the dead
    // member's partitions to the survivor at that moment by itself; tansu, the test broker, only
    // drops a dead member at the next rebalance, and one that starts before the session expired
    // assigns partitions to the dead member for good.
    tokio::time::sleep(Duration::from_secs(20).saturating_sub(killed.elapsed())).await;
    let _restarted = stack.worker("victim");
    users.extend(stack.register(&server, 350, 150).await);

    let arrived = stack.sink.wait_for(&stack.domain, 500, 180).await;
    assert_folders(&stack, &users).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let arrived_after = stack.sink.messages_to(&stack.domain).await;
    assert!(arrived_after.len() >= arrived.len());
    let counts = per_recipient(&arrived_after);
    // Every user got their welcome.
    assert_eq!(counts.len(), 500, "users with a welcome message");
    // Redelivered events found their messages marked sent and sent nothing; only a message the
    // victim had handed to the SMTP server in the instant before it died, not yet marked, can
    // go twice (with the same Message-ID).
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.len() <= 1 && twice.iter().all(|(_, n)| **n == 2),
        "{twice:?}"
    );
    let deliveries = stack.deliveries().await;
    assert_eq!(deliveries.len(), 500);
    assert!(deliveries.iter().all(|d| d.status == "sent"));
}

eventstore::test_both_backends!(
    two_worker_processes_in_one_group_do_each_effect_once,
    a_worker_killed_in_a_burst_loses_nothing
);
