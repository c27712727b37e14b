//! Administrators' actions on a user's account: lock, unlock, deactivate, reactivate, delete,
//! send a password reset link. REST and the command line both come through here; a lock,
//! deactivation or deletion ends the user's sessions.

use crate::authority::Authority;
use crate::passwords::check_new_password;
use crate::policy::{Operation, Target};
use crate::roles::prepare_grant;
use crate::sessions::{self, Closing};
use crate::{App, AppError, RequestContext, Resource};
use commands::tokens::TokenPurpose;
use commands::{CommandContext, Executed};
use domain::session::RevocationReason;
use domain::user::{AccountLock, User, UserAggregate, UserCommand, UserState, UserStatus};
use domain::values::{Email, PersonName, PhoneNumber, Reason, Role, Username};
use domain::{Timestamp, UserId};
use eventstore::IdempotencyKey;
use secrecy::SecretString;
use std::collections::BTreeSet;

/// How current a user read for a use case must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    /// The latest in the log: for answers that show the user.
    Latest,
    /// As this process has followed the log: for deciding a command, whose append checks the
    /// version anyway.
    Followed,
}

/// What the caller saw and how a retry is recognized.
#[derive(Debug, Clone, Default)]
pub struct Preconditions {
    /// The version the caller saw (REST's `If-Match`); the command fails if it moved on.
    pub expected_version: Option<u64>,
    /// Replays the first result when the same request comes again.
    pub idempotency: Option<IdempotencyKey>,
}

impl Preconditions {
    /// The context of a command made under these preconditions, recorded with `metadata`.
    pub fn context(self, metadata: eventstore::EventMetadata) -> CommandContext {
        CommandContext {
            metadata,
            idempotency: self.idempotency,
            expected_version: self.expected_version,
            ..Default::default()
        }
    }

    /// Expecting the version the caller saw (a page's form carries it), with no retry key.
    pub fn expecting(version: Option<u64>) -> Self {
        Self {
            expected_version: version,
            idempotency: None,
        }
    }
}

/// A change of an account's state that administrators make.
#[derive(Debug, Clone)]
pub enum AccountAction {
    /// Lock, until a time or until unlocked.
    Lock {
        /// Why.
        reason: Option<Reason>,
        /// Until when; `None` until unlocked.
        until: Option<Timestamp>,
    },
    /// Lift any lock.
    Unlock,
    /// Turn the account off.
    Deactivate {
        /// Why.
        reason: Option<Reason>,
    },
    /// Turn a deactivated account back on.
    Reactivate,
    /// Delete: the email, username and phone become free; the log keeps the history.
    Delete,
    /// Send the user a password reset link.
    SendPasswordReset,
    /// Restore a deleted user within the restore window (their memberships stay ended).
    Restore,
    /// Set the user's password (it meets the policy); their sessions end.
    SetPassword {
        /// The new password.
        password: SecretString,
        /// Whether it must be changed at the next sign-in.
        temporary: bool,
    },
    /// Mark the email address verified by hand.
    VerifyEmail {
        /// How staff know the address is the person's.
        reason: Reason,
    },
    /// Mark the phone number verified by hand.
    VerifyPhone {
        /// How staff know the number is the person's.
        reason: Reason,
    },
}

impl AccountAction {
    /// The operation the policy knows it as.
    pub fn operation(&self) -> Operation {
        match self {
            Self::Lock { .. } => Operation::LockUser,
            Self::Unlock => Operation::UnlockUser,
            Self::Deactivate { .. } => Operation::DeactivateUser,
            Self::Reactivate => Operation::ReactivateUser,
            Self::Delete => Operation::DeleteUser,
            Self::SendPasswordReset => Operation::SendPasswordReset,
            Self::Restore => Operation::RestoreUser,
            Self::SetPassword { .. } => Operation::SetPassword,
            Self::VerifyEmail { .. } | Self::VerifyPhone { .. } => Operation::VerifyByHand,
        }
    }

    /// The sessions it ends, and why.
    fn ends_sessions(&self) -> Option<RevocationReason> {
        match self {
            Self::Lock { .. } => Some(RevocationReason::UserLocked),
            Self::Deactivate { .. } => Some(RevocationReason::UserDeactivated),
            Self::Delete => Some(RevocationReason::UserDeleted),
            Self::SetPassword { .. } => Some(RevocationReason::PasswordSet),
            _ => None,
        }
    }
}

