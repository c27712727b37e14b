//! One user: their details and the account actions the policy lets the caller take, their
//! organizations, sessions and recent activity, and their history from the log, with their
//! state as of any past time or position shown beside their state now.
//!
//! Every action form carries the version of the user the page showed: when someone else
//! changed the user since, nothing is done and the page shows what changed.

use super::activity::Line;
use super::status_word;
use crate::AppState;
use crate::pages::csrf::PageForm;
use crate::pages::error::{PageError, problem_text};
use crate::pages::render::{self, Chrome, When, describe_agent};
use crate::pages::session::SignedIn;
use crate::pages::texts::Texts;
use crate::problem::Problem;
use application::policy::{Operation, Target};
use application::roles::{ProfileInput, Roles};
use application::users::{AccountAction, ChangedSince, Preconditions, UserChanges};
use application::{AppError, Resource};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{NaiveDateTime, TimeZone, Utc};
use commands::CommandError;
use domain::role_catalog::{FieldType, spelled};
use domain::user::{User, UserStatus};
use domain::values::{FieldName, Reason, Role};
use domain::{Timestamp, UserId};
use projections::queries::ActivityFilter;
use secrecy::SecretString;
use serde::Deserialize;
use std::collections::BTreeSet;

/// How many of the user's latest activity rows and history events the page lists.
const RECENT: u32 = 20;
const HISTORY: usize = 200;

/// The page's query: a notice, a log position to wait for (after a change), and a past point.
#[derive(Debug, Default, Deserialize)]
pub struct UserQuery {
    #[serde(default)]
    done: Option<String>,
    #[serde(default)]
    at: Option<u64>,
    #[serde(default)]
    as_of: String,
    #[serde(default)]
    position: String,
}

/// One fact about a user, as the page lists and compares them.
struct Fact {
    label: &'static str,
    value: String,
}

/// A fact then and now.
struct Compared {
    label: &'static str,
    then: String,
    now: String,
    changed: bool,
}

/// The facts a person can check about `user` at `at` (a lock is current or not at a time).
fn facts(t: &Texts, user: &User, at: Timestamp) -> Vec<Fact> {
    let or_none = |value: Option<String>| value.unwrap_or_else(|| t.none.to_owned());
    let verified = |when: Option<Timestamp>| match when {
        Some(when) => format!("{} {}", t.verified, When::new(when).text),
        None => t.not_verified.to_owned(),
    };
    let lock = match user.active_lock(at) {
        None => t.not_locked.to_owned(),
        Some(lock) => match lock.until {
            Some(until) => format!("{} {}", t.locked_until, When::new(until).text),
            None => t.locked_until_unlocked.to_owned(),
        },
    };
    let name = full_name(user);
    vec![
        Fact {
            label: t.name,
            value: or_none((!name.is_empty()).then_some(name)),
        },
        Fact {
            label: t.email,
            value: user.email.to_string(),
        },
        Fact {
            label: t.email_verification,
            value: verified(user.email_verified_at),
        },
        Fact {
            label: t.username,
            value: or_none(user.username.as_ref().map(ToString::to_string)),
        },
        Fact {
            label: t.phone_number,
            value: or_none(user.phone.as_ref().map(ToString::to_string)),
        },
        Fact {
            label: t.phone_verification,
            value: if user.phone.is_some() {
                verified(user.phone_verified_at)
            } else {
                t.none.to_owned()
            },
        },
        Fact {
            label: t.status,
            value: user.status.to_string(),
        },
        Fact {
            label: t.lock,
            value: lock,
        },
        Fact {
            label: t.roles,
            value: or_none((!user.roles.is_empty()).then(|| {
                user.roles
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            })),
        },
        Fact {
            label: t.two_factor,
            value: if user.has_mfa() { t.on } else { t.off }.to_owned(),
        },
        Fact {
            label: t.organizations,
            value: user.organizations.len().to_string(),
        },
        Fact {
            label: t.must_change_password,
            value: if user.password_change_required {
                t.yes
            } else {
                t.no
            }
            .to_owned(),
        },
    ]
}

