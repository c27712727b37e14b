//! Running the real `idlog` binary in tests, and the services around it.

use eventstore::testing::{Backend, TestDb};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

/// The binary under test.
pub const IDLOG: &str = env!("CARGO_BIN_EXE_idlog");

/// `idlog ARGS` in `dir` with only the given IDLOG_ variables (the test environment's are
/// dropped).
pub fn idlog(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(IDLOG);
    command.current_dir(dir).args(args);
    for (key, _) in std::env::vars() {
        if key.starts_with("IDLOG_") {
            command.env_remove(key);
        }
    }
    command.envs(env.iter().copied());
    command
}

/// Runs `idlog ARGS` in `dir` with no standard input.
pub fn run(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    idlog(dir, args, env)
        .stdin(Stdio::null())
        .output()
        .expect("idlog runs")
}

/// `idlog ARGS` in `dir` against the database at `url`.
pub fn command_on(dir: &Path, url: &str, args: &[&str]) -> Command {
    idlog(dir, args, &[("IDLOG_DATABASE_URL", url)])
}

/// Runs `idlog ARGS` in `dir` against the database at `url`, with no standard input.
pub fn idlog_on(dir: &Path, url: &str, args: &[&str]) -> Output {
    run(dir, args, &[("IDLOG_DATABASE_URL", url)])
}

/// What a run printed, both streams.
pub fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// What a run that had to succeed printed, both streams.
pub fn succeeds(output: &Output) -> String {
    assert!(output.status.success(), "{}", text(output));
    text(output)
}

/// A log with two users (ann and bob) created through the command line.
pub async fn two_users(backend: Backend) -> (TestDb, tempfile::TempDir) {
    let db = TestDb::new(backend).await.expect("test database");
    let dir = tempfile::tempdir().expect("temp dir");
    for email in ["ann@example.com", "bob@example.com"] {
        let output = idlog_on(dir.path(), &db.url, &["users", "create", email]);
        assert!(output.status.success(), "{}", text(&output));
    }
    (db, dir)
}

/// A running server and the address it printed; killed when dropped.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub address: String,
}

impl Server {
    /// Stops the server as an operator would (SIGTERM) and waits for it to exit.
    pub fn stop(mut self) {
        let stopped = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .is_ok_and(|status| status.success());
        assert!(stopped, "SIGTERM sent");
        let status = self.child.wait().expect("the server exits");
        assert!(status.success(), "a clean shutdown: {status}");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `idlog serve` in `dir` and waits for its address.
pub fn start(dir: &Path, env: &[(&str, &str)]) -> Server {
    let mut child = idlog(dir, &["serve"], env)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(address) = line.split("listening on ").nth(1) {
                let _ = sender.send(address.to_owned());
            }
        }
    });
    let address = receiver
        .recv_timeout(Duration::from_secs(60))
        .expect("the server printed its address");
    Server { child, address }
}

/// `idlog worker` in `dir`, its output appended to `log`; killed when dropped.
pub struct WorkerProcess {
    child: Child,
}

impl WorkerProcess {
    /// Starts one.
    pub fn start(dir: &Path, env: &[(&str, &str)], log: &Path) -> Self {
        let output = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("worker log");
        let child = idlog(dir, &["worker"], env)
            .stdin(Stdio::null())
            .stdout(output.try_clone().expect("worker log"))
            .stderr(output)
            .spawn()
            .expect("spawn a worker");
        Self { child }
    }

    /// SIGKILL: no chance to finish anything.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A message the SMTP sink received.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct SinkMessage {
    /// The sink's id.
    pub id: u64,
    /// Envelope recipients.
    pub recipients: Vec<String>,
    /// Subject.
    pub subject: String,
}

/// The SMTP sink (mailtutan) the test command started: where to send and how to read back.
#[derive(Debug, Clone)]
pub struct Sink {
    /// SMTP host.
    pub host: String,
    /// SMTP port.
    pub port: String,
    /// Its HTTP API, `http://127.0.0.1:1080`.
    pub api: String,
}

