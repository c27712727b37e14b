//! `idlog users ...`: list, create, lock, unlock, unlock-all, deactivate, reactivate,
//! reset-password, set-password, verify, restore, show (now or as of a past point), delete, clear-all, forget and export.

use super::operator::{Operator, app_error};
use super::{cli_actor, cli_metadata, confirm, progress_bar, read_password, write_whole};
use application::RequestContext;
use application::users::AccountAction;
use application::views::UserView;
use clap::Subcommand;
use commands::CommandContext;
use domain::organization::OrgRole;
use domain::user::{UserAggregate, UserState};
use domain::values::Reason;
use domain::{OrganizationId, Timestamp, UserId};
use idlog::Usage;
use idlog::config::Settings;
use idlog::server::accounts::{AccountRequest, create_account};
use projections::queries::{ListedStatus, ListedUser, UserFilter};
use std::collections::BTreeSet;
use std::path::Path;

/// `idlog users ...`.
#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Lists users from the read model (brought up to date first).
    List {
        /// Holding this global role.
        #[arg(long)]
        role: Option<String>,
        /// `active`, `inactive`, `locked`, `deleted` or `forgotten` (default: all but deleted
        /// and forgotten).
        #[arg(long)]
        status: Option<String>,
        /// Members of this organization.
        #[arg(long, value_name = "ID")]
        org: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: ListFormat,
    },
    /// Creates a user directly through the command handlers (works while a server runs); the
    /// workers create their storage folders.
    Create {
        /// Email address.
        email: String,
        /// Global role (repeat for several); default `user`.
        #[arg(long = "role", value_name = "ROLE")]
        roles: Vec<String>,
        /// The password (visible to other local users in the process list: prefer
        /// --password-stdin).
        #[arg(long, conflicts_with_all = ["password_stdin", "invite"])]
        password: Option<String>,
        /// Read the password from standard input (one line).
        #[arg(long, conflicts_with = "invite")]
        password_stdin: bool,
        /// No password: send an invitation to set one (also the default without a password).
        #[arg(long)]
        invite: bool,
        /// The password must be changed at the first sign-in.
        #[arg(long, conflicts_with = "invite")]
        temporary_password: bool,
        /// Username (3 to 32 letters, digits, `.`, `_`, `-`).
        #[arg(long)]
        username: Option<String>,
        /// First name.
        #[arg(long)]
        first_name: Option<String>,
        /// Last name.
        #[arg(long)]
        last_name: Option<String>,
        /// Phone number in international form (`+` and the country code).
        #[arg(long)]
        phone: Option<String>,
        /// Add the user to this organization.
        #[arg(
            long,
            visible_alias = "org",
            value_name = "ID",
            requires = "organization_role"
        )]
        organization: Option<String>,
        /// Their role there: org_admin, member or readonly.
        #[arg(
            long,
            visible_alias = "org-role",
            value_name = "ROLE",
            requires = "organization"
        )]
        organization_role: Option<String>,
    },
    /// Deletes a user (their folders are removed by the workers; the log keeps the history).
    Delete {
        /// Email address or user id.
        user: String,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
    /// Restores a deleted user within `auth.restore_days` of the deletion (their memberships
    /// stay ended).
    Restore {
        /// User id (a deleted user's email is free: use the id).
        user: String,
    },
    /// Forgets a user for good (right to erasure): ends their sessions, frees their email,
    /// username and phone, and destroys their data key, so their personal data reads back as
    /// erased everywhere (the log keeps the events and verifies). Asks first unless `--yes`.
    Forget {
        /// Email address or user id.
        user: String,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
    /// Everything held about a user as one JSON document (right of access): account, profile,
    /// organizations, sessions, activity, and their events decrypted.
    Export {
        /// Email address or user id.
        user: String,
        /// Write it to this file instead of standard output.
        #[arg(short, long, value_name = "FILE")]
        output: Option<std::path::PathBuf>,
        /// Overwrite the file without asking.
        #[arg(long)]
        yes: bool,
    },
    /// Deletes every user, one command each; asks for the number of users unless `--yes`.
    ClearAll {
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
    /// Locks an account (ends its sessions).
    Lock {
        /// Email address or user id.
        user: String,
        /// Why.
        #[arg(long)]
        reason: Option<String>,
        /// Until this time (RFC 3339); default until unlocked.
        #[arg(long, value_name = "TIME")]
        until: Option<chrono::DateTime<chrono::Utc>>,
    },
    /// Lifts a lock.
    Unlock {
        /// Email address or user id.
        user: String,
    },
    /// Lifts every lock in force.
    UnlockAll,
    /// Turns an account off (ends its sessions).
    Deactivate {
        /// Email address or user id.
        user: String,
        /// Why.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Turns a deactivated account back on.
    Reactivate {
        /// Email address or user id.
        user: String,
    },
    /// Sends the user a password reset link.
    ResetPassword {
        /// Email address or user id.
        user: String,
    },
    /// Sets the user's password (it meets the policy); their sessions end and they are told
    /// by email.
    SetPassword {
        /// Email address or user id.
        user: String,
        /// The password (visible to other local users in the process list: prefer
        /// --password-stdin).
        #[arg(
            long,
            conflicts_with = "password_stdin",
            required_unless_present = "password_stdin"
        )]
        password: Option<String>,
        /// Read the password from standard input (one line).
        #[arg(long)]
        password_stdin: bool,
        /// The user must change it at their next sign-in.
        #[arg(long)]
        temporary: bool,
    },
    /// Marks the user's email address or phone number verified by hand, with a reason.
    Verify {
        /// Email address or user id.
        user: String,
        /// What to mark verified.
        #[arg(value_enum)]
        what: Contact,
        /// How you know it is the person's (recorded for auditors).
        #[arg(long)]
        reason: String,
    },
    /// The user folded from the log: now, or as of a time or position.
    Show {
        /// Email address or user id (a deleted user's email is free again: use the id).
        user: String,
        /// As of this time (RFC 3339) or date.
        #[arg(long, value_name = "TIME", conflicts_with = "at_position")]
        as_of: Option<String>,
        /// As of this log position.
        #[arg(long, value_name = "N")]
        at_position: Option<u64>,
    },
}

/// `idlog users ...`.
pub async fn run(settings: &Settings, command: UsersCommand) -> anyhow::Result<()> {
    match command {
        UsersCommand::List {
            role,
            status,
            org,
            format,
        } => list(settings, role, status, org, format).await,
        UsersCommand::Create {
            email,
            roles,
            password,
            password_stdin,
            invite: _,
            temporary_password,
            username,
            first_name,
            last_name,
            phone,
            organization,
            organization_role,
        } => {
            let password = match password {
                Some(password) => Some(secrecy::SecretString::from(password)),
                None => read_password(password_stdin)?,
            };
            let roles = if roles.is_empty() {
                vec!["user".to_owned()]
            } else {
                roles
            };
            let request = CreateRequest {
                account: AccountRequest {
                    email,
                    username,
                    phone,
                    first_name,
                    last_name,
                    temporary_password,
                    roles,
                    password,
                    actor: cli_actor(),
                },
                organization: organization.zip(organization_role),
            };
            create(settings, request).await
        }
        UsersCommand::Delete { user, yes } => {
            lifecycle(settings, &user, Lifecycle::Delete { yes }).await
        }
        UsersCommand::ClearAll { yes } => clear_all(settings, yes).await,
        UsersCommand::Restore { user } => lifecycle(settings, &user, Lifecycle::Restore).await,
        UsersCommand::Forget { user, yes } => forget(settings, &user, yes).await,
        UsersCommand::Export { user, output, yes } => {
            export(settings, &user, output.as_deref(), yes).await
        }
        UsersCommand::Lock {
            user,
            reason,
            until,
        } => lifecycle(settings, &user, Lifecycle::Lock { reason, until }).await,
        UsersCommand::Unlock { user } => lifecycle(settings, &user, Lifecycle::Unlock).await,
        UsersCommand::UnlockAll => unlock_all(settings).await,
        UsersCommand::Deactivate { user, reason } => {
            lifecycle(settings, &user, Lifecycle::Deactivate { reason }).await
        }
        UsersCommand::Reactivate { user } => {
            lifecycle(settings, &user, Lifecycle::Reactivate).await
        }
        UsersCommand::ResetPassword { user } => {
            lifecycle(settings, &user, Lifecycle::ResetPassword).await
        }
        UsersCommand::SetPassword {
            user,
            password,
            password_stdin,
            temporary,
        } => {
            let password = match password {
                Some(password) => secrecy::SecretString::from(password),
                None => read_password(password_stdin)?
                    .ok_or_else(|| Usage("give --password or --password-stdin".into()))?,
            };
            lifecycle(
                settings,
                &user,
                Lifecycle::SetPassword {
                    password,
                    temporary,
                },
            )
            .await
        }
        UsersCommand::Verify { user, what, reason } => {
            lifecycle(settings, &user, Lifecycle::Verify { what, reason }).await
        }
        UsersCommand::Show {
            user,
            as_of,
            at_position,
        } => show(settings, &user, as_of, at_position).await,
    }
}

/// A way to reach a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Contact {
    /// The email address.
    Email,
    /// The phone number.
    Phone,
}

