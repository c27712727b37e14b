//! `/api/v1/users/{id}/wallet...`: a user's wallet, its history from the log, and what
//! administrators do to it. Credits and debits need an `Idempotency-Key`.

use crate::AppState;
use crate::auth::current::Caller;
use crate::extract::{ApiQuery, JsonCommand, RequestContext, etag};
use crate::problem::Problem;
use crate::routes::positioned;
use crate::routes::users::user_id;
use application::authority::Authority;
use application::wallets::{WalletChange, WalletEntry, WalletView};
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use domain::values::Reason;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// A wallet.
#[derive(Debug, Serialize, ToSchema)]
pub struct WalletResponse {
    /// Whose.
    user_id: String,
    /// Credits in it.
    balance: u64,
    /// `active` or `frozen`.
    #[schema(example = "active")]
    status: String,
    /// When it was opened.
    opened_at: DateTime<Utc>,
}

fn wallet_answer(view: &WalletView) -> Response {
    let mut headers = positioned(view.position);
    headers.insert(header::ETAG, etag(view.version));
    if view.replayed {
        headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    let body = WalletResponse {
        user_id: view.wallet.user_id.to_string(),
        balance: view.wallet.balance,
        status: view.wallet.status.to_string(),
        opened_at: view.wallet.opened_at,
    };
    (headers, axum::Json(body)).into_response()
}

/// A user's wallet (the user, administrators, auditors and analysts).
#[utoipa::path(get, path = "/api/v1/users/{id}/wallet", tag = "wallets",
    params(("id" = String, Path, description = "User id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The wallet; the `ETag` is its stream version", body = WalletResponse),
        crate::openapi::AuthErrors,
        (status = 404, description = "No such user, not one the caller may see, or no wallet yet", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn wallet(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let authority = Authority::of(&state, &caller).await?;
    let view = state
        .wallet(&authority, user_id(&id)?)
        .await?
        .ok_or_else(no_wallet)?;
    Ok(wallet_answer(&view))
}

fn no_wallet() -> Problem {
    application::AppError::Wallet(commands::CommandError::Rejected(
        domain::wallet::WalletError::NoWallet,
    ))
    .into()
}

/// A page of the history.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct HistoryParams {
    /// The `next_before` of the previous page.
    #[param(minimum = 1)]
    before: Option<i64>,
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
}

/// One entry of a wallet's history.
#[derive(Debug, Serialize, ToSchema)]
pub struct WalletEntryView {
    /// The event: `WalletOpened`, `WalletCredited`, `WalletDebited`, `WalletFrozen` or
    /// `WalletUnfrozen`.
    #[schema(example = "WalletCredited")]
    event: &'static str,
    /// Credits moved (credits and debits).
    amount: Option<u64>,
    /// The balance it left (credits and debits).
    balance: Option<u64>,
    /// Why (credits, debits and freezes).
    reason: Option<String>,
    /// When it was recorded.
    at: DateTime<Utc>,
    /// Who did it (a user id), if anyone in particular.
    actor: Option<String>,
    /// Its log position.
    position: u64,
}

impl WalletEntryView {
    fn of(entry: WalletEntry) -> Self {
        use domain::DomainEvent;
        let moved = entry.event.moved();
        Self {
            event: entry.event.event_type(),
            amount: moved.map(|(amount, _)| amount),
            balance: moved.map(|(_, balance)| balance),
            reason: entry.event.reason().map(ToString::to_string),
            at: entry.recorded_at,
            actor: entry.actor,
            position: entry.position,
        }
    }
}

/// A page of a wallet's history, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct WalletHistory {
    /// The entries.
    items: Vec<WalletEntryView>,
    /// The `before` of the next page, when there is one.
    next_before: Option<u64>,
}

/// A wallet's history, from the log, newest first (who may read the wallet).
#[utoipa::path(get, path = "/api/v1/users/{id}/wallet/history", tag = "wallets",
    params(("id" = String, Path, description = "User id"), HistoryParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of the history (empty before the wallet opens)", body = WalletHistory),
        crate::openapi::AuthErrors,
        crate::openapi::QueryErrors,
        (status = 404, description = "No such user, or not one the caller may see", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn wallet_history(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(params): ApiQuery<HistoryParams>,
) -> Result<axum::Json<WalletHistory>, Problem> {
    let authority = Authority::of(&state, &caller).await?;
    let limit = params.limit.map_or(50, |limit| limit as usize);
    let before = params
        .before
        .map(|before| {
            u64::try_from(before)
                .ok()
                .filter(|before| *before >= 1)
                .ok_or_else(|| {
                    Problem::new(
                        axum::http::StatusCode::BAD_REQUEST,
                        "invalid-query",
                        "Invalid query",
                    )
                    .with_field("/before", "a stream version from 1")
                })
        })
        .transpose()?;
    let entries = state
        .wallet_history(&authority, user_id(&id)?, before, limit)
        .await?;
    let next_before = (entries.len() == limit)
        .then(|| entries.last().map(|entry| entry.version))
        .flatten()
        .filter(|version| *version > 1);
    Ok(axum::Json(WalletHistory {
        items: entries.into_iter().map(WalletEntryView::of).collect(),
        next_before,
    }))
}

/// `POST /users/{id}/wallet/credit` and `/debit`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveRequest {
    /// Credits, 1 to 1,000,000,000.
    #[schema(schema_with = crate::openapi::wallet_amount)]
    amount: u64,
    /// Why (recorded for auditors).
    #[schema(schema_with = crate::openapi::required_reason)]
    reason: String,
}

/// `POST /users/{id}/wallet/freeze`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FreezeRequest {
    /// Why (recorded for auditors).
    #[schema(schema_with = crate::openapi::required_reason)]
    reason: String,
}

fn reason(raw: &str) -> Result<Reason, Problem> {
    Reason::parse(raw).map_err(Problem::from)
}

async fn change(
    state: &AppState,
    context: &RequestContext,
    caller: &Caller,
    id: &str,
    change: WalletChange,
    idempotency: Option<eventstore::IdempotencyKey>,
) -> Result<Response, Problem> {
    let authority = Authority::of(state, caller).await?;
    let view = state
        .change_wallet(&authority, context, user_id(id)?, change, idempotency)
        .await?;
    Ok(wallet_answer(&view))
}

/// Adds credits to a user's wallet (administrators, not to their own). Needs an
/// `Idempotency-Key`: the same request again adds nothing and answers as the first did.
#[utoipa::path(post, path = "/api/v1/users/{id}/wallet/credit", tag = "wallets",
    params(("id" = String, Path, description = "User id"), ("Idempotency-Key" = String, Header, pattern = "^[!-~]{1,255}$", description = "The caller's key for this change (1 to 255 visible ASCII characters)")),
    request_body = MoveRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Credited: the wallet now", body = WalletResponse),
        (status = 400, description = "No Idempotency-Key", body = Problem, content_type = "application/problem+json"),
        crate::openapi::BodyErrors,
        crate::openapi::AuthErrors,
        (status = 403, description = "Not an administrator, or one's own wallet", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user, or no wallet yet", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The wallet is frozen", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Other processes' changes of the wallet kept coming first; see Retry-After", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn credit_wallet(
    State(state): State<AppState>,
    context: RequestContext,
    caller: Caller,
    Path(id): Path<String>,
    command: JsonCommand<MoveRequest>,
) -> Result<Response, Problem> {
    let credit = WalletChange::Credit {
        amount: command.body.amount,
        reason: reason(&command.body.reason)?,
    };
    change(&state, &context, &caller, &id, credit, command.idempotency).await
}

/// Takes credits from a user's wallet, if its balance holds them (administrators, not from
/// their own). Needs an `Idempotency-Key`, as credits do.
#[utoipa::path(post, path = "/api/v1/users/{id}/wallet/debit", tag = "wallets",
    params(("id" = String, Path, description = "User id"), ("Idempotency-Key" = String, Header, pattern = "^[!-~]{1,255}$", description = "The caller's key for this change (1 to 255 visible ASCII characters)")),
    request_body = MoveRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Debited: the wallet now", body = WalletResponse),
        (status = 400, description = "No Idempotency-Key", body = Problem, content_type = "application/problem+json"),
        crate::openapi::BodyErrors,
        crate::openapi::AuthErrors,
        (status = 403, description = "Not an administrator, or one's own wallet", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user, or no wallet yet", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The wallet is frozen", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Other processes' changes of the wallet kept coming first; see Retry-After", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn debit_wallet(
    State(state): State<AppState>,
    context: RequestContext,
    caller: Caller,
    Path(id): Path<String>,
    command: JsonCommand<MoveRequest>,
) -> Result<Response, Problem> {
    let debit = WalletChange::Debit {
        amount: command.body.amount,
        reason: reason(&command.body.reason)?,
    };
    change(&state, &context, &caller, &id, debit, command.idempotency).await
}

/// Freezes a user's wallet: no credits or debits until unfrozen (administrators).
#[utoipa::path(post, path = "/api/v1/users/{id}/wallet/freeze", tag = "wallets",
    params(("id" = String, Path, description = "User id")),
    request_body = FreezeRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Frozen (or it was): the wallet now", body = WalletResponse),
        crate::openapi::BodyErrors,
        crate::openapi::AuthErrors,
        (status = 403, description = "Not an administrator, or one's own wallet", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user, or no wallet yet", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn freeze_wallet(
    State(state): State<AppState>,
    context: RequestContext,
    caller: Caller,
    Path(id): Path<String>,
    command: JsonCommand<FreezeRequest>,
) -> Result<Response, Problem> {
    let freeze = WalletChange::Freeze {
        reason: reason(&command.body.reason)?,
    };
    change(&state, &context, &caller, &id, freeze, command.idempotency).await
}

/// Makes a frozen wallet active again (administrators).
#[utoipa::path(post, path = "/api/v1/users/{id}/wallet/unfreeze", tag = "wallets",
    params(("id" = String, Path, description = "User id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Active (or it was): the wallet now", body = WalletResponse),
        crate::openapi::AuthErrors,
        (status = 403, description = "Not an administrator, or one's own wallet", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user, or no wallet yet", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn unfreeze_wallet(
    State(state): State<AppState>,
    context: RequestContext,
    caller: Caller,
    Path(id): Path<String>,
    crate::extract::Idempotency(idempotency): crate::extract::Idempotency,
) -> Result<Response, Problem> {
    change(
        &state,
        &context,
        &caller,
        &id,
        WalletChange::Unfreeze,
        idempotency,
    )
    .await
}
