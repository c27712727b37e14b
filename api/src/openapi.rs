//! The OpenAPI 3.1 document, generated from the handlers' annotations, and interactive docs.

use crate::problem::Problem;
use crate::routes::{
    admin, api_keys, audit, auth, invitations, ip_blocks, mfa, organizations, partners, privacy,
    profiles, queries, roles, users, verification, wallets,
};
use axum::Json;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// idlog's API description.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "idlog",
        description = "Event-sourced user management. Every error is RFC 9457 problem+json with a stable `type`.",
    ),
    paths(
        crate::health,
        crate::ready,
        crate::metrics::render,
        auth::register,
        auth::login,
        auth::refresh,
        auth::logout,
        auth::logout_all,
        auth::me,
        auth::change_password,
        auth::forgot_password,
        auth::reset_password,
        auth::list_sessions,
        auth::delete_session,
        auth::introspect,
        auth::jwks,
        mfa::enroll,
        mfa::confirm,
        mfa::disable,
        mfa::login_mfa,
        verification::send_email_verification,
        verification::verify_email_post,
        verification::verify_email_link,
        verification::send_phone_code,
        verification::verify_phone,
        users::create_user,
        users::get_user,
        users::update_user,
        users::lock_user,
        users::unlock_user,
        users::deactivate_user,
        users::reactivate_user,
        users::delete_user,
        privacy::forget_user,
        privacy::export_user,
        users::send_password_reset,
        users::set_password,
        users::get_me,
        users::update_me,
        users::restore_user,
        users::verify_email_by_hand,
        users::verify_phone_by_hand,
        users::lockout,
        profiles::get_profile,
        profiles::put_profile,
        profiles::put_picture,
        profiles::get_picture,
        profiles::delete_picture,
        organizations::create_organization,
        organizations::partner,
        organizations::permissions,
        organizations::define_permission,
        organizations::retire_permission,
        organizations::get_organization,
        organizations::update_organization,
        organizations::add_member_route,
        organizations::change_member,
        organizations::remove_member,
        api_keys::list_api_keys,
        api_keys::create_api_key,
        api_keys::revoke_api_key,
        partners::record_activity,
        partners::list_activity,
        partners::partner_figures,
        partners::transactions,
        partners::actions,
        partners::define_action,
        partners::retire_action,
        invitations::invite_member,
        invitations::list_invitations,
        invitations::revoke_invitation,
        invitations::own_invitations,
        invitations::accept_invitation,
        invitations::decline_invitation,
        queries::users,
        queries::search_users,
        queries::user_sessions,
        users::revoke_user_session,
        queries::notifications,
        queries::devices,
        queries::activity,
        queries::user_activity,
        queries::dashboard,
        queries::organization_dashboard,
        queries::daily,
        queries::verification_funnel,
        queries::organizations,
        queries::members,
        admin::verify_storage,
        admin::rebuild_storage,
        admin::deliveries,
        admin::processing,
        admin::retry_read_model,
        admin::skip_read_model,
        admin::retry_worker_letters,
        wallets::wallet,
        wallets::wallet_history,
        wallets::credit_wallet,
        wallets::debit_wallet,
        wallets::freeze_wallet,
        wallets::unfreeze_wallet,
        ip_blocks::ip_blocks,
        ip_blocks::block_ip,
        ip_blocks::unblock_ip,
        roles::roles,
        roles::define_role,
        roles::change_role,
        roles::retire_role,
        roles::set_role_profile,
        queries::role_holders,
        audit::user_history,
        audit::events,
        audit::verify,
        audit::checkpoints,
    ),
    components(schemas(auth::MfaChallenge, auth::PasswordChangeChallenge)),
    modifiers(&SecuritySchemes, &CommonAnswers),
    tags(
        (name = "auth", description = "Registration, login, tokens, sessions and passwords"),
        (name = "mfa", description = "Two-factor authentication (TOTP)"),
        (name = "verification", description = "Email and phone verification"),
        (name = "users", description = "User administration, and one's own user"),
        (name = "wallets", description = "Users' wallets: balances in credits, their history, credits and debits"),
        (name = "organizations", description = "Organizations (partners) and their members"),
        (name = "partners", description = "Partners' file transfers and transactions, their figures, and the catalog of actions"),
        (name = "queries", description = "Read models: users list and search, sessions, activity, analytics, organizations"),
        (name = "admin", description = "Operators' actions: storage verification and repair, the delivery log, the IP block list"),
        (name = "audit", description = "Auditors: the log as NDJSON, chain verification, signed checkpoints, users' histories and past states"),
        (name = "health", description = "Liveness and readiness"),
    )
)]
pub struct ApiDoc;

