//! A person's rights over their data: to be forgotten (GDPR article 17) and to a copy of
//! everything held about them (article 15).
//!
//! Forgetting destroys the person's data key in the same transaction as `UserForgotten`: the
//! log is never rewritten and its hash chain keeps verifying, but every personal field the
//! person's events hold reads back as erased from then on, and the read models and workers
//! clear what they kept. REST and the command line both come through [`App::forget_user`] and
//! [`App::export_user`].

use crate::authority::Authority;
use crate::policy::{Operation, Target};
use crate::sessions::{self, Closing};
use crate::views::{UserView, WalletSummary};
use crate::{App, AppError, RequestContext, Resource};
use audit::history::{HistoryEntry, stream_history};
use commands::{CommandContext, Executed};
use domain::DomainEvent;
use domain::session::RevocationReason;
use domain::user::{Picture, User, UserAggregate, UserCommand, UserEvent, UserState};
use domain::values::Profile;
use domain::{Timestamp, UserId};
use eventstore::IdempotencyKey;
use eventstore::encryption::is_sealed;
use futures::TryStreamExt;
use projections::activity::ActivityRow;
use projections::queries::{ActivityFilter, ListedMembership};
use projections::sessions::SessionRow;
use secrecy::SecretString;
use serde::Serialize;
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// A forgotten user, as forgetting them left them.
#[derive(Debug)]
pub struct Forgotten {
    /// The command's outcome (its log position).
    pub executed: Executed<UserAggregate>,
    /// When they were forgotten.
    pub forgotten_at: Timestamp,
    /// How many of their events were written before personal data was encrypted: those keep
    /// their personal data in clear in the log.
    pub events_in_clear: usize,
}

/// Everything idlog holds about one person, as one document.
#[derive(Debug, Serialize, ToSchema)]
pub struct PersonalData {
    /// `idlog.personal-data.v1`.
    pub format: &'static str,
    /// When this copy was made.
    #[schema(value_type = String, format = DateTime)]
    #[serde(serialize_with = "domain::time::micros")]
    pub exported_at: Timestamp,
    /// The account: names, contact details, roles, status, verification.
    pub user: UserView,
    /// The profile they manage (address, emergency contact, language, notification preferences).
    #[schema(value_type = Object)]
    pub profile: Profile,
    /// Their profile picture's key and type, if any.
    #[schema(value_type = Option<Object>)]
    pub picture: Option<Picture>,
    /// Whether two-factor authentication is on.
    pub mfa_enabled: bool,
    /// Their organizations and roles there.
    #[schema(value_type = Vec<Object>)]
    pub organizations: Vec<ListedMembership>,
    /// Their sessions: devices, addresses, times.
    #[schema(value_type = Vec<Object>)]
    pub sessions: Vec<SessionRow>,
    /// The activity log's rows about them or done by them.
    #[schema(value_type = Vec<Object>)]
    pub activity: Vec<ActivityRow>,
    /// Their events, decrypted (secrets such as password hashes left out).
    #[schema(value_type = Vec<Object>)]
    pub events: Vec<HistoryEntry>,
    /// Their sessions' events, decrypted, by session id.
    #[schema(value_type = Object)]
    pub session_events: BTreeMap<String, Vec<HistoryEntry>>,
    /// Their wallet's events (`wallet-{user_id}`), as their own events are.
    #[schema(value_type = Vec<Object>)]
    pub wallet_events: Vec<HistoryEntry>,
}

