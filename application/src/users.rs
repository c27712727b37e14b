//! Administrators' actions on a user's account: lock, unlock, deactivate, reactivate, delete,
//! send a password reset link. REST and the command line both come through here; a lock,
//! deactivation or deletion ends the user's sessions.

use crate::authority::Authority;
use crate::policy::{Operation, Target};
use crate::sessions::{self, Closing};
use crate::{App, AppError, RequestContext, Resource};
use commands::tokens::TokenPurpose;
use commands::{CommandContext, Executed};
use domain::session::RevocationReason;
use domain::user::{User, UserAggregate, UserCommand, UserState};
use domain::values::Reason;
use domain::{Timestamp, UserId};
use eventstore::IdempotencyKey;

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
        }
    }

    /// The sessions it ends, and why.
    fn ends_sessions(&self) -> Option<RevocationReason> {
        match self {
            Self::Lock { .. } => Some(RevocationReason::UserLocked),
            Self::Deactivate { .. } => Some(RevocationReason::UserDeactivated),
            Self::Delete => Some(RevocationReason::UserDeleted),
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
        let person = who.person(self, &user);
        who.require(operation, Target::Person(&person), Resource::User)?;
        Ok((user, loaded.version))
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
        let command_context = CommandContext {
            metadata: who.metadata(context, user.id),
            idempotency: preconditions.idempotency,
            expected_version: preconditions.expected_version,
            ..Default::default()
        };
        let executed = self
            .on_user(user, version, command, command_context)
            .await?;
        if let (Some(reason), UserState::Present(after)) = (ends_sessions, &executed.state) {
            sessions::close_all(self, context, after, None, Closing::Revoke(reason), now).await?;
        }
        Ok(executed)
    }
}
