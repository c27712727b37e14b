//! Emails: the messages events call for, from templates (text and HTML, per language), sent
//! through a [`Mailer`]. The embedded default writes each message as an `.eml` file in the data
//! folder's `mail/`.
//!
//! Links carry tokens rebuilt from the token key and the event (the log holds only their
//! hashes), so a message can be sent again, identically, after any crash. A message's id is its
//! event's id: the `.eml` default overwrites the same file, so a redelivered event leaves one.

use crate::deliveries::{Channel, DeliveryLog, Outgoing};
use crate::{Worker, WorkerError};
use async_trait::async_trait;
use commands::StateReader;
use commands::tokens::{TokenMinter, TokenPurpose};
use domain::user::{ResetPurpose, User, UserAggregate, UserEvent, UserEventType, UserState};
use domain::values::Personal;
use domain::{Aggregate, DomainEvent};
use eventstore::RecordedEvent;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

/// The email worker's name.
pub const NAME: &str = "email";

/// A message to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Unique per event: the event's id and the template.
    pub id: String,
    /// Sender.
    pub from: String,
    /// Recipient.
    pub to: String,
    /// Subject.
    pub subject: String,
    /// Plain text body.
    pub text: String,
    /// HTML body.
    pub html: String,
    /// Which template it came from.
    pub template: Template,
}

/// Sends messages.
#[async_trait]
pub trait Mailer: Send + Sync + std::fmt::Debug {
    /// Sends `message`; sending the same message id again must not make a second message where
    /// the transport can help it.
    async fn send(&self, message: &Message) -> Result<(), WorkerError>;
}

/// Messages as `.eml` files (RFC 5322, multipart text and HTML) in a folder, named by id.
#[derive(Debug, Clone)]
pub struct EmlFolder {
    dir: PathBuf,
}

impl EmlFolder {
    /// Messages go to `dir` (created as needed).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }
}

/// The message as RFC 5322 text.
pub fn rfc5322(message: &Message) -> String {
    let boundary = format!("idlog-{}", message.id);
    format!(
        "Message-ID: <{id}@idlog>\r\nFrom: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/alternative; boundary=\"{boundary}\"\r\n\r\n\
         --{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n\
         --{boundary}\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{html}\r\n--{boundary}--\r\n",
        id = message.id,
        from = message.from,
        to = message.to,
        subject = message.subject,
        text = message.text,
        html = message.html,
    )
}

#[async_trait]
impl Mailer for EmlFolder {
    async fn send(&self, message: &Message) -> Result<(), WorkerError> {
        let io = |error: std::io::Error| WorkerError::Other(format!("writing a message: {error}"));
        tokio::fs::create_dir_all(&self.dir).await.map_err(io)?;
        let path = self.dir.join(format!("{}.eml", message.id));
        let temporary = self.dir.join(format!(".{}.eml.tmp", message.id));
        tokio::fs::write(&temporary, rfc5322(message))
            .await
            .map_err(io)?;
        tokio::fs::rename(&temporary, &path).await.map_err(io)
    }
}

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain text: only for a server on loopback (a local relay or a test sink).
    None,
    /// Plain connection upgraded with STARTTLS (required), usually port 587.
    #[default]
    StartTls,
    /// TLS from the first byte (implicit TLS), usually port 465.
    Tls,
}

/// Where and how to send mail by SMTP.
#[derive(Debug, Clone)]
pub struct SmtpSettings {
    /// The server's host name (checked against its certificate with TLS).
    pub host: String,
    /// Its port.
    pub port: u16,
    /// How the connection is secured.
    pub tls: SmtpTls,
    /// User name, if the server wants one.
    pub username: Option<String>,
    /// Password for `username`.
    pub password: Option<secrecy::SecretString>,
    /// How long one exchange with the server may take.
    pub timeout: std::time::Duration,
}

/// Sends messages by SMTP (lettre), multipart text and HTML, with the message id as `Message-ID`.
///
/// One connection per message, no pool: simple, and independent of how a server handles several
/// transactions on one connection (the mailtutan test sink merges them into one message). For
/// plain and STARTTLS connections the socket is opened here with `TCP_NODELAY`: lettre writes a
/// message's body and its final `.` separately, and with Nagle's algorithm against a server that
/// delays its ACKs every message waited 40 ms for nothing (measured: 44 ms per message before,
/// about 3 ms after). Implicit TLS goes through lettre's transport.
#[derive(Clone)]
pub struct SmtpMailer {
    settings: SmtpSettings,
    implicit_tls: Option<lettre::AsyncSmtpTransport<lettre::Tokio1Executor>>,
    server: String,
}

