//! The authorization matrix: every operation × caller × target, compared cell by cell with the
//! committed table in `docs/authorization-matrix.md` (regenerate it with `IDLOG_BLESS=1` after
//! a deliberate change, and read the diff). A new operation has no target kinds here until one
//! is written, so it cannot slip in without rows.

use super::*;
use domain::values::Permission;
use strum::IntoEnumIterator;

fn user(n: u128) -> UserId {
    UserId::from_uuid(uuid_from(n))
}

fn uuid_from(n: u128) -> uuid::Uuid {
    uuid::Uuid::from_u128(n)
}

fn same() -> OrganizationId {
    OrganizationId::from_uuid(uuid_from(0xA))
}

fn other() -> OrganizationId {
    OrganizationId::from_uuid(uuid_from(0xB))
}

/// The people operations are done to.
#[derive(Debug, Clone, Copy, strum::EnumIter, strum::Display)]
enum PersonKind {
    #[strum(to_string = "plain user")]
    Plain,
    #[strum(to_string = "member")]
    Member,
    #[strum(to_string = "org_admin")]
    OrgAdmin,
    #[strum(to_string = "auditor (member)")]
    Privileged,
    #[strum(to_string = "administrator (member)")]
    Administrator,
}

impl PersonKind {
    fn person(self) -> Person {
        let (n, privileged, membership) = match self {
            Self::Plain => (1, false, None),
            Self::Member => (2, false, Some(OrgRole::Member)),
            Self::OrgAdmin => (3, false, Some(OrgRole::OrgAdmin)),
            Self::Privileged => (4, true, Some(OrgRole::Member)),
            Self::Administrator => (5, true, Some(OrgRole::Member)),
        };
        Person {
            id: user(n),
            privileged,
            memberships: membership.map(|role| (same(), role)).into_iter().collect(),
        }
    }

    /// The person as a signed-in caller.
    fn actor(self, fresh: bool) -> UserActor {
        let person = self.person();
        let roles = match self {
            Self::Privileged => BTreeSet::from([GlobalRole::Auditor]),
            Self::Administrator => BTreeSet::from([GlobalRole::Admin]),
            _ => BTreeSet::new(),
        };
        UserActor {
            id: person.id,
            roles,
            memberships: person.memberships,
            flags: BTreeMap::new(),
            fresh,
        }
    }
}

/// The kinds of target an operation takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TargetKind {
    /// Each person in turn.
    Person,
    /// Each person's membership in the caller's (or not) organization.
    Member,
    /// The organization.
    Organization,
    /// The whole installation.
    Everything,
}

/// The targets each operation's use case passes.
fn target_kinds(operation: Operation) -> &'static [TargetKind] {
    use Operation as O;
    use TargetKind as T;
    match operation {
        O::Register
        | O::SignIn
        | O::RefreshSession
        | O::ForgotPassword
        | O::ResetPassword
        | O::VerifyEmail
        | O::ReadPublicKeys
        | O::ReadHealth
        | O::ReadApiDocument
        | O::ReadMetrics
        | O::IntrospectToken
        | O::CreateOrganization
        | O::ListActivity
        | O::ReadAuditLog
        | O::ManageStorage
        | O::ManagePermissionCatalog
        | O::ManagePartnerActions
        | O::ReadIpBlocks
        | O::ManageIpBlocks
        | O::ReadRoleCatalog
        | O::ManageRoleCatalog
        | O::ReadProcessing
        | O::ResolveDeadLetters => &[T::Everything],
        O::ReadOwnAccount
        | O::SignOut
        | O::SignOutEverywhere
        | O::ListOwnSessions
        | O::EndOwnSession
        | O::ChangeOwnPassword
        | O::EnrollMfa
        | O::ConfirmMfa
        | O::DisableMfa
        | O::SendEmailVerification
        | O::SendPhoneCode
        | O::VerifyPhone
        | O::ListOwnInvitations
        | O::AnswerInvitation
        | O::ReadUser
        | O::ChangeNames
        | O::ChangeUsername
        | O::ChangeEmail
        | O::ChangePhone
        | O::ChangeRoles
        | O::SetRoleProfile
        | O::ReadRoleProfile
        | O::ReadProfile
        | O::ChangeProfile
        | O::ReadLockout
        | O::LockUser
        | O::UnlockUser
        | O::DeactivateUser
        | O::ReactivateUser
        | O::DeleteUser
        | O::RestoreUser
        | O::SendPasswordReset
        | O::SetPassword
        | O::VerifyByHand
        | O::ReadWallet
        | O::ManageWallet
        | O::ForgetUser
        | O::ExportUser
        | O::ReadUserSessions
        | O::ReadUserActivity
        | O::ReadNotifications
        | O::ReadDevices
        | O::ReadUserHistory
        | O::RevokeUserSession => &[T::Person],
        O::ReadOrganization
        | O::ChangeOrganizationDetails
        | O::RenameOrganization
        | O::ChangeOrganizationStatus
        | O::ChangePartnerDetails
        | O::InviteMember
        | O::ListApiKeys
        | O::CreateApiKey
        | O::RevokeApiKey
        | O::ListInvitations
        | O::RevokeInvitation => &[T::Organization],
        O::AddMember | O::ChangeMember | O::RemoveMember => &[T::Member],
        O::CreateUser
        | O::ListUsers
        | O::ListOrganizations
        | O::ReadAnalytics
        | O::ReadTransactions
        | O::ReadFileTransfers
        | O::ReadPartnerActions
        | O::ReadPermissionCatalog => &[T::Everything, T::Organization],
        O::RecordSentActivity | O::RecordReceivedActivity => &[T::Organization],
    }
}

