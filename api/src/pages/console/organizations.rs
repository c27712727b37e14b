//! Organizations (partners): the list and creating one; one organization's details and status,
//! its members with their organization roles and permission flags, adding or inviting
//! members, its pending invitations (revoke), and its API keys (create, shown once; revoke). Each
//! form is offered when the policy lets the
//! caller use it, and the use cases REST calls decide.

use crate::AppState;
use crate::pages::csrf::PageForm;
use crate::pages::error::{PageError, problem_text};
use crate::pages::fields::{filled, optional};
use crate::pages::render::{self, Chrome, When};
use crate::pages::session::SignedIn;
use crate::problem::Problem;
use application::api_keys::NewApiKey;
use application::invitations::{Invitee, Offer};
use application::organizations::{MemberChange, NewMember, NewOrganization, OrganizationChanges};
use application::policy::{Operation, Target};
use application::users::Preconditions;
use application::{AppError, Resource};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use domain::organization::{Contact, OrgRole, OrganizationStatus, PartnerDetails};
use domain::values::{
    DisplayName, EdiId, Email, KeyName, OrganizationName, PartnerCode, Permission, PersonName,
    PhoneNumber,
};
use domain::{ApiKeyId, OrganizationId, UserId};
use projections::queries::OrganizationFilter;
use secrecy::ExposeSecret;
use serde::Deserialize;
use std::collections::BTreeSet;

/// The statuses an organization can have.
const STATUSES: &[&str] = &["active", "inactive", "testing", "suspended"];
/// How partners communicate, and the formats they exchange.
const COMMUNICATIONS: &[&str] = &["sftp", "api", "both", "manual"];
const FORMATS: &[&str] = &["X12", "EDIFACT", "XML", "JSON", "CSV"];
/// The roles a member can have.
const ROLES: &[&str] = &["org_admin", "member", "readonly"];

/// The list's query.
#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    communication: String,
    #[serde(default)]
    edi_format: String,
    #[serde(default)]
    done: Option<String>,
}

/// One organization as listed.
struct OrganizationLine {
    id: String,
    name: String,
    display_name: String,
    partner_code: String,
    edi: String,
    status: String,
    members: i64,
    created: When,
}

/// The organizations page.
#[derive(Template)]
#[template(path = "console/organizations.html")]
struct OrganizationsPage {
    c: Chrome,
    q: String,
    status: String,
    communication: String,
    edi_format: String,
    statuses: &'static [&'static str],
    communications: &'static [&'static str],
    formats: &'static [&'static str],
    organizations: Vec<OrganizationLine>,
    may_create: bool,
    error: Option<String>,
    /// The permission flags that may be given, and those retired, for those who may read them.
    catalog: Option<(Vec<String>, Vec<String>)>,
    may_manage_catalog: bool,
}

async fn organizations_page(
    state: &AppState,
    signed_in: &SignedIn,
    query: &ListQuery,
    error: Option<String>,
) -> Result<OrganizationsPage, PageError> {
    let who = &signed_in.authority;
    let organizations = state
        .list_organizations(
            who,
            &OrganizationFilter {
                status: filled(&query.status),
                q: filled(&query.q),
                communication: filled(&query.communication),
                edi_format: filled(&query.edi_format),
                ..OrganizationFilter::default()
            },
            None,
        )
        .await?
        .into_iter()
        .map(|organization| OrganizationLine {
            id: organization.organization_id,
            name: organization.name,
            display_name: organization.display_name.unwrap_or_default(),
            partner_code: organization.partner_code.unwrap_or_default(),
            edi: [
                organization.edi_format,
                organization.communication,
                organization.sender_id,
                organization.receiver_id,
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" · "),
            status: organization.status,
            members: organization.member_count,
            created: When::new(organization.created_at),
        })
        .collect();
    Ok(OrganizationsPage {
        c: signed_in.chrome_with(signed_in.chrome.t.notice(query.done.as_deref())),
        q: query.q.clone(),
        status: query.status.clone(),
        communication: query.communication.clone(),
        edi_format: query.edi_format.clone(),
        statuses: STATUSES,
        communications: COMMUNICATIONS,
        formats: FORMATS,
        organizations,
        may_create: who.allows(Operation::CreateOrganization, Target::Everything),
        error,
        catalog: state
            .permission_catalog(who)
            .await
            .ok()
            .map(|(active, retired)| {
                let names =
                    |flags: BTreeSet<Permission>| flags.iter().map(ToString::to_string).collect();
                (names(active), names(retired))
            }),
        may_manage_catalog: who.allows(Operation::ManagePermissionCatalog, Target::Everything),
    })
}