/// How lists are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ListFormat {
    /// Aligned columns.
    Table,
    /// A JSON array of the users as the read model lists them.
    Json,
    /// Comma-separated, with a header.
    Csv,
}

/// `idlog users list`.
#[tracing::instrument(skip_all)]
async fn list(
    settings: &Settings,
    role: Option<String>,
    status: Option<String>,
    organization: Option<String>,
    format: ListFormat,
) -> anyhow::Result<()> {
    let status = status
        .map(|raw| {
            serde_json::from_value::<ListedStatus>(serde_json::Value::String(raw.clone())).map_err(
                |_| {
                    Usage(format!(
                        "--status {raw:?}: one of active, inactive, locked, deleted, forgotten"
                    ))
                },
            )
        })
        .transpose()?;
    let operator = Operator::open(settings).await?;
    let users = operator
        .all_users(UserFilter {
            role,
            status,
            organization,
            ..Default::default()
        })
        .await?;
    let status_name = |user: &ListedUser| {
        serde_json::to_value(user.status)
            .ok()
            .and_then(|value| value.as_str().map(str::to_owned))
            .unwrap_or_default()
    };
    let mut out = std::io::stdout().lock();
    match format {
        ListFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &users)?;
            println!();
        }
        ListFormat::Csv => {
            let mut writer = csv::Writer::from_writer(out);
            writer.write_record(["email", "id", "roles", "status", "created_at"])?;
            for user in &users {
                writer.write_record([
                    user.email.as_deref().unwrap_or_default(),
                    &user.id,
                    &user.roles.join(" "),
                    &status_name(user),
                    &user.created_at.to_rfc3339(),
                ])?;
            }
            writer.flush()?;
        }
        ListFormat::Table => {
            let rows: Vec<[String; 4]> = users
                .iter()
                .map(|user| {
                    [
                        user.email.clone().unwrap_or_default(),
                        user.id.clone(),
                        user.roles.join(","),
                        status_name(user),
                    ]
                })
                .collect();
            let header = ["EMAIL", "ID", "ROLES", "STATUS"].map(str::to_owned);
            let mut widths = header.each_ref().map(String::len);
            for row in &rows {
                for (width, cell) in widths.iter_mut().zip(row) {
                    *width = (*width).max(cell.chars().count());
                }
            }
            for row in std::iter::once(&header).chain(&rows) {
                let line: Vec<String> = row
                    .iter()
                    .zip(widths)
                    .map(|(cell, width)| format!("{cell:<width$}"))
                    .collect();
                println!("{}", line.join("  ").trim_end());
            }
            eprintln!("{} users", rows.len());
        }
    }
    Ok(())
}

