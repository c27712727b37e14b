//! The operators' user commands (`idlog users ...`) and token and session housekeeping
//! (`idlog maintenance cleanup-tokens|expire-sessions`).
//!
//! Every change goes through the same command handlers as the API, recorded with the actor
//! `system:cli:<os user>`, so the log stays the single source of truth; lifecycle commands take
//! the very path the API's do (locks, deactivations and deletions end sessions).

use crate::config::Settings;
use crate::read_side::progress_bar;
use crate::runtime::{
    AccountRequest, Core, app_state, create_account, object_store, projector_over,
};
use crate::{Usage, confirm};
use anyhow::Context;
use api::AppState;
use api::extract::RequestContext;
use api::views::UserView;
use commands::{CommandContext, CommandHandler};
use domain::organization::OrgRole;
use domain::session::{EndReason, SessionAggregate, SessionCommand, SessionError};
use domain::user::{UserAggregate, UserCommand, UserState};
use domain::values::{Email, Reason};
use domain::{ClaimKind, OrganizationId, Timestamp, UserId};
use eventstore::{Actor, ActorKind, EventMetadata};
use projections::queries::{ListedStatus, ListedUser, Queries, UserFilter};
use std::collections::BTreeSet;
use std::path::Path;

/// The actor the command line records: `system:cli:<os user>`.
pub fn cli_actor() -> Actor {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".into());
    Actor {
        kind: ActorKind::System,
        id: Some(format!("system:cli:{user}")),
    }
}

/// Event metadata for what the operator does.
fn cli_metadata() -> EventMetadata {
    RequestContext::default().metadata(cli_actor())
}

/// The user named by an id or an email address (a deleted user's address is free again, so
/// only their id names them).
#[tracing::instrument(skip_all)]
pub async fn resolve_user(commands: &CommandHandler, user: &str) -> anyhow::Result<UserId> {
    if let Ok(id) = user.parse::<UserId>() {
        return Ok(id);
    }
    let email = Email::parse(user).map_err(|_| {
        Usage(format!(
            "{user:?} is neither a user id nor an email address"
        ))
    })?;
    let owner = commands
        .find_owner(ClaimKind::Email, email.as_str())
        .await?;
    owner
        .and_then(|id| id.parse().ok())
        .ok_or_else(|| Usage(format!("no user has the email address {user}")).into())
}