/// `GET /console/organizations`.
pub async fn list(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Query(query): Query<ListQuery>,
) -> Result<Response, PageError> {
    Ok(render::ok(
        &organizations_page(&state, &signed_in, &query, None).await?,
    ))
}

/// The details form (creating and editing).
#[derive(Debug, Deserialize)]
pub struct DetailsForm {
    #[serde(default)]
    version: Option<u64>,
    #[serde(default)]
    name: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    contact_name: String,
    #[serde(default)]
    contact_email: String,
    #[serde(default)]
    contact_phone: String,
    #[serde(default)]
    status: String,
}

impl DetailsForm {
    /// The fields filled in, as changes (empty ones keep what the organization has).
    fn changes(&self) -> Result<OrganizationChanges, AppError> {
        Ok(OrganizationChanges {
            name: optional(&self.name, OrganizationName::parse)?,
            display_name: optional(&self.display_name, DisplayName::parse)?,
            contact_name: optional(&self.contact_name, PersonName::parse)?,
            contact_email: optional(&self.contact_email, Email::parse)?,
            contact_phone: optional(&self.contact_phone, PhoneNumber::parse)?,
            status: status(&self.status)?,
            partner: None,
        })
    }
}

fn status(text: &str) -> Result<Option<OrganizationStatus>, AppError> {
    filled(text)
        .map(|text| {
            text.parse()
                .map_err(|_| AppError::Malformed("status: active, inactive, testing or suspended"))
        })
        .transpose()
}

/// `POST /console/organizations`: creates one.
pub async fn create(
    State(state): State<AppState>,
    signed_in: SignedIn,
    PageForm(form): PageForm<DetailsForm>,
) -> Result<Response, PageError> {
    let created = async {
        let new = NewOrganization {
            name: OrganizationName::parse(form.name.trim())?,
            display_name: optional(&form.display_name, DisplayName::parse)?,
            contact: Contact {
                name: optional(&form.contact_name, PersonName::parse)?,
                email: optional(&form.contact_email, Email::parse)?,
                phone: optional(&form.contact_phone, PhoneNumber::parse)?,
            },
            status: status(&form.status)?.unwrap_or(OrganizationStatus::Active),
            partner: None,
        };
        state
            .create_organization(&signed_in.authority, &signed_in.context, new, None)
            .await
    }
    .await;
    match created {
        Ok((domain::organization::OrganizationState::Present(organization), _, _)) => {
            Ok(render::see_other(&format!(
                "/console/organizations/{}?done=organization-created",
                organization.id
            )))
        }
        Ok(_) => Err(AppError::NotFound(Resource::Organization).into()),
        Err(error) => refused_on_list(&state, &signed_in, error).await,
    }
}

/// The organizations page again, with what a form on it was refused.
async fn refused_on_list(
    state: &AppState,
    signed_in: &SignedIn,
    error: AppError,
) -> Result<Response, PageError> {
    let problem = refusal(error)?;
    let page = organizations_page(
        state,
        signed_in,
        &ListQuery::default(),
        Some(problem_text(&problem)),
    )
    .await?;
    Ok(render::refused(problem, &page))
}