/// Bearer schemes: users' access tokens, and services' introspection credential.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut bearer = Http::new(HttpAuthScheme::Bearer);
        bearer.bearer_format = Some("JWT".into());
        components.add_security_scheme("bearer", SecurityScheme::Http(bearer));
        let mut api_key = Http::new(HttpAuthScheme::Bearer);
        api_key.bearer_format = Some("idlog_key_…".into());
        api_key.description = Some(
            "An organization's API key, where an operation is open to keys: it acts with the \
             permission flags it was given."
                .into(),
        );
        components.add_security_scheme("api_key", SecurityScheme::Http(api_key));
        components.add_security_scheme(
            "service",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
        components.add_security_scheme(
            "metrics",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// The answers every operation of a kind can get before its handler decides anything, listed
/// where they apply: a body's (400, 413, 415, 422), a bearer token's (401), a path id's (404)
/// and a query string's (400). Each handler documents its own answers besides.
struct CommonAnswers;

impl Modify for CommonAnswers {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::path::{Operation, ParameterIn};
        for (path, item) in openapi.paths.paths.iter_mut() {
            let operations: [&mut Option<Operation>; 5] = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for operation in operations.into_iter().flatten() {
                let mut answers: Vec<(&str, &str)> = Vec::new();
                if operation.request_body.is_some() {
                    answers.extend([
                        ("400", "Malformed body"),
                        ("413", "Body over its limit"),
                        ("415", "Not the content type this operation takes"),
                        (
                            "422",
                            "Invalid fields or body (field errors as JSON pointers)",
                        ),
                    ]);
                }
                let bearer = operation.security.as_ref().is_some_and(|requirements| {
                    serde_json::to_string(requirements)
                        .is_ok_and(|text| text.contains("\"bearer\""))
                });
                if bearer {
                    answers.push((
                        "401",
                        "Missing, invalid or expired access token, or its session is closed",
                    ));
                }
                if path.contains('{') {
                    answers.push(("404", "Nothing of that id, or nothing the caller may see"));
                }
                let queried = operation
                    .parameters
                    .iter()
                    .flatten()
                    .any(|parameter| matches!(parameter.parameter_in, ParameterIn::Query));
                if queried {
                    answers.push(("400", "A query parameter does not fit"));
                }
                for (status, description) in answers {
                    operation
                        .responses
                        .responses
                        .entry(status.to_owned())
                        .or_insert_with(|| problem_answer(description));
                }
            }
        }
    }
}

/// A string schema that takes only `values`.
fn string_enum(values: &[&str]) -> utoipa::openapi::schema::Object {
    string(false)
        .enum_values(Some(values.iter().copied()))
        .build()
}

/// A string schema that takes only `values`, or `null` (an optional field sent as null).
fn string_enum_or_null(values: &[&str]) -> utoipa::openapi::schema::Object {
    string(true)
        .enum_values(Some(values.iter().copied().map(Some).chain([None])))
        .build()
}

/// A profile picture rendition's size, in pixels.
pub fn rendition_size() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{SchemaType, Type};
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::Integer))
        .enum_values(Some(application::pictures::RENDITION_SIZES))
        .build()
}

/// Credits a wallet's credit or debit moves.
pub fn wallet_amount() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{SchemaType, Type};
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::Integer))
        .minimum(Some(1))
        .maximum(Some(domain::wallet::MAX_AMOUNT as f64))
        .build()
}

/// A membership's role (optional: null leaves the default).
pub fn org_role() -> utoipa::openapi::schema::Object {
    string_enum_or_null(&["org_admin", "member", "readonly"])
}

/// An organization's status (optional: null leaves it).
pub fn organization_status() -> utoipa::openapi::schema::Object {
    string_enum_or_null(&["active", "inactive", "testing", "suspended"])
}

/// A partner's communication method.
pub fn communication_method() -> utoipa::openapi::schema::Object {
    string_enum(&["sftp", "api", "both", "manual"])
}

/// A partner's EDI format.
pub fn edi_format() -> utoipa::openapi::schema::Object {
    string_enum(&["X12", "EDIFACT", "XML", "JSON", "CSV"])
}

/// A user's verification, as the users list filters it.
pub fn verification_status() -> utoipa::openapi::schema::Object {
    string_enum(&projections::directory::VERIFICATION_STATUSES)
}

/// A message's delivery status.
pub fn delivery_status() -> utoipa::openapi::schema::Object {
    string_enum(&["sending", "sent", "failed", "dead"])
}

