//! The users list: search, filters (status, role, verification, organization), sorting and
//! keyset paging as the read model offers them, within what the policy lets the caller list
//! (everyone for administrators and readers; their organizations' members for an org_admin);
//! and creating a user, or inviting one (an org_admin's accounts are invitations).

use crate::AppState;
use crate::pages::csrf::PageForm;
use crate::pages::error::{PageError, problem_text};
use crate::pages::fields::{filled, optional};
use crate::pages::render::{self, Chrome, When};
use crate::pages::session::SignedIn;
use crate::problem::Problem;
use application::accounts::{NewAccount, Placement};
use application::policy::{Operation, Target};
use application::{AppError, Resource};
use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use domain::organization::OrgRole;
use domain::user::UserState;
use domain::values::{Email, PersonName, PhoneNumber, Role, Username};
use projections::queries::UserFilter;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// The list's query, as the search form sends it (and the next page's link repeats it).
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
pub struct UsersQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    verification: String,
    #[serde(default)]
    organization: String,
    #[serde(default)]
    sort: String,
    #[serde(default)]
    order: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cursor: Option<String>,
    #[serde(default, skip_serializing)]
    done: Option<String>,
}

/// One user as listed.
struct UserLine {
    id: String,
    name: String,
    email: String,
    username: String,
    status: String,
    roles: String,
    organizations: usize,
    verification: String,
    last_sign_in: Option<When>,
    created: When,
}

/// What the create form offers the caller.
struct CreateForm {
    /// Organizations to create the user in: (id, name). An org_admin must choose one.
    organizations: Vec<(String, String)>,
    /// Whether the user may be created outside any organization.
    anywhere: bool,
    /// Whether the caller may set a password (administrators; org_admins invite).
    password: bool,
    /// The global roles to choose from, if the caller may choose them.
    roles: Option<Vec<String>>,
}

/// The users page.
#[derive(Template)]
#[template(path = "console/users.html")]
struct UsersPage {
    c: Chrome,
    query: UsersQuery,
    statuses: &'static [&'static str],
    verifications: &'static [&'static str],
    sorts: &'static [&'static str],
    users: Vec<UserLine>,
    total: Option<u64>,
    total_exact: bool,
    next: Option<String>,
    create: Option<CreateForm>,
    error: Option<String>,
    min_length: usize,
}

/// The statuses the filter offers, as the list names them.
const STATUSES: &[&str] = &["active", "inactive", "locked", "deleted", "forgotten"];
/// The verification states.
const VERIFICATIONS: &[&str] = &[
    "not_verified",
    "email_verified",
    "phone_verified",
    "both_verified",
];
/// The sort keys.
const SORTS: &[&str] = &["created", "last_login", "email"];

/// `text` as the read model's name for one of its choices (`field` names the filter).
fn choice<T: serde::de::DeserializeOwned>(
    field: &str,
    text: &str,
    choices: &[&str],
) -> Result<Option<T>, PageError> {
    filled(text)
        .map(|text| {
            serde_json::from_value::<T>(serde_json::Value::String(text)).map_err(|_| {
                Problem::new(StatusCode::BAD_REQUEST, "invalid-query", "Invalid query")
                    .with_detail(format!("{field}: one of {}", choices.join(", ")))
                    .into()
            })
        })
        .transpose()
}

impl UsersQuery {
    fn filter(&self) -> Result<UserFilter, PageError> {
        if let Some(verification) = filled(&self.verification)
            && !VERIFICATIONS.contains(&verification.as_str())
        {
            return Err(
                Problem::new(StatusCode::BAD_REQUEST, "invalid-query", "Invalid query")
                    .with_detail(format!("verification: one of {}", VERIFICATIONS.join(", ")))
                    .into(),
            );
        }
        Ok(UserFilter {
            q: filled(&self.q),
            status: choice("status", &self.status, STATUSES)?,
            role: filled(&self.role),
            verification: filled(&self.verification),
            organization: filled(&self.organization),
            sort: choice("sort", &self.sort, SORTS)?.unwrap_or_default(),
            order: choice("order", &self.order, &["desc", "asc"])?.unwrap_or_default(),
            cursor: self.cursor.clone().filter(|cursor| !cursor.is_empty()),
            limit: Some(50),
            ..UserFilter::default()
        })
    }
}

async fn users_page(
    state: &AppState,
    signed_in: &SignedIn,
    query: UsersQuery,
    error: Option<String>,
) -> Result<UsersPage, PageError> {
    let page = state
        .list_users(&signed_in.authority, &query.filter()?, None)
        .await?;
    let users = page
        .items
        .into_iter()
        .map(|user| UserLine {
            id: user.id.clone(),
            name: [user.first_name.as_deref(), user.last_name.as_deref()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" "),
            email: user.email.unwrap_or_default(),
            username: user.username.unwrap_or_default(),
            status: super::status_word(&user.status),
            roles: user.roles.join(", "),
            organizations: user.organizations.len(),
            verification: user.verification_status.replace('_', " "),
            last_sign_in: user.last_login_at.map(When::new),
            created: When::new(user.created_at),
        })
        .collect();
    let next = page.next_cursor.and_then(|cursor| {
        serde_urlencoded::to_string(UsersQuery {
            cursor: Some(cursor),
            ..query.clone()
        })
        .ok()
    });
    Ok(UsersPage {
        c: signed_in.chrome_with(signed_in.chrome.t.notice(query.done.as_deref())),
        create: create_form(state, signed_in).await?,
        query,
        statuses: STATUSES,
        verifications: VERIFICATIONS,
        sorts: SORTS,
        users,
        total: page.total,
        total_exact: page.total_exact.unwrap_or(true),
        next,
        error,
        min_length: state.passwords.min_length(),
    })
}

