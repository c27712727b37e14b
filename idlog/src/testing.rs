//! The real server as `idlog serve` wires it (the API, the projector, the workers'
//! administration; of the workers, the storage worker only), on a random port over a fresh
//! database: for the API's tests and benchmarks, behind the `testing` feature. [`spawn_app`] and [`spawn_app_with`]
//! start one; the [`TestApp`] they return talks to it as a client would.

use api::{AppState, Application};
use application::AuthSettings;
use application::credentials::jwt::{AccessTokenSettings, AccessTokens, KeySetFile};
use application::credentials::password::{PasswordSettings, Passwords};
use application::rate_limit::{RateLimitSettings, RateLimits};
use commands::tokens::TokenMinter;
use commands::{ClaimHasher, CommandHandler};
use eventstore::EventLog;
use eventstore::testing::{Backend, TestDb};
use serde_json::{Value, json};
use std::sync::Arc;

/// The token key the test servers derive email and reset tokens from.
pub const TOKEN_KEY: [u8; 32] = [5; 32];

/// How a test server is set up.
#[derive(Clone)]
pub struct Options {
    /// argon2id cost: cheap in tests, OWASP's in benchmarks.
    pub passwords: PasswordSettings,
    /// Concurrent hashes (the blocking pool cap).
    pub hashing_concurrency: usize,
    /// Accounts, sessions and login (lifetimes, lockout, roles, hiding whether an account exists).
    pub auth: AuthSettings,
    /// Rate limits: none by default.
    pub limits: RateLimitSettings,
    /// Access tokens' issuer, audience and lifetime.
    pub tokens: AccessTokenSettings,
    /// Who may read `/metrics` on the API's listener.
    pub metrics: api::metrics::MetricsAccess,
    /// Whether requests are counted for `/metrics` (the metrics benchmark turns it off).
    pub count_requests: bool,
    /// Whether emails and text messages are sent, as `.eml` and SMS files in
    /// [`TestApp::data_folder`] with links to this server (the pages' tests follow them).
    pub messages: bool,
    /// The pages' public URL (`email.public_url`); default: the server's own address.
    pub public_url: Option<String>,
    /// A GeoIP country database (`server.geoip_database`).
    pub geoip_database: Option<std::path::PathBuf>,
    /// Proxies whose `X-Forwarded-For` is believed (`server.trusted_proxies`).
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            passwords: PasswordSettings {
                memory_kib: 1024,
                iterations: 1,
                parallelism: 1,
                min_length: 8,
            },
            hashing_concurrency: 2,
            auth: AuthSettings::default(),
            limits: RateLimitSettings::unlimited(),
            tokens: AccessTokenSettings::default(),
            metrics: Default::default(),
            count_requests: true,
            messages: false,
            public_url: None,
            geoip_database: None,
            trusted_proxies: Vec::new(),
        }
    }
}

/// A running test server and a client for it. Its projector and workers stop, and its object
/// folder (and SQLite file) go, when it is dropped.
pub struct TestApp {
    /// The server's base URL (`http://127.0.0.1:<port>`).
    pub address: String,
    /// The server's state, to serve it on another listener.
    pub state: AppState,
    /// An HTTP client (one connection pool for the test).
    pub client: reqwest::Client,
    /// The server's event log.
    pub log: EventLog,
    /// The server's key set, to mint tokens the server would (or, with other settings, would not).
    pub keys: KeySetFile,
    /// The options the server was built with.
    pub options: Options,
    /// The server's command handler, to set up what no endpoint may (the first administrator).
    pub commands: CommandHandler,
    /// The folder of the server's object store.
    pub objects_folder: tempfile::TempDir,
    /// The server's data folder: `mail/` and `sms/` when [`Options::messages`] is on.
    pub data_folder: tempfile::TempDir,
    /// The server's background work (failed logins, reset links).
    pub background: tokio_util::task::TaskTracker,
    /// The server's workers (their status tells when their reactions are in the log).
    pub workers: workers::WorkerRunner,
    /// The server's projector.
    pub projector: projections::Projector,
    _following: Arc<tokio::task::JoinSet<()>>,
    _working: Arc<tokio::task::JoinSet<()>>,
    _db: TestDb,
}

