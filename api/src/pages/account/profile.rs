//! The profile: names, username and phone; address, language and notification preferences;
//! the picture, with a preview before upload.

use crate::AppState;
use crate::pages::csrf::{CsrfCookie, PageForm};
use crate::pages::error::PageError;
use crate::pages::error::problem_text;
use crate::pages::fields::optional;
use crate::pages::render::{self, Chrome};
use crate::pages::session::SignedIn;
use crate::problem::Problem;
use application::AppError;
use application::users::{Preconditions, UserChanges};
use askama::Template;
use axum::extract::{FromRequest, Multipart, Query, Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use domain::user::User;
use domain::values::{
    Address, AddressLine, CountryCode, LanguageTag, NotificationPreferences, PersonName,
    PhoneNumber, Profile, Username,
};
use secrecy::SecretString;
use serde::Deserialize;

/// The preference keys the profile page offers (the map keeps any others a client set).
const NEW_DEVICE_EMAIL: &str = NotificationPreferences::EMAIL_ON_NEW_DEVICE;
const NEWS_EMAIL: &str = "email_news";

/// The details form as shown (typed values kept on error).
#[derive(Debug, Default, Deserialize)]
pub struct DetailsForm {
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    last_name: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    current_password: Option<SecretString>,
}

/// The preferences form as shown.
#[derive(Debug, Default, Deserialize)]
pub struct PreferencesForm {
    #[serde(default)]
    line1: String,
    #[serde(default)]
    line2: String,
    #[serde(default)]
    city: String,
    #[serde(default)]
    region: String,
    #[serde(default)]
    postal_code: String,
    #[serde(default)]
    country: String,
    #[serde(default)]
    language: String,
    #[serde(default)]
    new_device_email: Option<String>,
    #[serde(default)]
    news_email: Option<String>,
}

/// The profile page.
#[derive(Template)]
#[template(path = "account/profile.html")]
struct ProfilePage {
    c: Chrome,
    error: Option<String>,
    details: DetailsForm,
    preferences: PreferencesForm,
    has_picture: bool,
    picture_version: String,
}

fn text<T: ToString>(value: Option<&T>) -> String {
    value.map(ToString::to_string).unwrap_or_default()
}

impl ProfilePage {
    fn of(signed_in: &SignedIn, error: Option<String>, notice: Option<&'static str>) -> Self {
        let user = &signed_in.caller.user;
        Self {
            c: signed_in.chrome_with(notice),
            error,
            details: details_of(user),
            preferences: preferences_of(user),
            has_picture: user.picture.is_some(),
            picture_version: signed_in.caller.version.to_string(),
        }
    }
}

fn details_of(user: &User) -> DetailsForm {
    DetailsForm {
        first_name: text(user.first_name.as_ref()),
        last_name: text(user.last_name.as_ref()),
        username: text(user.username.as_ref()),
        phone: text(user.phone.as_ref()),
        current_password: None,
    }
}

fn preferences_of(user: &User) -> PreferencesForm {
    let profile = &user.profile;
    let address = profile.address.as_ref();
    let flag = |key: &str, default: bool| {
        profile
            .notification_preferences
            .as_map()
            .get(key)
            .and_then(serde_json::Value::as_bool)
            .unwrap_or(default)
            .then(|| "on".to_owned())
    };
    PreferencesForm {
        line1: text(address.map(|a| &a.line1)),
        line2: text(address.and_then(|a| a.line2.as_ref())),
        city: text(address.map(|a| &a.city)),
        region: text(address.and_then(|a| a.region.as_ref())),
        postal_code: text(address.and_then(|a| a.postal_code.as_ref())),
        country: text(address.map(|a| &a.country)),
        language: text(profile.preferred_language.as_ref()),
        new_device_email: flag(NEW_DEVICE_EMAIL, true),
        news_email: flag(NEWS_EMAIL, false),
    }
}

/// `GET /account/profile`.
pub async fn form(signed_in: SignedIn, Query(done): Query<super::Done>) -> Response {
    let notice = signed_in.chrome.t.notice(done.done.as_deref());
    render::ok(&ProfilePage::of(&signed_in, None, notice))
}

/// A change when the value differs from what the user has.
fn change<T: PartialEq>(current: Option<&T>, new: Option<T>) -> Option<Option<T>> {
    (current != new.as_ref()).then_some(new)
}

/// `POST /account/profile`: names, username, phone (a new phone asks for the current password
/// unless the sign-in was recent, as the policy says).
pub async fn save(
    State(state): State<AppState>,
    mut signed_in: SignedIn,
    PageForm(form): PageForm<DetailsForm>,
) -> Result<Response, PageError> {
    let result = details_changes(&signed_in.caller.user, &form);
    let DetailsForm {
        current_password, ..
    } = &form;
    let current_password = current_password.clone();
    let typed = DetailsForm {
        current_password: None,
        ..form
    };
    let outcome = match result {
        Ok(changes) => {
            let password = current_password
                .filter(|password| !secrecy::ExposeSecret::expose_secret(password).is_empty());
            state
                .update_user(
                    &mut signed_in.authority,
                    &signed_in.context,
                    signed_in.caller.user.id,
                    changes,
                    password,
                    Preconditions {
                        expected_version: Some(signed_in.caller.version),
                        idempotency: None,
                    },
                )
                .await
                .map(|_| ())
        }
        Err(error) => Err(error),
    };
    finish(&signed_in, outcome, "details-saved", |page| {
        page.details = DetailsForm {
            current_password: None,
            ..typed
        };
    })
}

fn details_changes(user: &User, form: &DetailsForm) -> Result<UserChanges, AppError> {
    Ok(UserChanges {
        first_name: change(
            user.first_name.as_ref(),
            optional(&form.first_name, PersonName::parse)?,
        ),
        last_name: change(
            user.last_name.as_ref(),
            optional(&form.last_name, PersonName::parse)?,
        ),
        username: change(
            user.username.as_ref(),
            optional(&form.username, Username::parse)?,
        ),
        phone: change(
            user.phone.as_ref(),
            optional(&form.phone, PhoneNumber::parse)?,
        ),
        email: None,
        roles: None,
    })
}

/// Back to the profile with `done`, or the profile again with what went wrong.
fn finish(
    signed_in: &SignedIn,
    outcome: Result<(), AppError>,
    done: &str,
    keep_typed: impl FnOnce(&mut ProfilePage),
) -> Result<Response, PageError> {
    match outcome {
        Ok(()) => Ok(render::see_other(&format!("/account/profile?done={done}"))),
        Err(
            error @ (AppError::Invalid(_)
            | AppError::User(_)
            | AppError::WrongPassword { .. }
            | AppError::RateLimited(_)
            | AppError::Picture(_)
            | AppError::Refused { .. }),
        ) => {
            let problem = Problem::from(error);
            let mut page = ProfilePage::of(signed_in, Some(problem_text(&problem)), None);
            keep_typed(&mut page);
            Ok(render::refused(problem, &page))
        }
        Err(error) => Err(error.into()),
    }
}

/// `POST /account/profile/preferences`: address, language and notification preferences.
pub async fn save_preferences(
    State(state): State<AppState>,
    signed_in: SignedIn,
    PageForm(form): PageForm<PreferencesForm>,
) -> Result<Response, PageError> {
    let outcome = match profile_of(&signed_in.caller.user, &form) {
        Ok(profile) => state
            .change_profile(
                &signed_in.authority,
                &signed_in.context,
                signed_in.caller.user.id,
                profile,
                Preconditions {
                    expected_version: Some(signed_in.caller.version),
                    idempotency: None,
                },
            )
            .await
            .map(|_| ()),
        Err(error) => Err(error),
    };
    finish(&signed_in, outcome, "preferences-saved", |page| {
        page.preferences = form;
    })
}

fn profile_of(user: &User, form: &PreferencesForm) -> Result<Profile, AppError> {
    let address_typed = [
        &form.line1,
        &form.line2,
        &form.city,
        &form.region,
        &form.postal_code,
        &form.country,
    ]
    .iter()
    .any(|field| !field.trim().is_empty());
    let address = if address_typed {
        Some(Address {
            line1: AddressLine::parse(&form.line1)?,
            line2: optional(&form.line2, AddressLine::parse)?,
            city: AddressLine::parse(&form.city)?,
            region: optional(&form.region, AddressLine::parse)?,
            postal_code: optional(&form.postal_code, AddressLine::parse)?,
            country: CountryCode::parse(&form.country)?,
        })
    } else {
        None
    };
    let mut preferences = user.profile.notification_preferences.as_map().clone();
    preferences.insert(
        NEW_DEVICE_EMAIL.into(),
        form.new_device_email.is_some().into(),
    );
    preferences.insert(NEWS_EMAIL.into(), form.news_email.is_some().into());
    Ok(Profile {
        address,
        emergency_contact: user.profile.emergency_contact.clone(),
        preferred_language: optional(&form.language, LanguageTag::parse)?,
        notification_preferences: NotificationPreferences::parse(preferences.into())?,
    })
}

/// `?size=` of the picture.
#[derive(Debug, Deserialize)]
pub struct PictureQuery {
    #[serde(default)]
    size: Option<u32>,
}

/// `GET /account/profile/picture`: the signed-in person's own picture.
pub async fn picture(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Query(query): Query<PictureQuery>,
) -> Result<Response, PageError> {
    let size = query
        .size
        .filter(|size| application::pictures::RENDITION_SIZES.contains(size));
    let stored = state
        .picture(&signed_in.authority, signed_in.caller.user.id, size)
        .await?;
    let mut response = crate::routes::profiles::picture_response(stored);
    // A person's own picture may sit in their browser's cache, never a shared one.
    response.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("private, max-age=300"),
    );
    Ok(response)
}