impl std::fmt::Debug for SmtpMailer {
    // The settings hold the credentials: only the server is shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpMailer")
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

fn smtp_error(server: &str, error: impl std::fmt::Display) -> WorkerError {
    WorkerError::Other(format!("SMTP {server}: {error}"))
}

impl SmtpMailer {
    /// A mailer for `settings` (a connection is opened for each message).
    pub fn new(settings: &SmtpSettings) -> Result<Self, WorkerError> {
        let server = format!("{}:{}", settings.host, settings.port);
        let implicit_tls = match settings.tls {
            SmtpTls::Tls => {
                let mut builder =
                    lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::relay(&settings.host)
                        .map_err(|error| smtp_error(&server, error))?
                        .port(settings.port)
                        .timeout(Some(settings.timeout));
                if let Some(credentials) = credentials(settings) {
                    builder = builder.credentials(credentials);
                }
                Some(builder.build())
            }
            SmtpTls::None | SmtpTls::StartTls => None,
        };
        Ok(Self {
            settings: settings.clone(),
            implicit_tls,
            server,
        })
    }

    /// One SMTP session on a socket of our own: connect, EHLO, STARTTLS if configured, AUTH if
    /// configured, the message, QUIT.
    async fn send_on_own_socket(&self, email: &lettre::Message) -> Result<(), WorkerError> {
        use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
        use lettre::transport::smtp::extension::ClientId;
        let settings = &self.settings;
        let fail = |error: &dyn std::fmt::Display| smtp_error(&self.server, error);
        let stream = tokio::net::TcpStream::connect((settings.host.as_str(), settings.port))
            .await
            .map_err(|e| fail(&e))?;
        stream.set_nodelay(true).map_err(|e| fail(&e))?;
        let client = ClientId::default();
        let mut connection = AsyncSmtpConnection::connect_with_transport(Box::new(stream), &client)
            .await
            .map_err(|e| fail(&e))?;
        if settings.tls == SmtpTls::StartTls {
            let tls = TlsParameters::new(settings.host.clone()).map_err(|e| fail(&e))?;
            connection
                .starttls(tls, &client)
                .await
                .map_err(|e| fail(&e))?;
        }
        if let Some(credentials) = credentials(settings) {
            use lettre::transport::smtp::authentication::Mechanism;
            connection
                .auth(&[Mechanism::Plain, Mechanism::Login], &credentials)
                .await
                .map_err(|e| fail(&e))?;
        }
        connection
            .send(email.envelope(), &email.formatted())
            .await
            .map_err(|e| fail(&e))?;
        // Accepted: a failing QUIT changes nothing.
        let _ = connection.quit().await;
        Ok(())
    }
}

fn credentials(
    settings: &SmtpSettings,
) -> Option<lettre::transport::smtp::authentication::Credentials> {
    let (Some(username), Some(password)) = (&settings.username, &settings.password) else {
        return None;
    };
    Some(lettre::transport::smtp::authentication::Credentials::new(
        username.clone(),
        secrecy::ExposeSecret::expose_secret(password).to_owned(),
    ))
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, message: &Message) -> Result<(), WorkerError> {
        use lettre::AsyncTransport;
        let invalid = |what: &str, error: &dyn std::fmt::Display| {
            WorkerError::Other(format!("message {}: {what}: {error}", message.id))
        };
        let email = lettre::Message::builder()
            .message_id(Some(format!("<{}@idlog>", message.id)))
            .from(message.from.parse().map_err(|e| invalid("sender", &e))?)
            .to(message.to.parse().map_err(|e| invalid("recipient", &e))?)
            .subject(&message.subject)
            .multipart(lettre::message::MultiPart::alternative_plain_html(
                message.text.clone(),
                message.html.clone(),
            ))
            .map_err(|e| invalid("building", &e))?;
        match &self.implicit_tls {
            Some(transport) => transport
                .send(email)
                .await
                .map(drop)
                .map_err(|error| smtp_error(&self.server, error)),
            None => tokio::time::timeout(self.settings.timeout, self.send_on_own_socket(&email))
                .await
                .map_err(|_| smtp_error(&self.server, "timed out"))?,
        }
    }
}

