//! The Organization (partner) aggregate: identity, contact, status and members.
//!
//! Its parts, one module each: what an organization is ([`Organization`],
//! [`OrganizationState`]); what can be asked ([`OrganizationCommand`]) and why it is refused
//! ([`OrganizationError`]); what happened ([`OrganizationEvent`]) and the names that is stored by
//! ([`OrganizationEventType`]); and the aggregate's three functions, `decide`, `evolve` and
//! `claims`.

mod claims;
mod commands;
mod decide;
mod error;
mod events;
mod evolve;
mod state;

pub use commands::OrganizationCommand;
pub use error::OrganizationError;
pub use events::{OrganizationEvent, OrganizationEventType};
pub use state::{
    ApiKey, ApiKeyStatus, CommunicationMethod, Contact, EdiFormat, Invitation, Membership, OrgRole,
    Organization, OrganizationState, OrganizationStatus, PartnerDetails,
};

use crate::{Aggregate, ClaimChange};

/// The most API keys an organization may have in use at once (revoked and expired ones do not
/// count).
pub const MAX_API_KEYS: usize = 100;

/// The Organization aggregate.
#[derive(Debug, Clone, Copy)]
pub struct OrganizationAggregate;

impl Aggregate for OrganizationAggregate {
    const STREAM_TYPE: &'static str = "organization";
    type State = OrganizationState;
    type Command = OrganizationCommand;
    type Event = OrganizationEvent;
    type Error = OrganizationError;

    fn decide(
        state: &OrganizationState,
        command: OrganizationCommand,
    ) -> Result<Vec<OrganizationEvent>, OrganizationError> {
        decide::decide(state, command)
    }

    fn evolve(state: OrganizationState, event: &OrganizationEvent) -> OrganizationState {
        evolve::evolve(state, event)
    }

    fn claims(state: &OrganizationState, events: &[OrganizationEvent]) -> Vec<ClaimChange> {
        claims::claims(state, events)
    }
}

#[cfg(test)]
mod tests;