/// A problem the API would answer as the command line's error: the caller's (exit 2) for a
/// 4xx, a failure (exit 1) otherwise.
fn problem_error(context: impl std::fmt::Display, problem: api::problem::Problem) -> anyhow::Error {
    if problem.status < 500 {
        Usage(format!("{context}: {problem}")).into()
    } else {
        anyhow::anyhow!("{context}: {problem}")
    }
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

/// What the operators' commands run with: the application's state, without the HTTP server
/// and the workers (a running server's workers act on what is appended here).
pub struct Operator {
    state: AppState,
}

impl Operator {
    /// Opens the database and builds the state.
    pub async fn open(settings: &Settings) -> anyhow::Result<Self> {
        let core = Core::open(settings).await?;
        let projector = projector_over(core.database.clone(), core.log.clone(), settings);
        let objects = object_store(settings).await?;
        let read = api::ReadSide::new(projector);
        let state = app_state(core, settings, read, objects, None)?;
        Ok(Self { state })
    }

    /// The read models brought up to the log's head (no server may be running to do it).
    async fn queries(&self) -> anyhow::Result<&Queries> {
        let projector = &self.state.read.projector;
        projector
            .prepare()
            .await
            .context("preparing the read models")?;
        projector
            .catch_up()
            .await
            .context("bringing the read models up to date")?;
        Ok(&self.state.read.queries)
    }

    /// The user named by an id or an email address.
    async fn resolve(&self, user: &str) -> anyhow::Result<UserId> {
        resolve_user(&self.state.commands, user).await
    }

    /// The user now (deleted ones too), with their stream version.
    async fn current(&self, user_id: UserId) -> anyhow::Result<(Box<domain::user::User>, u64)> {
        let loaded = self
            .state
            .commands
            .current::<UserAggregate>(&user_id.to_string())
            .await
            .map_err(|error| anyhow::anyhow!("{error}"))?;
        match loaded.state {
            UserState::Present(user) => Ok((user, loaded.version)),
            UserState::Absent => Err(Usage(format!("no user has the id {user_id}")).into()),
            UserState::Forgotten(_) => Err(Usage(format!("{user_id} was forgotten")).into()),
        }
    }

    /// Runs a lifecycle command on a user, the API's way.
    async fn lifecycle(
        &self,
        user_id: UserId,
        command: impl FnOnce(Timestamp) -> UserCommand,
    ) -> anyhow::Result<Box<domain::user::User>> {
        let (user, version) = self.current(user_id).await?;
        let now = chrono::Utc::now();
        let context = CommandContext {
            metadata: cli_metadata(),
            ..Default::default()
        };
        let executed = api::routes::users::apply_lifecycle(
            &self.state,
            &RequestContext::default(),
            user,
            version,
            command(now),
            context,
            now,
        )
        .await
        .map_err(|problem| problem_error(user_id, problem))?;
        match executed.state {
            UserState::Present(user) => Ok(user),
            UserState::Absent | UserState::Forgotten(_) => {
                Err(anyhow::anyhow!("{user_id} vanished"))
            }
        }
    }

    /// Every user matching `filter`, all pages.
    async fn all_users(&self, mut filter: UserFilter) -> anyhow::Result<Vec<ListedUser>> {
        let queries = self.queries().await?;
        filter.limit = Some(200);
        let mut users = Vec::new();
        loop {
            let page = queries
                .users(&filter, None)
                .await
                .map_err(|error| Usage(error.to_string()))?;
            users.extend(page.items);
            match page.next_cursor {
                Some(cursor) => filter.cursor = Some(cursor),
                None => return Ok(users),
            }
        }
    }
}

/// `idlog users list`.
#[tracing::instrument(skip_all)]
pub async fn list(
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
pub async fn create(settings: &Settings, request: CreateRequest) -> anyhow::Result<()> {
    let operator = Operator::open(settings).await?;
    let membership = match &request.organization {
        Some((id, role)) => {
            let organization_id: OrganizationId = id
                .parse()
                .map_err(|_| Usage(format!("--org {id:?} is not an organization id")))?;
            let role: OrgRole = role.parse().map_err(|_| {
                Usage(format!(
                    "--org-role {role:?}: one of org_admin, member, readonly"
                ))
            })?;
            let found =
                api::routes::organizations::load_organization(&operator.state, organization_id)
                    .await
                    .map_err(|problem| anyhow::anyhow!("{problem}"))?;
            if found.is_none() {
                return Err(Usage(format!("no organization has the id {organization_id}")).into());
            }
            Some((organization_id, role))
        }
        None => None,
    };
    let invited = request.account.password.is_none();
    let email = request.account.email.clone();
    let state = &operator.state;
    let creator = api::accounts::Creator {
        commands: &state.commands,
        passwords: &state.passwords,
        tokens: &state.tokens,
        invitation_lifetime: state.auth.invitation_lifetime,
    };
    let user_id = create_account(&creator, &state.auth.roles, request.account).await?;
    println!("created user {user_id} <{email}>");
    if let Some((organization_id, role)) = membership {
        let (user, _) = operator.current(user_id).await?;
        let context = CommandContext {
            metadata: cli_metadata(),
            data_subject: Some(organization_id.to_string()),
            ..Default::default()
        };
        api::routes::organizations::add_member(
            &operator.state,
            context,
            organization_id,
            &user,
            role,
            BTreeSet::new(),
        )
        .await
        .map_err(|problem| {
            anyhow::anyhow!(
                "the user was created, but adding them to {organization_id} failed: {problem}"
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
pub async fn lifecycle(settings: &Settings, user: &str, action: Lifecycle) -> anyhow::Result<()> {
    let operator = Operator::open(settings).await?;
    let user_id = operator.resolve(user).await?;
    let password_reset_lifetime = operator.state.auth.password_reset_lifetime;
    let tokens = operator.state.tokens.clone();
    let (done, command): (&str, Box<dyn FnOnce(Timestamp) -> UserCommand>) = match action {
        Lifecycle::Lock { reason: why, until } => {
            let reason = reason(why)?;
            (
                "locked",
                Box::new(move |at| UserCommand::Lock { reason, until, at }),
            )
        }
        Lifecycle::Unlock => ("unlocked", Box::new(|at| UserCommand::Unlock { at })),
        Lifecycle::Deactivate { reason: why } => {
            let reason = reason(why)?;
            (
                "deactivated",
                Box::new(move |at| UserCommand::Deactivate { reason, at }),
            )
        }
        Lifecycle::Reactivate => ("reactivated", Box::new(|at| UserCommand::Reactivate { at })),
        Lifecycle::ResetPassword => (
            "sent a password reset link to",
            Box::new(move |at| UserCommand::RequestPasswordReset {
                token: tokens
                    .issue(
                        api::auth::tokens::TokenPurpose::PasswordReset,
                        user_id,
                        at,
                        password_reset_lifetime,
                    )
                    .0,
            }),
        ),
        Lifecycle::Delete { yes } => {
            let (current, _) = operator.current(user_id).await?;
            confirm(
                yes,
                &format!("Delete user {user_id} <{}>?", current.email),
                "yes",
            )?;
            ("deleted", Box::new(|at| UserCommand::Delete { at }))
        }
    };
    let after = operator.lifecycle(user_id, command).await?;
    println!("{done} {user_id} <{}>", after.email);
    Ok(())
}

/// Runs `command` on every user in `users` with a progress bar; returns how many there were, or
/// an error naming the ones that failed (the others are done).
async fn for_each_user(
    operator: &Operator,
    users: &[ListedUser],
    what: &str,
    command: impl Fn(Timestamp) -> UserCommand,
) -> anyhow::Result<usize> {
    let bar = progress_bar(users.len() as u64, what);
    let mut failures = Vec::new();
    for user in users {
        let outcome = match user.id.parse::<UserId>() {
            Ok(user_id) => operator.lifecycle(user_id, &command).await.map(|_| ()),
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
pub async fn clear_all(settings: &Settings, yes: bool) -> anyhow::Result<()> {
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
    let deleted = for_each_user(&operator, &users, "deleting users", |at| {
        UserCommand::Delete { at }
    })
    .await?;
    println!("deleted {deleted} users");
    Ok(())
}

/// `idlog users unlock-all`: lifts every lock in force.
#[tracing::instrument(skip_all)]
pub async fn unlock_all(settings: &Settings) -> anyhow::Result<()> {
    let operator = Operator::open(settings).await?;
    let users = operator
        .all_users(UserFilter {
            status: Some(ListedStatus::Locked),
            ..Default::default()
        })
        .await?;
    let unlocked = for_each_user(&operator, &users, "unlocking users", |at| {
        UserCommand::Unlock { at }
    })
    .await?;
    println!("unlocked {unlocked} users");
    Ok(())
}

/// `idlog users show EMAIL|ID [--as-of TIME | --at-position N]`: the user folded from the log,
/// now or as of then.
#[tracing::instrument(skip_all)]
pub async fn show(
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
        .state
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

/// `idlog maintenance cleanup-tokens`: drops expired verification and reset tokens from every
/// user (an `ExpiredTokensDiscarded` event where there were any).
#[tracing::instrument(skip_all)]
pub async fn cleanup_tokens(settings: &Settings) -> anyhow::Result<()> {
    let operator = Operator::open(settings).await?;
    let users = operator.all_users(UserFilter::default()).await?;
    let now = chrono::Utc::now();
    let bar = progress_bar(users.len() as u64, "looking for expired tokens");
    let mut cleaned = 0;
    let mut failures = Vec::new();
    for user in &users {
        let executed = operator
            .state
            .commands
            .execute::<UserAggregate>(
                &user.id,
                UserCommand::DiscardExpiredTokens { at: now },
                CommandContext {
                    metadata: cli_metadata(),
                    ..Default::default()
                },
            )
            .await;
        match executed {
            Ok(executed) if !executed.events.is_empty() => cleaned += 1,
            Ok(_) => {}
            Err(error) => failures.push(format!("{}: {error}", user.id)),
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    println!(
        "{} users checked: expired tokens discarded for {cleaned}",
        users.len()
    );
    for failure in &failures {
        eprintln!("failed: {failure}");
    }
    if failures.is_empty() {
        Ok(())
    } else {
        anyhow::bail!("{} users could not be cleaned up", failures.len())
    }
}

/// `idlog maintenance expire-sessions`: ends sessions that are still open in the log but past
/// their idle timeout or absolute lifetime (they stopped working already; this records it).
#[tracing::instrument(skip_all)]
pub async fn expire_sessions(settings: &Settings) -> anyhow::Result<()> {
    let operator = Operator::open(settings).await?;
    let now = chrono::Utc::now();
    let lapsed = operator
        .queries()
        .await?
        .lapsed_sessions(now)
        .await
        .map_err(|error| anyhow::anyhow!("{error}"))?;
    let bar = progress_bar(lapsed.len() as u64, "ending expired sessions");
    let mut ended = 0;
    for session in &lapsed {
        let outcome = operator
            .state
            .commands
            .execute::<SessionAggregate>(
                &session.session_id,
                SessionCommand::End {
                    reason: EndReason::Expired,
                    at: now,
                },
                CommandContext {
                    metadata: cli_metadata(),
                    data_subject: Some(session.user_id.clone()),
                    ..Default::default()
                },
            )
            .await;
        match outcome {
            Ok(_) => ended += 1,
            // Ended meanwhile (a logout, another run): nothing to record.
            Err(commands::CommandError::Rejected(SessionError::NotActive)) => {}
            Err(error) => anyhow::bail!("session {}: {error}", session.session_id),
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    println!("{ended} expired sessions ended");
    Ok(())
}

/// `idlog users forget EMAIL|ID`: forgets a user for good (right to erasure), through the same
/// path as `POST /api/v1/users/{id}/forget`; asks first unless `yes`.
#[tracing::instrument(skip_all)]
pub async fn forget(settings: &Settings, user: &str, yes: bool) -> anyhow::Result<()> {
    let operator = Operator::open(settings).await?;
    let user_id = operator.resolve(user).await?;
    let (current, version) = operator.current(user_id).await?;
    confirm(
        yes,
        &format!(
            "Forget user {user_id} <{}> for good? Their personal data becomes unreadable everywhere, \
             and this cannot be undone.",
            current.email
        ),
        "forget",
    )?;
    let in_clear = api::routes::privacy::events_in_clear(&operator.state, user_id)
        .await
        .map_err(|problem| problem_error(user_id, problem))?;
    let now = chrono::Utc::now();
    let context = CommandContext {
        metadata: cli_metadata(),
        ..Default::default()
    };
    api::routes::privacy::forget(
        &operator.state,
        &RequestContext::default(),
        current,
        version,
        context,
        now,
    )
    .await
    .map_err(|problem| problem_error(user_id, problem))?;
    println!("forgot {user_id}");
    if in_clear > 0 {
        eprintln!(
            "warning: {in_clear} of their events were written before personal data was encrypted \
             and keep it in clear in the log (see the README's Privacy section)"
        );
    }
    Ok(())
}

/// `idlog users export EMAIL|ID [-o FILE]`: everything held about a user as one JSON document
/// (the same as `GET /api/v1/users/{id}/export`), on standard output or written whole to a file.
#[tracing::instrument(skip_all)]
pub async fn export(
    settings: &Settings,
    user: &str,
    output: Option<&Path>,
    yes: bool,
) -> anyhow::Result<()> {
    let operator = Operator::open(settings).await?;
    let user_id = operator.resolve(user).await?;
    operator.queries().await?;
    let data = api::routes::privacy::personal_data(&operator.state, user_id)
        .await
        .map_err(|problem| problem_error(user_id, problem))?;
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
            crate::auditors::write_whole(path, &json)?;
            eprintln!("wrote {}", path.display());
        }
        None => {
            use std::io::Write;
            std::io::stdout().lock().write_all(&json)?;
        }
    }
    Ok(())
}