/// What a refused form shows on its page; other failures become error pages.
fn refusal(error: AppError) -> Result<Problem, PageError> {
    match error {
        error @ (AppError::Organization(_)
        | AppError::Catalog(_)
        | AppError::Invalid(_)
        | AppError::Malformed(_)
        | AppError::NotGrantable { .. }
        | AppError::Unknown { .. }
        | AppError::User(_)
        | AppError::RateLimited(_)) => Ok(Problem::from(error)),
        error => Err(error.into()),
    }
}

/// A member's line, with what the caller may do to them.
struct MemberLine {
    user_id: String,
    email: String,
    role: String,
    permissions: String,
    since: When,
    may_read: bool,
    may_change: bool,
    may_remove: bool,
}

/// A pending invitation.
struct InvitationLine {
    user_id: String,
    email: String,
    role: String,
    permissions: String,
    invited: When,
    expires: When,
}

/// An API key's line.
struct KeyLine {
    id: String,
    name: String,
    status: String,
    active: bool,
    permissions: String,
    created: When,
    expires: Option<When>,
}

/// One organization's page.
#[derive(Template)]
#[template(path = "console/organization.html")]
struct OrganizationPage {
    c: Chrome,
    id: String,
    version: u64,
    name: String,
    display_name: String,
    contact_name: String,
    contact_email: String,
    contact_phone: String,
    status: String,
    statuses: &'static [&'static str],
    roles: &'static [&'static str],
    error: Option<String>,
    may_edit: bool,
    may_rename: bool,
    may_change_status: bool,
    may_add: bool,
    may_invite: bool,
    members: Vec<MemberLine>,
    invitations: Option<Vec<InvitationLine>>,
    may_revoke: bool,
    /// Its partner details: code, communication, format, sender id, receiver id.
    partner: Option<[String; 5]>,
    may_set_partner: bool,
    communications: &'static [&'static str],
    formats: &'static [&'static str],
    /// Its API keys, for those who may list them.
    keys: Option<Vec<KeyLine>>,
    may_create_key: bool,
    may_revoke_key: bool,
    /// Whether the caller reads its transactions (a link to them).
    may_read_transactions: bool,
    /// A key just created: shown this once.
    new_key: Option<String>,
}

fn member_id(id: &str) -> Result<UserId, PageError> {
    id.parse()
        .map_err(|_| AppError::NotFound(Resource::Member).into())
}

fn organization_id(id: &str) -> Result<OrganizationId, PageError> {
    id.parse()
        .map_err(|_| AppError::NotFound(Resource::Organization).into())
}