/// The callers of the matrix. "The user" is the target person themself; for targets that are
/// not a person, a plain user.
#[derive(Debug, Clone, Copy, strum::EnumIter, strum::Display)]
enum Caller {
    #[strum(to_string = "anonymous")]
    Anonymous,
    #[strum(to_string = "the user")]
    TheUser,
    #[strum(to_string = "the user, fresh")]
    TheUserFresh,
    #[strum(to_string = "another user")]
    AnotherUser,
    #[strum(to_string = "member, same org")]
    MemberSame,
    #[strum(to_string = "readonly, same org")]
    ReadonlySame,
    #[strum(to_string = "readonly with can_view_reports and can_manage_settings, same org")]
    FlaggedSame,
    #[strum(
        to_string = "member with can_upload_files, can_download_files and can_view_transactions, same org"
    )]
    PartnerFlaggedSame,
    #[strum(to_string = "org_admin, same org")]
    OrgAdminSame,
    #[strum(to_string = "member, other org")]
    MemberOther,
    #[strum(to_string = "readonly, other org")]
    ReadonlyOther,
    #[strum(to_string = "org_admin, other org")]
    OrgAdminOther,
    #[strum(to_string = "analyst")]
    Analyst,
    #[strum(to_string = "auditor")]
    Auditor,
    #[strum(to_string = "administrator")]
    Administrator,
    #[strum(to_string = "service")]
    Service,
    #[strum(to_string = "API key of the org, every flag")]
    KeySame,
    #[strum(to_string = "API key of another org, every flag")]
    KeyOther,
    #[strum(to_string = "operator (CLI)")]
    Operator,
}