impl App {
    /// The user `user_id` if the policy lets `who` do `operation` to them, with its stream
    /// version; "not found" when there is no such user or `who` may not see them.
    #[tracing::instrument(skip(self, who))]
    pub async fn authorized_user(
        &self,
        who: &Authority,
        user_id: UserId,
        read: Read,
        operation: Operation,
    ) -> Result<(Box<User>, u64), AppError> {
        let stream = user_id.to_string();
        let loaded = match read {
            Read::Latest => self.commands.current::<UserAggregate>(&stream).await,
            Read::Followed => self.commands.followed::<UserAggregate>(&stream).await,
        }?;
        let UserState::Present(user) = loaded.state else {
            return Err(AppError::NotFound(Resource::User));
        };
        let person = who.person(self, &user).await?;
        who.require(operation, Target::Person(&person), Resource::User)?;
        Ok((user, loaded.version))
    }

    /// Whether the policy lets `who` do the read `operation` on the user `user_id` ("not
    /// found" otherwise). A person reading their own records is decided on the user their
    /// request signed in as, without reading their stream again.
    pub async fn may_read_person(
        &self,
        who: &Authority,
        user_id: UserId,
        operation: Operation,
    ) -> Result<(), AppError> {
        if let Some(caller) = who.caller().filter(|caller| caller.user.id == user_id) {
            let person = who.person(self, &caller.user).await?;
            return who.require(operation, Target::Person(&person), Resource::User);
        }
        self.authorized_user(who, user_id, Read::Latest, operation)
            .await
            .map(|_| ())
    }

    /// Changes the account of `user_id` as `action` says, if the policy lets `who`.
    #[tracing::instrument(skip(self, who, context))]
    pub async fn change_account(
        &self,
        who: &Authority,
        context: &RequestContext,
        user_id: UserId,
        action: AccountAction,
        preconditions: Preconditions,
    ) -> Result<Executed<UserAggregate>, AppError> {
        let (user, version) = self
            .authorized_user(who, user_id, Read::Followed, action.operation())
            .await?;
        let now = chrono::Utc::now();
        let ends_sessions = action.ends_sessions();
        let deletes = matches!(action, AccountAction::Delete);
        let metadata = who.metadata(context, user.id);
        let command = match action {
            AccountAction::Lock { reason, until } => UserCommand::Lock {
                reason,
                until,
                at: now,
            },
            AccountAction::Unlock => UserCommand::Unlock { at: now },
            AccountAction::Deactivate { reason } => UserCommand::Deactivate { reason, at: now },
            AccountAction::Reactivate => UserCommand::Reactivate { at: now },
            AccountAction::Delete => UserCommand::Delete { at: now },
            AccountAction::Restore => {
                // A deletion recorded before deleting ended memberships may have left some.
                if user.status == UserStatus::Deleted {
                    self.end_memberships(&metadata, &user, now).await?;
                }
                UserCommand::Restore {
                    window: self.auth.restore_window,
                    at: now,
                }
            }
            AccountAction::SetPassword {
                password,
                temporary,
            } => {
                check_new_password(&self.passwords, &password, &user, "/password")?;
                UserCommand::SetPassword {
                    password_hash: self.passwords.hash(password).await?,
                    temporary,
                    at: now,
                }
            }
            AccountAction::VerifyEmail { reason } => {
                UserCommand::VerifyEmailByHand { reason, at: now }
            }
            AccountAction::VerifyPhone { reason } => {
                UserCommand::VerifyPhoneByHand { reason, at: now }
            }
            AccountAction::SendPasswordReset => {
                // Reset links to one account are limited as the forgot-password ones are,
                // whoever asks.
                self.rate_limits
                    .forgot_per_account
                    .check(user.email.as_str())?;
                UserCommand::RequestPasswordReset {
                    token: self
                        .tokens
                        .issue(
                            TokenPurpose::PasswordReset,
                            user.id,
                            now,
                            self.auth.password_reset_lifetime,
                        )
                        .0,
                }
            }
        };
        let command_context = preconditions.context(metadata.clone());
        let executed = self
            .on_user(user, version, command, command_context)
            .await?;
        if let (Some(reason), UserState::Present(after)) = (ends_sessions, &executed.state) {
            sessions::close_all_as(self, &metadata, after, None, Closing::Revoke(reason), now)
                .await?;
        }
        if let (true, UserState::Present(deleted)) = (deletes, &executed.state) {
            self.end_memberships(&metadata, deleted, now).await?;
        }
        Ok(executed)
    }
}

