//! Blocked addresses, for administrators (and readers, who see the list): block an address or
//! range with a reason and an optional end, lift a block once confirmed.

use crate::AppState;
use crate::pages::csrf::PageForm;
use crate::pages::error::{PageError, problem_text};
use crate::pages::render::{self, Chrome, When};
use crate::pages::session::SignedIn;
use crate::problem::Problem;
use application::policy::{Operation, Target};
use application::{AppError, Resource};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use domain::ip_block::parse_network;
use domain::values::Reason;
use serde::Deserialize;

/// The page's query.
#[derive(Debug, Default, Deserialize)]
pub struct IpBlocksQuery {
    #[serde(default)]
    done: Option<String>,
}

/// A block's line.
struct BlockLine {
    network: String,
    in_force: bool,
    blocked_at: When,
    expires_at: Option<When>,
    reason: String,
}

/// The page.
#[derive(Template)]
#[template(path = "console/ip_blocks.html")]
struct IpBlocksPage {
    c: Chrome,
    blocks: Vec<BlockLine>,
    may_manage: bool,
    error: Option<String>,
    /// What the refused form said, to show it again.
    form: BlockForm,
}

/// The block and unblock forms.
#[derive(Debug, Default, Deserialize)]
pub struct BlockForm {
    #[serde(default)]
    network: String,
    #[serde(default)]
    reason: String,
    /// Hours from now; empty: never.
    #[serde(default)]
    hours: String,
    #[serde(default)]
    confirm: Option<String>,
}

async fn blocks_page(
    state: &AppState,
    signed_in: &SignedIn,
    notice: Option<&'static str>,
    error: Option<String>,
    form: BlockForm,
) -> Result<IpBlocksPage, PageError> {
    let who = &signed_in.authority;
    let list = state.ip_blocks(who).await?;
    let now = chrono::Utc::now();
    Ok(IpBlocksPage {
        c: signed_in.chrome_with(notice),
        blocks: list
            .blocks
            .iter()
            .map(|(network, block)| BlockLine {
                network: network.to_string(),
                in_force: block.in_force(now),
                blocked_at: When::new(block.blocked_at),
                expires_at: block.expires_at.map(When::new),
                reason: block.reason.to_string(),
            })
            .collect(),
        may_manage: who.allows(Operation::ManageIpBlocks, Target::Everything),
        error,
        form,
    })
}

/// `GET /console/ip-blocks`.
pub async fn page(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Query(query): Query<IpBlocksQuery>,
) -> Result<Response, PageError> {
    let notice = signed_in.chrome.t.notice(query.done.as_deref());
    let page = blocks_page(&state, &signed_in, notice, None, BlockForm::default()).await?;
    Ok(render::ok(&page))
}

/// `POST /console/ip-blocks`: blocks; `POST /console/ip-blocks/unblock`: lifts a block, once
/// confirmed.
pub async fn change(
    State(state): State<AppState>,
    signed_in: SignedIn,
    action: Option<Path<String>>,
    PageForm(form): PageForm<BlockForm>,
) -> Result<Response, PageError> {
    let block = match action {
        None => true,
        Some(Path(action)) if action == "unblock" => false,
        Some(_) => return Err(AppError::NotFound(Resource::Anything).into()),
    };
    let outcome = async {
        let network = parse_network(&form.network).ok_or(AppError::Malformed(
            "address or range: an IPv4 or IPv6 address, or a range in CIDR notation such as 198.51.100.0/24",
        ))?;
        let (who, context) = (&signed_in.authority, &signed_in.context);
        if !block {
            if form.confirm.is_none() {
                return Err(AppError::Malformed("tick the box to confirm lifting the block"));
            }
            return state.unblock_network(who, context, network).await;
        }
        let reason = Reason::parse(&form.reason)?;
        let hours = form.hours.trim();
        let expires_at = if hours.is_empty() {
            None
        } else {
            let hours: u32 = hours
                .parse()
                .ok()
                .filter(|hours| (1..=87_600).contains(hours))
                .ok_or(AppError::Malformed(
                    "ends after: a whole number of hours from 1 to 87600, or empty",
                ))?;
            Some(chrono::Utc::now() + chrono::TimeDelta::hours(hours.into()))
        };
        state
            .block_network(who, context, network, reason, expires_at)
            .await
    }
    .await;
    match outcome {
        Ok(_) => Ok(render::see_other(if block {
            "/console/ip-blocks?done=ip-blocked"
        } else {
            "/console/ip-blocks?done=ip-unblocked"
        })),
        Err(error @ (AppError::IpBlocks(_) | AppError::Invalid(_) | AppError::Malformed(_))) => {
            let problem = Problem::from(error);
            let shown = if block { form } else { BlockForm::default() };
            let page = blocks_page(
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