/// `then` and `now` fact by fact.
fn compare(then: Vec<Fact>, now: Vec<Fact>) -> Vec<Compared> {
    then.into_iter()
        .zip(now)
        .map(|(then, now)| Compared {
            label: then.label,
            changed: then.value != now.value,
            then: then.value,
            now: now.value,
        })
        .collect()
}

fn full_name(user: &User) -> String {
    [user.first_name.as_ref(), user.last_name.as_ref()]
        .into_iter()
        .flatten()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

/// A time typed into the page (`2026-12-06T09:30`, from a `datetime-local` field, read as UTC;
/// or RFC 3339).
fn typed_time(field: &str, text: &str) -> Result<Option<Timestamp>, PageError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    if let Ok(at) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(Some(at.with_timezone(&Utc)));
    }
    ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
        .map(|at| Some(Utc.from_utc_datetime(&at)))
        .ok_or_else(|| {
            Problem::new(StatusCode::BAD_REQUEST, "invalid-query", "Invalid query")
                .with_detail(format!("{field}: a time such as 2026-12-06T09:30 (UTC)"))
                .into()
        })
}

/// An action's form: the version of the user the page showed, and what the action needs.
#[derive(Debug, Deserialize)]
pub struct ActionForm {
    version: u64,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    until: String,
    #[serde(default)]
    password: Option<SecretString>,
    #[serde(default)]
    temporary: Option<String>,
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default)]
    confirm: Option<String>,
    /// Credits to move (wallet forms).
    #[serde(default)]
    amount: String,
    /// The form's own key: sent twice, it moves credits once.
    #[serde(default)]
    idempotency_key: String,
}

/// The wallet card: the balance and status, the latest entries, and the forms.
struct WalletCard {
    balance: u64,
    frozen: bool,
    entries: Vec<WalletLine>,
    may_manage: bool,
    /// The most one credit or debit moves.
    max_amount: u64,
    /// A fresh key for each form this page shows.
    credit_key: String,
    debit_key: String,
}

/// One wallet history entry.
struct WalletLine {
    at: When,
    event: String,
    amount: String,
    balance: String,
    reason: String,
}

/// How many wallet entries the card lists.
const WALLET_ENTRIES: usize = 10;

/// `user`'s wallet card, if the caller may read the wallet and it is open.
async fn wallet_card(
    state: &AppState,
    who: &application::authority::Authority,
    user_id: UserId,
    may_manage: bool,
) -> Result<Option<WalletCard>, AppError> {
    let Some(view) = state.wallet(who, user_id).await? else {
        return Ok(None);
    };
    let entries = state
        .wallet_history(who, user_id, None, WALLET_ENTRIES)
        .await?
        .into_iter()
        .map(|entry| {
            use domain::DomainEvent;
            let sign = match entry.event {
                domain::wallet::WalletEvent::WalletDebited { .. } => "−",
                _ => "+",
            };
            let moved = entry.event.moved();
            WalletLine {
                at: When::new(entry.recorded_at),
                event: entry.event.event_type().to_owned(),
                amount: moved.map_or_else(String::new, |(amount, _)| format!("{sign}{amount}")),
                balance: moved.map_or_else(String::new, |(_, balance)| balance.to_string()),
                reason: entry
                    .event
                    .reason()
                    .map_or_else(String::new, ToString::to_string),
            }
        })
        .collect();
    Ok(Some(WalletCard {
        balance: view.wallet.balance,
        frozen: view.wallet.status == domain::wallet::WalletStatus::Frozen,
        entries,
        may_manage,
        max_amount: domain::wallet::MAX_AMOUNT,
        credit_key: uuid::Uuid::new_v4().to_string(),
        debit_key: uuid::Uuid::new_v4().to_string(),
    }))
}

/// An action the page offers with a button alone: its path segment and the button's label.
struct Offered {
    action: &'static str,
    label: &'static str,
}

/// One of the user's sessions.
struct SessionLine {
    id: String,
    open: bool,
    device: String,
    ip: String,
    started: When,
    last_used: When,
    status: String,
}

/// An organization the user belongs to, as far as the caller may read it.
struct MembershipLine {
    id: String,
    name: String,
    role: String,
}

/// One event of the user's stream.
struct HistoryLine {
    position: u64,
    version: u64,
    at: When,
    event: String,
    actor: String,
}