impl Caller {
    fn actor(self, person: Option<PersonKind>) -> Actor {
        let someone =
            |n: u128, roles: &[GlobalRole], membership: Option<(OrganizationId, OrgRole)>| {
                Actor::User(UserActor {
                    id: user(n),
                    roles: roles.iter().copied().collect(),
                    memberships: membership.into_iter().collect(),
                    flags: BTreeMap::new(),
                    fresh: true,
                })
            };
        match self {
            Self::Anonymous => Actor::Anonymous,
            Self::TheUser | Self::TheUserFresh => {
                let fresh = matches!(self, Self::TheUserFresh);
                Actor::User(person.unwrap_or(PersonKind::Plain).actor(fresh))
            }
            Self::AnotherUser => someone(20, &[], None),
            Self::MemberSame => someone(21, &[], Some((same(), OrgRole::Member))),
            Self::FlaggedSame => Actor::User(UserActor {
                id: user(30),
                roles: BTreeSet::new(),
                memberships: BTreeMap::from([(same(), OrgRole::Readonly)]),
                flags: BTreeMap::from([(
                    same(),
                    [CAN_VIEW_REPORTS, CAN_MANAGE_SETTINGS]
                        .into_iter()
                        .filter_map(|flag| Permission::parse(flag).ok())
                        .collect(),
                )]),
                fresh: true,
            }),
            Self::PartnerFlaggedSame => Actor::User(UserActor {
                id: user(31),
                roles: BTreeSet::new(),
                memberships: BTreeMap::from([(same(), OrgRole::Member)]),
                flags: BTreeMap::from([(
                    same(),
                    [CAN_UPLOAD_FILES, CAN_DOWNLOAD_FILES, CAN_VIEW_TRANSACTIONS]
                        .into_iter()
                        .filter_map(|flag| Permission::parse(flag).ok())
                        .collect(),
                )]),
                fresh: true,
            }),
            Self::ReadonlySame => someone(22, &[], Some((same(), OrgRole::Readonly))),
            Self::OrgAdminSame => someone(23, &[], Some((same(), OrgRole::OrgAdmin))),
            Self::MemberOther => someone(24, &[], Some((other(), OrgRole::Member))),
            Self::ReadonlyOther => someone(25, &[], Some((other(), OrgRole::Readonly))),
            Self::OrgAdminOther => someone(26, &[], Some((other(), OrgRole::OrgAdmin))),
            Self::Analyst => someone(27, &[GlobalRole::Analyst], None),
            Self::Auditor => someone(28, &[GlobalRole::Auditor], None),
            Self::Administrator => someone(29, &[GlobalRole::Admin], None),
            Self::Service => Actor::Service,
            Self::KeySame | Self::KeyOther => Actor::Key(KeyActor {
                id: ApiKeyId::from_uuid(uuid_from(0x4B)),
                organization: if matches!(self, Self::KeySame) {
                    same()
                } else {
                    other()
                },
                flags: crate::settings::DEFAULT_MEMBER_PERMISSIONS
                    .into_iter()
                    .filter_map(|flag| Permission::parse(flag).ok())
                    .collect(),
            }),
            Self::Operator => Actor::Operator,
        }
    }
}

fn cell(result: Result<(), Refusal>) -> &'static str {
    match result {
        Ok(()) => "ok",
        Err(Refusal::SignInRequired) => "401",
        Err(Refusal::Forbidden) => "403",
        Err(Refusal::NotFound) => "404",
        Err(Refusal::FreshProofRequired) => "fresh",
    }
}

/// A column of an operation's table.
#[derive(Debug, Clone, Copy)]
enum Column {
    Everything,
    TheOrg,
    Person(PersonKind),
    Member(PersonKind),
}

impl Column {
    fn name(self) -> String {
        match self {
            Self::Everything => "everything".into(),
            Self::TheOrg => "the org".into(),
            Self::Person(person) | Self::Member(person) => person.to_string(),
        }
    }

    /// The person "the user" is in this column.
    fn person(self) -> Option<PersonKind> {
        match self {
            Self::Person(person) | Self::Member(person) => Some(person),
            Self::Everything | Self::TheOrg => None,
        }
    }

    fn check(self, caller: Caller, operation: Operation) -> Result<(), Refusal> {
        let actor = caller.actor(self.person());
        match self {
            Self::Everything => authorize(&actor, operation, Target::Everything),
            Self::TheOrg => authorize(&actor, operation, Target::Organization(same())),
            Self::Person(kind) => authorize(&actor, operation, Target::Person(&kind.person())),
            Self::Member(kind) => authorize(
                &actor,
                operation,
                Target::Member {
                    organization: same(),
                    person: &kind.person(),
                },
            ),
        }
    }
}

/// One operation's table: a row per caller, a column per target.
fn table(operation: Operation) -> String {
    let columns: Vec<Column> = target_kinds(operation)
        .iter()
        .flat_map(|kind| match kind {
            TargetKind::Everything => vec![Column::Everything],
            TargetKind::Organization => vec![Column::TheOrg],
            TargetKind::Person => PersonKind::iter().map(Column::Person).collect(),
            TargetKind::Member => PersonKind::iter().map(Column::Member).collect(),
        })
        .collect();
    let mut out = format!("### `{operation}`\n\n| caller |");
    for column in &columns {
        out.push_str(&format!(" {} |", column.name()));
    }
    out.push_str("\n|---|");
    out.push_str(&"---|".repeat(columns.len()));
    out.push('\n');
    for caller in Caller::iter() {
        out.push_str(&format!("| {caller} |"));
        for column in &columns {
            out.push_str(&format!(" {} |", cell(column.check(caller, operation))));
        }
        out.push('\n');
    }
    out
}

