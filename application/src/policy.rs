//! Who may do what to whom: one rule per operation, and one function that applies them.
//!
//! Every use case asks [`authorize`] before it acts, whichever front end called it, so REST, the
//! web pages and the command line cannot disagree. The rules are data ([`Operation::rule`]); the
//! matrix test walks every operation × caller × target and compares with the committed table.
//!
//! What matters most for identity:
//! - only the person and administrators change a person's credentials and identity;
//! - an `org_admin` manages memberships, roles and permission flags in their organization and
//!   reads their members' directory entries, nothing else about a person;
//! - grants that come from an organization never reach a holder of a privileged global role;
//! - a person changing their own email, phone or password, or turning MFA off, needs a fresh
//!   proof (a recent sign-in or their current password), so a stolen access token alone does not
//!   become a permanent takeover.

use domain::organization::OrgRole;
use domain::values::Permission;
use domain::{ApiKeyId, OrganizationId, UserId};
use std::collections::{BTreeMap, BTreeSet};

/// The permission flag that lets a member read their organization's analytics.
pub const CAN_VIEW_REPORTS: &str = "can_view_reports";
/// The permission flag that lets a member edit their organization's details.
pub const CAN_MANAGE_SETTINGS: &str = "can_manage_settings";
/// The permission flag that lets a member read their organization's transactions.
pub const CAN_VIEW_TRANSACTIONS: &str = "can_view_transactions";
/// The permission flag that lets a member record what their organization sent (uploaded).
pub const CAN_UPLOAD_FILES: &str = "can_upload_files";
/// The permission flag that lets a member record what their organization received (downloaded).
pub const CAN_DOWNLOAD_FILES: &str = "can_download_files";

/// A global role that grants something by itself. Other global roles (`user`, an operator's
/// `COACH`) grant nothing here; the catalog may still mark them privileged.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, strum::Display, strum::EnumString,
)]
#[strum(serialize_all = "snake_case")]
pub enum GlobalRole {
    /// Administers everything.
    Admin,
    /// Reads the log, its verification and anyone's history.
    Auditor,
    /// Reads the read models and analytics.
    Analyst,
}

/// Who is asking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// Nobody signed in.
    Anonymous,
    /// A signed-in person.
    User(UserActor),
    /// A service holding a configured credential (token introspection).
    Service,
    /// An organization's API key: its systems, granted only what its flags grant in it.
    Key(KeyActor),
    /// The operator at the command line, with the database at hand: full rights.
    Operator,
    /// idlog itself (workers, the bootstrap).
    System,
}

/// A signed-in person as the policy sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserActor {
    /// Who.
    pub id: UserId,
    /// Their global roles that grant something.
    pub roles: BTreeSet<GlobalRole>,
    /// Their memberships, confirmed against each organization.
    pub memberships: BTreeMap<OrganizationId, OrgRole>,
    /// The permission flags each membership carries.
    pub flags: BTreeMap<OrganizationId, BTreeSet<Permission>>,
    /// Whether they proved who they are recently: signed in within the re-authentication
    /// window, or confirmed their current password with this request.
    pub fresh: bool,
}

/// An organization's API key as the policy sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyActor {
    /// Which key.
    pub id: ApiKeyId,
    /// The organization it acts for.
    pub organization: OrganizationId,
    /// The flags it was given that the catalog still grants.
    pub flags: BTreeSet<Permission>,
}

/// A person an operation is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    /// Who.
    pub id: UserId,
    /// Whether they hold a privileged global role (`admin`, `auditor`, `analyst`, and those the
    /// role catalog marks privileged).
    pub privileged: bool,
    /// Their memberships, as far as the caller's organizations know them.
    pub memberships: BTreeMap<OrganizationId, OrgRole>,
}

/// What an operation is done to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target<'a> {
    /// The whole installation: every user, the log, the read models, the workers.
    Everything,
    /// One organization, or its share of a collection (its members' list, its analytics).
    Organization(OrganizationId),
    /// One person.
    Person(&'a Person),
    /// A person's membership, existing or offered, in an organization.
    Member {
        /// The organization.
        organization: OrganizationId,
        /// The person.
        person: &'a Person,
    },
}