/// The past point shown beside now.
struct PastView {
    position: u64,
    at: When,
    facts: Vec<Compared>,
}

/// What a stale edit shows.
struct StaleView {
    seen: u64,
    now: u64,
    facts: Vec<Compared>,
    events: Vec<(When, String, String)>,
}

/// The user page.
#[derive(Template)]
#[template(path = "console/user.html")]
struct UserPage {
    c: Chrome,
    id: String,
    heading: String,
    version: u64,
    error: Option<String>,
    stale: Option<StaleView>,
    facts: Vec<Fact>,
    simple: Vec<Offered>,
    lock: bool,
    deactivate: bool,
    delete: bool,
    set_password: bool,
    verify_email: bool,
    verify_phone: bool,
    roles: Option<Vec<(String, bool)>>,
    role_profiles: Vec<RoleProfileCard>,
    min_length: usize,
    memberships: Vec<MembershipLine>,
    sessions: Option<Vec<SessionLine>>,
    revoke_sessions: bool,
    activity: Option<Vec<Line>>,
    /// Whether the caller may open the whole activity log (to follow this user there).
    whole_log: bool,
    history: Option<Vec<HistoryLine>>,
    wallet: Option<WalletCard>,
    as_of: String,
    position: String,
    past: Option<PastView>,
    past_error: Option<String>,
}

/// The profile of a role the user holds: its fields, with the values set.
struct RoleProfileCard {
    role: String,
    fields: Vec<FieldInput>,
    /// Values set for fields the role no longer declares: shown, not sent back (saving the
    /// form drops them).
    leftovers: Vec<(String, String)>,
    may_edit: bool,
}

/// One field of a role profile, as its input.
struct FieldInput {
    name: String,
    /// The input's type: `text`, `number` or `date` (booleans and listed values are choices).
    input: &'static str,
    value: String,
    required: bool,
    /// The values to choose from, if the field lists them (or is a boolean).
    choices: Vec<String>,
}

/// A card per role held that declares fields or has a profile set: declared fields are
/// inputs; values set for fields no longer declared are shown as they are.
fn role_profile_cards(user: &User, catalog: &Roles, may_edit: bool) -> Vec<RoleProfileCard> {
    user.roles
        .iter()
        .filter_map(|role| {
            let set = user.role_profiles.get(role);
            let declared = catalog
                .definition(role)
                .map(|definition| definition.fields.as_slice())
                .unwrap_or_default();
            if declared.is_empty() && set.is_none() {
                return None;
            }
            let value_of = |name: &FieldName| set.and_then(|set| set.get(name)).map(spelled);
            let fields: Vec<FieldInput> = declared
                .iter()
                .map(|field| FieldInput {
                    name: field.name.to_string(),
                    input: match field.kind {
                        FieldType::Integer => "number",
                        FieldType::Date => "date",
                        FieldType::Text | FieldType::Boolean => "text",
                    },
                    value: value_of(&field.name).unwrap_or_default(),
                    required: field.required,
                    choices: match field.kind {
                        FieldType::Boolean => vec!["true".to_owned(), "false".to_owned()],
                        _ => field.allowed.clone(),
                    },
                })
                .collect();
            let leftovers = set
                .into_iter()
                .flatten()
                .filter(|(name, _)| !declared.iter().any(|field| field.name == **name))
                .map(|(name, value)| (name.to_string(), spelled(value)))
                .collect();
            Some(RoleProfileCard {
                role: role.to_string(),
                fields,
                leftovers,
                may_edit: may_edit && !declared.is_empty(),
            })
        })
        .collect()
}

/// What went wrong with the last form, if anything.
#[derive(Default)]
struct Outcome {
    error: Option<String>,
    stale: Option<ChangedSince>,
}

/// `GET /console/users/{id}`.
pub async fn page(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    Query(query): Query<UserQuery>,
) -> Result<Response, PageError> {
    let page = user_page(&state, &signed_in, &id, &query, Outcome::default()).await?;
    Ok(render::ok(&page))
}

fn user_id(id: &str) -> Result<UserId, PageError> {
    id.parse()
        .map_err(|_| AppError::NotFound(Resource::User).into())
}