impl App {
    /// Forgets `user_id` for good: their sessions end, their email, username and phone become
    /// free, and their personal data in the log, the read models, the delivery log and storage
    /// is erased. A person forgetting themself confirms with their `password`. A retry with the
    /// same idempotency key answers as the first time did.
    #[tracing::instrument(skip(self, who, context, password))]
    pub async fn forget_user(
        &self,
        who: &mut Authority,
        context: &RequestContext,
        user_id: UserId,
        password: Option<SecretString>,
        idempotency: Option<IdempotencyKey>,
    ) -> Result<Forgotten, AppError> {
        let now = chrono::Utc::now();
        let command_context = CommandContext {
            metadata: who.metadata(context, user_id),
            idempotency,
            ..Default::default()
        };
        if who.is(user_id) {
            // A person forgetting themself proves it is them, as for turning off MFA.
            who.confirm_password(self, password, "/password").await?;
        }
        let (user, version) = match self.present_user(user_id).await {
            Ok((user, version)) => {
                let person = who.person(self, &user).await?;
                who.require(
                    Operation::ForgetUser,
                    Target::Person(&person),
                    Resource::User,
                )?;
                (user, version)
            }
            // A retry of a forgetting that went through answers as the first time did.
            Err(AppError::NotFound(_)) if command_context.idempotency.is_some() => {
                let person = who.person_without_roles(user_id);
                who.require(
                    Operation::ForgetUser,
                    Target::Person(&person),
                    Resource::User,
                )?;
                let replayed = self
                    .commands
                    .execute::<UserAggregate>(
                        &user_id.to_string(),
                        UserCommand::Forget { at: now },
                        command_context,
                    )
                    .await?;
                return Ok(Forgotten::new(replayed, 0, now));
            }
            Err(error) => return Err(error),
        };
        let events_in_clear = self.events_in_clear(user_id).await?;
        let executed = self.forget(user, version, command_context, now).await?;
        Ok(Forgotten::new(executed, events_in_clear, now))
    }

    /// Everything idlog holds about `user_id`, if the policy lets `who` export it (what is left
    /// of a forgotten user is exported as such).
    #[tracing::instrument(skip(self, who))]
    pub async fn export_user(
        &self,
        who: &Authority,
        user_id: UserId,
    ) -> Result<PersonalData, AppError> {
        let person = match self.present_user(user_id).await {
            Ok((user, _)) => who.person(self, &user).await?,
            Err(_) => who.person_without_roles(user_id),
        };
        who.require(
            Operation::ExportUser,
            Target::Person(&person),
            Resource::User,
        )?;
        self.personal_data(user_id).await
    }

    /// Forgets `user` (loaded at `version`): ends their sessions, then appends `UserForgotten`,
    /// which releases their unique values and destroys their data key.
    async fn forget(
        &self,
        user: Box<User>,
        version: u64,
        command_context: CommandContext,
        now: Timestamp,
    ) -> Result<Executed<UserAggregate>, AppError> {
        // First, while their key still seals what a session's end records.
        sessions::close_all_as(
            self,
            &command_context.metadata,
            &user,
            None,
            Closing::Revoke(RevocationReason::UserForgotten),
            now,
        )
        .await?;
        let metadata = command_context.metadata.clone();
        let executed = self
            .on_user(
                user.clone(),
                version,
                UserCommand::Forget { at: now },
                command_context,
            )
            .await?;
        self.end_memberships(&metadata, &user, now).await?;
        // Their data key and released claims are gone from the tables: take the old page images
        // off the disk too (awaited: the command line exits after this). The read models and the
        // delivery log scrub after their own erasing.
        let tables = ["data_keys", "unique_claims"].map(str::to_owned);
        if let Err(error) = self.read.projector.database().scrub(&tables).await {
            tracing::warn!(%error, "scrubbing after a forget failed");
        }
        Ok(executed)
    }

    /// How many of the user's events hold personal data in clear: written before personal data
    /// was encrypted, they cannot be erased by destroying a key (see docs/privacy.md).
    pub async fn events_in_clear(&self, user_id: UserId) -> Result<usize, AppError> {
        let log = self.log();
        let stored = log
            .read_stream_stored(&user_id.to_string())
            .await
            .map_err(AppError::internal)?;
        let decoded = log
            .decode_stored(stored.clone())
            .await
            .map_err(AppError::internal)?;
        let mut in_clear = 0;
        for (stored, decoded) in stored.iter().zip(decoded) {
            let Ok(event) = UserEvent::from_payload(&decoded.event_type, decoded.payload) else {
                continue;
            };
            let clear = event.personal_fields().iter().any(|pointer| {
                stored
                    .payload
                    .pointer(pointer)
                    .is_some_and(|value| !value.is_null() && !is_sealed(value))
            });
            in_clear += usize::from(clear);
        }
        Ok(in_clear)
    }