impl Sink {
    /// The one from the environment (the test command's), or mailtutan's defaults.
    pub fn from_env() -> Self {
        let var =
            |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.to_owned());
        Self {
            host: var("TEST_SMTP_HOST", "127.0.0.1"),
            port: var("TEST_SMTP_PORT", "1025"),
            api: var("TEST_SMTP_API", "http://127.0.0.1:1080"),
        }
    }

    /// The idlog settings that send mail to this sink.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("IDLOG_EMAIL_TRANSPORT", "smtp".to_owned()),
            ("IDLOG_EMAIL_SMTP_HOST", self.host.clone()),
            ("IDLOG_EMAIL_SMTP_PORT", self.port.clone()),
            ("IDLOG_EMAIL_SMTP_TLS", "none".to_owned()),
        ]
    }

    /// Messages to recipients ending in `suffix` (tests share the sink: each uses its own
    /// domain).
    pub async fn messages_to(&self, suffix: &str) -> Vec<SinkMessage> {
        let all: Vec<SinkMessage> = reqwest::get(format!("{}/api/messages", self.api))
            .await
            .expect("the sink answers")
            .json()
            .await
            .expect("the sink's JSON");
        all.into_iter()
            .filter(|m| m.recipients.iter().any(|r| r.ends_with(suffix)))
            .collect()
    }

    /// Waits (up to `seconds`) until at least `count` messages to `suffix` arrived.
    pub async fn wait_for(&self, suffix: &str, count: usize, seconds: u64) -> Vec<SinkMessage> {
        let deadline = std::time::Instant::now() + Duration::from_secs(seconds);
        loop {
            let messages = self.messages_to(suffix).await;
            if messages.len() >= count || std::time::Instant::now() > deadline {
                return messages;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A message's plain text part, or its whole source.
    pub async fn text(&self, id: u64, format: &str) -> String {
        reqwest::get(format!("{}/api/messages/{id}/{format}", self.api))
            .await
            .expect("the sink answers")
            .text()
            .await
            .expect("text")
    }
}

/// The first `http...` link in `text`.
pub fn first_link(text: &str) -> String {
    let start = text.find("http").expect("a link");
    text[start..]
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != '"')
        .collect()
}

/// A fresh bucket on the test S3 server, and the idlog settings that use it.
pub fn s3_bucket() -> (objects::S3Store, Vec<(&'static str, String)>) {
    let endpoint =
        std::env::var("TEST_S3_ENDPOINT").unwrap_or_else(|_| "http://127.0.0.1:9000".to_owned());
    let bucket = format!("idlog-cli-{}", uuid::Uuid::new_v4().simple());
    let store = objects::S3Store::new(&objects::S3Settings {
        bucket: bucket.clone(),
        endpoint: Some(endpoint.clone()),
        region: "us-east-1".into(),
        path_style: true,
        access_key_id: "idlog-test".into(),
        secret_access_key: "idlog-test-secret".to_owned().into(),
    });
    let env = vec![
        ("IDLOG_STORAGE_BACKEND", "s3".to_owned()),
        ("IDLOG_STORAGE_BUCKET", bucket),
        ("IDLOG_STORAGE_ENDPOINT", endpoint),
        ("IDLOG_STORAGE_ACCESS_KEY_ID", "idlog-test".to_owned()),
        (
            "IDLOG_STORAGE_SECRET_ACCESS_KEY",
            "idlog-test-secret".to_owned(),
        ),
    ];
    (store, env)
}

/// `POST /api/v1/auth/login` with `credentials` on the server at `address`: the answer's JSON.
pub async fn login(address: &str, credentials: &serde_json::Value) -> serde_json::Value {
    reqwest::Client::new()
        .post(format!("{address}/api/v1/auth/login"))
        .json(credentials)
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("json")
}
