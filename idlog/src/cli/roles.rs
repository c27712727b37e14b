//! `idlog roles ...`: the catalog of global roles (what each is: privileged or not, its
//! profile's fields), and role holders' profiles, through the application's use cases as the
//! API runs them.

use super::confirm;
use super::operator::{Operator, app_error};
use application::roles::{ProfileInput, RoleChange};
use application::users::Preconditions;
use application::{AppError, RequestContext};
use clap::Subcommand;
use domain::role_catalog::{ProfileField, RoleDefinition, is_built_in};
use domain::values::Role;
use idlog::Usage;
use idlog::config::Settings;

/// `idlog roles ...`.
#[derive(Debug, Subcommand)]
pub enum RolesCommand {
    /// Lists the catalog: name, active or retired, privileged, fields.
    List {
        /// Print JSON lines instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Defines a role (or a retired one again).
    Define {
        /// The role's name.
        role: String,
        /// Only its holders and administrators act on a holder.
        #[arg(long)]
        privileged: bool,
        /// A profile field, `name:type[:required][:value,value,...]` (type: text, integer,
        /// boolean or date), e.g. `department:text:required:physics,chemistry`; repeatable.
        #[arg(long = "field", value_name = "SPEC")]
        fields: Vec<String>,
    },
    /// Changes a role: it becomes what is given (privilege and the whole list of fields).
    Change {
        /// The role's name.
        role: String,
        /// Only its holders and administrators act on a holder.
        #[arg(long)]
        privileged: bool,
        /// A profile field, as for `define`; repeatable.
        #[arg(long = "field", value_name = "SPEC")]
        fields: Vec<String>,
    },
    /// Retires a role: nobody may be granted it from now on (holders keep it).
    Retire {
        /// The role's name.
        role: String,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
    /// Sets the profile of a role a user holds: the whole profile, as `field=value` pairs.
    Profile {
        /// Email address or user id.
        user: String,
        /// A role the user holds.
        role: String,
        /// `field=value`, e.g. `department=physics year=2`.
        #[arg(value_name = "FIELD=VALUE")]
        values: Vec<String>,
    },
}

fn role(name: &str) -> Result<Role, Usage> {
    Role::parse(name).map_err(|error| Usage(format!("role {name:?}: {}", error.message)))
}

fn definition(privileged: bool, specs: &[String]) -> Result<RoleDefinition, Usage> {
    RoleDefinition::from_specs(privileged, specs.iter().map(String::as_str))
        .map_err(|error| Usage(format!("--field {error}")))
}

/// What the application refused, naming each wrong profile field.
fn refused(context: &str, error: AppError) -> anyhow::Error {
    match error {
        AppError::User(commands::CommandError::Rejected(
            domain::user::UserError::InvalidRoleProfile(problems),
        )) => {
            let problems: Vec<String> = problems
                .iter()
                .map(|(field, problem)| format!("{field} {problem}"))
                .collect();
            Usage(format!("{context}: {}", problems.join("; "))).into()
        }
        AppError::NotFound(application::Resource::Role) => {
            Usage(format!("{context}: no such role in the catalog")).into()
        }
        error => app_error(context, error),
    }
}

/// Runs a `roles` command.
pub async fn run(settings: &Settings, command: RolesCommand) -> anyhow::Result<()> {
    match command {
        RolesCommand::List { json } => {
            let operator = Operator::open(settings).await?;
            let roles = operator
                .app
                .role_catalog(&operator.authority)
                .await
                .map_err(|error| app_error("roles", error))?;
            let listed = roles
                .active()
                .iter()
                .map(|entry| (entry, "active"))
                .chain(roles.retired().iter().map(|entry| (entry, "retired")));
            for ((role, definition), status) in listed {
                let fields: Vec<String> =
                    definition.fields.iter().map(ProfileField::spec).collect();
                if json {
                    println!(
                        "{}",
                        serde_json::json!({
                            "name": role.to_string(),
                            "status": status,
                            "privileged": definition.privileged,
                            "built_in": is_built_in(role),
                            "fields": definition.fields,
                        })
                    );
                } else {
                    let privileged = if definition.privileged {
                        "privileged"
                    } else {
                        "-"
                    };
                    println!("{role}\t{status}\t{privileged}\t{}", fields.join(" "));
                }
            }
            Ok(())
        }
        RolesCommand::Define {
            role: name,
            privileged,
            fields,
        } => {
            let change = RoleChange::Define(definition(privileged, &fields)?);
            change_catalog(settings, &name, change, "defined").await
        }
        RolesCommand::Change {
            role: name,
            privileged,
            fields,
        } => {
            let change = RoleChange::Change(definition(privileged, &fields)?);
            change_catalog(settings, &name, change, "changed").await
        }
        RolesCommand::Retire { role: name, yes } => {
            role(&name)?;
            confirm(
                yes,
                &format!("Retire the role {name}? Nobody can be granted it afterwards."),
                "yes",
            )?;
            change_catalog(settings, &name, RoleChange::Retire, "retired").await
        }
        RolesCommand::Profile {
            user,
            role: name,
            values,
        } => {
            let role = role(&name)?;
            let pairs = values
                .iter()
                .map(|pair| {
                    pair.split_once('=')
                        .ok_or_else(|| Usage(format!("{pair:?}: write field=value")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let operator = Operator::open(settings).await?;
            let user_id = operator.resolve(&user).await?;
            let pairs = pairs
                .into_iter()
                .map(|(field, value)| (field.to_owned(), value.to_owned()))
                .collect();
            operator
                .app
                .set_role_profile(
                    &operator.authority,
                    &RequestContext::default(),
                    user_id,
                    role,
                    ProfileInput::Text(pairs),
                    Preconditions::default(),
                )
                .await
                .map_err(|error| refused(&user, error))?;
            println!("{user}: {name} profile set");
            Ok(())
        }
    }
}

async fn change_catalog(
    settings: &Settings,
    name: &str,
    change: RoleChange,
    done: &str,
) -> anyhow::Result<()> {
    let role = role(name)?;
    let operator = Operator::open(settings).await?;
    operator
        .app
        .change_role_catalog(
            &operator.authority,
            &RequestContext::default(),
            role,
            change,
        )
        .await
        .map_err(|error| match error {
            AppError::RoleCatalog(error) => Usage(format!("{name}: {error}")).into(),
            error => app_error(name, error),
        })?;
    println!("{name}: {done}");
    Ok(())
}
