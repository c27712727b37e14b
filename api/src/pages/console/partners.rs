//! Partners' transactions: across partners (totals, success rate, daily volume, each partner's
//! line) for readers, or one partner's (its figures, daily volume, latest and failed
//! transactions, and its file transfers for those who may read them). An org_admin, or a member
//! holding `can_view_transactions`, sees their own organizations'.

use super::Choice;
use super::analytics::Figure;
use super::charts::ColumnChart;
use crate::AppState;
use crate::pages::csrf::PageForm;
use crate::pages::error::{PageError, problem_text};
use crate::pages::render::{self, Chrome, When};
use crate::pages::session::SignedIn;
use crate::pages::texts::Texts;
use crate::problem::Problem;
use application::policy::{Operation, Target};
use application::{AppError, Resource};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use domain::OrganizationId;
use domain::partner::{ActionKind, ActionMeaning, BUILT_IN_ACTIONS};
use domain::values::ActionName;
use projections::queries::{PartnerRecordRow, RecordFilter, TransactionFigures};
use serde::Deserialize;

/// The page's query.
#[derive(Debug, Default, Deserialize)]
pub struct PartnersQuery {
    #[serde(default)]
    organization: String,
    #[serde(default)]
    days: Option<u32>,
    #[serde(default)]
    done: Option<String>,
}

/// A record's line.
struct RecordLine {
    at: When,
    action: String,
    status: String,
    folder: String,
    resource: String,
    document_type: String,
}

impl RecordLine {
    fn new(row: PartnerRecordRow) -> Self {
        Self {
            at: When::new(row.at),
            action: row.action,
            status: row.status.unwrap_or_default(),
            folder: row.folder.unwrap_or_default(),
            resource: row.resource_id.or(row.filename).unwrap_or_default(),
            document_type: row.document_type.unwrap_or_default(),
        }
    }
}

/// A partner's line across partners.
struct PartnerRow {
    id: String,
    code: String,
    name: String,
    sent: i64,
    received: i64,
    failed: i64,
    success: String,
}

/// An action of the catalog.
struct ActionLine {
    name: String,
    kind: String,
    direction: String,
    built_in: bool,
}

/// The action catalog: the actions records may name, and those retired.
struct ActionsCard {
    active: Vec<ActionLine>,
    retired: Vec<String>,
}

/// The partners page.
#[derive(Template)]
#[template(path = "console/partners.html")]
struct PartnersPage {
    c: Chrome,
    organizations: Vec<(String, String)>,
    everyone: bool,
    organization: String,
    days: u32,
    figures: Vec<Figure>,
    daily: ColumnChart,
    /// Each day: (day, sent, received, failed).
    days_table: Vec<(String, i64, i64, i64)>,
    /// Across partners.
    partners: Vec<PartnerRow>,
    /// One partner's latest and failed transactions, and its file transfers (if readable).
    recent: Vec<RecordLine>,
    failed: Vec<RecordLine>,
    files: Option<Vec<RecordLine>>,
    /// The action catalog, for who may read it.
    actions: Option<ActionsCard>,
    may_manage_actions: bool,
    /// What a refused catalog form said.
    error: Option<String>,
}

/// A rate as the page writes it.
fn rate(rate: Option<f64>, t: &Texts) -> String {
    rate.map(|rate| format!("{:.1} %", rate * 100.0))
        .unwrap_or_else(|| t.none.to_owned())
}

fn figures(numbers: &TransactionFigures, t: &Texts) -> Vec<Figure> {
    let mut figures = vec![
        Figure {
            label: t.figure_sent,
            value: numbers.sent.to_string(),
        },
        Figure {
            label: t.figure_received,
            value: numbers.received.to_string(),
        },
        Figure {
            label: t.figure_failed,
            value: numbers.failed.to_string(),
        },
        Figure {
            label: t.figure_success_rate,
            value: rate(numbers.success_rate, t),
        },
    ];
    // File counts only for who may read file transfers.
    for (label, count) in [
        (t.figure_files_sent, numbers.files_sent),
        (t.figure_files_received, numbers.files_received),
    ] {
        if let Some(count) = count {
            figures.push(Figure {
                label,
                value: count.to_string(),
            });
        }
    }
    figures
}

/// `GET /console/partners`.
pub async fn page(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Query(query): Query<PartnersQuery>,
) -> Result<Response, PageError> {
    let notice = signed_in.chrome.t.notice(query.done.as_deref());
    Ok(render::ok(
        &partners_page(&state, &signed_in, &query, notice, None).await?,
    ))
}