/// The messages there are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Template {
    /// After registration: welcome, with the email verification link.
    Welcome,
    /// A new email verification link.
    VerificationResend,
    /// An administrator created the account: the link to set a first password.
    Invitation,
    /// The password reset link.
    PasswordReset,
    /// The password was changed (or reset).
    PasswordChanged,
    /// The account was locked.
    AccountLocked,
    /// To the old address: the email address changed.
    EmailChanged,
    /// An organization invited the person to join.
    OrganizationInvitation,
    /// The account was signed in from a kind of device it was not used on before.
    NewDevice,
    /// Two-factor authentication was turned on or off.
    TwoFactorChanged,
    /// A recovery code was used to sign in.
    RecoveryCodeUsed,
    /// An operator's test of the email settings (`idlog email test`).
    Test,
}

impl Template {
    /// Its name, as in message ids and the delivery log.
    pub fn name(self) -> &'static str {
        match self {
            Self::Welcome => "welcome",
            Self::VerificationResend => "verification_resend",
            Self::Invitation => "invitation",
            Self::PasswordReset => "password_reset",
            Self::PasswordChanged => "password_changed",
            Self::AccountLocked => "account_locked",
            Self::EmailChanged => "email_changed",
            Self::OrganizationInvitation => "organization_invitation",
            Self::NewDevice => "new_device",
            Self::TwoFactorChanged => "two_factor_changed",
            Self::RecoveryCodeUsed => "recovery_code_used",
            Self::Test => "test",
        }
    }
}

/// A template's subject, text and HTML with `{placeholders}`.
#[derive(Debug, Clone)]
pub struct Texts {
    /// Subject.
    pub subject: &'static str,
    /// Plain text.
    pub text: &'static str,
    /// HTML.
    pub html: &'static str,
}

/// Templates by language (a BCP 47 tag's primary language, e.g. `en`); English is the fallback.
#[derive(Debug, Clone)]
pub struct Templates {
    texts: HashMap<(String, Template), Texts>,
}