impl TestApp {
    /// Sends `method path` with a bearer token, an optional JSON body and extra headers.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut request = self
            .client
            .request(method, self.url(path))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.expect("request")
    }

    /// The URL of `path` on this server.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// Posts `body` as JSON to `path`, anonymously (user agent `idlog-tests/1.0`).
    pub async fn post(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .header("user-agent", "idlog-tests/1.0")
            .json(body)
            .send()
            .await
            .expect("request")
    }

    /// Posts `body` as JSON to `path` with a bearer token.
    pub async fn post_with_token(
        &self,
        path: &str,
        token: &str,
        body: &Value,
    ) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("request")
    }

    /// Gets `path` with a bearer token.
    pub async fn get_with_token(&self, path: &str, token: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("request")
    }

    /// Creates an administrator as the command line would, logs them in; returns their id and
    /// access token.
    pub async fn admin(&self) -> (String, String) {
        let passwords = Passwords::new(self.options.passwords, 1).expect("passwords");
        let tokens = TokenMinter::new(TOKEN_KEY);
        let creator = application::accounts::Creator {
            commands: &self.commands,
            passwords: &passwords,
            tokens: &tokens,
            invitation_lifetime: domain::Duration::days(7),
            email_verification_lifetime: domain::Duration::days(2),
            default_language: domain::values::LanguageTag::english(),
            role_seed: &self.options.auth.roles,
        };
        let account = application::accounts::NewAccount {
            email: domain::values::Email::parse("root@example.com").expect("email"),
            username: None,
            phone: None,
            first_name: None,
            last_name: None,
            roles: [domain::values::Role::parse("admin").expect("role")].into(),
            password: Some("the administrator's passphrase".to_owned().into()),
            temporary_password: false,
        };
        let executed = creator
            .create(account, Default::default())
            .await
            .expect("admin created");
        let domain::user::UserState::Present(admin) = executed.state else {
            panic!("no admin")
        };
        let tokens = self
            .login("root@example.com", "the administrator's passphrase")
            .await;
        (
            admin.id.to_string(),
            tokens["access_token"].as_str().expect("token").to_owned(),
        )
    }

    /// The events of `event_type` in the log, in order, once background work has settled.
    pub async fn events_of_type(&self, event_type: &str) -> Vec<eventstore::RecordedEvent> {
        self.settle().await;
        let events = self.log.read_all(0, 100_000).await.expect("read");
        events
            .into_iter()
            .filter(|event| event.event_type == event_type)
            .collect()
    }

    /// When the last event of `event_type` in `user_id`'s stream says (at `pointer`) a secret
    /// was issued.
    async fn issued_at(
        &self,
        user_id: &str,
        event_type: &str,
        pointer: &str,
    ) -> chrono::DateTime<chrono::Utc> {
        self.settle().await;
        let events = self.log.read_stream(user_id).await.expect("read");
        let event = events
            .iter()
            .rev()
            .find(|event| event.event_type == event_type)
            .expect("the secret was issued");
        let at = event
            .payload
            .pointer(pointer)
            .and_then(Value::as_str)
            .expect("issued_at");
        chrono::DateTime::parse_from_rfc3339(at)
            .expect("time")
            .with_timezone(&chrono::Utc)
    }

    /// The last link token of `purpose` sent to `user_id`, rebuilt as the email worker would.
    pub async fn sent_token(
        &self,
        user_id: &str,
        purpose: commands::tokens::TokenPurpose,
    ) -> String {
        let event_type = match purpose {
            commands::tokens::TokenPurpose::EmailVerification => "EmailVerificationRequested",
            commands::tokens::TokenPurpose::PasswordReset => "PasswordResetRequested",
        };
        let at = self
            .issued_at(user_id, event_type, "/token/issued_at")
            .await;
        let user: domain::UserId = user_id.parse().expect("user id");
        secrecy::ExposeSecret::expose_secret(&TokenMinter::new(TOKEN_KEY).token(purpose, user, at))
            .to_owned()
    }

    /// The last phone code sent to `user_id`, rebuilt as the SMS worker would.
    pub async fn sent_phone_code(&self, user_id: &str) -> String {
        let at = self
            .issued_at(user_id, "PhoneVerificationRequested", "/issued_at")
            .await;
        let user: domain::UserId = user_id.parse().expect("user id");
        secrecy::ExposeSecret::expose_secret(&TokenMinter::new(TOKEN_KEY).phone_code(user, at).0)
            .to_owned()
    }

    /// Waits until the work answered requests left in the background is done.
    pub async fn settle(&self) {
        self.background.close();
        self.background.wait().await;
        self.background.reopen();
    }

    /// Waits until the log stands still: background work done, and every worker past the head
    /// (so their reactions, such as wallets opened, are in the log). A worker saves its
    /// position up to 250 ms after its last event, so this takes that long.
    pub async fn quiet(&self) {
        self.settle().await;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let head = self.head_position().await;
            let statuses = self.workers.status().await.expect("workers' status");
            if statuses.iter().all(|status| status.position >= head)
                && self.head_position().await == head
            {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the workers did not reach the head"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// The position of the last event in the log.
    pub async fn head_position(&self) -> u64 {
        self.log.head().await.expect("head").position
    }

    /// Registers `email` with `password`; returns the user id.
    pub async fn register(&self, email: &str, password: &str) -> String {
        let response = self
            .post(
                "/api/v1/auth/register",
                &json!({"email": email, "password": password}),
            )
            .await;
        assert_eq!(response.status(), 201, "register {email}");
        let body: Value = response.json().await.expect("json");
        body["id"].as_str().expect("id").to_owned()
    }

    /// Logs in; returns the token response.
    pub async fn login(&self, login: &str, password: &str) -> Value {
        let response = self
            .post(
                "/api/v1/auth/login",
                &json!({"login": login, "password": password}),
            )
            .await;
        assert_eq!(response.status(), 200, "login {login}");
        response.json().await.expect("json")
    }
}

/// The real server on a random port over a fresh database. Hashing is made cheap for speed;
/// the benchmarks use the real parameters.
pub async fn spawn_app_with(backend: Backend, options: Options) -> TestApp {
    // Bound first, so that the links in messages name the port.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = format!("http://{}", listener.local_addr().expect("address"));
    let data_folder = tempfile::tempdir().expect("data folder");
    let db = TestDb::new(backend).await.expect("test database");
    let opened = db.open().await.expect("open");
    let log = opened.log;
    let projector = projections::Projector::new(
        opened.database.clone(),
        log.clone(),
        projections::all(),
        projections::ProjectorSettings {
            poll_interval: std::time::Duration::from_millis(20),
            ..Default::default()
        },
    );
    projector.prepare().await.expect("read models");
    let following = Arc::new(projector.spawn());
    let objects_folder = tempfile::tempdir().expect("objects folder");
    // One handler (one cache of folded states) for the API and the workers, as `idlog serve`.
    let commands = CommandHandler::new(log.clone(), ClaimHasher::new([7; 32]));
    let mut handlers: Vec<Arc<dyn workers::Worker>> = vec![
        Arc::new(workers::storage::StorageWorker::new(
            Arc::new(objects::LocalFolder::new(objects_folder.path())),
            commands.reader(),
        )),
        Arc::new(workers::wallets::WalletWorker::new(commands.clone())),
    ];
    if options.messages {
        let deliveries = workers::deliveries::DeliveryLog::new(opened.database.clone());
        let tokens = TokenMinter::new(TOKEN_KEY);
        handlers.push(Arc::new(workers::email::EmailWorker::new(
            Arc::new(workers::email::EmlFolder::new(
                data_folder.path().join("mail"),
            )),
            deliveries.clone(),
            commands.reader(),
            tokens.clone(),
            workers::email::EmailSettings {
                product: "idlog".into(),
                from: "idlog <no-reply@localhost>".into(),
                public_url: address.clone(),
                reset_url: format!("{address}/reset-password?token="),
            },
            workers::email::Templates::english(),
        )));
        handlers.push(Arc::new(workers::sms::SmsWorker::new(
            Arc::new(workers::sms::SmsFolder::new(data_folder.path().join("sms"))),
            deliveries,
            commands.reader(),
            tokens,
            "idlog",
        )));
    }
    let workers = workers::WorkerRunner::new(
        opened.database.clone(),
        log.clone(),
        handlers,
        workers::WorkerSettings::default(),
    );
    let working = Arc::new(workers.spawn());
    let passwords =
        Passwords::new(options.passwords, options.hashing_concurrency).expect("passwords");
    let keys = KeySetFile::generate(chrono::Utc::now()).expect("keys");
    let objects: Arc<dyn objects::ObjectStore> =
        Arc::new(objects::LocalFolder::new(objects_folder.path()));
    let administration = crate::administration::Workers {
        runner: Some(workers.clone()),
        storage: workers::storage::StorageWorker::new(objects.clone(), commands.reader()),
        deliveries: workers::deliveries::DeliveryLog::new(opened.database.clone()),
    };
    let state = AppState::new(api::AppServices {
        app: Arc::new(application::App {
            read: application::ReadSide {
                wait_timeout: std::time::Duration::from_secs(1),
                ..application::ReadSide::new(projector.clone())
            },
            places: match &options.geoip_database {
                Some(path) => {
                    application::places::Places::with_countries(path).expect("the GeoIP database")
                }
                None => application::places::Places::addresses_only(),
            },
            workers: Some(Arc::new(administration)),
            commands,
            passwords,
            tokens: TokenMinter::new(TOKEN_KEY),
            totp: application::credentials::totp::SecretSealer::new(&TOKEN_KEY),
            objects,
            access_tokens: Arc::new(application::credentials::jwt::AccessTokenKeys::new(
                AccessTokens::new(&keys, options.tokens.clone()).expect("access tokens"),
            )),
            rate_limits: RateLimits::new(options.limits),
            auth: options.auth.clone(),
            background: tokio_util::task::TaskTracker::new(),
        }),
        metrics: if options.count_requests {
            api::metrics::Metrics::new(options.metrics.clone())
        } else {
            api::metrics::Metrics::new(options.metrics.clone()).without_request_counting()
        },
        pages: api::pages::PageSettings::new(
            options.public_url.as_deref().unwrap_or(&address),
            &TOKEN_KEY,
        ),
        trusted_proxies: options.trusted_proxies.clone(),
    });
    let background = state.background.clone();
    let commands = state.commands.clone();
    let state_for_tests = state.clone();
    let app = Application::on(listener, state);
    tokio::spawn(app.run(std::future::pending()));
    TestApp {
        address,
        state: state_for_tests,
        client: reqwest::Client::new(),
        log,
        keys,
        options,
        background,
        commands,
        objects_folder,
        data_folder,
        projector,
        workers,
        _following: following,
        _working: working,
        _db: db,
    }
}

/// [`spawn_app_with`] the default [`Options`].
pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, Options::default()).await
}