fn flags(permissions: &BTreeSet<Permission>) -> String {
    permissions
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

async fn organization_page(
    state: &AppState,
    signed_in: &SignedIn,
    id: &str,
    notice: Option<&'static str>,
    at: Option<u64>,
    error: Option<String>,
) -> Result<OrganizationPage, PageError> {
    let who = &signed_in.authority;
    let organization_id = organization_id(id)?;
    let (organization, version) = state
        .authorized_organization(who, organization_id, Operation::ReadOrganization)
        .await?;
    let target = Target::Organization(organization_id);
    let may = |operation| who.allows(operation, target);
    let listed = state.members(who, organization_id, at).await?;
    let mut members = Vec::new();
    for member in listed {
        // Acting on a member is decided on the member as a person (an org_admin does not act
        // on a privileged user); the forms are offered as the policy would answer.
        let person = match member.user_id.parse::<UserId>() {
            Ok(user_id) => state.member(who, &organization, user_id).await.ok(),
            Err(_) => None,
        };
        let allows = |operation| {
            person.as_ref().is_some_and(|person| {
                who.allows(
                    operation,
                    Target::Member {
                        organization: organization_id,
                        person,
                    },
                )
            })
        };
        members.push(MemberLine {
            may_read: person
                .as_ref()
                .is_some_and(|person| who.allows(Operation::ReadUser, Target::Person(person))),
            may_change: allows(Operation::ChangeMember),
            may_remove: allows(Operation::RemoveMember),
            user_id: member.user_id,
            email: member.email.unwrap_or_default(),
            role: member.role,
            permissions: member.permissions.0.join(", "),
            since: When::new(member.added_at),
        });
    }
    let invitations = if may(Operation::ListInvitations) {
        Some(
            state
                .invitations(who, organization_id)
                .await?
                .into_iter()
                .map(|listed| InvitationLine {
                    user_id: listed.user_id.to_string(),
                    email: listed
                        .user
                        .map(|user| user.email.to_string())
                        .unwrap_or_default(),
                    role: listed.invitation.role.to_string(),
                    permissions: flags(&listed.invitation.permissions),
                    invited: When::new(listed.invitation.invited_at),
                    expires: When::new(listed.invitation.expires_at),
                })
                .collect(),
        )
    } else {
        None
    };
    let keys = if may(Operation::ListApiKeys) {
        let now = chrono::Utc::now();
        Some(
            state
                .api_keys(who, organization_id)
                .await?
                .iter()
                .map(|key| KeyLine {
                    id: key.id.to_string(),
                    name: key.name.to_string(),
                    status: key.status(now).to_string(),
                    active: key.is_usable(now),
                    permissions: flags(&key.permissions),
                    created: When::new(key.created_at),
                    expires: key.expires_at.map(When::new),
                })
                .collect(),
        )
    } else {
        None
    };
    let contact = &organization.contact;
    let text = |value: Option<String>| value.unwrap_or_default();
    Ok(OrganizationPage {
        c: signed_in.chrome_with(notice),
        id: id.to_owned(),
        version,
        name: organization.name.to_string(),
        display_name: text(organization.display_name.as_ref().map(ToString::to_string)),
        contact_name: text(contact.name.as_ref().map(ToString::to_string)),
        contact_email: text(contact.email.as_ref().map(ToString::to_string)),
        contact_phone: text(contact.phone.as_ref().map(ToString::to_string)),
        status: organization.status.to_string(),
        statuses: STATUSES,
        roles: ROLES,
        error,
        may_edit: may(Operation::ChangeOrganizationDetails),
        may_rename: may(Operation::RenameOrganization),
        may_change_status: may(Operation::ChangeOrganizationStatus),
        may_add: may(Operation::AddMember),
        may_invite: may(Operation::InviteMember),
        members,
        invitations,
        may_revoke: may(Operation::RevokeInvitation),
        partner: organization.partner.as_ref().map(|partner| {
            [
                partner.code.to_string(),
                partner.communication.to_string(),
                partner.edi_format.to_string(),
                partner.sender_id.to_string(),
                partner.receiver_id.to_string(),
            ]
        }),
        may_set_partner: may(Operation::ChangePartnerDetails),
        communications: COMMUNICATIONS,
        formats: FORMATS,
        keys,
        may_create_key: may(Operation::CreateApiKey),
        may_read_transactions: may(Operation::ReadTransactions),
        may_revoke_key: may(Operation::RevokeApiKey),
        new_key: None,
    })
}

/// An organization page's query: a notice, and the log position a change reached.
#[derive(Debug, Default, Deserialize)]
pub struct PageQuery {
    #[serde(default)]
    done: Option<String>,
    #[serde(default)]
    at: Option<u64>,
}

/// `GET /console/organizations/{id}`.
pub async fn page(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    Query(query): Query<PageQuery>,
) -> Result<Response, PageError> {
    let notice = signed_in.chrome.t.notice(query.done.as_deref());
    Ok(render::ok(
        &organization_page(&state, &signed_in, &id, notice, query.at, None).await?,
    ))
}

/// After a form on an organization's page: back to it with `done`, or the page again with
/// what was refused.
async fn answer(
    state: &AppState,
    signed_in: &SignedIn,
    id: &str,
    outcome: Result<Option<u64>, AppError>,
    done: &str,
) -> Result<Response, PageError> {
    match outcome {
        // The page waits for the read models to reach the change (`at`).
        Ok(position) => Ok(render::see_other(&format!(
            "/console/organizations/{id}?done={done}{}",
            position.map(|at| format!("&at={at}")).unwrap_or_default()
        ))),
        Err(error) => {
            let stale = matches!(
                error,
                AppError::Organization(commands::CommandError::Conflict { .. })
            );
            let problem = refusal(error)?;
            let text = if stale {
                signed_in.chrome.t.stale_organization.to_owned()
            } else {
                problem_text(&problem)
            };
            let page = organization_page(state, signed_in, id, None, None, Some(text)).await?;
            Ok(render::refused(problem, &page))
        }
    }
}

/// `POST /console/organizations/{id}/details`.
pub async fn change(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    PageForm(form): PageForm<DetailsForm>,
) -> Result<Response, PageError> {
    let changes = form.changes();
    save(
        &state,
        &signed_in,
        &id,
        changes,
        form.version,
        "organization-saved",
    )
    .await
}

/// Changes organization `id` as `changes` say, on the version the form showed, and answers.
async fn save(
    state: &AppState,
    signed_in: &SignedIn,
    id: &str,
    changes: Result<OrganizationChanges, AppError>,
    version: Option<u64>,
    done: &str,
) -> Result<Response, PageError> {
    let organization_id = organization_id(id)?;
    let outcome = match changes {
        Ok(changes) => state
            .change_organization(
                &signed_in.authority,
                &signed_in.context,
                organization_id,
                changes,
                Preconditions::expecting(version),
            )
            .await
            .map(|(_, _, position)| position),
        Err(error) => Err(error),
    };
    answer(state, signed_in, id, outcome, done).await
}

/// A member's role and flags, as a form sends them.
#[derive(Debug, Deserialize)]
pub struct MemberForm {
    #[serde(default)]
    version: Option<u64>,
    #[serde(default)]
    user: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    permissions: String,
    #[serde(default)]
    invite: Option<String>,
}

impl MemberForm {
    fn role(&self) -> Result<Option<OrgRole>, AppError> {
        filled(&self.role)
            .map(|role| {
                role.parse()
                    .map_err(|_| AppError::Malformed("role: org_admin, member or readonly"))
            })
            .transpose()
    }

    fn permissions(&self) -> Result<BTreeSet<Permission>, AppError> {
        Self::flags(&self.permissions)
    }

    /// Flags as a form's text field sends them: names separated by commas.
    fn flags(text: &str) -> Result<BTreeSet<Permission>, AppError> {
        text.split(',')
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .map(|name| Permission::parse(name).map_err(AppError::from))
            .collect()
    }
}

/// `POST /console/organizations/{id}/members`: adds an existing user by id directly
/// (administrators), or invites a user by id or email address.
pub async fn add_member(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    PageForm(form): PageForm<MemberForm>,
) -> Result<Response, PageError> {
    let organization_id = organization_id(&id)?;
    let who = &signed_in.authority;
    let invite = form.invite.is_some();
    let outcome = async {
        let role = form.role()?.unwrap_or(OrgRole::Member);
        let permissions = form.permissions()?;
        let user = form.user.trim();
        if user.is_empty() {
            return Err(AppError::Malformed(
                "name the user: their id or email address",
            ));
        }
        if invite {
            let invitee = if user.contains('@') {
                Invitee::Email(Email::parse(user)?)
            } else {
                Invitee::User {
                    id: user.to_owned(),
                    field: "/user",
                }
            };
            state
                .invite_member(
                    who,
                    &signed_in.context,
                    organization_id,
                    invitee,
                    Offer { role, permissions },
                )
                .await
                .map(|(_, _, position)| position)
        } else {
            state
                .add_member_directly(
                    who,
                    &signed_in.context,
                    organization_id,
                    NewMember {
                        user_id: user.to_owned(),
                        role,
                        permissions,
                    },
                    Preconditions::default(),
                )
                .await
                .map(|(_, _, position)| position)
        }
    }
    .await;
    let done = if invite {
        "member-invited"
    } else {
        "member-added"
    };
    answer(&state, &signed_in, &id, outcome, done).await
}

/// `POST /console/organizations/{id}/members/{user_id}`: a member's role and flags.
pub async fn change_member(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path((id, user_id)): Path<(String, String)>,
    PageForm(form): PageForm<MemberForm>,
) -> Result<Response, PageError> {
    let organization_id = organization_id(&id)?;
    let user_id = member_id(&user_id)?;
    let outcome = async {
        let change = MemberChange {
            role: form.role()?,
            permissions: Some(form.permissions()?),
        };
        state
            .change_member(
                &signed_in.authority,
                &signed_in.context,
                organization_id,
                user_id,
                change,
                Preconditions::expecting(form.version),
            )
            .await
            .map(|(_, _, position)| position)
    }
    .await;
    answer(&state, &signed_in, &id, outcome, "member-saved").await
}

/// `POST /console/organizations/{id}/members/{user_id}/remove`.
pub async fn remove_member(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path((id, user_id)): Path<(String, String)>,
    PageForm(form): PageForm<MemberForm>,
) -> Result<Response, PageError> {
    let organization_id = organization_id(&id)?;
    let user_id = member_id(&user_id)?;
    let outcome = state
        .remove_member(
            &signed_in.authority,
            &signed_in.context,
            organization_id,
            user_id,
            Preconditions::expecting(form.version),
        )
        .await
        .map(|(_, _, position)| position);
    answer(&state, &signed_in, &id, outcome, "member-removed").await
}

/// `POST /console/organizations/{id}/invitations/{user_id}/revoke`.
pub async fn revoke_invitation(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path((id, user_id)): Path<(String, String)>,
    PageForm(_): PageForm<super::super::account::Empty>,
) -> Result<Response, PageError> {
    let organization_id = organization_id(&id)?;
    let user_id: UserId = user_id
        .parse()
        .map_err(|_| PageError::from(AppError::NotFound(Resource::Invitation)))?;
    let outcome = state
        .revoke_invitation(
            &signed_in.authority,
            &signed_in.context,
            organization_id,
            user_id,
            None,
        )
        .await;
    answer(&state, &signed_in, &id, outcome, "invitation-revoked").await
}

/// The partner details form.
#[derive(Debug, Deserialize)]
pub struct PartnerForm {
    #[serde(default)]
    version: Option<u64>,
    #[serde(default)]
    code: String,
    #[serde(default)]
    communication: String,
    #[serde(default)]
    edi_format: String,
    #[serde(default)]
    sender_id: String,
    #[serde(default)]
    receiver_id: String,
    /// Present to remove the details.
    #[serde(default)]
    remove: Option<String>,
}

impl PartnerForm {
    fn details(&self) -> Result<Option<PartnerDetails>, AppError> {
        if self.remove.is_some() {
            return Ok(None);
        }
        Ok(Some(PartnerDetails {
            code: PartnerCode::parse(&self.code)?,
            communication: self
                .communication
                .parse()
                .map_err(|_| AppError::Malformed("communication: sftp, api, both or manual"))?,
            edi_format: self
                .edi_format
                .parse()
                .map_err(|_| AppError::Malformed("format: X12, EDIFACT, XML, JSON or CSV"))?,
            sender_id: EdiId::parse(&self.sender_id)?,
            receiver_id: EdiId::parse(&self.receiver_id)?,
        }))
    }
}

/// `POST /console/organizations/{id}/partner`: sets, changes or removes the partner details.
pub async fn set_partner(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    PageForm(form): PageForm<PartnerForm>,
) -> Result<Response, PageError> {
    let changes = form.details().map(|details| OrganizationChanges {
        partner: Some(details),
        ..OrganizationChanges::default()
    });
    save(
        &state,
        &signed_in,
        &id,
        changes,
        form.version,
        "partner-saved",
    )
    .await
}

/// A flag as the catalog forms send it.
#[derive(Debug, Deserialize)]
pub struct FlagForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    confirm: Option<String>,
}

