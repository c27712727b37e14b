//! Partner activity: recording a partner's file transfers and transactions (its API keys or
//! members), listing them, their figures per partner and across partners, and the catalog of
//! actions.

use crate::AppState;
use crate::auth::current::Caller;
use crate::extract::{ApiQuery, JsonCommand, RequestContext};
use crate::problem::{FieldErrors, Problem};
use crate::routes::positioned;
use crate::routes::queries::{WindowParams, min_position};
use application::authority::Authority;
use application::partners::{ActivityReport, PartnerFigures, Recorded};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use domain::OrganizationId;
use domain::partner::{
    ActionCatalog, ActionKind, ActionMeaning, Direction, Folder, RecordDetails, RecordEvent,
    TransactionStatus,
};
use domain::values::{ActionName, DocumentType, FileName, ResourceRef, ResourceType};
use projections::queries::{Page, PartnerLine, PartnerRecordRow, RecordFilter, TransactionFigures};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Said on the answer to a retried request: nothing new was recorded.
const REPLAYED: &str = "idempotent-replayed";

fn organization_id(raw: &str) -> Result<OrganizationId, Problem> {
    raw.parse()
        .map_err(|_| crate::authz::not_found(application::Resource::Organization))
}

/// What the file or document was.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DetailsRequest {
    /// The file's name.
    #[schema(schema_with = crate::openapi::filename)]
    filename: Option<String>,
    /// Its size in bytes.
    #[schema(minimum = 0, maximum = 9_223_372_036_854_775_807_i64)]
    size: Option<u64>,
    /// The EDI document type (`850`, `INVOIC`).
    #[schema(schema_with = crate::openapi::document_type)]
    document_type: Option<String>,
}

/// `POST /organizations/{id}/partner-activity`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordRequest {
    /// `file_uploaded`, `file_downloaded`, `transaction_sent`, `transaction_received`, or an
    /// action of the catalog.
    #[schema(schema_with = crate::openapi::permission_name, example = "transaction_sent")]
    action: String,
    /// The kind of thing it is about (`edi_document`).
    #[schema(schema_with = crate::openapi::permission_name_or_null)]
    resource_type: Option<String>,
    /// Which one, in the partner's terms.
    #[schema(schema_with = crate::openapi::resource_ref)]
    resource_id: Option<String>,
    /// The file or document.
    #[serde(default)]
    details: DetailsRequest,
    /// `ok` or `error`: needed for a transaction.
    #[schema(value_type = Option<String>, pattern = "^(ok|error)$")]
    status: Option<TransactionStatus>,
    /// `sent`, `received` or `error`; a transaction without one is filed by its status and
    /// direction.
    #[schema(value_type = Option<String>, pattern = "^(sent|received|error)$")]
    folder: Option<Folder>,
}

impl RecordRequest {
    fn report(self) -> Result<ActivityReport, Problem> {
        let mut fields = FieldErrors::default();
        let action = fields.parse(&self.action, ActionName::parse, "/action");
        let resource_type = fields.optional(
            self.resource_type.as_deref(),
            ResourceType::parse,
            "/resource_type",
        );
        let resource_id = fields.optional(
            self.resource_id.as_deref(),
            ResourceRef::parse,
            "/resource_id",
        );
        let details = RecordDetails {
            filename: fields.optional(
                self.details.filename.as_deref(),
                FileName::parse,
                "/details/filename",
            ),
            size: self.details.size,
            document_type: fields.optional(
                self.details.document_type.as_deref(),
                DocumentType::parse,
                "/details/document_type",
            ),
        };
        if self
            .details
            .size
            .is_some_and(|size| i64::try_from(size).is_err())
        {
            fields.push("/details/size", "must be at most 9223372036854775807");
        }
        fields.finish()?;
        let action = action.ok_or_else(Problem::validation)?;
        Ok(ActivityReport {
            action,
            resource_type,
            resource_id,
            details,
            status: self.status,
            folder: self.folder,
        })
    }
}

