//! The User aggregate: registration, verification, credentials, lockout and lifecycle.
//!
//! Its parts, one module each: what a user is ([`User`], [`UserState`]); what can be asked
//! ([`UserCommand`]) and why it is refused ([`UserError`]); what happened ([`UserEvent`]) and the
//! names that is stored by ([`UserEventType`]); and the aggregate's three functions, `decide`
//! (one submodule per concern), `evolve` and `claims`.

mod claims;
mod commands;
mod decide;
mod error;
mod events;
mod evolve;
mod state;

pub use commands::{FirstCredential, NewUser, UserCommand};
pub use error::UserError;
pub use events::{USER_FORGOTTEN, UserEvent, UserEventType};
pub use state::{
    AccountLock, Deletion, ForgottenUser, LockKind, LockoutPolicy, PendingCode, Picture,
    ResetPurpose, Totp, User, UserState, UserStatus,
};

use crate::{Aggregate, ClaimChange, Duration};

/// How long a user must wait before another email verification message or phone code is sent.
pub const RESEND_COOLDOWN: Duration = Duration::seconds(60);

/// How many wrong phone codes are accepted before a new code must be requested.
pub const PHONE_CODE_ATTEMPTS: u32 = 5;

/// The User aggregate.
#[derive(Debug, Clone, Copy)]
pub struct UserAggregate;

impl Aggregate for UserAggregate {
    const STREAM_TYPE: &'static str = "user";
    type State = UserState;
    type Command = UserCommand;
    type Event = UserEvent;
    type Error = UserError;

    fn decide(state: &UserState, command: UserCommand) -> Result<Vec<UserEvent>, UserError> {
        decide::decide(state, command)
    }

    fn evolve(state: UserState, event: &UserEvent) -> UserState {
        evolve::evolve(state, event)
    }

    fn claims(state: &UserState, events: &[UserEvent]) -> Vec<ClaimChange> {
        claims::claims(state, events)
    }
}

#[cfg(test)]
mod tests;