/// Who an operation is allowed to, as data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// Anyone, signed in or not.
    pub anyone: bool,
    /// The person the target is (a member leaving, someone reading their own account).
    pub person: bool,
    /// Roles in the target's organization that grant it (never over a privileged person).
    pub organization: &'static [OrgRole],
    /// Permission flags any one of which grants it to a member of the target organization
    /// holding it, and to the organization's API keys given it (organization targets only).
    pub flags: &'static [&'static str],
    /// Global roles that grant it.
    pub global: &'static [GlobalRole],
    /// A service credential.
    pub service: bool,
    /// The person doing it to themself needs a fresh proof of who they are.
    pub fresh: bool,
    /// It only reads: organization grants reach privileged persons too (reading a directory
    /// entry is not acting on its holder).
    pub read_only: bool,
    /// Never on oneself, whatever the role: an administrator does not lock, deactivate or
    /// delete their own account or change their own roles (another administrator or the
    /// command line does), so no one shuts themselves out by a slip.
    pub not_on_oneself: bool,
}

impl Rule {
    /// Whether one of `held` is a flag that grants it.
    fn granted_by(&self, held: &BTreeSet<Permission>) -> bool {
        held.iter().any(|flag| self.flags.contains(&flag.as_str()))
    }
}

const NONE: Rule = Rule {
    anyone: false,
    person: false,
    organization: &[],
    flags: &[],
    global: &[],
    service: false,
    fresh: false,
    read_only: false,
    not_on_oneself: false,
};
const ADMIN: &[GlobalRole] = &[GlobalRole::Admin];
const AUDITORS: &[GlobalRole] = &[GlobalRole::Admin, GlobalRole::Auditor];
const READERS: &[GlobalRole] = &[GlobalRole::Admin, GlobalRole::Auditor, GlobalRole::Analyst];
const ORG_ADMINS: &[OrgRole] = &[OrgRole::OrgAdmin];
const MEMBERS: &[OrgRole] = &[OrgRole::OrgAdmin, OrgRole::Member, OrgRole::Readonly];

/// Anyone, signed in or not.
const PUBLIC: Rule = Rule {
    anyone: true,
    ..NONE
};
/// The person alone.
const OWN: Rule = Rule {
    person: true,
    ..NONE
};
/// The person alone, with a fresh proof.
const OWN_FRESH: Rule = Rule {
    person: true,
    fresh: true,
    ..NONE
};
/// Administrators.
const ADMINISTRATORS: Rule = Rule {
    global: ADMIN,
    ..NONE
};
/// The person and administrators.
const PERSON_OR_ADMIN: Rule = Rule {
    person: true,
    global: ADMIN,
    ..NONE
};
/// The person (with a fresh proof) and administrators.
const PERSON_FRESH_OR_ADMIN: Rule = Rule {
    person: true,
    global: ADMIN,
    fresh: true,
    ..NONE
};
/// The person and every global reader of the read models.
const PERSON_OR_READERS: Rule = Rule {
    person: true,
    global: READERS,
    ..NONE
};
/// Administrators and the organization's org_admins.
const ORGANIZATION_ADMINS: Rule = Rule {
    organization: ORG_ADMINS,
    global: ADMIN,
    ..NONE
};
/// Global readers, and an organization's org_admins for its share.
const READERS_OR_ORG_ADMINS: Rule = Rule {
    organization: ORG_ADMINS,
    global: READERS,
    ..NONE
};