/// A record as made.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecordView {
    /// Its id.
    #[schema(value_type = String, format = Uuid)]
    record_id: String,
    /// The partner.
    #[schema(value_type = String, format = Uuid)]
    organization_id: String,
    /// What happened.
    action: String,
    /// `file` or `transaction`.
    #[schema(value_type = String)]
    kind: ActionKind,
    /// `sent` or `received`, as the partner sees it.
    #[schema(value_type = String)]
    direction: Direction,
    /// The kind of thing it is about.
    resource_type: Option<String>,
    /// Which one.
    resource_id: Option<String>,
    /// The file's name.
    filename: Option<String>,
    /// Its size in bytes.
    size: Option<u64>,
    /// The EDI document type.
    document_type: Option<String>,
    /// `ok` or `error`.
    #[schema(value_type = Option<String>)]
    status: Option<TransactionStatus>,
    /// `sent`, `received` or `error`.
    #[schema(value_type = Option<String>)]
    folder: Option<Folder>,
    /// When.
    #[serde(serialize_with = "domain::time::micros")]
    #[schema(value_type = String, format = DateTime)]
    at: domain::Timestamp,
}

impl RecordView {
    fn new(event: RecordEvent) -> Self {
        let RecordEvent::PartnerActivityRecorded {
            record_id,
            organization_id,
            action,
            kind,
            direction,
            resource_type,
            resource_id,
            details,
            status,
            folder,
            at,
        } = event;
        Self {
            record_id: record_id.to_string(),
            organization_id: organization_id.to_string(),
            action: action.to_string(),
            kind,
            direction,
            resource_type: resource_type.map(|value| value.to_string()),
            resource_id: resource_id.map(|value| value.to_string()),
            filename: details.filename.map(|value| value.to_string()),
            size: details.size,
            document_type: details.document_type.map(|value| value.to_string()),
            status,
            folder,
            at,
        }
    }
}

/// Records what a partner's systems sent or received: its API keys (with `can_upload_files`
/// for what it sent, `can_download_files` for what it received), members holding those flags,
/// org_admins and administrators. Send an `Idempotency-Key`: a retry with it answers the first
/// record (`Idempotent-Replayed: true`) and records nothing.
#[utoipa::path(post, path = "/api/v1/organizations/{id}/partner-activity", tag = "partners",
    params(
        ("id" = String, Path, description = "Organization id"),
        ("Idempotency-Key" = Option<String>, Header, pattern = "^[!-~]{1,255}$", description = "The partner's own key for this record (1 to 255 visible ASCII characters)"),
    ),
    request_body = RecordRequest,
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 201, description = "Recorded (or, for a retried key, the first record)", body = RecordView),
        crate::openapi::BodyErrors,
        crate::openapi::AuthErrors,
        (status = 403, description = "Without the flag for this direction", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organization, or not one the caller may see", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn record_activity(
    State(state): State<AppState>,
    context: RequestContext,
    authority: Authority,
    Path(id): Path<String>,
    command: JsonCommand<RecordRequest>,
) -> Result<Response, Problem> {
    let id = organization_id(&id)?;
    let report = command.body.report()?;
    let Recorded {
        event,
        position,
        replayed,
        ..
    } = state
        .record_partner_activity(
            &authority,
            &context,
            id,
            report,
            command.idempotency.as_ref().map(|key| key.key.as_str()),
        )
        .await?;
    let mut headers = positioned(position);
    if replayed {
        headers.insert(REPLAYED, HeaderValue::from_static("true"));
    }
    Ok((
        StatusCode::CREATED,
        headers,
        axum::Json(RecordView::new(event)),
    )
        .into_response())
}

/// What to list of a partner's records.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RecordsParams {
    /// `file` or `transaction` (default: those the caller may read).
    #[param(value_type = Option<String>, pattern = "^(file|transaction)$")]
    kind: Option<ActionKind>,
    /// This action.
    action: Option<String>,
    /// `ok` or `error`.
    #[param(value_type = Option<String>, pattern = "^(ok|error)$")]
    status: Option<TransactionStatus>,
    /// `sent`, `received` or `error`.
    #[param(value_type = Option<String>, pattern = "^(sent|received|error)$")]
    folder: Option<Folder>,
    /// At or after.
    from: Option<chrono::DateTime<chrono::Utc>>,
    /// Before.
    to: Option<chrono::DateTime<chrono::Utc>>,
    /// Where the previous page ended.
    cursor: Option<String>,
    /// Page size (default 50, at most 200).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
    /// Wait until the read models have applied this log position.
    min_position: Option<u64>,
}