/// `POST /console/permissions`: defines a flag; `POST /console/permissions/retire`: retires
/// one, once confirmed.
pub async fn change_catalog(
    State(state): State<AppState>,
    signed_in: SignedIn,
    action: Option<Path<String>>,
    PageForm(form): PageForm<FlagForm>,
) -> Result<Response, PageError> {
    let define = match action {
        None => true,
        Some(Path(action)) if action == "retire" => false,
        Some(_) => return Err(AppError::NotFound(Resource::Anything).into()),
    };
    let outcome = async {
        if !define && form.confirm.is_none() {
            return Err(AppError::Malformed(
                "tick the box to confirm retiring the flag",
            ));
        }
        let flag = Permission::parse(&form.name)?;
        state
            .change_permission_catalog(&signed_in.authority, &signed_in.context, flag, define)
            .await
    }
    .await;
    match outcome {
        Ok(_) => Ok(render::see_other(if define {
            "/console/organizations?done=permission-defined#catalog"
        } else {
            "/console/organizations?done=permission-retired#catalog"
        })),
        Err(error) => refused_on_list(&state, &signed_in, error).await,
    }
}

/// The form that creates an API key.
#[derive(Debug, Deserialize)]
pub struct KeyForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    permissions: String,
    /// A day (`YYYY-MM-DD`): the key works until that day begins, UTC.
    #[serde(default)]
    expires: String,
}

