//! What an organization is: the state folded from its stream, and the values it is made of.

use crate::values::{
    DisplayName, EdiId, Email, KeyName, OrganizationName, PartnerCode, Permission, PersonName,
    PhoneNumber, TokenHash,
};
use crate::{ApiKeyId, OrganizationId, Timestamp, UserId};
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

/// How a partner's systems exchange documents.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    strum::Display,
    strum::EnumString,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum CommunicationMethod {
    /// Files over SFTP.
    Sftp,
    /// Calls to an API.
    Api,
    /// Both.
    Both,
    /// By hand.
    Manual,
}

/// The document format a partner exchanges.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    strum::Display,
    strum::EnumString,
)]
pub enum EdiFormat {
    /// ANSI ASC X12.
    X12,
    /// UN/EDIFACT.
    #[serde(rename = "EDIFACT")]
    #[strum(serialize = "EDIFACT")]
    Edifact,
    /// XML.
    #[serde(rename = "XML")]
    #[strum(serialize = "XML")]
    Xml,
    /// JSON.
    #[serde(rename = "JSON")]
    #[strum(serialize = "JSON")]
    Json,
    /// CSV.
    #[serde(rename = "CSV")]
    #[strum(serialize = "CSV")]
    Csv,
}

/// What makes an organization an EDI partner: its code and how it exchanges documents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartnerDetails {
    /// Unique code.
    pub code: PartnerCode,
    /// How its systems exchange documents.
    pub communication: CommunicationMethod,
    /// The format of its documents.
    pub edi_format: EdiFormat,
    /// Its sender id (the pair of sender and receiver ids is unique).
    pub sender_id: EdiId,
    /// Its receiver id.
    pub receiver_id: EdiId,
}

impl PartnerDetails {
    /// The pair of interchange ids as one claimed value (ids cannot hold a space).
    pub fn interchange_pair(&self) -> String {
        format!("{} {}", self.sender_id, self.receiver_id)
    }
}

/// A credential of an organization's systems (not a person): it acts for the organization with
/// the permission flags it was given. Only the hash of its secret is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    /// Id (also named in the key itself).
    pub id: ApiKeyId,
    /// What it is for.
    pub name: KeyName,
    /// The flags it acts with.
    pub permissions: BTreeSet<Permission>,
    /// The SHA-256 of its secret.
    pub token_hash: TokenHash,
    /// When it stops working, if ever.
    pub expires_at: Option<Timestamp>,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it was revoked, if it was.
    pub revoked_at: Option<Timestamp>,
}

/// Whether an API key works.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, strum::Display)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum ApiKeyStatus {
    /// It authenticates.
    Active,
    /// Its expiry passed.
    Expired,
    /// It was revoked.
    Revoked,
}

impl ApiKey {
    /// Whether it authenticates at `at`: not revoked, not expired.
    pub fn is_usable(&self, at: Timestamp) -> bool {
        self.status(at) == ApiKeyStatus::Active
    }

    /// Its status at `at`.
    pub fn status(&self, at: Timestamp) -> ApiKeyStatus {
        if self.revoked_at.is_some() {
            ApiKeyStatus::Revoked
        } else if self.expires_at.is_some_and(|expiry| at >= expiry) {
            ApiKeyStatus::Expired
        } else {
            ApiKeyStatus::Active
        }
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
    /// Its partner details, if it is an EDI partner.
    pub partner: Option<PartnerDetails>,
    /// Its API keys, revoked ones too (their names are free again).
    pub api_keys: BTreeMap<ApiKeyId, ApiKey>,
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
