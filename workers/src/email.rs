//! Emails: the messages events call for, from templates (text and HTML, per language), sent
//! through a [`Mailer`]. The embedded default writes each message as an `.eml` file in the data
//! folder's `mail/`.
//!
//! Links carry tokens rebuilt from the token key and the event (the log holds only their
//! hashes), so a message can be sent again, identically, after any crash. A message's id is its
//! event's id: the `.eml` default overwrites the same file, so a redelivered event leaves one.

use crate::{Worker, WorkerError};
use async_trait::async_trait;
use commands::CommandHandler;
use commands::tokens::{TokenMinter, TokenPurpose};
use domain::DomainEvent;
use domain::user::{ResetPurpose, User, UserAggregate, UserEvent, UserState};
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
    /// The API's public base URL: verification links are `{base}/api/v1/auth/email/verify?token=`.
    pub public_url: String,
    /// Where password reset and invitation links point; the token is appended.
    pub reset_url: String,
}

/// Sends the messages user events call for.
#[derive(Debug, Clone)]
pub struct EmailWorker {
    mailer: Arc<dyn Mailer>,
    commands: CommandHandler,
    tokens: TokenMinter,
    settings: EmailSettings,
    templates: Arc<Templates>,
}

const WANTED: &[&str] = &[
    "EmailVerificationRequested",
    "PasswordResetRequested",
    "PasswordChanged",
    "PasswordResetCompleted",
    "AccountLocked",
    "EmailChanged",
];

fn time(at: domain::Timestamp) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

impl EmailWorker {
    /// A worker sending through `mailer`.
    pub fn new(
        mailer: Arc<dyn Mailer>,
        commands: CommandHandler,
        tokens: TokenMinter,
        settings: EmailSettings,
        templates: Templates,
    ) -> Self {
        Self {
            mailer,
            commands,
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
                        "{}/api/v1/auth/email/verify?token={}",
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
                }
            }
            UserEvent::PasswordChanged { at, .. }
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
                old_email,
                new_email,
                at,
            } => {
                to = old_email.to_string();
                values.push(("new_email", new_email.to_string()));
                values.push(("when", time(*at)));
                Template::EmailChanged
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
        event.stream_type == "user" && WANTED.contains(&event.event_type.as_str())
    }

    async fn handle(&self, event: &RecordedEvent) -> Result<(), WorkerError> {
        let loaded = self
            .commands
            .load::<UserAggregate>(&event.stream_id, Some(event.global_position))
            .await
            .map_err(|error| WorkerError::Other(error.to_string()))?;
        let UserState::Present(user) = &loaded.state else {
            return Ok(());
        };
        // The verification request that came with the registration is the welcome.
        let first_verification = loaded
            .history
            .iter()
            .filter(|(_, event)| matches!(event, UserEvent::EmailVerificationRequested { .. }))
            .count()
            == 1
            && loaded
                .history
                .first()
                .is_some_and(|(_, event)| matches!(event, UserEvent::UserRegistered { .. }));
        let Some(message) = self.message(event, user, first_verification)? else {
            return Ok(());
        };
        tracing::info!(template = message.template.name(), event_id = %event.event_id, "sending a message");
        self.mailer.send(&message).await
    }
}