async fn user_page(
    state: &AppState,
    signed_in: &SignedIn,
    id: &str,
    query: &UserQuery,
    outcome: Outcome,
) -> Result<UserPage, PageError> {
    let t = signed_in.chrome.t;
    let who = &signed_in.authority;
    let user_id = user_id(id)?;
    let (user, version) = state.user(who, user_id).await?;
    let now = Utc::now();
    let person = who.person(&state.app, &user).await?;
    let may = |operation: Operation| who.allows(operation, Target::Person(&person));

    let status = user.status;
    let locked = user.is_locked(now);
    let mut simple = Vec::new();
    let mut offer = |allowed: bool, action: &'static str, label: &'static str| {
        if allowed {
            simple.push(Offered { action, label });
        }
    };
    offer(
        locked && status != UserStatus::Deleted && may(Operation::UnlockUser),
        "unlock",
        t.unlock,
    );
    offer(
        status == UserStatus::Deactivated && may(Operation::ReactivateUser),
        "reactivate",
        t.reactivate,
    );
    offer(
        status == UserStatus::Deleted && may(Operation::RestoreUser),
        "restore",
        t.restore,
    );
    offer(
        status == UserStatus::Active && may(Operation::SendPasswordReset),
        "send-reset",
        t.send_reset,
    );
    let present = status != UserStatus::Deleted;
    let catalog = state.roles().await?;
    let role_profiles = if may(Operation::ReadRoleProfile) {
        role_profile_cards(&user, &catalog, present && may(Operation::SetRoleProfile))
    } else {
        Vec::new()
    };
    // The catalog's roles and those held (a retired one stays offered while held, so that
    // saving the form does not revoke it unasked).
    let roles = if present && may(Operation::ChangeRoles) {
        let offered: BTreeSet<String> = catalog
            .names()
            .into_iter()
            .chain(user.roles.iter().map(ToString::to_string))
            .collect();
        Some(
            offered
                .into_iter()
                .map(|name| {
                    let held = user.roles.iter().any(|role| role.as_str() == name);
                    (name, held)
                })
                .collect(),
        )
    } else {
        None
    };

    let mut memberships = Vec::new();
    for organization in &user.organizations {
        if let Ok((organization, _)) = state
            .authorized_organization(who, *organization, Operation::ReadOrganization)
            .await
        {
            memberships.push(MembershipLine {
                id: organization.id.to_string(),
                role: organization
                    .members
                    .get(&user.id)
                    .map(|membership| membership.role.to_string())
                    .unwrap_or_default(),
                name: organization.name.to_string(),
            });
        }
    }
    let sessions = if may(Operation::ReadUserSessions) {
        let rows = state.user_sessions(who, id, query.at).await?;
        Some(
            rows.into_iter()
                .map(|row| SessionLine {
                    id: row.session_id.clone(),
                    open: row.status == "active",
                    device: row
                        .device
                        .or_else(|| row.user_agent.as_deref().map(describe_agent))
                        .unwrap_or_else(|| t.unknown_device.to_owned()),
                    ip: row.ip.unwrap_or_default(),
                    started: When::new(row.started_at),
                    last_used: When::new(row.last_used_at),
                    status: match row.end_reason {
                        Some(reason) => format!("{} ({reason})", row.status),
                        None => row.status,
                    },
                })
                .collect(),
        )
    } else {
        None
    };
    let activity = if may(Operation::ReadUserActivity) {
        let filter = state
            .activity_filter(
                who,
                ActivityFilter {
                    limit: Some(RECENT),
                    ..ActivityFilter::default()
                },
                Some(id.to_owned()),
                query.at,
            )
            .await?;
        Some(
            state
                .activity_page(&filter)
                .await?
                .items
                .into_iter()
                .map(Line::of)
                .collect(),
        )
    } else {
        None
    };

    let (history, past, past_error) = if may(Operation::ReadUserHistory) {
        let entries = state.user_history(who, user_id).await?;
        let history = entries
            .iter()
            .rev()
            .take(HISTORY)
            .map(|entry| HistoryLine {
                position: entry.position,
                version: entry.stream_version,
                at: When::new(entry.recorded_at),
                event: entry.event_type.clone(),
                actor: actor_text(&entry.actor),
            })
            .collect();
        let (past, past_error) = match past_view(state, signed_in, &user, query, now).await {
            Ok(past) => (past, None),
            Err(problem) => (None, Some(problem_text(&problem))),
        };
        (Some(history), past, past_error)
    } else {
        (None, None, None)
    };

    let wallet = if may(Operation::ReadWallet) {
        wallet_card(state, who, user_id, may(Operation::ManageWallet)).await?
    } else {
        None
    };

    let error = outcome.error;
    let stale = outcome.stale.map(|changed| StaleView {
        seen: changed.seen,
        now: changed.version,
        facts: compare(facts(t, &changed.then, now), facts(t, &changed.now, now)),
        events: changed
            .events
            .iter()
            .map(|(event, at, actor)| (When::new(*at), event.clone(), actor_text(actor)))
            .collect(),
    });
    let name = full_name(&user);
    Ok(UserPage {
        c: signed_in.chrome_with(t.notice(query.done.as_deref())),
        id: id.to_owned(),
        heading: if name.is_empty() {
            user.email.to_string()
        } else {
            name
        },
        version,
        error,
        stale,
        facts: facts(t, &user, now),
        simple,
        lock: present && !locked && may(Operation::LockUser),
        deactivate: status == UserStatus::Active && may(Operation::DeactivateUser),
        delete: present && may(Operation::DeleteUser),
        set_password: present && may(Operation::SetPassword),
        verify_email: present && user.email_verified_at.is_none() && may(Operation::VerifyByHand),
        verify_phone: present
            && user.phone.is_some()
            && user.phone_verified_at.is_none()
            && may(Operation::VerifyByHand),
        roles,
        role_profiles,
        min_length: state.passwords.min_length(),
        memberships,
        sessions,
        revoke_sessions: may(Operation::RevokeUserSession),
        activity,
        whole_log: state.scope(who, Operation::ListActivity).is_ok(),
        history,
        wallet,
        as_of: query.as_of.clone(),
        position: query.position.clone(),
        past,
        past_error,
    })
}