fn matrix() -> String {
    let mut out = String::from(
        "# Authorization matrix\n\n\
         Generated from `application/src/policy.rs` by its matrix test, which compares every cell \
         with this file: a change of rule shows here as a diff. Cells: `ok` allowed; `401` sign in \
         first; `403` refused, the target visible; `404` refused, the target hidden; `fresh` \
         allowed with the current password or a sign-in within `auth.reauth_minutes`.\n\n\
         Targets: people are a plain user, a member, an org_admin, an auditor and an \
         administrator, the last four members of \"the org\". Callers of the same org belong to \
         \"the org\"; \"the user\" is the target person themself (a plain user where the target \
         is not a person).\n\n",
    );
    for operation in Operation::iter() {
        out.push_str(&table(operation));
        out.push('\n');
    }
    out
}

#[test]
fn every_cell_matches_the_committed_matrix() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/authorization-matrix.md"
    );
    let generated = matrix();
    if std::env::var_os("IDLOG_BLESS").is_some() {
        std::fs::write(path, &generated).expect("write the matrix");
        return;
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    let cells = |text: &str| -> Vec<String> { text.lines().map(str::to_owned).collect() };
    let (generated_lines, committed_lines) = (cells(&generated), cells(&committed));
    for (number, (new, old)) in generated_lines.iter().zip(&committed_lines).enumerate() {
        assert_eq!(
            new,
            old,
            "line {} of docs/authorization-matrix.md differs from the policy (IDLOG_BLESS=1 \
             regenerates it after a deliberate change)",
            number + 1
        );
    }
    assert_eq!(
        generated_lines.len(),
        committed_lines.len(),
        "docs/authorization-matrix.md has a different number of rows than the policy"
    );
}

const IDENTITY: [Operation; 11] = [
    Operation::ChangeNames,
    Operation::ChangeUsername,
    Operation::ChangeEmail,
    Operation::ChangePhone,
    Operation::ChangeOwnPassword,
    Operation::DisableMfa,
    Operation::ChangeRoles,
    Operation::SendPasswordReset,
    Operation::SetPassword,
    Operation::VerifyByHand,
    Operation::ForgetUser,
];

#[test]
fn only_the_person_and_administrators_touch_credentials_and_identity() {
    for operation in IDENTITY {
        for kind in PersonKind::iter() {
            let person = kind.person();
            for caller in Caller::iter() {
                let allowed = allows(
                    &caller.actor(Some(kind)),
                    operation,
                    Target::Person(&person),
                );
                let entitled = matches!(
                    caller,
                    Caller::TheUser
                        | Caller::TheUserFresh
                        | Caller::Administrator
                        | Caller::Operator
                );
                assert!(!allowed || entitled, "{caller} may {operation} on a {kind}");
            }
        }
    }
}

#[test]
fn organization_grants_never_reach_a_privileged_person() {
    for operation in Operation::iter() {
        if operation.rule().anyone || operation.rule().read_only {
            continue;
        }
        for kind in [PersonKind::Privileged, PersonKind::Administrator] {
            let person = kind.person();
            let org_admin = Caller::OrgAdminSame.actor(None);
            assert!(!allows(&org_admin, operation, Target::Person(&person)));
            let member = Target::Member {
                organization: same(),
                person: &person,
            };
            assert!(
                !allows(&org_admin, operation, member),
                "an org_admin may {operation} on a {kind}"
            );
        }
    }
}

#[test]
fn changing_ones_own_email_phone_or_password_needs_a_fresh_proof() {
    for operation in [
        Operation::ChangeEmail,
        Operation::ChangePhone,
        Operation::ChangeOwnPassword,
        Operation::DisableMfa,
    ] {
        for kind in PersonKind::iter() {
            let person = kind.person();
            assert_eq!(
                authorize(
                    &Actor::User(kind.actor(false)),
                    operation,
                    Target::Person(&person)
                ),
                Err(Refusal::FreshProofRequired),
                "{operation} by a {kind} without a fresh proof"
            );
            assert_eq!(
                authorize(
                    &Actor::User(kind.actor(true)),
                    operation,
                    Target::Person(&person)
                ),
                Ok(()),
            );
        }
    }
}