impl Templates {
    /// The English templates.
    pub fn english() -> Self {
        let mut texts = HashMap::new();
        let mut add = |template, subject, text, html| {
            texts.insert(
                ("en".to_owned(), template),
                Texts {
                    subject,
                    text,
                    html,
                },
            );
        };
        add(
            Template::Welcome,
            "Welcome to {product}: please verify your email",
            "Welcome to {product}!\n\nPlease verify your email address by opening this link:\n{link}\n\nThe link works until {expires}.",
            "<p>Welcome to {product}!</p><p>Please <a href=\"{link}\">verify your email address</a>.</p><p>The link works until {expires}.</p>",
        );
        add(
            Template::VerificationResend,
            "{product}: verify your email",
            "Please verify your email address by opening this link:\n{link}\n\nThe link works until {expires}.",
            "<p>Please <a href=\"{link}\">verify your email address</a>.</p><p>The link works until {expires}.</p>",
        );
        add(
            Template::Invitation,
            "You are invited to {product}",
            "An account was created for you at {product}. Set your password here:\n{link}\n\nThe link works until {expires}.",
            "<p>An account was created for you at {product}.</p><p><a href=\"{link}\">Set your password</a> (the link works until {expires}).</p>",
        );
        add(
            Template::PasswordReset,
            "{product}: reset your password",
            "Someone asked to reset your password. If it was you, open this link:\n{link}\n\nThe link works until {expires}. If it was not you, ignore this message.",
            "<p>Someone asked to reset your password. If it was you, <a href=\"{link}\">choose a new one</a> (the link works until {expires}).</p><p>If it was not you, ignore this message.</p>",
        );
        add(
            Template::PasswordChanged,
            "{product}: your password was changed",
            "Your password was changed at {when}. If you did not do this, reset your password and contact us.",
            "<p>Your password was changed at {when}.</p><p>If you did not do this, reset your password and contact us.</p>",
        );
        add(
            Template::AccountLocked,
            "{product}: your account is locked",
            "Your account was locked at {when}, until {until}.",
            "<p>Your account was locked at {when}, until {until}.</p>",
        );
        add(
            Template::EmailChanged,
            "{product}: your email address was changed",
            "The email address of your account was changed from this one to {new_email} at {when}. If you did not do this, contact us.",
            "<p>The email address of your account was changed from this one to {new_email} at {when}.</p><p>If you did not do this, contact us.</p>",
        );
        add(
            Template::OrganizationInvitation,
            "{product}: {organization} invites you to join",
            "{organization} invites you to join it at {product}. Sign in to accept or decline:\n{link}\n\nThe invitation stands until {expires}; nothing changes unless you accept it.",
            "<p>{organization} invites you to join it at {product}.</p><p><a href=\"{link}\">Sign in to accept or decline</a>. The invitation stands until {expires}; nothing changes unless you accept it.</p>",
        );
        add(
            Template::NewDevice,
            "{product}: a sign-in from a new device",
            "Your account was signed in from {device} at {address} on {when}, a kind of device it was not used on before.\n\nIf this was you, there is nothing to do. If it was not, change your password and sign out everywhere from the security page.",
            "<p>Your account was signed in from <strong>{device}</strong> at {address} on {when}, a kind of device it was not used on before.</p><p>If this was you, there is nothing to do. If it was not, change your password and sign out everywhere from the security page.</p>",
        );
        add(
            Template::TwoFactorChanged,
            "{product}: two-factor authentication was turned {change}",
            "Two-factor authentication of your account was turned {change} on {when}. If you did not do this, change your password and contact us.",
            "<p>Two-factor authentication of your account was turned {change} on {when}.</p><p>If you did not do this, change your password and contact us.</p>",
        );
        add(
            Template::RecoveryCodeUsed,
            "{product}: a recovery code was used to sign in",
            "A recovery code was used to sign in to your account on {when}; {left} of your recovery codes remain. If you did not do this, change your password and contact us.",
            "<p>A recovery code was used to sign in to your account on {when}; {left} of your recovery codes remain.</p><p>If you did not do this, change your password and contact us.</p>",
        );
        add(
            Template::Test,
            "{product}: a test message",
            "This message tests the email settings of {product}, sent at {when}. It arrived, so they work.",
            "<p>This message tests the email settings of {product}, sent at {when}. It arrived, so they work.</p>",
        );
        Self { texts }
    }

    /// Adds (or replaces) a language's text for `template`.
    pub fn with(mut self, language: &str, template: Template, texts: Texts) -> Self {
        self.texts.insert((language.to_owned(), template), texts);
        self
    }

    /// The texts for `template` in `language` (its primary subtag), or in English.
    pub fn texts(&self, template: Template, language: Option<&str>) -> Option<&Texts> {
        let primary = language
            .and_then(|tag| tag.split('-').next())
            .map(str::to_ascii_lowercase);
        primary
            .and_then(|language| self.texts.get(&(language, template)))
            .or_else(|| self.texts.get(&("en".to_owned(), template)))
    }
}

/// The message `idlog email test` sends to `to` at `at`.
pub fn test_message(
    settings: &EmailSettings,
    templates: &Templates,
    to: &str,
    at: domain::Timestamp,
) -> Result<Message, WorkerError> {
    let template = Template::Test;
    let texts = templates
        .texts(template, None)
        .ok_or_else(|| WorkerError::Other(format!("no template {}", template.name())))?;
    let values = [("product", settings.product.clone()), ("when", time(at))];
    Ok(Message {
        id: format!("{}-{}", uuid::Uuid::new_v4(), template.name()),
        from: settings.from.clone(),
        to: to.to_owned(),
        subject: fill(texts.subject, &values, false),
        text: fill(texts.text, &values, false),
        html: fill(texts.html, &values, true),
        template,
    })
}

fn fill(text: &str, values: &[(&str, String)], escape: bool) -> String {
    let mut filled = text.to_owned();
    for (name, value) in values {
        let value = if escape {
            value
                .replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
                .replace('"', "&quot;")
        } else {
            value.clone()
        };
        filled = filled.replace(&format!("{{{name}}}"), &value);
    }
    filled
}

