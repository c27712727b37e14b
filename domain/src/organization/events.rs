//! What happens to an organization: the events of its stream, and the names those events are
//! stored by.

use super::{Contact, OrgRole, OrganizationStatus, PartnerDetails};
use crate::values::{DisplayName, KeyName, OrganizationName, Permission, TokenHash};
use crate::{ApiKeyId, DomainEvent, OrganizationId, Timestamp, UserId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// What happened to an organization.
///
/// [`OrganizationEventType`] names its variants without their fields: the stored event type, so
/// code that reads the log without decoding payloads matches on names the compiler checks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, strum::EnumDiscriminants)]
#[serde(tag = "type", content = "data")]
#[strum_discriminants(
    name(OrganizationEventType),
    doc = "The type of an [`OrganizationEvent`], as stored with it; see [`OrganizationEventType::as_str`].",
    derive(
        Hash,
        PartialOrd,
        Ord,
        strum::IntoStaticStr,
        strum::EnumString,
        strum::Display,
        strum::VariantNames,
        strum::EnumIter
    )
)]
#[expect(missing_docs, reason = "event fields are named after what they hold")]
pub enum OrganizationEvent {
    /// The organization was created.
    OrganizationCreated {
        organization_id: OrganizationId,
        name: OrganizationName,
        display_name: Option<DisplayName>,
        contact: Contact,
        status: OrganizationStatus,
        /// Absent in events recorded before partners had details.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        partner: Option<PartnerDetails>,
        at: Timestamp,
    },
    /// It was renamed.
    OrganizationRenamed {
        old_name: OrganizationName,
        name: OrganizationName,
        display_name: Option<DisplayName>,
        at: Timestamp,
    },
    /// Its contact changed.
    OrganizationContactChanged { contact: Contact, at: Timestamp },
    /// Its partner details were set, changed or removed.
    PartnerDetailsChanged {
        old: Option<PartnerDetails>,
        details: Option<PartnerDetails>,
        at: Timestamp,
    },
    /// Its status changed.
    OrganizationStatusChanged {
        old_status: OrganizationStatus,
        status: OrganizationStatus,
        at: Timestamp,
    },
    /// A member was added.
    MemberAdded {
        user_id: UserId,
        role: OrgRole,
        permissions: BTreeSet<Permission>,
        at: Timestamp,
    },
    /// A member's role or permissions changed.
    MemberChanged {
        user_id: UserId,
        role: OrgRole,
        permissions: BTreeSet<Permission>,
        at: Timestamp,
    },
    /// A member was removed.
    MemberRemoved { user_id: UserId, at: Timestamp },
    /// A person was invited to join.
    MemberInvited {
        user_id: UserId,
        role: OrgRole,
        permissions: BTreeSet<Permission>,
        expires_at: Timestamp,
        at: Timestamp,
    },
    /// The person accepted (a `MemberAdded` follows).
    InvitationAccepted { user_id: UserId, at: Timestamp },
    /// The person declined.
    InvitationDeclined { user_id: UserId, at: Timestamp },
    /// The organization withdrew it.
    InvitationRevoked { user_id: UserId, at: Timestamp },
    /// It lapsed unanswered (recorded when someone next touched it).
    InvitationExpired { user_id: UserId, at: Timestamp },
    /// An API key was created.
    ApiKeyCreated {
        key_id: ApiKeyId,
        name: KeyName,
        permissions: BTreeSet<Permission>,
        token_hash: TokenHash,
        expires_at: Option<Timestamp>,
        at: Timestamp,
    },
    /// An API key was revoked.
    ApiKeyRevoked { key_id: ApiKeyId, at: Timestamp },
}

impl OrganizationEventType {
    /// The event type as stored in the log, e.g. `"MemberAdded"`.
    pub const fn as_str(self) -> &'static str {
        // The names are listed in declaration order, the order of the discriminants.
        <Self as strum::VariantNames>::VARIANTS[self as usize]
    }
}

impl DomainEvent for OrganizationEvent {
    fn event_type(&self) -> &'static str {
        // One source for the name: the type the rest of the system matches on.
        OrganizationEventType::from(self).as_str()
    }

    fn personal_fields(&self) -> &'static [&'static str] {
        match self {
            Self::OrganizationCreated { .. } | Self::OrganizationContactChanged { .. } => {
                &["/contact"]
            }
            Self::OrganizationRenamed { .. }
            | Self::PartnerDetailsChanged { .. }
            | Self::OrganizationStatusChanged { .. }
            | Self::MemberAdded { .. }
            | Self::MemberChanged { .. }
            | Self::MemberRemoved { .. }
            | Self::MemberInvited { .. }
            | Self::InvitationAccepted { .. }
            | Self::InvitationDeclined { .. }
            | Self::InvitationRevoked { .. }
            | Self::InvitationExpired { .. }
            | Self::ApiKeyCreated { .. }
            | Self::ApiKeyRevoked { .. } => &[],
        }
    }
}