/// A user to create from the command line.
pub struct CreateRequest {
    /// The account.
    pub account: AccountRequest,
    /// An organization to add them to, with the role there.
    pub organization: Option<(String, String)>,
}

/// `idlog users create`: a weak password, an unknown role or organization, or a taken email is
/// a one-line error (exit 2) and nothing is appended.
#[tracing::instrument(skip_all)]
async fn create(settings: &Settings, request: CreateRequest) -> anyhow::Result<()> {
    let operator = Operator::open(settings).await?;
    let membership = match &request.organization {
        Some((id, role)) => {
            let organization_id: OrganizationId = id
                .parse()
                .map_err(|_| Usage(format!("--organization {id:?} is not an organization id")))?;
            let role: OrgRole = role.parse().map_err(|_| {
                Usage(format!(
                    "--organization-role {role:?}: one of org_admin, member, readonly"
                ))
            })?;
            let found = operator
                .app
                .organization(organization_id)
                .await
                .map_err(|error| anyhow::anyhow!("{error}"))?;
            if found.is_none() {
                return Err(Usage(format!("no organization has the id {organization_id}")).into());
            }
            Some((organization_id, role))
        }
        None => None,
    };
    let invited = request.account.password.is_none();
    let email = request.account.email.clone();
    let app = &operator.app;
    let creator = app.creator();
    let user_id = create_account(&creator, request.account).await?;
    println!("created user {user_id} <{email}>");
    if let Some((organization_id, role)) = membership {
        let (user, _) = operator.current(user_id).await?;
        let context = CommandContext {
            metadata: cli_metadata(),
            data_subject: Some(organization_id.to_string()),
            ..Default::default()
        };
        operator
            .app
            .add_member(context, organization_id, &user, role, BTreeSet::new())
            .await
            .map_err(|error| {
                anyhow::anyhow!(
                    "the user was created, but adding them to {organization_id} failed: {error}"
                )
            })?;
        println!("added to organization {organization_id} as {role}");
    }
    if invited {
        println!(
            "no password given: an invitation to set one goes to {email} once the email worker runs"
        );
    }
    Ok(())
}