    /// The user now, if they exist and are not forgotten.
    async fn present_user(&self, user_id: UserId) -> Result<(Box<User>, u64), AppError> {
        let current = self
            .commands
            .current::<UserAggregate>(&user_id.to_string())
            .await?;
        match current.state {
            UserState::Present(user) => Ok((user, current.version)),
            UserState::Absent | UserState::Forgotten(_) => Err(AppError::NotFound(Resource::User)),
        }
    }

    /// Gathers [`PersonalData`] for `user_id`, from the log and the read models as they are now.
    pub async fn personal_data(&self, user_id: UserId) -> Result<PersonalData, AppError> {
        let (user, _) = self.present_user(user_id).await?;
        let id = user_id.to_string();
        let queries = &self.read.queries;
        let organizations = queries
            .user(&id)
            .await
            .map_err(AppError::internal)?
            .map(|listed| listed.organizations)
            .unwrap_or_default();
        let sessions = queries.sessions(&id).await.map_err(AppError::internal)?;
        let mut activity: BTreeMap<i64, ActivityRow> = BTreeMap::new();
        for filter in [
            ActivityFilter {
                user: Some(id.clone()),
                ..Default::default()
            },
            ActivityFilter {
                actor: Some(id.clone()),
                ..Default::default()
            },
        ] {
            let pages: Vec<Vec<ActivityRow>> = queries
                .activity_export(filter)
                .try_collect()
                .await
                .map_err(AppError::internal)?;
            activity.extend(pages.into_iter().flatten().map(|row| (row.position, row)));
        }
        // Who acted on them and from where is the actor's personal data, not theirs: an
        // administrator's address and user agent stay out of this person's copy.
        for row in activity.values_mut() {
            if row.actor_id.as_deref() != Some(id.as_str()) {
                row.ip = None;
                row.user_agent = None;
            }
        }
        let theirs_only = |mut history: Vec<HistoryEntry>| {
            for entry in &mut history {
                if entry.actor.id.as_deref() != Some(id.as_str()) {
                    entry.ip = None;
                    entry.user_agent = None;
                }
            }
            history
        };
        let log = self.log();
        let events = theirs_only(stream_history(log, &id).await.map_err(AppError::internal)?);
        let mut session_events = BTreeMap::new();
        for (session_id, _) in &user.sessions {
            let session_id = session_id.to_string();
            let history = stream_history(log, &session_id)
                .await
                .map_err(AppError::internal)?;
            session_events.insert(session_id, theirs_only(history));
        }
        let wallet_events = theirs_only(
            stream_history(log, &domain::wallet::wallet_stream(user.id))
                .await
                .map_err(AppError::internal)?,
        );
        let now = chrono::Utc::now();
        let wallet = self.wallet_of(user.id).await?.map(|view| WalletSummary {
            balance: view.wallet.balance,
            status: view.wallet.status,
        });
        Ok(PersonalData {
            format: "idlog.personal-data.v1",
            exported_at: now,
            user: UserView::new(&user, now).with_wallet(wallet),
            profile: user.profile.clone(),
            picture: user.picture.clone(),
            mfa_enabled: user.has_mfa(),
            organizations,
            sessions,
            activity: activity.into_values().collect(),
            events,
            session_events,
            wallet_events,
        })
    }
}

impl Forgotten {
    fn new(executed: Executed<UserAggregate>, events_in_clear: usize, now: Timestamp) -> Self {
        let forgotten_at = match &executed.state {
            UserState::Forgotten(forgotten) => forgotten.forgotten_at.unwrap_or(now),
            _ => now,
        };
        Self {
            executed,
            forgotten_at,
            events_in_clear,
        }
    }
}