/// What messages say and where their links point.
#[derive(Debug, Clone)]
pub struct EmailSettings {
    /// The product's name in messages.
    pub product: String,
    /// The sender address.
    pub from: String,
    /// The pages' public base URL: verification links open `{base}/verify-email?token=`.
    pub public_url: String,
    /// Where password reset and invitation links point; the token is appended.
    pub reset_url: String,
}

/// Sends the messages user events call for.
#[derive(Debug, Clone)]
pub struct EmailWorker {
    mailer: Arc<dyn Mailer>,
    deliveries: DeliveryLog,
    states: StateReader,
    tokens: TokenMinter,
    settings: EmailSettings,
    templates: Arc<Templates>,
}

/// Whether a user event calls for a message (or, once forgotten, for forgetting the recipient).
fn wanted(event_type: UserEventType) -> bool {
    use UserEventType as T;
    matches!(
        event_type,
        T::EmailVerificationRequested
            | T::PasswordResetRequested
            | T::PasswordChanged
            | T::PasswordSet
            | T::PasswordResetCompleted
            | T::AccountLocked
            | T::EmailChanged
            | T::InvitedToOrganization
            | T::SignedInFromNewDevice
            | T::TotpEnabled
            | T::TotpDisabled
            | T::RecoveryCodeUsed
            | T::UserForgotten
    )
}

fn time(at: domain::Timestamp) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

impl EmailWorker {
    /// A worker sending through `mailer`, recording each message in `deliveries`.
    pub fn new(
        mailer: Arc<dyn Mailer>,
        deliveries: DeliveryLog,
        states: StateReader,
        tokens: TokenMinter,
        settings: EmailSettings,
        templates: Templates,
    ) -> Self {
        Self {
            mailer,
            deliveries,
            states,
            tokens,
            settings,
            templates: Arc::new(templates),
        }
    }

    /// The message `event` calls for, given the user as of the event; `None` if none.
    pub fn message(
        &self,
        event: &RecordedEvent,
        user: &User,
        first_verification: bool,
    ) -> Result<Option<Message>, WorkerError> {
        let parsed = UserEvent::from_payload(&event.event_type, event.payload.clone())
            .map_err(|error| WorkerError::Other(format!("{}: {error}", event.event_type)))?;
        let mut to = user.email.to_string();
        let mut values = vec![("product", self.settings.product.clone())];
        let template = match &parsed {
            UserEvent::EmailVerificationRequested { token } => {
                let secret =
                    self.tokens
                        .token(TokenPurpose::EmailVerification, user.id, token.issued_at);
                values.push((
                    "link",
                    format!(
                        "{}/verify-email?token={}",
                        self.settings.public_url.trim_end_matches('/'),
                        secrecy::ExposeSecret::expose_secret(&secret)
                    ),
                ));
                values.push(("expires", time(token.expires_at)));
                if first_verification {
                    Template::Welcome
                } else {
                    Template::VerificationResend
                }
            }
            UserEvent::PasswordResetRequested { purpose, token } => {
                let secret =
                    self.tokens
                        .token(TokenPurpose::PasswordReset, user.id, token.issued_at);
                values.push((
                    "link",
                    format!(
                        "{}{}",
                        self.settings.reset_url,
                        secrecy::ExposeSecret::expose_secret(&secret)
                    ),
                ));
                values.push(("expires", time(token.expires_at)));
                match purpose {
                    ResetPurpose::Invitation => Template::Invitation,
                    ResetPurpose::Reset => Template::PasswordReset,
                    // Given in the sign-in's answer: mailing it would prove nothing more.
                    ResetPurpose::ChangeRequired => return Ok(None),
                }
            }
            UserEvent::PasswordChanged { at, .. }
            | UserEvent::PasswordSet { at, .. }
            | UserEvent::PasswordResetCompleted { at, .. } => {
                values.push(("when", time(*at)));
                Template::PasswordChanged
            }
            UserEvent::AccountLocked { until, at, .. } => {
                values.push(("when", time(*at)));
                values.push((
                    "until",
                    until.map_or_else(|| "an administrator unlocks it".to_owned(), time),
                ));
                Template::AccountLocked
            }
            UserEvent::EmailChanged {
                old_email: Personal::Known(old_email),
                new_email: Personal::Known(new_email),
                at,
            } => {
                to = old_email.to_string();
                values.push(("new_email", new_email.to_string()));
                values.push(("when", time(*at)));
                Template::EmailChanged
            }
            UserEvent::InvitedToOrganization {
                organization_name,
                expires_at,
                ..
            } => {
                values.push(("organization", organization_name.to_string()));
                values.push((
                    "link",
                    format!(
                        "{}/account/invitations",
                        self.settings.public_url.trim_end_matches('/')
                    ),
                ));
                values.push(("expires", time(*expires_at)));
                Template::OrganizationInvitation
            }
            UserEvent::SignedInFromNewDevice { device, first, at } => {
                // The first device is the account's own beginning: there is no one to warn.
                if *first || !user.profile.notification_preferences.email_on_new_device() {
                    return Ok(None);
                }
                let address = event.metadata().ok().and_then(|metadata| metadata.ip);
                values.push(("device", device.to_string()));
                values.push((
                    "address",
                    address.unwrap_or_else(|| "an unknown address".to_owned()),
                ));
                values.push(("when", time(*at)));
                Template::NewDevice
            }
            UserEvent::TotpEnabled { at, .. } => {
                values.push(("change", "on".to_owned()));
                values.push(("when", time(*at)));
                Template::TwoFactorChanged
            }
            UserEvent::TotpDisabled { at } => {
                values.push(("change", "off".to_owned()));
                values.push(("when", time(*at)));
                Template::TwoFactorChanged
            }
            UserEvent::RecoveryCodeUsed { at, .. } => {
                let left = user
                    .totp
                    .as_ref()
                    .map_or(0, |totp| totp.recovery_codes.len());
                values.push(("left", left.to_string()));
                values.push(("when", time(*at)));
                Template::RecoveryCodeUsed
            }
            _ => return Ok(None),
        };
        let language = user
            .profile
            .preferred_language
            .as_ref()
            .map(|l| l.to_string());
        let texts = self
            .templates
            .texts(template, language.as_deref())
            .ok_or_else(|| WorkerError::Other(format!("no template {}", template.name())))?;
        Ok(Some(Message {
            id: format!("{}-{}", event.event_id, template.name()),
            from: self.settings.from.clone(),
            to,
            subject: fill(texts.subject, &values, false),
            text: fill(texts.text, &values, false),
            html: fill(texts.html, &values, true),
            template,
        }))
    }
}