/// Everything idlog lets someone do, named after the use case.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    strum::Display,
    strum::EnumIter,
    strum::EnumString,
)]
#[strum(serialize_all = "snake_case")]
pub enum Operation {
    // Open to everyone.
    /// Create one's own account.
    Register,
    /// Sign in with a password (and a second factor).
    SignIn,
    /// Exchange a refresh token for new tokens.
    RefreshSession,
    /// Ask for a password reset link.
    ForgotPassword,
    /// Set a new password with a reset link.
    ResetPassword,
    /// Confirm an email address with its link.
    VerifyEmail,
    /// Read the access tokens' public keys.
    ReadPublicKeys,
    /// Read liveness and readiness.
    ReadHealth,
    /// Read the OpenAPI document.
    ReadApiDocument,
    /// Read the Prometheus metrics.
    ReadMetrics,
    /// Ask whether an access token is valid (a service credential).
    IntrospectToken,

    // A person's own account.
    /// Read one's own account and memberships.
    ReadOwnAccount,
    /// End the session one signed in with.
    SignOut,
    /// End every session of one's own.
    SignOutEverywhere,
    /// List one's own sessions.
    ListOwnSessions,
    /// End one of one's own sessions.
    EndOwnSession,
    /// Change one's own password.
    ChangeOwnPassword,
    /// Start enrolling a TOTP second factor.
    EnrollMfa,
    /// Confirm a TOTP enrollment, which turns MFA on.
    ConfirmMfa,
    /// Turn MFA off.
    DisableMfa,
    /// Send oneself an email verification link.
    SendEmailVerification,
    /// Send oneself a phone verification code.
    SendPhoneCode,
    /// Confirm one's phone with its code.
    VerifyPhone,
    /// List the invitations waiting for one's answer.
    ListOwnInvitations,
    /// Accept or decline an invitation to an organization.
    AnswerInvitation,

    // A person, by id.
    /// Read a person's directory entry (names, email, status, memberships).
    ReadUser,
    /// Change a person's first and last name.
    ChangeNames,
    /// Change a person's username.
    ChangeUsername,
    /// Change a person's email address.
    ChangeEmail,
    /// Change a person's phone number.
    ChangePhone,
    /// Grant or revoke global roles.
    ChangeRoles,
    /// Read a person's profile and picture.
    ReadProfile,
    /// Change a person's profile and picture.
    ChangeProfile,
    /// Read whether a person is locked out.
    ReadLockout,
    /// Lock an account.
    LockUser,
    /// Unlock an account.
    UnlockUser,
    /// Deactivate an account.
    DeactivateUser,
    /// Reactivate an account.
    ReactivateUser,
    /// Delete an account.
    DeleteUser,
    /// Restore a deleted account within the restore window.
    RestoreUser,
    /// Send a person a password reset link.
    SendPasswordReset,
    /// Set a person's password (their sessions end).
    SetPassword,
    /// Mark a person's email address or phone number verified by hand, with a reason.
    VerifyByHand,
    /// Erase a person's personal data for good.
    ForgetUser,
    /// Export a person's personal data.
    ExportUser,
    /// List a person's sessions.
    ReadUserSessions,
    /// Read a person's activity.
    ReadUserActivity,
    /// Read a person's notifications: sign-ins from new kinds of device, security changes.
    ReadNotifications,
    /// List the kinds of device a person signed in from.
    ReadDevices,
    /// Read a person's events and past states.
    ReadUserHistory,
    /// Revoke one of a person's sessions (administrators; a person ends their own with
    /// `EndOwnSession`).
    RevokeUserSession,

    // Organizations.
    /// List an organization's API keys.
    ListApiKeys,
    /// Create an API key for an organization (its secret is shown once).
    CreateApiKey,
    /// Revoke an organization's API key.
    RevokeApiKey,
    /// Create an organization.
    CreateOrganization,
    /// Read an organization and its members.
    ReadOrganization,
    /// Change an organization's display name and contact.
    ChangeOrganizationDetails,
    /// Change an organization's unique name.
    RenameOrganization,
    /// Change an organization's status.
    ChangeOrganizationStatus,
    /// Set, change or remove an organization's partner details (its EDI identity).
    ChangePartnerDetails,
    /// Add a member without asking them (administrators).
    AddMember,
    /// Invite a person to join (they accept or decline).
    InviteMember,
    /// List an organization's pending invitations.
    ListInvitations,
    /// Withdraw a pending invitation.
    RevokeInvitation,
    /// Change a member's role or permission flags.
    ChangeMember,
    /// Remove a member (or leave, for the member).
    RemoveMember,