/// What `idlog users lock|unlock|...` does.
pub enum Lifecycle {
    /// Lock, with a reason and an end.
    Lock {
        /// Why.
        reason: Option<String>,
        /// Until when.
        until: Option<Timestamp>,
    },
    /// Lift the lock.
    Unlock,
    /// Turn the account off.
    Deactivate {
        /// Why.
        reason: Option<String>,
    },
    /// Turn it back on.
    Reactivate,
    /// Send a password reset link.
    ResetPassword,
    /// Set the password.
    SetPassword {
        /// The new password.
        password: secrecy::SecretString,
        /// To be changed at the next sign-in.
        temporary: bool,
    },
    /// Mark the email address or phone number verified by hand.
    Verify {
        /// Which.
        what: Contact,
        /// Why.
        reason: String,
    },
    /// Restore a deleted user.
    Restore,
    /// Delete (asks first).
    Delete {
        /// Do not ask.
        yes: bool,
    },
}

fn reason(raw: Option<String>) -> Result<Option<Reason>, Usage> {
    raw.map(|text| {
        Reason::parse(&text).map_err(|error| Usage(format!("--reason: {}", error.message)))
    })
    .transpose()
}

/// `idlog users lock|unlock|deactivate|reactivate|reset-password|delete EMAIL|ID`.
#[tracing::instrument(skip_all)]
async fn lifecycle(settings: &Settings, user: &str, action: Lifecycle) -> anyhow::Result<()> {
    let operator = Operator::open(settings).await?;
    let user_id = operator.resolve(user).await?;
    let (done, action) = match action {
        Lifecycle::Lock { reason: why, until } => (
            "locked",
            AccountAction::Lock {
                reason: reason(why)?,
                until,
            },
        ),
        Lifecycle::Unlock => ("unlocked", AccountAction::Unlock),
        Lifecycle::Deactivate { reason: why } => (
            "deactivated",
            AccountAction::Deactivate {
                reason: reason(why)?,
            },
        ),
        Lifecycle::Reactivate => ("reactivated", AccountAction::Reactivate),
        Lifecycle::Restore => ("restored", AccountAction::Restore),
        Lifecycle::ResetPassword => (
            "sent a password reset link to",
            AccountAction::SendPasswordReset,
        ),
        Lifecycle::SetPassword {
            password,
            temporary,
        } => (
            "set the password of",
            AccountAction::SetPassword {
                password,
                temporary,
            },
        ),
        Lifecycle::Verify { what, reason: why } => {
            let reason = reason(Some(why))?.ok_or_else(|| Usage("--reason is empty".into()))?;
            match what {
                Contact::Email => (
                    "verified the email address of",
                    AccountAction::VerifyEmail { reason },
                ),
                Contact::Phone => (
                    "verified the phone number of",
                    AccountAction::VerifyPhone { reason },
                ),
            }
        }
        Lifecycle::Delete { yes } => {
            let (current, _) = operator.current(user_id).await?;
            confirm(
                yes,
                &format!("Delete user {user_id} <{}>?", current.email),
                "yes",
            )?;
            ("deleted", AccountAction::Delete)
        }
    };
    let after = operator.change_account(user_id, action).await?;
    println!("{done} {user_id} <{}>", after.email);
    Ok(())
}