/// `POST /account/profile/picture`: a multipart form with the CSRF token and the picture.
pub async fn upload_picture(
    State(state): State<AppState>,
    signed_in: SignedIn,
    cookie: CsrfCookie,
    request: Request,
) -> Result<Response, PageError> {
    let mut form = Multipart::from_request(request, &state)
        .await
        .map_err(|_| PageError::BadForm)?;
    let mut token = None;
    let mut image = None;
    while let Some(field) = form.next_field().await.map_err(|error| {
        if error.status() == StatusCode::PAYLOAD_TOO_LARGE {
            PageError::Problem(Problem::too_large(
                "Pictures",
                crate::routes::profiles::MAX_PICTURE_BYTES,
            ))
        } else {
            PageError::BadForm
        }
    })? {
        match field.name() {
            Some("csrf") => token = Some(field.text().await.map_err(|_| PageError::BadForm)?),
            Some("picture") => image = Some(field.bytes().await.map_err(|_| PageError::BadForm)?),
            _ => {}
        }
    }
    if !token.is_some_and(|token| cookie.accepts(&state, &token)) {
        return Err(PageError::CrossSite);
    }
    let Some(image) = image.filter(|image| !image.is_empty()) else {
        let t = signed_in.chrome.t;
        let page = ProfilePage::of(&signed_in, Some(t.choose_picture.to_owned()), None);
        return Ok(render::page(StatusCode::UNPROCESSABLE_ENTITY, &page));
    };
    let outcome = state
        .set_picture(
            &signed_in.authority,
            &signed_in.context,
            signed_in.caller.user.id,
            image,
        )
        .await
        .map(|_| ());
    finish(&signed_in, outcome, "picture-saved", |_| {})
}

/// `POST /account/profile/picture/remove`.
pub async fn remove_picture(
    State(state): State<AppState>,
    signed_in: SignedIn,
    PageForm(_): PageForm<super::Empty>,
) -> Result<Response, PageError> {
    let outcome = state
        .remove_picture(
            &signed_in.authority,
            &signed_in.context,
            signed_in.caller.user.id,
        )
        .await;
    finish(&signed_in, outcome, "picture-removed", |_| {})
}