/// The user as of the time or position the query asks for, beside now.
async fn past_view(
    state: &AppState,
    signed_in: &SignedIn,
    user: &User,
    query: &UserQuery,
    now: Timestamp,
) -> Result<Option<PastView>, Problem> {
    let as_of = typed_time("as_of", &query.as_of).map_err(page_problem)?;
    let position = match query.position.trim() {
        "" => None,
        text => Some(text.parse::<u64>().map_err(|_| {
            Problem::new(StatusCode::BAD_REQUEST, "invalid-query", "Invalid query")
                .with_detail("position: a whole number, a position in the log")
        })?),
    };
    if as_of.is_none() && position.is_none() {
        return Ok(None);
    }
    let t = signed_in.chrome.t;
    let past = state
        .user_as_of(&signed_in.authority, user.id, as_of, position)
        .await
        .map_err(Problem::from)?;
    let then_at = as_of.unwrap_or(past.recorded_at);
    Ok(Some(PastView {
        position: past.position,
        at: When::new(past.recorded_at),
        facts: compare(facts(t, &past.user, then_at), facts(t, user, now)),
    }))
}

fn page_problem(error: PageError) -> Problem {
    match error {
        PageError::Problem(problem) => problem,
        _ => Problem::new(StatusCode::BAD_REQUEST, "invalid-query", "Invalid query"),
    }
}

/// An actor as the history names it: `admin 0193…`, `system`.
fn actor_text(actor: &eventstore::Actor) -> String {
    format!(
        "{} {}",
        status_word(&actor.kind),
        actor.id.as_deref().unwrap_or("")
    )
    .trim()
    .to_owned()
}

/// A reason typed into a form (`None` when empty).
fn typed_reason(text: &str) -> Result<Option<Reason>, AppError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    Ok(Some(Reason::parse(text)?))
}

/// `POST /console/users/{id}/{action}`: one of the account actions, on the version the page
/// showed.
pub async fn act(
    State(state): State<AppState>,
    mut signed_in: SignedIn,
    Path((id, action)): Path<(String, String)>,
    PageForm(form): PageForm<ActionForm>,
) -> Result<Response, PageError> {
    let user_id = user_id(&id)?;
    let preconditions = Preconditions::expecting(Some(form.version));
    let outcome = run(
        &state,
        &mut signed_in,
        user_id,
        &action,
        form,
        preconditions,
    )
    .await;
    answer(&state, &signed_in, &id, user_id, outcome).await
}

