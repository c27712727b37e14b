//! The SMS webhook sender against a real HTTP server on loopback (this test's own, recording what
//! it receives), on SQLite and PostgreSQL: the code goes out as JSON with the bearer token and the
//! message id as `Idempotency-Key`, verifies the number, and a failing webhook is retried.

use crate::common;
use chrono::Utc;
use commands::tokens::TokenMinter;
use commands::{ClaimHasher, CommandContext, CommandHandler};
use domain::Duration;
use domain::user::{UserAggregate, UserCommand};
use eventstore::test_both_backends;
use eventstore::testing::{Backend, TestDb};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use workers::deliveries::{DeliveryFilter, DeliveryLog};
use workers::sms::{SmsWorker, WebhookSender};
use workers::{WorkerRunner, WorkerSettings};

/// A request as the server saw it: head (request line and headers) and body.
#[derive(Debug, Clone)]
struct Received {
    head: String,
    body: String,
}

/// An HTTP/1.1 server answering `status` to everything, one request per connection.
async fn webhook(status: Arc<Mutex<u16>>) -> (String, Arc<Mutex<Vec<Received>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    let received = Arc::new(Mutex::new(Vec::new()));
    let log = received.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut bytes = Vec::new();
            let mut buffer = [0u8; 4096];
            // Read the head, then as much body as Content-Length says.
            let request = loop {
                let Ok(n) = socket.read(&mut buffer).await else {
                    break None;
                };
                if n == 0 {
                    break None;
                }
                bytes.extend_from_slice(&buffer[..n]);
                let text = String::from_utf8_lossy(&bytes).into_owned();
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let length = head
                        .lines()
                        .find_map(|line| {
                            line.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if body.len() >= length {
                        break Some(Received {
                            head: head.to_owned(),
                            body: body.to_owned(),
                        });
                    }
                }
            };
            let Some(request) = request else { continue };
            log.lock().expect("log").push(request);
            let code = *status.lock().expect("status");
            let answer =
                format!("HTTP/1.1 {code} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            let _ = socket.write_all(answer.as_bytes()).await;
        }
    });
    (format!("http://{address}/sms"), received)
}

async fn codes_go_to_the_webhook_with_the_token_and_failures_are_retried(backend: Backend) {
    let db = TestDb::new(backend).await.expect("test database");
    let opened = db.open().await.expect("open");
    let commands = CommandHandler::new(opened.log.clone(), ClaimHasher::new([3; 32]));
    let minter = TokenMinter::new([9; 32]);
    let status = Arc::new(Mutex::new(503));
    let (url, received) = webhook(status.clone()).await;
    let sender = WebhookSender::new(
        url,
        "provider-token".to_owned().into(),
        std::time::Duration::from_secs(5),
    )
    .expect("sender");
    let worker = SmsWorker::new(
        Arc::new(sender),
        DeliveryLog::new(opened.database.clone()),
        commands.reader(),
        minter.clone(),
        "Acme ID",
    );

    let ann = common::register(&commands, "ann@example.com", Some("+351912345678")).await;
    let now = Utc::now();
    let run = |command: UserCommand| {
        let commands = commands.clone();
        async move {
            commands
                .execute::<UserAggregate>(&ann.to_string(), command, CommandContext::default())
                .await
                .expect("command");
        }
    };
    let (_, code_hash) = minter.phone_code(ann, now);
    run(UserCommand::RequestPhoneVerification {
        code_hash,
        expires_at: now + Duration::minutes(10),
        at: now,
    })
    .await;

    // The provider fails twice, then accepts.
    let runner = WorkerRunner::new(
        opened.database.clone(),
        opened.log.clone(),
        vec![Arc::new(worker)],
        WorkerSettings {
            max_attempts: 10,
            retry_base: std::time::Duration::from_millis(10),
            retry_cap: std::time::Duration::from_millis(50),
        },
    );
    let flip = {
        let (status, received) = (status.clone(), received.clone());
        tokio::spawn(async move {
            while received.lock().expect("log").len() < 2 {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
            *status.lock().expect("status") = 200;
        })
    };
    runner.catch_up().await.expect("caught up");
    flip.await.expect("flipped");

    let requests = received.lock().expect("log").clone();
    assert!(requests.len() >= 3, "{requests:?}");
    let last = requests.last().expect("a request");
    assert!(last.head.starts_with("POST /sms HTTP/1.1"), "{}", last.head);
    let head = last.head.to_ascii_lowercase();
    assert!(
        head.contains("authorization: bearer provider-token"),
        "{head}"
    );
    assert!(head.contains("content-type: application/json"), "{head}");
    let body: serde_json::Value = serde_json::from_str(&last.body).expect("json");
    assert_eq!(body["to"], "+351912345678");
    let id = body["id"].as_str().expect("id");
    assert!(head.contains(&format!("idempotency-key: {id}")), "{head}");
    let text = body["text"].as_str().expect("text");
    let code: String = text
        .split("code: ")
        .nth(1)
        .expect("a code")
        .chars()
        .take(6)
        .collect();
    // Every attempt carried the same message.
    assert!(requests.iter().all(|r| r.body == last.body));
    run(UserCommand::ConfirmPhoneVerification {
        code_hash: minter.phone_code_hash(ann, &code),
        at: Utc::now(),
    })
    .await;

    let deliveries = DeliveryLog::new(opened.database.clone())
        .list(&DeliveryFilter {
            limit: 10,
            ..DeliveryFilter::default()
        })
        .await
        .expect("deliveries");
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0].channel, "sms");
    assert_eq!(deliveries[0].status, "sent");
    assert_eq!(deliveries[0].attempts as usize, requests.len());

    // Once sent, a redelivery posts nothing.
    eventstore::sql::execute(&opened.database, "DELETE FROM worker_checkpoints", &[])
        .await
        .expect("reset");
    runner.catch_up().await.expect("again");
    assert_eq!(received.lock().expect("log").len(), requests.len());
}

test_both_backends!(codes_go_to_the_webhook_with_the_token_and_failures_are_retried);
