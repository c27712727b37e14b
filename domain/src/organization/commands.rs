//! What can be asked of an organization.

use super::{Contact, OrgRole, OrganizationStatus, PartnerDetails};
use crate::values::{DisplayName, KeyName, OrganizationName, Permission, TokenHash};
use crate::{ApiKeyId, OrganizationId, Timestamp, UserId};
use std::collections::BTreeSet;

/// What can be asked of an organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrganizationCommand {
    /// Creates the organization.
    Create {
        /// A fresh id.
        organization_id: OrganizationId,
        /// Unique name.
        name: OrganizationName,
        /// Name to show.
        display_name: Option<DisplayName>,
        /// Contact person.
        contact: Contact,
        /// Initial status.
        status: OrganizationStatus,
        /// Its partner details, for an EDI partner.
        partner: Option<PartnerDetails>,
        /// When.
        at: Timestamp,
    },
    /// Renames it.
    Rename {
        /// New unique name.
        name: OrganizationName,
        /// New display name.
        display_name: Option<DisplayName>,
        /// When.
        at: Timestamp,
    },
    /// Replaces the contact person.
    ChangeContact {
        /// The contact.
        contact: Contact,
        /// When.
        at: Timestamp,
    },
    /// Sets, changes or (with `None`) removes its partner details.
    SetPartnerDetails {
        /// The details.
        details: Option<PartnerDetails>,
        /// When.
        at: Timestamp,
    },
    /// Changes the status.
    ChangeStatus {
        /// The status.
        status: OrganizationStatus,
        /// When.
        at: Timestamp,
    },
    /// Adds a member.
    AddMember {
        /// The user.
        user_id: UserId,
        /// Their role.
        role: OrgRole,
        /// Their permission flags.
        permissions: BTreeSet<Permission>,
        /// When.
        at: Timestamp,
    },
    /// Changes a member's role or permissions.
    ChangeMember {
        /// The member.
        user_id: UserId,
        /// New role.
        role: OrgRole,
        /// New permission flags.
        permissions: BTreeSet<Permission>,
        /// When.
        at: Timestamp,
    },
    /// Removes a member.
    RemoveMember {
        /// The member.
        user_id: UserId,
        /// When.
        at: Timestamp,
    },
    /// Invites a person to join; they become a member only when they accept.
    Invite {
        /// The person.
        user_id: UserId,
        /// Their role once they accept.
        role: OrgRole,
        /// Their permission flags once they accept.
        permissions: BTreeSet<Permission>,
        /// When the invitation lapses.
        expires_at: Timestamp,
        /// When.
        at: Timestamp,
    },
    /// The person's answer to their invitation.
    AnswerInvitation {
        /// The person.
        user_id: UserId,
        /// Yes or no.
        accept: bool,
        /// When.
        at: Timestamp,
    },
    /// Withdraws a pending invitation.
    RevokeInvitation {
        /// The person.
        user_id: UserId,
        /// When.
        at: Timestamp,
    },
    /// Creates an API key (its secret made and hashed by the caller).
    CreateApiKey {
        /// A fresh id.
        key_id: ApiKeyId,
        /// Its name, unique among the keys in use.
        name: KeyName,
        /// The flags it acts with.
        permissions: BTreeSet<Permission>,
        /// The SHA-256 of its secret.
        token_hash: TokenHash,
        /// When it stops working, if ever (after `at`).
        expires_at: Option<Timestamp>,
        /// When.
        at: Timestamp,
    },
    /// Revokes an API key (again: nothing happens).
    RevokeApiKey {
        /// The key.
        key_id: ApiKeyId,
        /// When.
        at: Timestamp,
    },
    /// Several commands decided in order, each on the state the previous ones left: all of
    /// them or none (one edit of several aspects, one append).
    Batch(Vec<OrganizationCommand>),
}