/// Runs `command` on every user in `users` with a progress bar; returns how many there were, or
/// an error naming the ones that failed (the others are done).
async fn for_each_user(
    operator: &Operator,
    users: &[ListedUser],
    what: &str,
    action: AccountAction,
) -> anyhow::Result<usize> {
    let bar = progress_bar(users.len() as u64, what);
    let mut failures = Vec::new();
    for user in users {
        let outcome = match user.id.parse::<UserId>() {
            Ok(user_id) => operator
                .change_account(user_id, action.clone())
                .await
                .map(|_| ()),
            Err(_) => Err(anyhow::anyhow!("{} is not a user id", user.id)),
        };
        if let Err(error) = outcome {
            failures.push(format!("{}: {error}", user.id));
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    for failure in &failures {
        eprintln!("failed: {failure}");
    }
    if failures.is_empty() {
        Ok(users.len())
    } else {
        anyhow::bail!(
            "{} of {} users failed (the others are done)",
            failures.len(),
            users.len()
        )
    }
}

/// `idlog users clear-all`: deletes every user through commands (their folders are removed by
/// the workers); asks for the count of users first unless `yes`.
#[tracing::instrument(skip_all)]
async fn clear_all(settings: &Settings, yes: bool) -> anyhow::Result<()> {
    let operator = Operator::open(settings).await?;
    let users = operator.all_users(UserFilter::default()).await?;
    if users.is_empty() {
        println!("there are no users to delete");
        return Ok(());
    }
    confirm(
        yes,
        &format!(
            "Delete all {} users? The log keeps their history.",
            users.len()
        ),
        &users.len().to_string(),
    )?;
    let deleted = for_each_user(&operator, &users, "deleting users", AccountAction::Delete).await?;
    println!("deleted {deleted} users");
    Ok(())
}

/// `idlog users unlock-all`: lifts every lock in force.
#[tracing::instrument(skip_all)]
async fn unlock_all(settings: &Settings) -> anyhow::Result<()> {
    let operator = Operator::open(settings).await?;
    let users = operator
        .all_users(UserFilter {
            status: Some(ListedStatus::Locked),
            ..Default::default()
        })
        .await?;
    let unlocked =
        for_each_user(&operator, &users, "unlocking users", AccountAction::Unlock).await?;
    println!("unlocked {unlocked} users");
    Ok(())
}

/// `idlog users show EMAIL|ID [--as-of TIME | --at-position N]`: the user folded from the log,
/// now or as of then.
#[tracing::instrument(skip_all)]
async fn show(
    settings: &Settings,
    user: &str,
    as_of: Option<String>,
    at_position: Option<u64>,
) -> anyhow::Result<()> {
    let as_of = as_of
        .map(|text| match audit::Bound::parse(&text) {
            Ok(audit::Bound::Time(time)) => Ok(time),
            Ok(audit::Bound::Position(_)) => Err(Usage(format!(
                "--as-of {text:?}: give a time; --at-position takes a position"
            ))),
            Err(message) => Err(Usage(format!("--as-of {message}"))),
        })
        .transpose()?;
    let operator = Operator::open(settings).await?;
    let user_id = operator.resolve(user).await?;
    let past = operator
        .app
        .commands
        .load_as_of::<UserAggregate>(&user_id.to_string(), at_position, as_of)
        .await
        .map_err(|error| anyhow::anyhow!("{error}"))?;
    let (UserState::Present(found), Some((position, recorded_at))) = (past.state, past.last_event)
    else {
        return Err(Usage(format!("user {user_id} did not exist at that point")).into());
    };
    let version = past.version;
    let view = UserView::new(
        &found,
        as_of.unwrap_or_else(|| {
            if at_position.is_some() {
                recorded_at
            } else {
                chrono::Utc::now()
            }
        }),
    );
    let shown = serde_json::json!({
        "user": view,
        "stream_version": version,
        "as_of_position": position,
        "as_of_time": recorded_at,
    });
    println!("{}", serde_json::to_string_pretty(&shown)?);
    Ok(())
}

/// `idlog users forget EMAIL|ID`: forgets a user for good (right to erasure), through the same
/// path as `POST /api/v1/users/{id}/forget`; asks first unless `yes`.
#[tracing::instrument(skip_all)]
async fn forget(settings: &Settings, user: &str, yes: bool) -> anyhow::Result<()> {
    let operator = Operator::open(settings).await?;
    let user_id = operator.resolve(user).await?;
    let (current, _) = operator.current(user_id).await?;
    confirm(
        yes,
        &format!(
            "Forget user {user_id} <{}> for good? Their personal data becomes unreadable everywhere, \
             and this cannot be undone.",
            current.email
        ),
        "forget",
    )?;
    let mut authority = operator.authority.clone();
    let forgotten = operator
        .app
        .forget_user(
            &mut authority,
            &RequestContext::default(),
            user_id,
            None,
            None,
        )
        .await
        .map_err(|error| app_error(user_id, error))?;
    let in_clear = forgotten.events_in_clear;
    println!("forgot {user_id}");
    if in_clear > 0 {
        eprintln!(
            "warning: {in_clear} of their events were written before personal data was encrypted \
             and keep it in clear in the log (see docs/privacy.md)"
        );
    }
    Ok(())
}

/// `idlog users export EMAIL|ID [-o FILE]`: everything held about a user as one JSON document
/// (the same as `GET /api/v1/users/{id}/export`), on standard output or written whole to a file.
#[tracing::instrument(skip_all)]
async fn export(
    settings: &Settings,
    user: &str,
    output: Option<&Path>,
    yes: bool,
) -> anyhow::Result<()> {
    let operator = Operator::open(settings).await?;
    let user_id = operator.resolve(user).await?;
    operator.queries().await?;
    let data = operator
        .app
        .export_user(&operator.authority, user_id)
        .await
        .map_err(|error| app_error(user_id, error))?;
    let mut json = serde_json::to_vec_pretty(&data)?;
    json.push(b'\n');
    match output {
        Some(path) => {
            if path.exists() {
                confirm(
                    yes,
                    &format!("{} exists. Overwrite it?", path.display()),
                    "yes",
                )?;
            }
            write_whole(path, &json)?;
            eprintln!("wrote {}", path.display());
        }
        None => {
            use std::io::Write;
            std::io::stdout().lock().write_all(&json)?;
        }
    }
    Ok(())
}