/// What to change of a user; `None` keeps it. The whole set changes at once or not at all.
#[derive(Debug, Default)]
pub struct UserChanges {
    /// A new first name (`Some(None)` removes it).
    pub first_name: Option<Option<PersonName>>,
    /// A new last name (`Some(None)` removes it).
    pub last_name: Option<Option<PersonName>>,
    /// A new username (`Some(None)` removes it).
    pub username: Option<Option<Username>>,
    /// A new phone number (`Some(None)` removes it).
    pub phone: Option<Option<PhoneNumber>>,
    /// A new email address; its verification starts again.
    pub email: Option<Email>,
    /// The whole set of global roles.
    pub roles: Option<BTreeSet<Role>>,
}

/// A lock's state as administrators see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lockout {
    /// Until when the lock holds, if locked (`None` inside a lock: until unlocked).
    pub lock: Option<AccountLock>,
    /// Failed logins counted toward the next lock.
    pub failed_attempts: u32,
    /// Failed logins left before a lock.
    pub remaining_attempts: u32,
}

impl App {
    /// The user `user_id` as of now, if the policy lets `who` read them.
    #[tracing::instrument(skip(self, who))]
    pub async fn user(
        &self,
        who: &Authority,
        user_id: UserId,
    ) -> Result<(Box<User>, u64), AppError> {
        self.authorized_user(who, user_id, Read::Latest, Operation::ReadUser)
            .await
    }

    /// Whether `user_id` is locked, and how many failed logins are left before a lock.
    #[tracing::instrument(skip(self, who))]
    pub async fn lockout(&self, who: &Authority, user_id: UserId) -> Result<Lockout, AppError> {
        let (user, _) = self
            .authorized_user(who, user_id, Read::Latest, Operation::ReadLockout)
            .await?;
        let now = chrono::Utc::now();
        let lock = user.active_lock(now).cloned();
        // After a lock has run out the count starts again (as the domain counts).
        let failed_attempts = if user.lock.is_some() && lock.is_none() {
            0
        } else {
            user.failed_logins
        };
        let remaining_attempts = if lock.is_some() {
            0
        } else {
            self.auth
                .lockout
                .max_failed_attempts
                .saturating_sub(failed_attempts)
        };
        Ok(Lockout {
            lock,
            failed_attempts,
            remaining_attempts,
        })
    }

    /// Changes a user's names, username, email, phone or roles, all at once or not at all. A
    /// person changing their own email or phone confirms with `current_password` unless they
    /// signed in recently; each aspect asks the policy for its own operation.
    #[tracing::instrument(skip_all)]
    pub async fn update_user(
        &self,
        who: &mut Authority,
        context: &RequestContext,
        user_id: UserId,
        changes: UserChanges,
        current_password: Option<SecretString>,
        preconditions: Preconditions,
    ) -> Result<Executed<UserAggregate>, AppError> {
        let (user, version) = self
            .authorized_user(who, user_id, Read::Followed, Operation::ReadUser)
            .await?;
        let asked = [
            (
                changes.first_name.is_some() || changes.last_name.is_some(),
                Operation::ChangeNames,
            ),
            (changes.username.is_some(), Operation::ChangeUsername),
            (changes.email.is_some(), Operation::ChangeEmail),
            (changes.phone.is_some(), Operation::ChangePhone),
            (changes.roles.is_some(), Operation::ChangeRoles),
        ];
        let person = who.person(self, &user).await?;
        if current_password.is_some() {
            who.confirm_password(self, current_password, "/current_password")
                .await?;
        }
        for operation in asked
            .into_iter()
            .filter_map(|(sent, operation)| sent.then_some(operation))
        {
            who.require(operation, Target::Person(&person), Resource::User)?;
        }
        let now = chrono::Utc::now();
        let mut commands = Vec::new();
        if changes.first_name.is_some() || changes.last_name.is_some() {
            commands.push(UserCommand::UpdateProfile {
                first_name: changes
                    .first_name
                    .unwrap_or_else(|| user.first_name.clone()),
                last_name: changes.last_name.unwrap_or_else(|| user.last_name.clone()),
                profile: user.profile.clone(),
                at: now,
            });
        }
        if let Some(username) = changes.username {
            commands.push(UserCommand::ChangeUsername { username, at: now });
        }
        if let Some(phone) = changes.phone {
            commands.push(UserCommand::ChangePhone { phone, at: now });
        }
        if let Some(email) = changes.email {
            let (verification, _) = self.tokens.issue(
                TokenPurpose::EmailVerification,
                user.id,
                now,
                self.auth.email_verification_lifetime,
            );
            commands.push(UserCommand::ChangeEmail {
                email,
                verification,
            });
        }
        if let Some(wanted) = changes.roles {
            // Roles held stay whatever became of them in the catalog; new ones must be in it.
            prepare_grant(
                &self.commands,
                &self.auth.roles,
                &who.metadata(context, user.id),
                wanted.difference(&user.roles),
            )
            .await?;
            for role in user.roles.difference(&wanted) {
                commands.push(UserCommand::RevokeRole {
                    role: role.clone(),
                    at: now,
                });
            }
            for role in wanted.difference(&user.roles) {
                commands.push(UserCommand::GrantRole {
                    role: role.clone(),
                    at: now,
                });
            }
        }
        let command_context = preconditions.context(who.metadata(context, user.id));
        self.on_user(user, version, UserCommand::Batch(commands), command_context)
            .await
    }
}