    // Collections.
    /// Create an account (administrators anywhere; org_admins as an invitation to theirs).
    CreateUser,
    /// List and search users.
    ListUsers,
    /// List organizations.
    ListOrganizations,
    /// Read the activity log.
    ListActivity,
    /// Read analytics (dashboards, daily counts, the verification funnel).
    ReadAnalytics,
    /// Read the log, its verification and checkpoints.
    ReadAuditLog,
    /// Check and rebuild the storage folders; list email and SMS deliveries.
    ManageStorage,
    /// Read the catalog of permission flags.
    ReadPermissionCatalog,
    /// Record what a partner sent (a file uploaded, a transaction sent).
    RecordSentActivity,
    /// Record what a partner received (a file downloaded, a transaction received).
    RecordReceivedActivity,
    /// Read a partner's transactions and their figures.
    ReadTransactions,
    /// Read a partner's file transfers.
    ReadFileTransfers,
    /// Read the catalog of partner activity actions.
    ReadPartnerActions,
    /// Define and retire partner activity actions.
    ManagePartnerActions,
    /// Define and retire permission flags.
    ManagePermissionCatalog,
    /// Read a user's wallet and its history.
    ReadWallet,
    /// Credit, debit, freeze and unfreeze a user's wallet.
    ManageWallet,
    /// Read the catalog of global roles and their profile fields.
    ReadRoleCatalog,
    /// Define, change and retire global roles.
    ManageRoleCatalog,
    /// Set the profile of a role a person holds.
    SetRoleProfile,
    /// Read the profiles of the roles a person holds (shown with the user, and filtering the
    /// users list).
    ReadRoleProfile,
    /// Read the list of blocked addresses and ranges.
    ReadIpBlocks,
    /// Block and unblock addresses and ranges.
    ManageIpBlocks,
    /// Read the read models' and workers' positions, lag and dead letters.
    ReadProcessing,
    /// Retry or skip dead letters of read models and workers.
    ResolveDeadLetters,
}

