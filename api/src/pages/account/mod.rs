//! The self-service account pages: signing up, in and out, verification, the dashboard,
//! profile, security, invitations and privacy.

pub mod dashboard;
pub mod invitations;
pub mod privacy;
pub mod profile;
pub mod recovery;
pub mod security;
pub mod sign_in;
pub mod sign_up;
pub mod verification;

use super::render::Chrome;
use askama::Template;
use serde::Deserialize;

/// The `?done=` of a page a form sent the browser back to: which notice to show.
#[derive(Debug, Default, Deserialize)]
pub struct Done {
    /// The notice's key (see [`super::texts::Texts::notice`]).
    #[serde(default)]
    pub done: Option<String>,
}

/// A form with nothing in it but its CSRF token.
#[derive(Debug, Deserialize)]
pub struct Empty {}

/// A page that says one thing, with a link on.
#[derive(Template)]
#[template(path = "account/message.html")]
pub struct Message {
    /// The chrome.
    pub c: Chrome,
    /// Heading.
    pub heading: &'static str,
    /// What to say.
    pub body: String,
    /// `success`, `warning` or `plain`: how it is shown.
    pub tone: &'static str,
    /// Where to go on, and its label.
    pub link: Option<(&'static str, &'static str)>,
}