async fn partners_page(
    state: &AppState,
    signed_in: &SignedIn,
    query: &PartnersQuery,
    notice: Option<&'static str>,
    error: Option<String>,
) -> Result<PartnersPage, PageError> {
    let t = signed_in.chrome.t;
    let who = &signed_in.authority;
    let Choice {
        everyone,
        organizations,
        organization,
    } = Choice::of(state, who, Operation::ReadTransactions, &query.organization).await?;
    let days = query.days.unwrap_or(30);
    let (numbers, partners, recent, failed, files) = match &organization {
        None => {
            let (numbers, lines) = state.transactions_overview(who, Some(days), None).await?;
            let partners = lines
                .into_iter()
                .map(|line| {
                    let success = rate(line.success_rate(), t);
                    PartnerRow {
                        code: line.partner_code.unwrap_or_default(),
                        name: line.name.unwrap_or_else(|| line.organization_id.clone()),
                        id: line.organization_id,
                        sent: line.sent,
                        received: line.received,
                        failed: line.failed,
                        success,
                    }
                })
                .collect();
            (numbers, partners, Vec::new(), Vec::new(), None)
        }
        Some(id) => {
            let id: OrganizationId = id
                .parse()
                .map_err(|_| PageError::from(AppError::NotFound(Resource::Organization)))?;
            let partner = state.partner_figures(who, id, Some(days), None).await?;
            let files = if who.allows(Operation::ReadFileTransfers, Target::Organization(id)) {
                let page = state
                    .partner_records(
                        who,
                        id,
                        Some(ActionKind::File),
                        RecordFilter {
                            limit: Some(10),
                            ..RecordFilter::default()
                        },
                        None,
                    )
                    .await?;
                Some(page.items.into_iter().map(RecordLine::new).collect())
            } else {
                None
            };
            (
                partner.figures,
                Vec::new(),
                partner.recent.into_iter().map(RecordLine::new).collect(),
                partner.failed.into_iter().map(RecordLine::new).collect(),
                files,
            )
        }
    };
    let points: Vec<(String, i64)> = numbers
        .daily
        .iter()
        .map(|day| (day.day.format("%m-%d").to_string(), day.sent + day.received))
        .collect();
    let days_table = numbers
        .daily
        .iter()
        .map(|day| {
            (
                day.day.format("%Y-%m-%d").to_string(),
                day.sent,
                day.received,
                day.failed,
            )
        })
        .collect();
    let title = format!(
        "{} ({} {days} {})",
        t.transaction_volume, t.per_day_over, t.days
    );
    let actions = state.partner_actions(who).await.ok().map(|catalog| {
        let built_in: Vec<&str> = BUILT_IN_ACTIONS.iter().map(|(name, _, _)| *name).collect();
        ActionsCard {
            active: catalog
                .actions()
                .into_iter()
                .map(|(name, meaning)| ActionLine {
                    built_in: built_in.contains(&name.as_str()),
                    name: name.to_string(),
                    kind: meaning.kind.to_string(),
                    direction: meaning.direction.to_string(),
                })
                .collect(),
            retired: catalog.retired.keys().map(ToString::to_string).collect(),
        }
    });
    Ok(PartnersPage {
        c: signed_in.chrome_with(notice),
        actions,
        may_manage_actions: who.allows(Operation::ManagePartnerActions, Target::Everything),
        error,
        figures: figures(&numbers, t),
        daily: ColumnChart::new("chart-transactions", title, &points, 7),
        days_table,
        organizations,
        everyone,
        organization: organization.unwrap_or_default(),
        days,
        partners,
        recent,
        failed,
        files,
    })
}

/// The action form.
#[derive(Debug, Deserialize)]
pub struct ActionForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    direction: String,
    #[serde(default)]
    confirm: Option<String>,
}

/// `POST /console/partner-actions`: defines an action; `POST /console/partner-actions/retire`:
/// retires one, once confirmed.
pub async fn change_actions(
    State(state): State<AppState>,
    signed_in: SignedIn,
    action: Option<Path<String>>,
    PageForm(form): PageForm<ActionForm>,
) -> Result<Response, PageError> {
    let define = match action {
        None => true,
        Some(Path(action)) if action == "retire" => false,
        Some(_) => return Err(AppError::NotFound(Resource::Anything).into()),
    };
    let outcome = async {
        let name = ActionName::parse(&form.name)?;
        let meaning = if define {
            Some(ActionMeaning {
                kind: form
                    .kind
                    .parse()
                    .map_err(|_| AppError::Malformed("kind: file or transaction"))?,
                direction: form
                    .direction
                    .parse()
                    .map_err(|_| AppError::Malformed("direction: sent or received"))?,
            })
        } else if form.confirm.is_none() {
            return Err(AppError::Malformed(
                "tick the box to confirm retiring the action",
            ));
        } else {
            None
        };
        state
            .change_partner_actions(&signed_in.authority, &signed_in.context, name, meaning)
            .await
    }
    .await;
    match outcome {
        Ok(_) => Ok(render::see_other(if define {
            "/console/partners?done=action-defined#actions"
        } else {
            "/console/partners?done=action-retired#actions"
        })),
        Err(
            error @ (AppError::PartnerActions(_) | AppError::Invalid(_) | AppError::Malformed(_)),
        ) => {
            let problem = Problem::from(error);
            let page = partners_page(
                &state,
                &signed_in,
                &PartnersQuery::default(),
                None,
                Some(problem_text(&problem)),
            )
            .await?;
            Ok(render::refused(problem, &page))
        }
        Err(error) => Err(error.into()),
    }
}