/// A daily series' metric.
pub fn daily_metric() -> utoipa::openapi::schema::Object {
    string_enum(&[
        "registrations",
        "logins",
        "failed_logins",
        "lockouts",
        "email_verifications",
        "phone_verifications",
        "password_resets",
        "active_users",
    ])
}

/// Characters free text may hold: any but control characters.
const PRINTABLE: &str = "[^\\u0000-\\u001f\\u007f-\\u009f]";

/// Characters free text may start and end with: neither white space nor control characters.
const VISIBLE: &str = "[^\\s\\u0000-\\u001f\\u007f-\\u009f]";

fn string(nullable: bool) -> utoipa::openapi::schema::ObjectBuilder {
    use utoipa::openapi::schema::{SchemaType, Type};
    let types = if nullable {
        SchemaType::from_iter([Type::String, Type::Null])
    } else {
        SchemaType::Type(Type::String)
    };
    utoipa::openapi::schema::ObjectBuilder::new().schema_type(types)
}

/// Free text as the domain takes it: surrounding white space trimmed, then not empty, at most
/// `max` characters, no control characters. The length is in the pattern, not `maxLength`,
/// because it counts what is left after trimming.
fn text(max: usize, nullable: bool) -> utoipa::openapi::schema::Object {
    string(nullable)
        .min_length(Some(1))
        .pattern(Some(format!(
            "^\\s*{VISIBLE}({PRINTABLE}{{0,{}}}{VISIBLE})?\\s*$",
            max.saturating_sub(2)
        )))
        .build()
}

/// A first or last name; `null` removes it.
pub fn person_name_or_null() -> utoipa::openapi::schema::Object {
    text(100, true)
}

/// An organization's unique name.
pub fn organization_name() -> utoipa::openapi::schema::Object {
    text(100, false)
}

/// An organization's unique name, or null (optional).
pub fn organization_name_or_null() -> utoipa::openapi::schema::Object {
    text(100, true)
}

/// An organization's display name (optional).
pub fn display_name() -> utoipa::openapi::schema::Object {
    text(200, true)
}

/// A file's name (optional).
pub fn filename() -> utoipa::openapi::schema::Object {
    text(255, true)
}

/// Which resource a partner's record is about, in the partner's terms (optional).
pub fn resource_ref() -> utoipa::openapi::schema::Object {
    text(200, true)
}

/// An EDI document type: 1 to 35 letters, digits, `-`, `_` and `.` (optional).
pub fn document_type() -> utoipa::openapi::schema::Object {
    string(true).pattern(Some("^[A-Za-z0-9._-]{1,35}$")).build()
}

/// A name of letters, digits, `_` and `-` (optional).
pub fn permission_name_or_null() -> utoipa::openapi::schema::Object {
    string(true)
        .pattern(Some("^\\s*[A-Za-z0-9_-]{1,64}\\s*$"))
        .build()
}

/// An API key's name.
pub fn key_name() -> utoipa::openapi::schema::Object {
    text(100, false)
}

/// Why an account is locked or deactivated (optional).
pub fn reason() -> utoipa::openapi::schema::Object {
    text(500, true)
}

/// Why staff did something (required).
pub fn required_reason() -> utoipa::openapi::schema::Object {
    text(500, false)
}

/// A partner code: 1 to 32 letters, digits, `-`, `_` and `.` (kept upper case).
pub fn partner_code() -> utoipa::openapi::schema::Object {
    string(false)
        .pattern(Some("^[A-Za-z0-9._-]{1,32}$"))
        .build()
}

/// An EDI interchange id: 1 to 35 letters, digits, `-`, `_` and `.`.
pub fn edi_id() -> utoipa::openapi::schema::Object {
    string(false)
        .pattern(Some("^[A-Za-z0-9._-]{1,35}$"))
        .build()
}

/// A permission flag's name: 1 to 64 letters, digits, `_` and `-`.
pub fn permission_name() -> utoipa::openapi::schema::Object {
    string(false)
        .pattern(Some("^\\s*[A-Za-z0-9_-]{1,64}\\s*$"))
        .build()
}

fn username_schema(nullable: bool) -> utoipa::openapi::schema::Object {
    // 3 to 32 of letters, digits, `.`, `_`, `-`, first a letter or digit (read in lower case).
    string(nullable)
        .pattern(Some("^\\s*[A-Za-z0-9][A-Za-z0-9._-]{2,31}\\s*$"))
        .build()
}