#[async_trait]
impl Worker for EmailWorker {
    fn name(&self) -> &'static str {
        NAME
    }

    fn wants(&self, event: &RecordedEvent) -> bool {
        // A type no user event has is not one this worker knows.
        event.stream_type == UserAggregate::STREAM_TYPE
            && event.event_type.parse().is_ok_and(wanted)
    }

    async fn handle(&self, event: &RecordedEvent) -> Result<(), WorkerError> {
        if event.event_type == domain::user::USER_FORGOTTEN {
            return self.deliveries.forget_recipient(&event.stream_id).await;
        }
        // A forgotten user's history no longer reads: what was not sent yet is dropped.
        let loaded = self
            .states
            .load::<UserAggregate>(&event.stream_id, Some(event.global_position))
            .await
            .map_err(|error| WorkerError::Other(error.to_string()))?;
        let UserState::Present(user) = &loaded.state else {
            return Ok(());
        };
        // The verification request that came with the account (a registration, or a user
        // created with a password) is the welcome.
        let first_verification = loaded
            .history
            .iter()
            .filter(|(_, event)| matches!(event, UserEvent::EmailVerificationRequested { .. }))
            .count()
            == 1
            && loaded.history.first().is_some_and(|(_, event)| {
                matches!(
                    event,
                    UserEvent::UserRegistered { .. } | UserEvent::UserCreated { .. }
                )
            });
        let Some(message) = self.message(event, user, first_verification)? else {
            return Ok(());
        };
        tracing::info!(template = message.template.name(), event_id = %event.event_id, "sending a message");
        let outgoing = Outgoing {
            message_id: &message.id,
            worker: NAME,
            channel: Channel::Email,
            template: message.template.name(),
            recipient: &message.to,
        };
        self.deliveries
            .send_once(event, &outgoing, self.mailer.send(&message))
            .await
    }

    async fn gave_up(&self, event: &RecordedEvent) -> Result<(), WorkerError> {
        self.deliveries
            .dead(&event.event_id.to_string(), NAME)
            .await
    }
}
