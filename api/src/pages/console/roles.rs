//! The role catalog, for administrators (and readers, who see it): define a role with its
//! profile fields, change what a role is, retire one once confirmed; each role links to its
//! holders in the users list.

use crate::AppState;
use crate::pages::csrf::PageForm;
use crate::pages::error::{PageError, problem_text};
use crate::pages::render::{self, Chrome};
use crate::pages::session::SignedIn;
use crate::problem::Problem;
use application::policy::{Operation, Target};
use application::roles::RoleChange;
use application::{AppError, Resource};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use domain::role_catalog::{ProfileField, RoleDefinition, is_built_in};
use domain::values::Role;
use serde::Deserialize;

/// The page's query.
#[derive(Debug, Default, Deserialize)]
pub struct RolesQuery {
    #[serde(default)]
    done: Option<String>,
}

/// A role's line, with its forms' values.
struct RoleLine {
    name: String,
    active: bool,
    built_in: bool,
    privileged: bool,
    /// Its fields, one spec each (`department:text:required:physics,chemistry`).
    fields: Vec<String>,
    /// The same, one per line, for the change form.
    fields_text: String,
}

/// The page.
#[derive(Template)]
#[template(path = "console/roles.html")]
struct RolesPage {
    c: Chrome,
    roles: Vec<RoleLine>,
    from_log: bool,
    may_manage: bool,
    error: Option<String>,
    /// What the refused define form said, to show it again.
    form: RoleForm,
}

/// The define, change and retire forms.
#[derive(Debug, Default, Deserialize)]
pub struct RoleForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    privileged: Option<String>,
    /// One field spec per line.
    #[serde(default)]
    fields: String,
    #[serde(default)]
    confirm: Option<String>,
}

impl RoleForm {
    fn definition(&self) -> Result<RoleDefinition, AppError> {
        RoleDefinition::from_specs(self.privileged.is_some(), self.fields.lines()).map_err(
            |message| {
                AppError::Invalid(domain::values::InvalidValue {
                    field: "fields",
                    message,
                })
            },
        )
    }
}

fn line(role: &Role, definition: &RoleDefinition, active: bool) -> RoleLine {
    let fields: Vec<String> = definition.fields.iter().map(ProfileField::spec).collect();
    RoleLine {
        name: role.to_string(),
        active,
        built_in: is_built_in(role),
        privileged: definition.privileged,
        fields_text: fields.join("\n"),
        fields,
    }
}

async fn roles_page(
    state: &AppState,
    signed_in: &SignedIn,
    notice: Option<&'static str>,
    error: Option<String>,
    form: RoleForm,
) -> Result<RolesPage, PageError> {
    let who = &signed_in.authority;
    let roles = state.role_catalog(who).await?;
    let active = roles.active().iter().map(|(role, d)| line(role, d, true));
    let retired = roles.retired().iter().map(|(role, d)| line(role, d, false));
    Ok(RolesPage {
        c: signed_in.chrome_with(notice),
        roles: active.chain(retired).collect(),
        from_log: roles.in_log(),
        may_manage: who.allows(Operation::ManageRoleCatalog, Target::Everything),
        error,
        form,
    })
}

/// `GET /console/roles`.
pub async fn page(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Query(query): Query<RolesQuery>,
) -> Result<Response, PageError> {
    let notice = signed_in.chrome.t.notice(query.done.as_deref());
    let page = roles_page(&state, &signed_in, notice, None, RoleForm::default()).await?;
    Ok(render::ok(&page))
}

/// `POST /console/roles`: defines a role; `POST /console/roles/{role}/change` and
/// `/console/roles/{role}/retire` (once confirmed) change or retire one.
pub async fn change(
    State(state): State<AppState>,
    signed_in: SignedIn,
    target: Option<Path<(String, String)>>,
    PageForm(form): PageForm<RoleForm>,
) -> Result<Response, PageError> {
    let defining = target.is_none();
    let outcome = async {
        let (name, change, done) = match &target {
            None => (
                form.name.trim(),
                RoleChange::Define(form.definition()?),
                "role-defined",
            ),
            Some(Path((name, action))) if action == "change" => (
                name.as_str(),
                RoleChange::Change(form.definition()?),
                "role-changed",
            ),
            Some(Path((name, action))) if action == "retire" => {
                if form.confirm.is_none() {
                    return Err(AppError::Malformed(
                        "tick the box to confirm the retirement",
                    ));
                }
                (name.as_str(), RoleChange::Retire, "role-retired")
            }
            Some(_) => return Err(AppError::NotFound(Resource::Anything)),
        };
        let role = Role::parse(name)?;
        state
            .change_role_catalog(&signed_in.authority, &signed_in.context, role, change)
            .await?;
        Ok(done)
    }
    .await;
    match outcome {
        Ok(done) => Ok(render::see_other(&format!("/console/roles?done={done}"))),
        Err(error @ (AppError::RoleCatalog(_) | AppError::Invalid(_) | AppError::Malformed(_))) => {
            let problem = Problem::from(error);
            let shown = if defining { form } else { RoleForm::default() };
            let page = roles_page(
                &state,
                &signed_in,
                None,
                Some(problem_text(&problem)),
                shown,
            )
            .await?;
            Ok(render::refused(problem, &page))
        }
        Err(error) => Err(error.into()),
    }
}