/// A partner's records, newest first: transactions for those who may read them
/// (`can_view_transactions`), file transfers for those holding a file flag; readers and
/// org_admins read both.
#[utoipa::path(get, path = "/api/v1/organizations/{id}/partner-activity", tag = "partners",
    params(("id" = String, Path, description = "Organization id"), RecordsParams),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "A page of records", body = Page<PartnerRecordRow>),
        crate::openapi::QueryErrors,
        crate::openapi::AuthErrors,
        (status = 403, description = "May read neither transactions nor file transfers", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organization, or not one the caller may see", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn list_activity(
    State(state): State<AppState>,
    authority: Authority,
    headers: HeaderMap,
    Path(id): Path<String>,
    ApiQuery(params): ApiQuery<RecordsParams>,
) -> Result<axum::Json<Page<PartnerRecordRow>>, Problem> {
    let id = organization_id(&id)?;
    let min_position = min_position(&headers, params.min_position)?;
    let filter = RecordFilter {
        kinds: Vec::new(),
        action: params.action,
        status: params.status.map(|status| status.to_string()),
        folder: params.folder.map(|folder| folder.to_string()),
        from: params.from,
        to: params.to,
        cursor: params.cursor,
        limit: params.limit,
    };
    Ok(axum::Json(
        state
            .partner_records(&authority, id, params.kind, filter, min_position)
            .await?,
    ))
}

/// A partner's transaction figures.
#[derive(Debug, Serialize, ToSchema)]
pub struct PartnerFiguresView {
    /// Sent, received, success rate, files, and each day's volume.
    figures: TransactionFigures,
    /// Its latest transactions (10).
    recent: Vec<PartnerRecordRow>,
    /// Its latest failed transactions (10).
    failed: Vec<PartnerRecordRow>,
}

/// One partner's transactions over a window: sent and received, success rate, each day's
/// volume, its latest and its latest failed (`can_view_transactions`, readers, org_admins).
#[utoipa::path(get, path = "/api/v1/analytics/partners/{id}", tag = "partners",
    params(("id" = String, Path, description = "Organization id"), WindowParams),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "Its figures", body = PartnerFiguresView),
        crate::openapi::QueryErrors,
        crate::openapi::AuthErrors,
        (status = 403, description = "May not read its transactions", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organization, or not one the caller may see", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn partner_figures(
    State(state): State<AppState>,
    authority: Authority,
    headers: HeaderMap,
    Path(id): Path<String>,
    ApiQuery(params): ApiQuery<WindowParams>,
) -> Result<axum::Json<PartnerFiguresView>, Problem> {
    let id = organization_id(&id)?;
    let min_position = min_position(&headers, params.min_position)?;
    let PartnerFigures {
        figures,
        recent,
        failed,
    } = state
        .partner_figures(&authority, id, params.days, min_position)
        .await?;
    Ok(axum::Json(PartnerFiguresView {
        figures,
        recent,
        failed,
    }))
}

/// Transactions across partners.
#[derive(Debug, Serialize, ToSchema)]
pub struct TransactionsOverview {
    /// Totals, success rate and each day's volume.
    figures: TransactionFigures,
    /// Each partner's transactions, busiest first.
    partners: Vec<PartnerLine>,
}

