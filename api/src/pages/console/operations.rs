//! Operations, for administrators: each read model's position, lag and dead letters (retry,
//! or skip with confirmation), each worker's status and dead letters (retry), the storage
//! folders (verify, rebuild) and the delivery log.

use crate::AppState;
use crate::pages::csrf::PageForm;
use crate::pages::error::PageError;
use crate::pages::fields::filled;
use crate::pages::render::{self, Chrome, When};
use crate::pages::session::SignedIn;
use application::AppError;
use application::administration::{DeliveryFilter, StorageReport};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde::Deserialize;

/// How many deliveries the page lists.
const DELIVERIES: u32 = 50;

/// The page's query.
#[derive(Debug, Default, Deserialize)]
pub struct OperationsQuery {
    #[serde(default)]
    done: Option<String>,
    /// `verify`: check the storage folders now.
    #[serde(default)]
    storage: Option<String>,
    /// Only deliveries with this status.
    #[serde(default)]
    delivery_status: String,
    /// Only deliveries to this address or number.
    #[serde(default)]
    recipient: String,
}

/// A read model's line.
struct ReadModelLine {
    name: String,
    position: u64,
    lag: u64,
    lag_seconds: String,
    stopped_at: Option<u64>,
    open_dead_letters: u64,
}

/// A dead letter's line.
struct LetterLine {
    id: i64,
    owner: String,
    position: i64,
    event_type: String,
    error: String,
    attempts: i32,
    failed: When,
}

/// A worker's line.
struct WorkerLine {
    name: String,
    position: u64,
    lag: u64,
    open_dead_letters: u64,
    connected: bool,
}

/// A delivery's line.
struct DeliveryLine {
    at: When,
    channel: String,
    template: String,
    recipient: String,
    status: String,
    attempts: i32,
    last_error: String,
}

/// The operations page.
#[derive(Template)]
#[template(path = "console/operations.html")]
struct OperationsPage {
    c: Chrome,
    head: u64,
    read_models: Vec<ReadModelLine>,
    read_model_letters: Vec<LetterLine>,
    workers: Option<Vec<WorkerLine>>,
    worker_letters: Vec<LetterLine>,
    storage: Option<StorageReport>,
    delivery_status: String,
    recipient: String,
    statuses: &'static [&'static str],
    deliveries: Option<Vec<DeliveryLine>>,
}

/// `GET /console/operations`.
pub async fn page(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Query(query): Query<OperationsQuery>,
) -> Result<Response, PageError> {
    let who = &signed_in.authority;
    let processing = state.processing(who).await?;
    let storage = if query.storage.as_deref() == Some("verify") {
        Some(state.verify_storage(who).await?)
    } else {
        None
    };
    let deliveries = if processing.workers.is_some() {
        let filter = DeliveryFilter {
            status: filled(&query.delivery_status),
            recipient: filled(&query.recipient),
            limit: DELIVERIES,
            ..DeliveryFilter::default()
        };
        Some(
            state
                .deliveries(who, &filter)
                .await?
                .into_iter()
                .map(|delivery| DeliveryLine {
                    at: When::new(delivery.created_at),
                    channel: delivery.channel,
                    template: delivery.template,
                    recipient: delivery.recipient,
                    status: delivery.status,
                    attempts: delivery.attempts,
                    last_error: delivery.last_error.unwrap_or_default(),
                })
                .collect(),
        )
    } else {
        None
    };
    Ok(render::ok(&OperationsPage {
        c: signed_in.chrome_with(signed_in.chrome.t.notice(query.done.as_deref())),
        head: processing.head,
        read_models: processing
            .read_models
            .into_iter()
            .map(|status| ReadModelLine {
                name: status.name,
                position: status.position,
                lag: status.lag,
                lag_seconds: format!("{:.1}", status.lag_seconds),
                stopped_at: status.stopped_at,
                open_dead_letters: status.open_dead_letters,
            })
            .collect(),
        read_model_letters: processing
            .read_model_letters
            .into_iter()
            .map(|letter| LetterLine {
                id: letter.id,
                owner: letter.projection,
                position: letter.position,
                event_type: letter.event_type,
                error: letter.error,
                attempts: letter.attempts,
                failed: When::new(letter.failed_at),
            })
            .collect(),
        workers: processing.workers.map(|workers| {
            workers
                .into_iter()
                .map(|worker| WorkerLine {
                    name: worker.name,
                    position: worker.position,
                    lag: worker.lag,
                    open_dead_letters: worker.open_dead_letters,
                    connected: worker.connected,
                })
                .collect()
        }),
        worker_letters: processing
            .worker_letters
            .into_iter()
            .map(|letter| LetterLine {
                id: letter.id,
                owner: letter.worker,
                position: letter.position,
                event_type: letter.event_type,
                error: letter.error,
                attempts: letter.attempts,
                failed: When::new(letter.failed_at),
            })
            .collect(),
        storage,
        delivery_status: query.delivery_status,
        recipient: query.recipient,
        statuses: application::administration::DELIVERY_STATUSES,
        deliveries,
    }))
}

/// A form that confirms (skipping, rebuilding), or names one dead letter.
#[derive(Debug, Deserialize)]
pub struct ConfirmForm {
    #[serde(default)]
    confirm: Option<String>,
    #[serde(default)]
    prune: Option<String>,
    #[serde(default)]
    id: Option<i64>,
}

/// `POST /console/operations/read-models/{name}/{retry|skip}`.
pub async fn resolve_read_model(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path((name, action)): Path<(String, String)>,
    PageForm(form): PageForm<ConfirmForm>,
) -> Result<Response, PageError> {
    let who = &signed_in.authority;
    match action.as_str() {
        "retry" => state.retry_read_model(who, &name).await?,
        "skip" if form.confirm.is_some() => {
            state.skip_read_model(who, &name).await?;
        }
        "skip" => {
            return Err(AppError::Malformed("tick the box to confirm skipping the event").into());
        }
        _ => return Err(AppError::NotFound(application::Resource::Anything).into()),
    }
    Ok(render::see_other(&format!(
        "/console/operations?done=read-model-{action}"
    )))
}

/// `POST /console/operations/workers/retry`: one dead letter (`id`), or all.
pub async fn retry_workers(
    State(state): State<AppState>,
    signed_in: SignedIn,
    PageForm(form): PageForm<ConfirmForm>,
) -> Result<Response, PageError> {
    let retried = state
        .retry_worker_letters(&signed_in.authority, form.id)
        .await?;
    let done = if retried.failed == 0 {
        "letters-retried"
    } else {
        "letters-still-failing"
    };
    Ok(render::see_other(&format!(
        "/console/operations?done={done}"
    )))
}

/// `POST /console/operations/storage/rebuild`: recreates what is missing (and, with `prune`,
/// removes orphans), once confirmed.
pub async fn rebuild_storage(
    State(state): State<AppState>,
    signed_in: SignedIn,
    PageForm(form): PageForm<ConfirmForm>,
) -> Result<Response, PageError> {
    if form.confirm.is_none() {
        return Err(AppError::Malformed("tick the box to confirm the rebuild").into());
    }
    state
        .rebuild_storage(&signed_in.authority, form.prune.is_some())
        .await?;
    Ok(render::see_other(
        "/console/operations?done=storage-rebuilt&storage=verify",
    ))
}