impl KeyForm {
    fn new_key(&self) -> Result<NewApiKey, AppError> {
        let expires_at = filled(&self.expires)
            .map(|day| {
                chrono::NaiveDate::parse_from_str(&day, "%Y-%m-%d")
                    .map(|day| day.and_time(chrono::NaiveTime::MIN).and_utc())
                    .map_err(|_| AppError::Malformed("expires: a day, as YYYY-MM-DD"))
            })
            .transpose()?;
        Ok(NewApiKey {
            name: KeyName::parse(&self.name)?,
            permissions: MemberForm::flags(&self.permissions)?,
            expires_at,
        })
    }
}

/// `POST /console/organizations/{id}/api-keys`: creates a key and shows it on the page this
/// once (never in a URL, and the answer is not stored by the browser).
pub async fn create_key(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    PageForm(form): PageForm<KeyForm>,
) -> Result<Response, PageError> {
    let organization_id = organization_id(&id)?;
    let outcome = async {
        state
            .create_api_key(
                &signed_in.authority,
                &signed_in.context,
                organization_id,
                form.new_key()?,
            )
            .await
    }
    .await;
    match outcome {
        Ok(issued) => {
            let mut page =
                organization_page(&state, &signed_in, &id, None, issued.position, None).await?;
            page.new_key = Some(issued.token.expose_secret().to_owned());
            Ok(render::ok(&page))
        }
        Err(error) => answer(&state, &signed_in, &id, Err(error), "").await,
    }
}

/// `POST /console/organizations/{id}/api-keys/{key_id}/revoke`.
pub async fn revoke_key(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path((id, key_id)): Path<(String, String)>,
    PageForm(_): PageForm<super::super::account::Empty>,
) -> Result<Response, PageError> {
    let organization_id = organization_id(&id)?;
    let key_id: ApiKeyId = key_id
        .parse()
        .map_err(|_| PageError::from(AppError::NotFound(Resource::ApiKey)))?;
    let outcome = state
        .revoke_api_key(
            &signed_in.authority,
            &signed_in.context,
            organization_id,
            key_id,
        )
        .await;
    answer(&state, &signed_in, &id, outcome, "key-revoked").await
}