/// Transactions across partners over a window: totals, success rate, daily volume and each
/// partner's line. Readers see every partner; org_admins and members holding
/// `can_view_transactions` their own organizations.
#[utoipa::path(get, path = "/api/v1/analytics/transactions", tag = "partners",
    params(WindowParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The figures", body = TransactionsOverview),
        crate::openapi::QueryErrors,
        crate::openapi::AuthErrors,
        (status = 403, description = "May read no partner's transactions", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn transactions(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiQuery(params): ApiQuery<WindowParams>,
) -> Result<axum::Json<TransactionsOverview>, Problem> {
    let min_position = min_position(&headers, params.min_position)?;
    let authority = Authority::of(&state, &caller).await?;
    let (figures, partners) = state
        .transactions_overview(&authority, params.days, min_position)
        .await?;
    Ok(axum::Json(TransactionsOverview { figures, partners }))
}

/// An action of the catalog.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActionView {
    /// Its name (letters, digits, `_`, `-`).
    #[schema(schema_with = crate::openapi::permission_name)]
    name: String,
    /// `file` or `transaction`.
    #[schema(value_type = String, pattern = "^(file|transaction)$")]
    kind: ActionKind,
    /// `sent` (by the partner) or `received` (by the partner).
    #[schema(value_type = String, pattern = "^(sent|received)$")]
    direction: Direction,
}

/// The action catalog.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActionsView {
    /// The actions a record may name (the four built-in ones first).
    active: Vec<ActionView>,
    /// Actions retired: records naming them stay, no new one may.
    retired: Vec<ActionView>,
}

fn actions_view(catalog: &ActionCatalog) -> ActionsView {
    let view = |(name, meaning): (String, ActionMeaning)| ActionView {
        name,
        kind: meaning.kind,
        direction: meaning.direction,
    };
    ActionsView {
        active: catalog
            .actions()
            .into_iter()
            .map(|(name, meaning)| view((name.to_string(), meaning)))
            .collect(),
        retired: catalog
            .retired
            .iter()
            .map(|(name, meaning)| view((name.to_string(), *meaning)))
            .collect(),
    }
}

/// The actions partner records may name (readers, members of organizations, and API keys with
/// a file flag).
#[utoipa::path(get, path = "/api/v1/partner-actions", tag = "partners",
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The catalog", body = ActionsView),
        crate::openapi::AuthErrors,
        (status = 403, description = "Neither a reader, a member nor a key that records", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn actions(
    State(state): State<AppState>,
    authority: Authority,
) -> Result<axum::Json<ActionsView>, Problem> {
    Ok(axum::Json(actions_view(
        &state.partner_actions(&authority).await?,
    )))
}

/// Defines an action (or a retired one again, with this meaning): administrators.
#[utoipa::path(post, path = "/api/v1/partner-actions", tag = "partners",
    request_body = ActionView,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Defined; the catalog now", body = ActionsView),
        crate::openapi::BodyErrors,
        crate::openapi::AuthErrors,
        (status = 403, description = "Not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Defined already, or built in", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn define_action(
    State(state): State<AppState>,
    context: RequestContext,
    caller: Caller,
    command: JsonCommand<ActionView>,
) -> Result<Response, Problem> {
    let authority = Authority::of(&state, &caller).await?;
    let body = command.body;
    let name = ActionName::parse(&body.name)
        .map_err(|error| Problem::validation().with_field("/name", error.message))?;
    let meaning = ActionMeaning {
        kind: body.kind,
        direction: body.direction,
    };
    state
        .change_partner_actions(&authority, &context, name, Some(meaning))
        .await?;
    let catalog = state.partner_actions(&authority).await?;
    Ok((StatusCode::CREATED, axum::Json(actions_view(&catalog))).into_response())
}

/// Retires an action: no new record may name it (administrators; built-in actions stay).
#[utoipa::path(delete, path = "/api/v1/partner-actions/{name}", tag = "partners",
    params(("name" = String, Path, description = "The action")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Retired"),
        crate::openapi::AuthErrors,
        (status = 403, description = "Not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not in the catalog, or retired already", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Built in", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn retire_action(
    State(state): State<AppState>,
    context: RequestContext,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<StatusCode, Problem> {
    let authority = Authority::of(&state, &caller).await?;
    let name = ActionName::parse(&name)
        .map_err(|_| crate::authz::not_found(application::Resource::PartnerAction))?;
    state
        .change_partner_actions(&authority, &context, name, None)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