/// What the create form offers `signed_in`, if the policy lets them create users at all.
async fn create_form(
    state: &AppState,
    signed_in: &SignedIn,
) -> Result<Option<CreateForm>, AppError> {
    let who = &signed_in.authority;
    let anywhere = who.allows(Operation::CreateUser, Target::Everything);
    let mut organizations = Vec::new();
    for listed in state
        .list_organizations(who, &Default::default(), None)
        .await
        .unwrap_or_default()
    {
        let allowed = listed
            .organization_id
            .parse()
            .is_ok_and(|id| who.allows(Operation::CreateUser, Target::Organization(id)));
        if allowed {
            organizations.push((listed.organization_id, listed.name));
        }
    }
    let roles = if who.allows(Operation::ChangeRoles, Target::Everything) {
        Some(state.roles().await?.names())
    } else {
        None
    };
    Ok(
        (anywhere || !organizations.is_empty()).then_some(CreateForm {
            organizations,
            anywhere,
            password: anywhere,
            roles,
        }),
    )
}

/// `GET /console/users`.
pub async fn list(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Query(query): Query<UsersQuery>,
) -> Result<Response, PageError> {
    Ok(render::ok(
        &users_page(&state, &signed_in, query, None).await?,
    ))
}

/// The create form.
#[derive(Debug, Deserialize)]
pub struct NewUserForm {
    email: String,
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    last_name: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    password: Option<SecretString>,
    #[serde(default)]
    temporary: Option<String>,
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default)]
    organization: String,
    #[serde(default)]
    organization_role: String,
}

/// `POST /console/users`: creates a user (with a password, temporary or not, or none: then an
/// email invites them to set one), optionally in an organization.
pub async fn create(
    State(state): State<AppState>,
    signed_in: SignedIn,
    PageForm(form): PageForm<NewUserForm>,
) -> Result<Response, PageError> {
    let created = async {
        let password = form
            .password
            .filter(|password| !secrecy::ExposeSecret::expose_secret(password).is_empty());
        let mut roles = BTreeSet::new();
        for name in &form.roles {
            roles.insert(Role::parse(name).map_err(|_| AppError::Unknown {
                field: "/roles",
                resource: Resource::Anything,
            })?);
        }
        let roles_chosen = !roles.is_empty();
        if !roles_chosen {
            roles.insert(Role::parse("user")?);
        }
        let placement = match filled(&form.organization) {
            None => None,
            Some(organization) => Some(Placement {
                organization: organization.parse().map_err(|_| AppError::Unknown {
                    field: "/organization",
                    resource: Resource::Organization,
                })?,
                role: filled(&form.organization_role)
                    .map(|role| role.parse::<OrgRole>())
                    .transpose()
                    .map_err(|_| AppError::Malformed("role: org_admin, member or readonly"))?
                    .unwrap_or(OrgRole::Member),
            }),
        };
        let account = NewAccount {
            email: Email::parse(form.email.trim())?,
            username: optional(&form.username, Username::parse)?,
            phone: optional(&form.phone, PhoneNumber::parse)?,
            first_name: optional(&form.first_name, PersonName::parse)?,
            last_name: optional(&form.last_name, PersonName::parse)?,
            roles,
            temporary_password: password.is_some() && form.temporary.is_some(),
            password,
        };
        state
            .create_user(
                &signed_in.authority,
                &signed_in.context,
                account,
                roles_chosen,
                placement,
                None,
            )
            .await
    }
    .await;
    match created {
        Ok(executed) => {
            let UserState::Present(user) = executed.state else {
                return Err(AppError::NotFound(Resource::User).into());
            };
            let at = executed
                .position
                .map(|at| format!("&at={at}"))
                .unwrap_or_default();
            // An org_admin's new account is an invitation: the person is not a member (nor
            // theirs to read) until they accept.
            if signed_in
                .authority
                .allows(Operation::CreateUser, Target::Everything)
            {
                Ok(render::see_other(&format!(
                    "/console/users/{}?done=user-created{at}",
                    user.id
                )))
            } else {
                Ok(render::see_other("/console/users?done=user-invited"))
            }
        }
        Err(
            error @ (AppError::User(_)
            | AppError::Organization(_)
            | AppError::Invalid(_)
            | AppError::Malformed(_)
            | AppError::Unknown { .. }
            | AppError::Password { .. }
            | AppError::PasswordNotYours),
        ) => {
            let problem = Problem::from(error);
            let page = users_page(
                &state,
                &signed_in,
                UsersQuery::default(),
                Some(problem_text(&problem)),
            )
            .await?;
            Ok(render::refused(problem, &page))
        }
        Err(error) => Err(error.into()),
    }
}