/// A username; `null` removes it.
pub fn username_or_null() -> utoipa::openapi::schema::Object {
    username_schema(true)
}

fn phone_schema(nullable: bool) -> utoipa::openapi::schema::Object {
    // E.164: `+`, 8 to 15 digits, the first not 0; spaces, dots, dashes and parentheses are
    // dropped.
    string(nullable)
        .pattern(Some(
            "^[ .()-]*\\+[ .()-]*[1-9]([ .()-]*[0-9]){7,14}[ .()-]*$",
        ))
        .build()
}

/// A phone number; `null` removes it.
pub fn phone_or_null() -> utoipa::openapi::schema::Object {
    phone_schema(true)
}

/// A new password under the default policy (8 to 128 characters; `auth.password_min_length`
/// may ask for more).
pub fn new_password() -> utoipa::openapi::schema::Object {
    string(false)
        .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
            utoipa::openapi::KnownFormat::Password,
        )))
        .min_length(Some(8))
        .max_length(Some(128))
        .build()
}

fn email_schema(nullable: bool) -> utoipa::openapi::schema::Object {
    string(nullable)
        .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
            utoipa::openapi::KnownFormat::Email,
        )))
        .max_length(Some(254))
        .build()
}

/// An email address (at most 254 characters).
pub fn email() -> utoipa::openapi::schema::Object {
    email_schema(false)
}

/// An email address, or null (optional).
pub fn email_or_null() -> utoipa::openapi::schema::Object {
    email_schema(true)
}

/// An exact-match email filter.
pub fn email_filter() -> utoipa::openapi::schema::Object {
    email_schema(false)
}

/// An exact-match username filter.
pub fn username_filter() -> utoipa::openapi::schema::Object {
    username_schema(false)
}

/// An exact-match phone filter.
pub fn phone_filter() -> utoipa::openapi::schema::Object {
    phone_schema(false)
}

/// A problem+json answer.
fn problem_answer(
    description: &str,
) -> utoipa::openapi::RefOr<utoipa::openapi::response::Response> {
    let content = utoipa::openapi::ContentBuilder::new()
        .schema(Some(utoipa::openapi::Ref::from_schema_name("Problem")))
        .build();
    utoipa::openapi::ResponseBuilder::new()
        .description(description)
        .content("application/problem+json", content)
        .build()
        .into()
}

/// `GET /api/openapi.json`.
pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

/// The answers any JSON body can get before its handler runs: documented once, listed in every
/// path that takes a body.
#[derive(utoipa::IntoResponses)]
pub enum BodyErrors {
    /// Not JSON.
    #[response(
        status = 400,
        description = "Malformed JSON",
        content_type = "application/problem+json"
    )]
    Malformed(Problem),
    /// Over the cap.
    #[response(
        status = 413,
        description = "Body over 1 MiB",
        content_type = "application/problem+json"
    )]
    TooLarge(Problem),
    /// No JSON content type.
    #[response(
        status = 415,
        description = "Not JSON",
        content_type = "application/problem+json"
    )]
    NotJson(Problem),
    /// Wrong types, unknown or invalid fields.
    #[response(
        status = 422,
        description = "Invalid fields or body (field errors as JSON pointers)",
        content_type = "application/problem+json"
    )]
    Invalid(Problem),
}

/// The answers to a request without a valid access token of an open session, or with an
/// organization's API key where a person's token is needed.
#[derive(utoipa::IntoResponses)]
pub enum AuthErrors {
    /// Missing, invalid or expired token, or its session is closed.
    #[response(
        status = 401,
        description = "Missing, invalid or expired access token, or its session is closed",
        content_type = "application/problem+json"
    )]
    Unauthenticated(Problem),
    /// An API key on an operation open to people only (an operation's own 403s say more).
    #[response(
        status = 403,
        description = "An API key, on an operation that needs a person's access token (`api-key-not-accepted`), or the policy refuses",
        content_type = "application/problem+json"
    )]
    Refused(Problem),
}

/// The answers any read-model query can get besides its own.
#[derive(utoipa::IntoResponses)]
pub enum QueryErrors {
    /// A parameter that does not fit.
    #[response(
        status = 400,
        description = "A parameter does not fit: a bad cursor, an unknown value or parameter, a bad X-Min-Position",
        content_type = "application/problem+json"
    )]
    Invalid(Problem),
    /// The read models did not reach `min_position` in time.
    #[response(
        status = 503,
        description = "`min_position` not reached in time (see Retry-After)",
        content_type = "application/problem+json"
    )]
    Behind(Problem),
}
