//! What an organization is: the state folded from its stream, and the values it is made of.

use crate::values::{DisplayName, Email, OrganizationName, Permission, PersonName, PhoneNumber};
use crate::{OrganizationId, Timestamp, UserId};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Whether an organization is in business.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, strum::Display, strum::EnumString,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum OrganizationStatus {
    /// Members may log in.
    Active,
    /// Members may not log in.
    Inactive,
    /// Trying idlog out; members may log in.
    Testing,
    /// Suspended; members may not log in.
    Suspended,
}

impl OrganizationStatus {
    /// Whether members of an organization in this status may log in.
    pub fn allows_login(self) -> bool {
        matches!(self, Self::Active | Self::Testing)
    }
}

/// A member's role within an organization.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    strum::Display,
    strum::EnumString,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum OrgRole {
    /// Manages the members of the organization.
    OrgAdmin,
    /// An ordinary member.
    Member,
    /// May only read.
    Readonly,
}

/// An organization's contact person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Contact {
    /// Contact name.
    pub name: Option<PersonName>,
    /// Contact email.
    pub email: Option<Email>,
    /// Contact phone.
    pub phone: Option<PhoneNumber>,
}

/// A user's membership in an organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    /// The role within the organization.
    pub role: OrgRole,
    /// Named permission flags.
    pub permissions: BTreeSet<Permission>,
    /// When the user joined.
    pub since: Timestamp,
}

/// An offer to join an organization, waiting for the person's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    /// The role they would have.
    pub role: OrgRole,
    /// The permission flags they would have.
    pub permissions: BTreeSet<Permission>,
    /// When it was made.
    pub invited_at: Timestamp,
    /// When it lapses unanswered.
    pub expires_at: Timestamp,
}

impl Invitation {
    /// Whether it can still be answered at `at`.
    pub fn is_open(&self, at: Timestamp) -> bool {
        at < self.expires_at
    }
}

/// An organization as folded from its stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organization {
    /// Id.
    pub id: OrganizationId,
    /// Unique name.
    pub name: OrganizationName,
    /// Name to show.
    pub display_name: Option<DisplayName>,
    /// Contact person.
    pub contact: Contact,
    /// Status.
    pub status: OrganizationStatus,
    /// Members by user.
    pub members: BTreeMap<UserId, Membership>,
    /// Invitations not yet answered, revoked or recorded as expired, by invitee.
    pub invitations: BTreeMap<UserId, Invitation>,
    /// When it was created.
    pub created_at: Timestamp,
}

/// The state of an organization stream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum OrganizationState {
    /// No such organization.
    #[default]
    Absent,
    /// The organization.
    Present(Box<Organization>),
}