impl Operation {
    /// Who may do it.
    pub const fn rule(self) -> Rule {
        use Operation as O;
        match self {
            O::Register
            | O::SignIn
            | O::RefreshSession
            | O::ForgotPassword
            | O::ResetPassword
            | O::VerifyEmail
            | O::ReadPublicKeys
            | O::ReadHealth
            | O::ReadApiDocument
            | O::ReadMetrics => PUBLIC,
            O::IntrospectToken => Rule {
                service: true,
                ..NONE
            },

            O::ReadOwnAccount
            | O::SignOut
            | O::SignOutEverywhere
            | O::ListOwnSessions
            | O::EndOwnSession
            | O::EnrollMfa
            | O::ConfirmMfa
            | O::SendEmailVerification
            | O::SendPhoneCode
            | O::VerifyPhone
            | O::ListOwnInvitations
            | O::AnswerInvitation => OWN,
            O::ChangeOwnPassword | O::DisableMfa => OWN_FRESH,

            O::ReadUser => Rule {
                person: true,
                organization: ORG_ADMINS,
                global: READERS,
                read_only: true,
                ..NONE
            },
            O::ChangeNames
            | O::ChangeUsername
            | O::ReadProfile
            | O::ChangeProfile
            | O::ReadLockout
            | O::ExportUser => PERSON_OR_ADMIN,
            O::ChangeEmail | O::ChangePhone => PERSON_FRESH_OR_ADMIN,
            O::ChangeRoles
            | O::SetRoleProfile
            | O::LockUser
            | O::DeactivateUser
            | O::DeleteUser
            // One's own password is changed with the current one; one does not vouch for
            // oneself.
            | O::SetPassword
            | O::VerifyByHand
            // Nobody moves credits in or out of their own wallet.
            | O::ManageWallet => Rule {
                not_on_oneself: true,
                ..ADMINISTRATORS
            },
            O::UnlockUser
            | O::ReactivateUser
            | O::SendPasswordReset
            | O::RestoreUser
            | O::RevokeUserSession => ADMINISTRATORS,
            // The right to erasure: the person, with their password, or an administrator.
            O::ForgetUser => PERSON_FRESH_OR_ADMIN,
            O::ReadUserSessions
            | O::ReadUserActivity
            | O::ReadNotifications
            | O::ReadDevices
            | O::ReadWallet
            | O::ReadRoleProfile => PERSON_OR_READERS,
            O::ReadUserHistory => Rule {
                person: true,
                global: AUDITORS,
                ..NONE
            },

            O::CreateOrganization
            | O::RenameOrganization
            | O::ChangeOrganizationStatus
            | O::ChangePartnerDetails
            | O::AddMember
            | O::ManageStorage
            | O::ManagePermissionCatalog
            | O::ManageIpBlocks
            | O::ManageRoleCatalog
            | O::ManagePartnerActions
            | O::ReadProcessing
            | O::ResolveDeadLetters => ADMINISTRATORS,
            O::ReadOrganization => Rule {
                organization: MEMBERS,
                global: READERS,
                ..NONE
            },
            // Members holding `can_manage_settings` edit the details too (not the name, the
            // status or the partner details, which are operations of their own).
            O::ChangeOrganizationDetails => Rule {
                flags: &[CAN_MANAGE_SETTINGS],
                ..ORGANIZATION_ADMINS
            },
            O::InviteMember
            | O::ListApiKeys
            | O::CreateApiKey
            | O::RevokeApiKey
            | O::ListInvitations
            | O::RevokeInvitation
            | O::ChangeMember
            | O::CreateUser => ORGANIZATION_ADMINS,
            O::RemoveMember => Rule {
                person: true,
                ..ORGANIZATION_ADMINS
            },

            O::ListUsers | O::ReadPermissionCatalog => READERS_OR_ORG_ADMINS,
            // Members holding `can_view_reports` read their organization's analytics.
            O::ReadAnalytics => Rule {
                flags: &[CAN_VIEW_REPORTS],
                ..READERS_OR_ORG_ADMINS
            },
            // A partner's systems (its keys) and members record with the flag for the direction.
            O::RecordSentActivity => Rule {
                flags: &[CAN_UPLOAD_FILES],
                ..ORGANIZATION_ADMINS
            },
            O::RecordReceivedActivity => Rule {
                flags: &[CAN_DOWNLOAD_FILES],
                ..ORGANIZATION_ADMINS
            },
            O::ReadTransactions => Rule {
                flags: &[CAN_VIEW_TRANSACTIONS],
                ..READERS_OR_ORG_ADMINS
            },
            O::ReadFileTransfers => Rule {
                flags: &[CAN_UPLOAD_FILES, CAN_DOWNLOAD_FILES],
                ..READERS_OR_ORG_ADMINS
            },
            // Whoever may record or list partner activity learns which actions there are.
            O::ReadPartnerActions => Rule {
                organization: MEMBERS,
                flags: &[CAN_UPLOAD_FILES, CAN_DOWNLOAD_FILES],
                global: READERS,
                ..NONE
            },
            O::ListOrganizations => Rule {
                organization: MEMBERS,
                global: READERS,
                ..NONE
            },
            O::ListActivity | O::ReadIpBlocks | O::ReadRoleCatalog => Rule {
                global: READERS,
                ..NONE
            },
            O::ReadAuditLog => Rule {
                global: AUDITORS,
                ..NONE
            },
        }
    }
}

/// Why an operation was refused, and so what the caller may be told.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::Display)]
#[strum(serialize_all = "snake_case")]
pub enum Refusal {
    /// Nobody is signed in: sign in first (401).
    SignInRequired,
    /// The caller may not even see the target: it is "not found" to them (404).
    NotFound,
    /// The caller sees the target but may not do this (403).
    Forbidden,
    /// The person may do this with a fresh proof: their current password, or a new sign-in.
    FreshProofRequired,
}

