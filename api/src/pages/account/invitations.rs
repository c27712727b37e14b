//! Invitations to organizations waiting for the person's answer (the page the invitation email
//! links to).

use crate::AppState;
use crate::pages::csrf::PageForm;
use crate::pages::error::PageError;
use crate::pages::render::{self, Chrome, When};
use crate::pages::session::SignedIn;
use application::AppError;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use domain::OrganizationId;

/// One invitation as listed.
struct InvitationLine {
    organization_id: String,
    organization: String,
    role: String,
    invited: When,
    expires: When,
}

/// The invitations page.
#[derive(Template)]
#[template(path = "account/invitations.html")]
struct InvitationsPage {
    c: Chrome,
    invitations: Vec<InvitationLine>,
}

/// `GET /account/invitations`.
pub async fn list(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Query(done): Query<super::Done>,
) -> Result<Response, PageError> {
    let invitations = state
        .own_invitations(&signed_in.authority)
        .await?
        .into_iter()
        .map(|(organization, invitation)| InvitationLine {
            organization_id: organization.id.to_string(),
            organization: organization.name.to_string(),
            role: invitation.role.to_string(),
            invited: When::new(invitation.invited_at),
            expires: When::new(invitation.expires_at),
        })
        .collect();
    let notice = signed_in.chrome.t.notice(done.done.as_deref());
    Ok(render::ok(&InvitationsPage {
        c: signed_in.chrome_with(notice),
        invitations,
    }))
}

/// `POST /account/invitations/{organization_id}/{accept|decline}`.
pub async fn answer(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path((organization_id, answer)): Path<(String, String)>,
    PageForm(_): PageForm<super::Empty>,
) -> Result<Response, PageError> {
    let accept = match answer.as_str() {
        "accept" => true,
        "decline" => false,
        _ => return Err(AppError::NotFound(application::Resource::Invitation).into()),
    };
    let id: OrganizationId = organization_id
        .parse()
        .map_err(|_| AppError::NotFound(application::Resource::Invitation))?;
    match state
        .answer_invitation(&signed_in.authority, &signed_in.context, id, accept)
        .await
    {
        Ok(_) if accept => Ok(render::see_other(
            "/account/invitations?done=invitation-accepted",
        )),
        Ok(_) => Ok(render::see_other(
            "/account/invitations?done=invitation-declined",
        )),
        Err(AppError::InvitationLapsed) => Ok(render::see_other(
            "/account/invitations?done=invitation-lapsed",
        )),
        Err(error) => Err(error.into()),
    }
}
