//! The unique value (the name) that an organization's events take or release.

use super::{OrganizationEvent, OrganizationState};
use crate::values::OrganizationName;
use crate::{ClaimChange, ClaimKind};

/// [`Aggregate::claims`](crate::Aggregate::claims) for organizations.
pub(super) fn claims(_state: &OrganizationState, events: &[OrganizationEvent]) -> Vec<ClaimChange> {
    let normalized = |name: &OrganizationName| name.as_str().to_lowercase();
    events
        .iter()
        .flat_map(|event| match event {
            OrganizationEvent::OrganizationCreated { name, .. } => {
                vec![ClaimChange::take(
                    ClaimKind::OrganizationName,
                    normalized(name),
                )]
            }
            OrganizationEvent::OrganizationRenamed { old_name, name, .. }
                if normalized(old_name) != normalized(name) =>
            {
                vec![
                    ClaimChange::release(ClaimKind::OrganizationName, normalized(old_name)),
                    ClaimChange::take(ClaimKind::OrganizationName, normalized(name)),
                ]
            }
            _ => vec![],
        })
        .collect()
}