/// Whether `actor` may do `operation` to `target`.
pub fn authorize(actor: &Actor, operation: Operation, target: Target<'_>) -> Result<(), Refusal> {
    let rule = operation.rule();
    if rule.anyone {
        return Ok(());
    }
    let user = match actor {
        Actor::Operator | Actor::System => return Ok(()),
        Actor::Service if rule.service => return Ok(()),
        Actor::Service => return Err(Refusal::Forbidden),
        Actor::Key(key) => return authorize_key(key, rule, target),
        Actor::Anonymous => return Err(Refusal::SignInRequired),
        Actor::User(user) => user,
    };
    let is_person = target_person(target).is_some_and(|person| person.id == user.id);
    if is_person && rule.not_on_oneself {
        return Err(Refusal::Forbidden);
    }
    if is_person && rule.person {
        // Asked of everyone acting on their own credentials, administrators too.
        return if rule.fresh && !user.fresh {
            Err(Refusal::FreshProofRequired)
        } else {
            Ok(())
        };
    }
    if grants(user, rule, target) {
        return Ok(());
    }
    Err(if may_see(user, target) {
        Refusal::Forbidden
    } else {
        Refusal::NotFound
    })
}

/// An API key is granted what its flags grant in its own organization, and nothing over a
/// person; refusals name only its own organization.
fn authorize_key(key: &KeyActor, rule: Rule, target: Target<'_>) -> Result<(), Refusal> {
    let own = |organization: OrganizationId| organization == key.organization;
    match target {
        Target::Organization(organization) if own(organization) && rule.granted_by(&key.flags) => {
            Ok(())
        }
        Target::Organization(organization) | Target::Member { organization, .. }
            if own(organization) =>
        {
            Err(Refusal::Forbidden)
        }
        Target::Everything => Err(Refusal::Forbidden),
        Target::Organization(_) | Target::Member { .. } | Target::Person(_) => {
            Err(Refusal::NotFound)
        }
    }
}

/// Whether `operation` on `target` is allowed to `actor` (for listings that filter rather than
/// refuse).
pub fn allows(actor: &Actor, operation: Operation, target: Target<'_>) -> bool {
    authorize(actor, operation, target).is_ok()
}

fn target_person<'a>(target: Target<'a>) -> Option<&'a Person> {
    match target {
        Target::Person(person) | Target::Member { person, .. } => Some(person),
        Target::Everything | Target::Organization(_) => None,
    }
}

/// Whether a global role or an organization role of `user` grants `rule` over `target`.
fn grants(user: &UserActor, rule: Rule, target: Target<'_>) -> bool {
    if rule.global.iter().any(|role| user.roles.contains(role)) {
        return true;
    }
    // Organization grants are over others, and over privileged persons only to read.
    let reaches = |person: &Person| person.id != user.id && (rule.read_only || !person.privileged);
    let role_in = |organization: &OrganizationId| {
        user.memberships
            .get(organization)
            .is_some_and(|role| rule.organization.contains(role))
    };
    let flag_in = |organization: &OrganizationId| {
        user.memberships.contains_key(organization)
            && user
                .flags
                .get(organization)
                .is_some_and(|held| rule.granted_by(held))
    };
    match target {
        Target::Everything => false,
        Target::Organization(organization) => role_in(&organization) || flag_in(&organization),
        Target::Member {
            organization,
            person,
        } => reaches(person) && role_in(&organization),
        Target::Person(person) => reaches(person) && person.memberships.keys().any(role_in),
    }
}

/// Whether `user` may know that `target` exists: refusals name it (403) only then.
fn may_see(user: &UserActor, target: Target<'_>) -> bool {
    match target {
        Target::Everything => true,
        Target::Organization(organization) | Target::Member { organization, .. } => grants(
            user,
            Operation::ReadOrganization.rule(),
            Target::Organization(organization),
        ),
        Target::Person(person) => {
            person.id == user.id || grants(user, Operation::ReadUser.rule(), target)
        }
    }
}

#[cfg(test)]
mod tests;