/// A user as a caller saw them and as they are now, with what happened in between: what a
/// stale edit shows, so that the caller can decide again.
#[derive(Debug)]
pub struct ChangedSince {
    /// The user at the version the caller saw.
    pub then: Box<User>,
    /// The user now.
    pub now: Box<User>,
    /// The version the caller saw.
    pub seen: u64,
    /// The version now.
    pub version: u64,
    /// The events since: type, when, and who caused them.
    pub events: Vec<(String, Timestamp, eventstore::Actor)>,
}

impl App {
    /// `user_id` at stream version `seen` and now, if the policy lets `who` read their history.
    #[tracing::instrument(skip(self, who))]
    pub async fn user_changed_since(
        &self,
        who: &Authority,
        user_id: UserId,
        seen: u64,
    ) -> Result<ChangedSince, AppError> {
        let loaded = self
            .commands
            .load::<UserAggregate>(&user_id.to_string(), None)
            .await?;
        let UserState::Present(now) = loaded.state else {
            return Err(AppError::NotFound(Resource::User));
        };
        // The past and its events are the history's, whoever saw the user then.
        let person = who.person(self, &now).await?;
        who.require(
            Operation::ReadUserHistory,
            Target::Person(&person),
            Resource::User,
        )?;
        let mut then = UserState::default();
        let mut events = Vec::new();
        for (record, event) in &loaded.history {
            if record.stream_version <= seen {
                then = <UserAggregate as domain::Aggregate>::evolve(then, event);
            } else {
                let actor =
                    serde_json::from_value::<eventstore::EventMetadata>(record.metadata.clone())
                        .map(|metadata| metadata.actor)
                        .unwrap_or_default();
                events.push((record.event_type.clone(), record.recorded_at, actor));
            }
        }
        let UserState::Present(then) = then else {
            return Err(AppError::NotThen);
        };
        Ok(ChangedSince {
            then,
            now,
            seen,
            version: loaded.version,
            events,
        })
    }
}

impl App {
    /// Revokes the open session `session_id` of `user_id`, if the policy lets `who`
    /// (administrators; a person ends their own through [`Self::end_own_session`]). The log
    /// records `who` as the actor.
    #[tracing::instrument(skip(self, who, context))]
    pub async fn revoke_user_session(
        &self,
        who: &Authority,
        context: &RequestContext,
        user_id: UserId,
        session_id: domain::SessionId,
    ) -> Result<(), AppError> {
        let (user, _) = self
            .authorized_user(who, user_id, Read::Latest, Operation::RevokeUserSession)
            .await?;
        let now = chrono::Utc::now();
        let open = sessions::open_sessions(self, &user, now).await?;
        if !open.iter().any(|session| session.id == session_id) {
            return Err(AppError::NotFound(Resource::Session));
        }
        let command_context = CommandContext {
            metadata: who.metadata(context, user.id),
            data_subject: Some(user.id.to_string()),
            ..Default::default()
        };
        self.commands
            .execute::<domain::session::SessionAggregate>(
                &session_id.to_string(),
                domain::session::SessionCommand::Revoke {
                    reason: RevocationReason::Revoked,
                    at: now,
                },
                command_context,
            )
            .await?;
        Ok(())
    }
}