#[test]
fn an_org_admin_cannot_add_anyone_without_their_consent_but_may_invite() {
    let org_admin = Caller::OrgAdminSame.actor(None);
    let stranger = PersonKind::Plain.person();
    assert_eq!(
        authorize(
            &org_admin,
            Operation::AddMember,
            Target::Member {
                organization: same(),
                person: &stranger
            }
        ),
        Err(Refusal::Forbidden)
    );
    assert_eq!(
        authorize(
            &org_admin,
            Operation::InviteMember,
            Target::Organization(same())
        ),
        Ok(())
    );
    assert_eq!(
        authorize(
            &org_admin,
            Operation::InviteMember,
            Target::Organization(other())
        ),
        Err(Refusal::NotFound)
    );
}

#[test]
fn an_administrator_does_not_lock_out_or_demote_themself() {
    let admin = PersonKind::Administrator;
    let actor = Actor::User(admin.actor(true));
    for operation in [
        Operation::LockUser,
        Operation::DeactivateUser,
        Operation::DeleteUser,
        Operation::ChangeRoles,
    ] {
        assert_eq!(
            authorize(&actor, operation, Target::Person(&admin.person())),
            Err(Refusal::Forbidden),
            "{operation} on oneself"
        );
        assert_eq!(
            authorize(
                &actor,
                operation,
                Target::Person(&PersonKind::Member.person())
            ),
            Ok(())
        );
        assert_eq!(
            authorize(&Actor::Operator, operation, Target::Person(&admin.person())),
            Ok(())
        );
    }
}

#[test]
fn someone_elses_account_is_not_found_to_a_stranger() {
    let person = PersonKind::Member.person();
    for operation in [
        Operation::ReadUser,
        Operation::ChangeEmail,
        Operation::LockUser,
    ] {
        assert_eq!(
            authorize(
                &Caller::AnotherUser.actor(None),
                operation,
                Target::Person(&person)
            ),
            Err(Refusal::NotFound)
        );
    }
    // An org_admin sees their member, so what they may not do is forbidden, not hidden.
    assert_eq!(
        authorize(
            &Caller::OrgAdminSame.actor(None),
            Operation::ChangeEmail,
            Target::Person(&person)
        ),
        Err(Refusal::Forbidden)
    );
}

#[test]
fn permission_flags_grant_what_they_name_in_their_own_organization_only() {
    let flagged = |flags: &[&str], organization: OrganizationId| {
        Actor::User(UserActor {
            id: user(40),
            roles: BTreeSet::new(),
            memberships: BTreeMap::from([(organization, OrgRole::Member)]),
            flags: BTreeMap::from([(
                organization,
                flags
                    .iter()
                    .filter_map(|flag| Permission::parse(flag).ok())
                    .collect(),
            )]),
            fresh: true,
        })
    };
    let the_org = Target::Organization(same());
    let reports = flagged(&[CAN_VIEW_REPORTS], same());
    assert!(allows(&reports, Operation::ReadAnalytics, the_org));
    assert!(!allows(
        &reports,
        Operation::ChangeOrganizationDetails,
        the_org
    ));
    let settings = flagged(&[CAN_MANAGE_SETTINGS], same());
    assert!(allows(
        &settings,
        Operation::ChangeOrganizationDetails,
        the_org
    ));
    assert!(!allows(&settings, Operation::ReadAnalytics, the_org));
    // Not the name, the status or the partner details: operations of their own.
    for operation in [
        Operation::RenameOrganization,
        Operation::ChangeOrganizationStatus,
        Operation::ChangePartnerDetails,
    ] {
        assert!(!allows(&settings, operation, the_org), "{operation}");
    }
    // Without the flag, a member does neither; a flag held elsewhere grants nothing here.
    assert!(!allows(
        &flagged(&[], same()),
        Operation::ReadAnalytics,
        the_org
    ));
    let elsewhere = flagged(&[CAN_VIEW_REPORTS, CAN_MANAGE_SETTINGS], other());
    assert!(!allows(&elsewhere, Operation::ReadAnalytics, the_org));
    assert!(!allows(
        &elsewhere,
        Operation::ChangeOrganizationDetails,
        the_org
    ));
}
