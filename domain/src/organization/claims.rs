//! The unique values that an organization's events take or release: its name, and a partner's
//! code and pair of interchange ids.

use super::{OrganizationEvent, OrganizationState, PartnerDetails};
use crate::values::OrganizationName;
use crate::{ClaimChange, ClaimKind};

/// [`Aggregate::claims`](crate::Aggregate::claims) for organizations.
pub(super) fn claims(_state: &OrganizationState, events: &[OrganizationEvent]) -> Vec<ClaimChange> {
    let normalized = |name: &OrganizationName| name.as_str().to_lowercase();
    events
        .iter()
        .flat_map(|event| match event {
            OrganizationEvent::OrganizationCreated { name, partner, .. } => {
                let mut claims = vec![ClaimChange::take(
                    ClaimKind::OrganizationName,
                    normalized(name),
                )];
                claims.extend(partner_claims(None, partner.as_ref()));
                claims
            }
            OrganizationEvent::OrganizationRenamed { old_name, name, .. }
                if normalized(old_name) != normalized(name) =>
            {
                vec![
                    ClaimChange::release(ClaimKind::OrganizationName, normalized(old_name)),
                    ClaimChange::take(ClaimKind::OrganizationName, normalized(name)),
                ]
            }
            OrganizationEvent::PartnerDetailsChanged { old, details, .. } => {
                partner_claims(old.as_ref(), details.as_ref())
            }
            _ => vec![],
        })
        .collect()
}

/// The partner claims that change from `old` to `new`: each value released when it goes and
/// taken when it comes.
fn partner_claims(old: Option<&PartnerDetails>, new: Option<&PartnerDetails>) -> Vec<ClaimChange> {
    let values = |details: Option<&PartnerDetails>| {
        details.map(|details| {
            [
                (ClaimKind::PartnerCode, details.code.as_str().to_owned()),
                (ClaimKind::InterchangePair, details.interchange_pair()),
            ]
        })
    };
    let (old, new) = (values(old), values(new));
    let mut changes = Vec::new();
    for (kind, value) in old.iter().flatten() {
        if !new
            .iter()
            .flatten()
            .any(|taken| taken == &(*kind, value.clone()))
        {
            changes.push(ClaimChange::release(*kind, value.clone()));
        }
    }
    for (kind, value) in new.iter().flatten() {
        if !old
            .iter()
            .flatten()
            .any(|held| held == &(*kind, value.clone()))
        {
            changes.push(ClaimChange::take(*kind, value.clone()));
        }
    }
    changes
}