/// `POST /console/users/{id}/role-profiles/{role}`: the profile of a role the user holds, one
/// input per field (`field-department`), on the version the page showed.
pub async fn set_role_profile(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path((id, role)): Path<(String, String)>,
    PageForm(form): PageForm<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let user_id = user_id(&id)?;
    let outcome = async {
        let version = form
            .iter()
            .find(|(key, _)| key == "version")
            .and_then(|(_, version)| version.parse().ok())
            .ok_or(AppError::Malformed(
                "the form lost the version it was shown at",
            ))?;
        let role = Role::parse(&role).map_err(|_| AppError::NotFound(Resource::Role))?;
        let pairs = form
            .iter()
            .filter_map(|(key, value)| {
                let field = key.strip_prefix("field-")?;
                Some((field.to_owned(), value.clone()))
            })
            .collect();
        let executed = state
            .set_role_profile(
                &signed_in.authority,
                &signed_in.context,
                user_id,
                role,
                ProfileInput::Text(pairs),
                Preconditions::expecting(Some(version)),
            )
            .await?;
        Ok(("role-profile-saved", executed.position))
    }
    .await;
    answer(&state, &signed_in, &id, user_id, outcome).await
}

/// The page after a form: on to the user's page with a notice, or the page again saying what
/// was refused (and, for a stale edit, what changed since).
async fn answer(
    state: &AppState,
    signed_in: &SignedIn,
    id: &str,
    user_id: UserId,
    outcome: Result<(&'static str, Option<u64>), AppError>,
) -> Result<Response, PageError> {
    let done = match outcome {
        Ok((done, position)) => {
            let at = position.map(|at| format!("&at={at}")).unwrap_or_default();
            return Ok(render::see_other(&format!(
                "/console/users/{id}?done={done}{at}"
            )));
        }
        Err(error) => error,
    };
    let (problem, stale) = match done {
        AppError::User(CommandError::Conflict { expected, actual }) => {
            // What changed is shown to those who may read the history; others are told only.
            let changed = match state
                .user_changed_since(&signed_in.authority, user_id, expected)
                .await
            {
                Ok(changed) => Some(changed),
                Err(AppError::Refused { .. }) => None,
                Err(error) => return Err(error.into()),
            };
            (
                Problem::from(AppError::User(CommandError::Conflict { expected, actual })),
                Some(changed),
            )
        }
        error @ (AppError::User(_)
        | AppError::Wallet(_)
        | AppError::Password { .. }
        | AppError::Invalid(_)
        | AppError::Malformed(_)
        | AppError::RateLimited(_)) => (Problem::from(error), None),
        error => return Err(error.into()),
    };
    let error = if stale.is_some() {
        signed_in.chrome.t.stale_edit.to_owned()
    } else {
        problem_text(&problem)
    };
    let outcome = Outcome {
        error: Some(error),
        stale: stale.flatten(),
    };
    let page = user_page(state, signed_in, id, &UserQuery::default(), outcome).await?;
    Ok(render::refused(problem, &page))
}

/// Runs `action`; says which notice to show and the log position to wait for.
async fn run(
    state: &AppState,
    signed_in: &mut SignedIn,
    user_id: UserId,
    action: &str,
    form: ActionForm,
    preconditions: Preconditions,
) -> Result<(&'static str, Option<u64>), AppError> {
    if action == "roles" {
        let mut roles = BTreeSet::new();
        for name in &form.roles {
            roles.insert(
                Role::parse(name).map_err(|_| AppError::Malformed("a role that is not a role"))?,
            );
        }
        let executed = state
            .update_user(
                &mut signed_in.authority,
                &signed_in.context,
                user_id,
                UserChanges {
                    roles: Some(roles),
                    ..UserChanges::default()
                },
                None,
                preconditions,
            )
            .await?;
        return Ok(("roles-saved", executed.position));
    }
    if let Some(what) = action.strip_prefix("wallet-") {
        return change_wallet(state, signed_in, user_id, what, &form).await;
    }
    let (action, done) = match action {
        "lock" => (
            AccountAction::Lock {
                reason: typed_reason(&form.reason)?,
                until: typed_time("until", &form.until)
                    .map_err(|_| AppError::Malformed("until: a time such as 2026-12-06T09:30"))?,
            },
            "user-locked",
        ),
        "unlock" => (AccountAction::Unlock, "user-unlocked"),
        "deactivate" => (
            AccountAction::Deactivate {
                reason: typed_reason(&form.reason)?,
            },
            "user-deactivated",
        ),
        "reactivate" => (AccountAction::Reactivate, "user-reactivated"),
        "restore" => (AccountAction::Restore, "user-restored"),
        "delete" if form.confirm.is_some() => (AccountAction::Delete, "user-deleted"),
        "delete" => return Err(AppError::Malformed("tick the box to confirm the deletion")),
        "send-reset" => (AccountAction::SendPasswordReset, "reset-sent"),
        "set-password" => (
            AccountAction::SetPassword {
                password: form
                    .password
                    .ok_or(AppError::Malformed("type the new password"))?,
                temporary: form.temporary.is_some(),
            },
            "user-password-set",
        ),
        "verify-email" | "verify-phone" => {
            let reason = typed_reason(&form.reason)?
                .ok_or(AppError::Malformed("say how you know it is theirs"))?;
            if action == "verify-email" {
                (
                    AccountAction::VerifyEmail { reason },
                    "email-verified-by-hand",
                )
            } else {
                (
                    AccountAction::VerifyPhone { reason },
                    "phone-verified-by-hand",
                )
            }
        }
        _ => return Err(AppError::NotFound(Resource::User)),
    };
    let executed = state
        .change_account(
            &signed_in.authority,
            &signed_in.context,
            user_id,
            action,
            preconditions,
        )
        .await?;
    Ok((done, executed.position))
}

/// Credits, debits, freezes or unfreezes the user's wallet.
async fn change_wallet(
    state: &AppState,
    signed_in: &SignedIn,
    user_id: UserId,
    what: &str,
    form: &ActionForm,
) -> Result<(&'static str, Option<u64>), AppError> {
    use application::wallets::WalletChange;
    let amount = || {
        form.amount
            .trim()
            .parse::<u64>()
            .map_err(|_| AppError::Malformed("amount: a whole number of credits"))
    };
    let reason = || typed_reason(&form.reason)?.ok_or(AppError::Malformed("say why"));
    let (change, done) = match what {
        "credit" => (
            WalletChange::Credit {
                amount: amount()?,
                reason: reason()?,
            },
            "wallet-credited",
        ),
        "debit" => (
            WalletChange::Debit {
                amount: amount()?,
                reason: reason()?,
            },
            "wallet-debited",
        ),
        "freeze" => (WalletChange::Freeze { reason: reason()? }, "wallet-frozen"),
        "unfreeze" => (WalletChange::Unfreeze, "wallet-unfrozen"),
        _ => return Err(AppError::NotFound(Resource::User)),
    };
    let idempotency = match &change {
        WalletChange::Credit { .. } | WalletChange::Debit { .. } => {
            Some(change.keyed(user_id, &form.idempotency_key)?)
        }
        WalletChange::Freeze { .. } | WalletChange::Unfreeze => None,
    };
    let view = state
        .change_wallet(
            &signed_in.authority,
            &signed_in.context,
            user_id,
            change,
            idempotency,
        )
        .await?;
    Ok((done, view.position))
}

/// `POST /console/users/{id}/sessions/{session_id}/revoke`.
pub async fn revoke_session(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path((id, session_id)): Path<(String, String)>,
    PageForm(_): PageForm<crate::pages::account::Empty>,
) -> Result<Response, PageError> {
    let session_id: domain::SessionId = session_id
        .parse()
        .map_err(|_| PageError::from(AppError::NotFound(Resource::Session)))?;
    state
        .revoke_user_session(
            &signed_in.authority,
            &signed_in.context,
            user_id(&id)?,
            session_id,
        )
        .await?;
    Ok(render::see_other(&format!(
        "/console/users/{id}?done=session-ended"
    )))
}
