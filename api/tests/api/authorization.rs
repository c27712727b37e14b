//! Every route, over real HTTP on SQLite and PostgreSQL, with one caller the policy allows and
//! one it refuses: a handler that forgets to ask the policy fails here. Every operation of the
//! OpenAPI document must have its case.

use commands::tokens::hash_token;
use eventstore::test_both_backends;
use eventstore::testing::Backend;
use idlog::testing::{Options, TestApp, spawn_app_with};
use serde_json::{Value, json};
use std::collections::BTreeSet;

const PASSWORD: &str = "correct horse battery staple";
const SERVICE_SECRET: &str = "the introspection service's credential";

/// A one-pixel PNG.
fn png() -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(image::RgbImage::new(1, 1))
        .write_to(&mut out, image::ImageFormat::Png)
        .expect("encode");
    out.into_inner()
}

/// Who sends a request.
#[derive(Debug, Clone, Copy)]
enum Who {
    Anonymous,
    /// A fresh user of the case's own, who is also its target where `{me}` appears.
    Me,
    /// A plain user in no organization.
    Stranger,
    /// A member of acme.
    Member,
    /// acme's org_admin.
    OrgAdmin,
    Analyst,
    Auditor,
    Admin,
    /// The introspection credential.
    Service,
    /// acme's API key, given every flag of the catalog.
    Key,
}

/// What a case prepares before its requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Setup {
    None,
    /// An administrator adds `{me}` to acme.
    MeInAcme,
    /// acme's org_admin invites `{me}`.
    MeInvited,
}

#[derive(Debug, Clone)]
enum Body {
    None,
    Json(Value),
    Png,
}

#[derive(Debug, Clone)]
struct Call {
    who: Who,
    method: reqwest::Method,
    path: String,
    body: Body,
    status: u16,
}

struct Case {
    operation_id: &'static str,
    setup: Setup,
    allowed: Call,
    /// `None` for an operation open to everyone.
    refused: Option<Call>,
}

fn call(who: Who, method: &str, path: &str, body: Body, status: u16) -> Call {
    Call {
        who,
        method: method.parse().expect("method"),
        path: path.to_owned(),
        body,
        status,
    }
}

fn json_body(value: Value) -> Body {
    Body::Json(value)
}

fn case(operation_id: &'static str, allowed: Call, refused: Call) -> Case {
    Case {
        operation_id,
        setup: Setup::None,
        allowed,
        refused: Some(refused),
    }
}

fn public(operation_id: &'static str, allowed: Call) -> Case {
    Case {
        operation_id,
        setup: Setup::None,
        allowed,
        refused: None,
    }
}

fn with(setup: Setup, case: Case) -> Case {
    Case { setup, ..case }
}

fn cases() -> Vec<Case> {
    use Body::None as Empty;
    use Who::*;
    let anyone = |method, path, body, status| call(Anonymous, method, path, body, status);
    vec![
        public("health", anyone("GET", "/health", Empty, 200)),
        public("ready", anyone("GET", "/health/ready", Empty, 200)),
        public("render", anyone("GET", "/metrics", Empty, 200)),
        public("jwks", anyone("GET", "/.well-known/jwks.json", Empty, 200)),
        public(
            "register",
            anyone(
                "POST",
                "/api/v1/auth/register",
                json_body(json!({"email": "{fresh}", "password": PASSWORD})),
                201,
            ),
        ),
        public(
            "login",
            anyone(
                "POST",
                "/api/v1/auth/login",
                json_body(json!({"login": "{me_email}", "password": PASSWORD})),
                200,
            ),
        ),
        public(
            "refresh",
            anyone(
                "POST",
                "/api/v1/auth/refresh",
                json_body(json!({"refresh_token": "{me_refresh}"})),
                200,
            ),
        ),
        public(
            "login_mfa",
            anyone(
                "POST",
                "/api/v1/auth/login/mfa",
                json_body(json!({"mfa_token": "not-a-token", "code": "000000"})),
                401,
            ),
        ),
        public(
            "forgot_password",
            anyone(
                "POST",
                "/api/v1/auth/password/forgot",
                json_body(json!({"email": "{me_email}"})),
                202,
            ),
        ),
        public(
            "reset_password",
            anyone(
                "POST",
                "/api/v1/auth/password/reset",
                json_body(
                    json!({"token": "{me}.nonsense", "new_password": "another fine passphrase"}),
                ),
                422,
            ),
        ),
        public(
            "verify_email_post",
            anyone(
                "POST",
                "/api/v1/auth/email/verify",
                json_body(json!({"token": "{me}.nonsense"})),
                422,
            ),
        ),
        public(
            "verify_email_link",
            anyone(
                "GET",
                "/api/v1/auth/email/verify?token={me}.nonsense",
                Empty,
                422,
            ),
        ),
        case(
            "introspect",
            call(
                Service,
                "POST",
                "/api/v1/auth/introspect",
                json_body(json!({"token": "{me_access}"})),
                200,
            ),
            call(
                Me,
                "POST",
                "/api/v1/auth/introspect",
                json_body(json!({"token": "{me_access}"})),
                401,
            ),
        ),
        // One's own account: the caller is the target; the refused caller is nobody.
        case(
            "me",
            call(Me, "GET", "/api/v1/auth/me", Empty, 200),
            call(Anonymous, "GET", "/api/v1/auth/me", Empty, 401),
        ),
        case(
            "logout",
            call(Me, "POST", "/api/v1/auth/logout", Empty, 204),
            call(Anonymous, "POST", "/api/v1/auth/logout", Empty, 401),
        ),
        case(
            "logout_all",
            call(Me, "POST", "/api/v1/auth/logout-all", Empty, 204),
            call(Anonymous, "POST", "/api/v1/auth/logout-all", Empty, 401),
        ),
        case(
            "list_sessions",
            call(Me, "GET", "/api/v1/auth/sessions", Empty, 200),
            call(Anonymous, "GET", "/api/v1/auth/sessions", Empty, 401),
        ),
        case(
            "delete_session",
            call(
                Me,
                "DELETE",
                "/api/v1/auth/sessions/{me_session}",
                Empty,
                204,
            ),
            call(
                Stranger,
                "DELETE",
                "/api/v1/auth/sessions/{me_session}",
                Empty,
                404,
            ),
        ),
        case(
            "change_password",
            call(
                Me,
                "POST",
                "/api/v1/auth/password/change",
                json_body(
                    json!({"current_password": PASSWORD, "new_password": "another fine passphrase"}),
                ),
                204,
            ),
            call(
                Anonymous,
                "POST",
                "/api/v1/auth/password/change",
                json_body(
                    json!({"current_password": PASSWORD, "new_password": "another fine passphrase"}),
                ),
                401,
            ),
        ),
        case(
            "enroll",
            call(Me, "POST", "/api/v1/auth/mfa/totp/enroll", Empty, 200),
            call(
                Anonymous,
                "POST",
                "/api/v1/auth/mfa/totp/enroll",
                Empty,
                401,
            ),
        ),
        case(
            "confirm",
            call(
                Me,
                "POST",
                "/api/v1/auth/mfa/totp/confirm",
                json_body(json!({"code": "000000"})),
                409,
            ),
            call(
                Anonymous,
                "POST",
                "/api/v1/auth/mfa/totp/confirm",
                json_body(json!({"code": "000000"})),
                401,
            ),
        ),
        case(
            "disable",
            call(
                Me,
                "DELETE",
                "/api/v1/auth/mfa/totp",
                json_body(json!({"password": PASSWORD})),
                409,
            ),
            call(
                Anonymous,
                "DELETE",
                "/api/v1/auth/mfa/totp",
                json_body(json!({"password": PASSWORD})),
                401,
            ),
        ),
        case(
            "send_email_verification",
            // Registration sent one a moment ago: allowed, and then told to wait.
            call(Me, "POST", "/api/v1/auth/email/verify/send", Empty, 429),
            call(
                Anonymous,
                "POST",
                "/api/v1/auth/email/verify/send",
                Empty,
                401,
            ),
        ),
        case(
            "send_phone_code",
            call(Me, "POST", "/api/v1/auth/phone/verify/send", Empty, 422),
            call(
                Anonymous,
                "POST",
                "/api/v1/auth/phone/verify/send",
                Empty,
                401,
            ),
        ),
        case(
            "verify_phone",
            call(
                Me,
                "POST",
                "/api/v1/auth/phone/verify",
                json_body(json!({"code": "000000"})),
                422,
            ),
            call(
                Anonymous,
                "POST",
                "/api/v1/auth/phone/verify",
                json_body(json!({"code": "000000"})),
                401,
            ),
        ),
        case(
            "own_invitations",
            call(Me, "GET", "/api/v1/auth/invitations", Empty, 200),
            call(Anonymous, "GET", "/api/v1/auth/invitations", Empty, 401),
        ),
        with(
            Setup::MeInvited,
            case(
                "accept_invitation",
                call(
                    Me,
                    "POST",
                    "/api/v1/auth/invitations/{acme}/accept",
                    Empty,
                    204,
                ),
                call(
                    Anonymous,
                    "POST",
                    "/api/v1/auth/invitations/{acme}/accept",
                    Empty,
                    401,
                ),
            ),
        ),
        with(
            Setup::MeInvited,
            case(
                "decline_invitation",
                call(
                    Me,
                    "POST",
                    "/api/v1/auth/invitations/{acme}/decline",
                    Empty,
                    204,
                ),
                call(
                    Anonymous,
                    "POST",
                    "/api/v1/auth/invitations/{acme}/decline",
                    Empty,
                    401,
                ),
            ),
        ),
        // People, by id.
        case(
            "create_user",
            call(
                Admin,
                "POST",
                "/api/v1/users",
                json_body(json!({"email": "{fresh}", "password": PASSWORD})),
                201,
            ),
            call(
                OrgAdmin,
                "POST",
                "/api/v1/users",
                json_body(json!({"email": "{fresh}", "password": PASSWORD})),
                403,
            ),
        ),
        case(
            "get_user",
            call(OrgAdmin, "GET", "/api/v1/users/{member}", Empty, 200),
            call(Stranger, "GET", "/api/v1/users/{member}", Empty, 404),
        ),
        case(
            "get_me",
            call(Me, "GET", "/api/v1/users/me", Empty, 200),
            call(Anonymous, "GET", "/api/v1/users/me", Empty, 401),
        ),
        case(
            "update_me",
            call(
                Me,
                "PATCH",
                "/api/v1/users/me",
                json_body(json!({"first_name": "Mia"})),
                200,
            ),
            call(
                Me,
                "PATCH",
                "/api/v1/users/me",
                json_body(json!({"roles": ["admin"]})),
                403,
            ),
        ),
        case(
            "update_user",
            call(
                Admin,
                "PATCH",
                "/api/v1/users/{member}",
                json_body(json!({"first_name": "Carl"})),
                200,
            ),
            call(
                OrgAdmin,
                "PATCH",
                "/api/v1/users/{member}",
                json_body(json!({"email": "takeover@example.com"})),
                403,
            ),
        ),
        case(
            "lock_user",
            call(
                Admin,
                "POST",
                "/api/v1/users/{me}/lock",
                json_body(json!({})),
                200,
            ),
            call(
                OrgAdmin,
                "POST",
                "/api/v1/users/{member}/lock",
                json_body(json!({})),
                403,
            ),
        ),
        case(
            "unlock_user",
            call(Admin, "POST", "/api/v1/users/{me}/unlock", Empty, 409),
            call(
                OrgAdmin,
                "POST",
                "/api/v1/users/{member}/unlock",
                Empty,
                403,
            ),
        ),
        case(
            "deactivate_user",
            call(
                Admin,
                "POST",
                "/api/v1/users/{me}/deactivate",
                json_body(json!({})),
                200,
            ),
            call(
                OrgAdmin,
                "POST",
                "/api/v1/users/{member}/deactivate",
                json_body(json!({})),
                403,
            ),
        ),
        case(
            "reactivate_user",
            call(Admin, "POST", "/api/v1/users/{me}/reactivate", Empty, 409),
            call(Member, "POST", "/api/v1/users/{me}/reactivate", Empty, 404),
        ),
        case(
            "delete_user",
            call(Admin, "DELETE", "/api/v1/users/{me}", Empty, 200),
            call(OrgAdmin, "DELETE", "/api/v1/users/{member}", Empty, 403),
        ),
        case(
            "forget_user",
            call(
                Me,
                "POST",
                "/api/v1/users/{me}/forget",
                json_body(json!({"password": PASSWORD})),
                200,
            ),
            call(
                OrgAdmin,
                "POST",
                "/api/v1/users/{member}/forget",
                json_body(json!({})),
                403,
            ),
        ),
        case(
            "export_user",
            call(Me, "GET", "/api/v1/users/{me}/export", Empty, 200),
            call(OrgAdmin, "GET", "/api/v1/users/{member}/export", Empty, 403),
        ),
        case(
            "send_password_reset",
            call(
                Admin,
                "POST",
                "/api/v1/users/{me}/password-reset",
                Empty,
                202,
            ),
            call(
                OrgAdmin,
                "POST",
                "/api/v1/users/{member}/password-reset",
                Empty,
                403,
            ),
        ),
        case(
            "set_password",
            call(
                Admin,
                "PUT",
                "/api/v1/users/{me}/password",
                json_body(json!({"password": "set by an administrator"})),
                200,
            ),
            call(
                OrgAdmin,
                "PUT",
                "/api/v1/users/{member}/password",
                json_body(json!({"password": "set by an org_admin"})),
                403,
            ),
        ),
        case(
            "verify_email_by_hand",
            call(
                Admin,
                "POST",
                "/api/v1/users/{me}/verify-email",
                json_body(json!({"reason": "seen at the desk"})),
                200,
            ),
            call(
                OrgAdmin,
                "POST",
                "/api/v1/users/{member}/verify-email",
                json_body(json!({"reason": "trust me"})),
                403,
            ),
        ),
        case(
            "verify_phone_by_hand",
            // Allowed, and then refused for the missing number.
            call(
                Admin,
                "POST",
                "/api/v1/users/{me}/verify-phone",
                json_body(json!({"reason": "called back"})),
                422,
            ),
            call(
                OrgAdmin,
                "POST",
                "/api/v1/users/{member}/verify-phone",
                json_body(json!({"reason": "trust me"})),
                403,
            ),
        ),
        case(
            "restore_user",
            // Allowed, and then refused: the user is not deleted.
            call(Admin, "POST", "/api/v1/users/{me}/restore", Empty, 409),
            call(
                OrgAdmin,
                "POST",
                "/api/v1/users/{member}/restore",
                Empty,
                403,
            ),
        ),
        case(
            "lockout",
            call(Me, "GET", "/api/v1/users/{me}/lockout", Empty, 200),
            call(
                OrgAdmin,
                "GET",
                "/api/v1/users/{member}/lockout",
                Empty,
                403,
            ),
        ),
        case(
            "get_profile",
            call(Me, "GET", "/api/v1/users/{me}/profile", Empty, 200),
            call(
                OrgAdmin,
                "GET",
                "/api/v1/users/{member}/profile",
                Empty,
                403,
            ),
        ),
        case(
            "put_profile",
            call(
                Me,
                "PUT",
                "/api/v1/users/{me}/profile",
                json_body(json!({})),
                200,
            ),
            call(
                OrgAdmin,
                "PUT",
                "/api/v1/users/{member}/profile",
                json_body(json!({})),
                403,
            ),
        ),
        case(
            "put_picture",
            call(
                Me,
                "POST",
                "/api/v1/users/{me}/profile/picture",
                Body::Png,
                200,
            ),
            call(
                OrgAdmin,
                "POST",
                "/api/v1/users/{member}/profile/picture",
                Body::Png,
                403,
            ),
        ),
        case(
            "get_picture",
            call(
                Admin,
                "GET",
                "/api/v1/users/{me}/profile/picture",
                Empty,
                404,
            ),
            call(
                OrgAdmin,
                "GET",
                "/api/v1/users/{member}/profile/picture",
                Empty,
                403,
            ),
        ),
        case(
            "delete_picture",
            call(
                Me,
                "DELETE",
                "/api/v1/users/{me}/profile/picture",
                Empty,
                404,
            ),
            call(
                OrgAdmin,
                "DELETE",
                "/api/v1/users/{member}/profile/picture",
                Empty,
                403,
            ),
        ),
        case(
            "user_sessions",
            call(Me, "GET", "/api/v1/users/{me}/sessions", Empty, 200),
            call(
                OrgAdmin,
                "GET",
                "/api/v1/users/{member}/sessions",
                Empty,
                403,
            ),
        ),
        case(
            "revoke_user_session",
            call(
                Admin,
                "DELETE",
                "/api/v1/users/{me}/sessions/{me_session}",
                Empty,
                204,
            ),
            call(
                OrgAdmin,
                "DELETE",
                "/api/v1/users/{member}/sessions/{me_session}",
                Empty,
                403,
            ),
        ),
        case(
            "user_activity",
            call(
                Auditor,
                "GET",
                "/api/v1/users/{member}/activity",
                Empty,
                200,
            ),
            call(
                OrgAdmin,
                "GET",
                "/api/v1/users/{member}/activity",
                Empty,
                403,
            ),
        ),
        case(
            "notifications",
            call(Me, "GET", "/api/v1/users/me/notifications", Empty, 200),
            call(
                OrgAdmin,
                "GET",
                "/api/v1/users/{member}/notifications",
                Empty,
                403,
            ),
        ),
        case(
            "devices",
            call(Auditor, "GET", "/api/v1/users/{member}/devices", Empty, 200),
            call(Member, "GET", "/api/v1/users/{me}/devices", Empty, 404),
        ),
        case(
            "user_history",
            call(Auditor, "GET", "/api/v1/users/{member}/history", Empty, 200),
            call(
                OrgAdmin,
                "GET",
                "/api/v1/users/{member}/history",
                Empty,
                403,
            ),
        ),
        // Organizations.
        case(
            "create_organization",
            call(
                Admin,
                "POST",
                "/api/v1/organizations",
                json_body(json!({"name": "{fresh}"})),
                201,
            ),
            call(
                OrgAdmin,
                "POST",
                "/api/v1/organizations",
                json_body(json!({"name": "{fresh}"})),
                403,
            ),
        ),
        case(
            "get_organization",
            call(Member, "GET", "/api/v1/organizations/{acme}", Empty, 200),
            call(Stranger, "GET", "/api/v1/organizations/{acme}", Empty, 404),
        ),
        case(
            "partner",
            call(Member, "GET", "/api/v1/partners/acme001", Empty, 200),
            call(Stranger, "GET", "/api/v1/partners/ACME001", Empty, 404),
        ),
        case(
            "permissions",
            call(OrgAdmin, "GET", "/api/v1/permissions", Empty, 200),
            call(Member, "GET", "/api/v1/permissions", Empty, 403),
        ),
        case(
            "define_permission",
            call(
                Admin,
                "POST",
                "/api/v1/permissions",
                json_body(json!({"name": "{fresh_flag}"})),
                201,
            ),
            call(
                OrgAdmin,
                "POST",
                "/api/v1/permissions",
                json_body(json!({"name": "can_anything"})),
                403,
            ),
        ),
        case(
            "retire_permission",
            call(
                Admin,
                "DELETE",
                "/api/v1/permissions/can_manage_settings",
                Empty,
                204,
            ),
            call(
                Analyst,
                "DELETE",
                "/api/v1/permissions/can_upload_files",
                Empty,
                403,
            ),
        ),
        case(
            "update_organization",
            call(
                OrgAdmin,
                "PATCH",
                "/api/v1/organizations/{acme}",
                json_body(json!({"display_name": "ACME"})),
                200,
            ),
            call(
                Member,
                "PATCH",
                "/api/v1/organizations/{acme}",
                json_body(json!({"display_name": "ACME"})),
                403,
            ),
        ),
        case(
            "add_member_route",
            call(
                Admin,
                "POST",
                "/api/v1/organizations/{acme}/members",
                json_body(json!({"user_id": "{me}"})),
                201,
            ),
            call(
                OrgAdmin,
                "POST",
                "/api/v1/organizations/{acme}/members",
                json_body(json!({"user_id": "{me}"})),
                403,
            ),
        ),
        case(
            "change_member",
            call(
                OrgAdmin,
                "PATCH",
                "/api/v1/organizations/{acme}/members/{member}",
                json_body(json!({"role": "member"})),
                200,
            ),
            call(
                Member,
                "PATCH",
                "/api/v1/organizations/{acme}/members/{org_admin}",
                json_body(json!({"role": "member"})),
                403,
            ),
        ),
        with(
            Setup::MeInAcme,
            case(
                "remove_member",
                call(
                    OrgAdmin,
                    "DELETE",
                    "/api/v1/organizations/{acme}/members/{me}",
                    Empty,
                    200,
                ),
                call(
                    Member,
                    "DELETE",
                    "/api/v1/organizations/{acme}/members/{me}",
                    Empty,
                    403,
                ),
            ),
        ),
        case(
            "invite_member",
            call(
                OrgAdmin,
                "POST",
                "/api/v1/organizations/{acme}/invitations",
                json_body(json!({"user_id": "{me}"})),
                201,
            ),
            call(
                Member,
                "POST",
                "/api/v1/organizations/{acme}/invitations",
                json_body(json!({"user_id": "{me}"})),
                403,
            ),
        ),
        case(
            "record_activity",
            call(
                Key,
                "POST",
                "/api/v1/organizations/{acme}/partner-activity",
                json_body(json!({"action": "transaction_sent", "status": "ok"})),
                201,
            ),
            call(
                Member,
                "POST",
                "/api/v1/organizations/{acme}/partner-activity",
                json_body(json!({"action": "transaction_sent", "status": "ok"})),
                403,
            ),
        ),
        case(
            "list_activity",
            call(
                Key,
                "GET",
                "/api/v1/organizations/{acme}/partner-activity",
                Empty,
                200,
            ),
            call(
                Stranger,
                "GET",
                "/api/v1/organizations/{acme}/partner-activity",
                Empty,
                404,
            ),
        ),
        case(
            "partner_figures",
            call(Key, "GET", "/api/v1/analytics/partners/{acme}", Empty, 200),
            call(
                Member,
                "GET",
                "/api/v1/analytics/partners/{acme}",
                Empty,
                403,
            ),
        ),
        case(
            "transactions",
            call(Analyst, "GET", "/api/v1/analytics/transactions", Empty, 200),
            call(
                Stranger,
                "GET",
                "/api/v1/analytics/transactions",
                Empty,
                403,
            ),
        ),
        case(
            "actions",
            call(Member, "GET", "/api/v1/partner-actions", Empty, 200),
            call(Stranger, "GET", "/api/v1/partner-actions", Empty, 403),
        ),
        case(
            "define_action",
            call(
                Admin,
                "POST",
                "/api/v1/partner-actions",
                json_body(
                    json!({"name": "{fresh_flag}", "kind": "transaction", "direction": "sent"}),
                ),
                201,
            ),
            call(
                OrgAdmin,
                "POST",
                "/api/v1/partner-actions",
                json_body(
                    json!({"name": "{fresh_flag}", "kind": "transaction", "direction": "sent"}),
                ),
                403,
            ),
        ),
        case(
            "retire_action",
            // Allowed: the action is unknown, not the caller refused.
            call(
                Admin,
                "DELETE",
                "/api/v1/partner-actions/{fresh_flag}",
                Empty,
                404,
            ),
            call(
                Auditor,
                "DELETE",
                "/api/v1/partner-actions/{fresh_flag}",
                Empty,
                403,
            ),
        ),
        case(
            "wallet",
            call(Member, "GET", "/api/v1/users/{member}/wallet", Empty, 200),
            call(OrgAdmin, "GET", "/api/v1/users/{member}/wallet", Empty, 403),
        ),
        case(
            "wallet_history",
            call(
                Analyst,
                "GET",
                "/api/v1/users/{member}/wallet/history",
                Empty,
                200,
            ),
            call(
                Stranger,
                "GET",
                "/api/v1/users/{member}/wallet/history",
                Empty,
                404,
            ),
        ),
        // Allowed, and refused for want of an Idempotency-Key (the policy is asked first).
        case(
            "credit_wallet",
            call(
                Admin,
                "POST",
                "/api/v1/users/{member}/wallet/credit",
                json_body(json!({"amount": 1, "reason": "matrix"})),
                400,
            ),
            call(
                Member,
                "POST",
                "/api/v1/users/{member}/wallet/credit",
                json_body(json!({"amount": 1, "reason": "matrix"})),
                403,
            ),
        ),
        case(
            "debit_wallet",
            call(
                Admin,
                "POST",
                "/api/v1/users/{member}/wallet/debit",
                json_body(json!({"amount": 1, "reason": "matrix"})),
                400,
            ),
            call(
                OrgAdmin,
                "POST",
                "/api/v1/users/{member}/wallet/debit",
                json_body(json!({"amount": 1, "reason": "matrix"})),
                403,
            ),
        ),
        case(
            "freeze_wallet",
            call(
                Admin,
                "POST",
                "/api/v1/users/{member}/wallet/freeze",
                json_body(json!({"reason": "matrix"})),
                200,
            ),
            call(
                Auditor,
                "POST",
                "/api/v1/users/{member}/wallet/freeze",
                json_body(json!({"reason": "matrix"})),
                403,
            ),
        ),
        case(
            "unfreeze_wallet",
            call(
                Admin,
                "POST",
                "/api/v1/users/{member}/wallet/unfreeze",
                Empty,
                200,
            ),
            call(
                Key,
                "POST",
                "/api/v1/users/{member}/wallet/unfreeze",
                Empty,
                403,
            ),
        ),
        case(
            "ip_blocks",
            call(Analyst, "GET", "/api/v1/ip-blocks", Empty, 200),
            call(OrgAdmin, "GET", "/api/v1/ip-blocks", Empty, 403),
        ),
        case(
            "block_ip",
            call(
                Admin,
                "POST",
                "/api/v1/ip-blocks",
                json_body(json!({"network": "192.0.2.0/28", "reason": "matrix"})),
                201,
            ),
            call(
                Auditor,
                "POST",
                "/api/v1/ip-blocks",
                json_body(json!({"network": "192.0.2.0/28", "reason": "matrix"})),
                403,
            ),
        ),
        case(
            "unblock_ip",
            // Allowed: the address is not blocked, not the caller refused.
            call(Admin, "DELETE", "/api/v1/ip-blocks/192.0.2.99", Empty, 404),
            call(Key, "DELETE", "/api/v1/ip-blocks/192.0.2.99", Empty, 403),
        ),
        case(
            "roles",
            call(Auditor, "GET", "/api/v1/roles", Empty, 200),
            call(OrgAdmin, "GET", "/api/v1/roles", Empty, 403),
        ),
        case(
            "define_role",
            call(
                Admin,
                "POST",
                "/api/v1/roles",
                json_body(json!({"name": "{fresh_flag}"})),
                201,
            ),
            call(
                Analyst,
                "POST",
                "/api/v1/roles",
                json_body(json!({"name": "{fresh_flag}"})),
                403,
            ),
        ),
        case(
            "change_role",
            call(
                Admin,
                "PUT",
                "/api/v1/roles/user",
                json_body(json!({"privileged": false})),
                200,
            ),
            call(
                OrgAdmin,
                "PUT",
                "/api/v1/roles/user",
                json_body(json!({"privileged": false})),
                403,
            ),
        ),
        case(
            "retire_role",
            // Allowed: `user` is built in, not the caller refused.
            call(Admin, "DELETE", "/api/v1/roles/user", Empty, 409),
            call(Auditor, "DELETE", "/api/v1/roles/user", Empty, 403),
        ),
        case(
            "role_holders",
            call(Analyst, "GET", "/api/v1/roles/user/users", Empty, 200),
            call(Member, "GET", "/api/v1/roles/user/users", Empty, 403),
        ),
        case(
            "set_role_profile",
            call(
                Admin,
                "PUT",
                "/api/v1/users/{member}/role-profiles/user",
                json_body(json!({})),
                200,
            ),
            call(
                OrgAdmin,
                "PUT",
                "/api/v1/users/{member}/role-profiles/user",
                json_body(json!({})),
                403,
            ),
        ),
        case(
            "list_api_keys",
            call(
                OrgAdmin,
                "GET",
                "/api/v1/organizations/{acme}/api-keys",
                Empty,
                200,
            ),
            call(
                Member,
                "GET",
                "/api/v1/organizations/{acme}/api-keys",
                Empty,
                403,
            ),
        ),
        case(
            "create_api_key",
            call(
                OrgAdmin,
                "POST",
                "/api/v1/organizations/{acme}/api-keys",
                json_body(json!({"name": "{fresh_flag}", "permissions": ["can_upload_files"]})),
                201,
            ),
            call(
                Key,
                "POST",
                "/api/v1/organizations/{acme}/api-keys",
                json_body(json!({"name": "{fresh_flag}"})),
                403,
            ),
        ),
        case(
            "revoke_api_key",
            call(
                OrgAdmin,
                "DELETE",
                "/api/v1/organizations/{acme}/api-keys/{spare_key}",
                Empty,
                204,
            ),
            call(
                Stranger,
                "DELETE",
                "/api/v1/organizations/{acme}/api-keys/{spare_key}",
                Empty,
                404,
            ),
        ),
        case(
            "list_invitations",
            call(
                OrgAdmin,
                "GET",
                "/api/v1/organizations/{acme}/invitations",
                Empty,
                200,
            ),
            call(
                Member,
                "GET",
                "/api/v1/organizations/{acme}/invitations",
                Empty,
                403,
            ),
        ),
        with(
            Setup::MeInvited,
            case(
                "revoke_invitation",
                call(
                    OrgAdmin,
                    "DELETE",
                    "/api/v1/organizations/{acme}/invitations/{me}",
                    Empty,
                    204,
                ),
                call(
                    Member,
                    "DELETE",
                    "/api/v1/organizations/{acme}/invitations/{me}",
                    Empty,
                    403,
                ),
            ),
        ),
        case(
            "members",
            call(
                Member,
                "GET",
                "/api/v1/organizations/{acme}/members",
                Empty,
                200,
            ),
            call(
                Stranger,
                "GET",
                "/api/v1/organizations/{acme}/members",
                Empty,
                404,
            ),
        ),
        case(
            "organizations",
            call(Member, "GET", "/api/v1/organizations", Empty, 200),
            call(Stranger, "GET", "/api/v1/organizations", Empty, 403),
        ),
        // Read models and analytics.
        case(
            "users",
            call(Analyst, "GET", "/api/v1/users", Empty, 200),
            call(Member, "GET", "/api/v1/users", Empty, 403),
        ),
        case(
            "search_users",
            call(
                Analyst,
                "POST",
                "/api/v1/users/search",
                json_body(json!({})),
                200,
            ),
            call(
                Member,
                "POST",
                "/api/v1/users/search",
                json_body(json!({})),
                403,
            ),
        ),
        case(
            "activity",
            call(Analyst, "GET", "/api/v1/activity", Empty, 200),
            call(OrgAdmin, "GET", "/api/v1/activity", Empty, 403),
        ),
        case(
            "dashboard",
            call(Analyst, "GET", "/api/v1/analytics/dashboard", Empty, 200),
            call(OrgAdmin, "GET", "/api/v1/analytics/dashboard", Empty, 403),
        ),
        case(
            "organization_dashboard",
            call(
                Key,
                "GET",
                "/api/v1/analytics/organizations/{acme}",
                Empty,
                200,
            ),
            call(
                Member,
                "GET",
                "/api/v1/analytics/organizations/{acme}",
                Empty,
                403,
            ),
        ),
        case(
            "daily",
            call(
                Analyst,
                "GET",
                "/api/v1/analytics/daily?metric=logins",
                Empty,
                200,
            ),
            call(
                Member,
                "GET",
                "/api/v1/analytics/daily?metric=logins",
                Empty,
                403,
            ),
        ),
        case(
            "verification_funnel",
            call(
                Analyst,
                "GET",
                "/api/v1/analytics/verification-funnel",
                Empty,
                200,
            ),
            call(
                OrgAdmin,
                "GET",
                "/api/v1/analytics/verification-funnel",
                Empty,
                403,
            ),
        ),
        // Operators and auditors.
        case(
            "verify_storage",
            call(Admin, "POST", "/api/v1/admin/storage/verify", Empty, 200),
            call(Auditor, "POST", "/api/v1/admin/storage/verify", Empty, 403),
        ),
        case(
            "rebuild_storage",
            call(
                Admin,
                "POST",
                "/api/v1/admin/storage/rebuild",
                json_body(json!({})),
                200,
            ),
            call(
                Auditor,
                "POST",
                "/api/v1/admin/storage/rebuild",
                json_body(json!({})),
                403,
            ),
        ),
        case(
            "deliveries",
            call(Admin, "GET", "/api/v1/admin/deliveries", Empty, 200),
            call(Auditor, "GET", "/api/v1/admin/deliveries", Empty, 403),
        ),
        case(
            "processing",
            call(Admin, "GET", "/api/v1/admin/processing", Empty, 200),
            call(Auditor, "GET", "/api/v1/admin/processing", Empty, 403),
        ),
        // No read model is stopped: allowed, and refused by the state of things (409).
        case(
            "retry_read_model",
            call(
                Admin,
                "POST",
                "/api/v1/admin/read-models/directory/retry",
                Empty,
                409,
            ),
            call(
                OrgAdmin,
                "POST",
                "/api/v1/admin/read-models/directory/retry",
                Empty,
                403,
            ),
        ),
        case(
            "skip_read_model",
            call(
                Admin,
                "POST",
                "/api/v1/admin/read-models/directory/skip",
                Empty,
                409,
            ),
            call(
                Analyst,
                "POST",
                "/api/v1/admin/read-models/directory/skip",
                Empty,
                403,
            ),
        ),
        case(
            "retry_worker_letters",
            call(
                Admin,
                "POST",
                "/api/v1/admin/workers/dead-letters/retry",
                json_body(json!({})),
                200,
            ),
            call(
                Auditor,
                "POST",
                "/api/v1/admin/workers/dead-letters/retry",
                json_body(json!({})),
                403,
            ),
        ),
        case(
            "events",
            call(Auditor, "GET", "/api/v1/audit/events", Empty, 200),
            call(Analyst, "GET", "/api/v1/audit/events", Empty, 403),
        ),
        case(
            "verify",
            call(Auditor, "GET", "/api/v1/audit/verify", Empty, 200),
            call(Analyst, "GET", "/api/v1/audit/verify", Empty, 403),
        ),
        case(
            "checkpoints",
            call(Auditor, "GET", "/api/v1/audit/checkpoints", Empty, 200),
            call(Analyst, "GET", "/api/v1/audit/checkpoints", Empty, 403),
        ),
    ]
}

/// The standing cast: an administrator, readers, and acme with its org_admin and a member.
struct World {
    app: TestApp,
    admin: String,
    analyst: String,
    auditor: String,
    stranger: String,
    member_id: String,
    member: String,
    org_admin_id: String,
    org_admin: String,
    acme: String,
    /// acme's API key, with every flag.
    key: String,
    /// The id of another of acme's keys, for revoking.
    spare_key: String,
}

/// A case's own user.
struct Me {
    id: String,
    email: String,
    access: String,
    refresh: String,
    session: String,
}

async fn token_of(app: &TestApp, email: &str) -> String {
    app.login(email, PASSWORD).await["access_token"]
        .as_str()
        .expect("token")
        .to_owned()
}

async fn created(response: reqwest::Response) -> String {
    assert_eq!(response.status(), 201);
    response.json::<Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .to_owned()
}

async fn world(backend: Backend) -> World {
    let mut options = Options::default();
    options.auth.introspection_credential_hash = Some(hash_token(SERVICE_SECRET));
    let app = spawn_app_with(backend, options).await;
    let (_, admin) = app.admin().await;
    let mut tokens = Vec::new();
    for (email, role) in [
        ("analyst@example.com", "analyst"),
        ("auditor@example.com", "auditor"),
    ] {
        let body = json!({"email": email, "password": PASSWORD, "roles": [role]});
        let response = app
            .send(
                reqwest::Method::POST,
                "/api/v1/users",
                &admin,
                Some(body),
                &[],
            )
            .await;
        created(response).await;
        tokens.push(token_of(&app, email).await);
    }
    app.register("stranger@example.com", PASSWORD).await;
    let stranger = token_of(&app, "stranger@example.com").await;
    let member_id = app.register("member@example.com", PASSWORD).await;
    let org_admin_id = app.register("boss@example.com", PASSWORD).await;
    let body = json!({"name": "acme", "partner": {
        "code": "ACME001", "communication": "sftp", "edi_format": "X12",
        "sender_id": "ACMESEND", "receiver_id": "IDLOGRECV"
    }});
    let response = app
        .send(
            reqwest::Method::POST,
            "/api/v1/organizations",
            &admin,
            Some(body),
            &[],
        )
        .await;
    let acme = created(response).await;
    for (user_id, role) in [(&member_id, "member"), (&org_admin_id, "org_admin")] {
        let body = json!({"user_id": user_id, "role": role});
        let path = format!("/api/v1/organizations/{acme}/members");
        let added = app
            .send(reqwest::Method::POST, &path, &admin, Some(body), &[])
            .await;
        assert_eq!(added.status(), 201);
    }
    let member = token_of(&app, "member@example.com").await;
    let org_admin = token_of(&app, "boss@example.com").await;
    let auditor = tokens.pop().expect("auditor");
    let analyst = tokens.pop().expect("analyst");
    let mut keys = Vec::new();
    for name in ["partner systems", "spare"] {
        let body = json!({"name": name, "permissions": [
            "can_upload_files", "can_download_files", "can_view_transactions",
            "can_view_reports", "can_manage_settings"
        ]});
        let path = format!("/api/v1/organizations/{acme}/api-keys");
        let issued: Value = app
            .send(reqwest::Method::POST, &path, &org_admin, Some(body), &[])
            .await
            .json()
            .await
            .expect("json");
        keys.push(issued);
    }
    let key = keys[0]["token"].as_str().expect("token").to_owned();
    let spare_key = keys[1]["key"]["id"].as_str().expect("id").to_owned();
    // The wallet worker opens the member's wallet after their registration.
    let wallet = format!("/api/v1/users/{member_id}/wallet");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while app.get_with_token(&wallet, &admin).await.status() != 200 {
        assert!(std::time::Instant::now() < deadline, "no wallet opened");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    World {
        app,
        admin,
        analyst,
        auditor,
        stranger,
        member_id,
        member,
        org_admin_id,
        org_admin,
        acme,
        key,
        spare_key,
    }
}

impl World {
    async fn me(&self, n: usize, setup: Setup) -> Me {
        let email = format!("me{n}@example.com");
        let id = self.app.register(&email, PASSWORD).await;
        let tokens = self.app.login(&email, PASSWORD).await;
        let access = tokens["access_token"].as_str().expect("token").to_owned();
        let sessions: Value = self
            .app
            .get_with_token("/api/v1/auth/sessions", &access)
            .await
            .json()
            .await
            .expect("json");
        let session = sessions
            .as_array()
            .and_then(|all| all.first())
            .and_then(|first| first["id"].as_str().or(first["session_id"].as_str()))
            .expect("a session")
            .to_owned();
        let (path, token, body) = match setup {
            Setup::None => return self.finish(id, email, access, tokens, session),
            Setup::MeInAcme => (
                format!("/api/v1/organizations/{}/members", self.acme),
                &self.admin,
                json!({"user_id": id}),
            ),
            Setup::MeInvited => (
                format!("/api/v1/organizations/{}/invitations", self.acme),
                &self.org_admin,
                json!({"user_id": id}),
            ),
        };
        let prepared = self
            .app
            .send(reqwest::Method::POST, &path, token, Some(body), &[])
            .await;
        assert_eq!(prepared.status(), 201, "{setup:?}");
        self.finish(id, email, access, tokens, session)
    }

    fn finish(
        &self,
        id: String,
        email: String,
        access: String,
        tokens: Value,
        session: String,
    ) -> Me {
        Me {
            id,
            email,
            access,
            refresh: tokens["refresh_token"]
                .as_str()
                .expect("refresh")
                .to_owned(),
            session,
        }
    }

    fn fill(&self, text: &str, me: &Me, n: usize) -> String {
        text.replace("{me_email}", &me.email)
            .replace("{me_access}", &me.access)
            .replace("{me_refresh}", &me.refresh)
            .replace("{me_session}", &me.session)
            .replace("{me}", &me.id)
            .replace("{member}", &self.member_id)
            .replace("{org_admin}", &self.org_admin_id)
            .replace("{acme}", &self.acme)
            .replace("{spare_key}", &self.spare_key)
            .replace("{fresh}", &format!("fresh{n}@example.com"))
            .replace("{fresh_flag}", &format!("can_fresh_{n}"))
    }

    async fn send(&self, call: &Call, me: &Me, n: usize) -> (u16, String) {
        let token = match call.who {
            Who::Anonymous => None,
            Who::Me => Some(me.access.as_str()),
            Who::Stranger => Some(self.stranger.as_str()),
            Who::Member => Some(self.member.as_str()),
            Who::OrgAdmin => Some(self.org_admin.as_str()),
            Who::Analyst => Some(self.analyst.as_str()),
            Who::Auditor => Some(self.auditor.as_str()),
            Who::Admin => Some(self.admin.as_str()),
            Who::Service => Some(SERVICE_SECRET),
            Who::Key => Some(self.key.as_str()),
        };
        let mut request = self.app.client.request(
            call.method.clone(),
            self.app.url(&self.fill(&call.path, me, n)),
        );
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request = match &call.body {
            Body::None => request,
            Body::Json(value) => {
                let filled = self.fill(&value.to_string(), me, n);
                request
                    .header("content-type", "application/json")
                    .body(filled)
            }
            Body::Png => request.header("content-type", "image/png").body(png()),
        };
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        (status, response.text().await.unwrap_or_default())
    }
}

async fn every_route_allows_its_caller_and_refuses_another(backend: Backend) {
    let world = world(backend).await;
    let cases = cases();
    let document: Value = world
        .app
        .client
        .get(world.app.url("/api/openapi.json"))
        .send()
        .await
        .expect("document")
        .json()
        .await
        .expect("json");
    let documented: BTreeSet<String> = document["paths"]
        .as_object()
        .expect("paths")
        .values()
        .flat_map(|item| item.as_object().expect("operations").values())
        .map(|operation| operation["operationId"].as_str().expect("id").to_owned())
        .collect();
    let covered: BTreeSet<String> = cases
        .iter()
        .map(|case| case.operation_id.to_owned())
        .collect();
    assert_eq!(
        documented, covered,
        "every documented operation has one case here, and no case is undocumented"
    );
    for (n, case) in cases.iter().enumerate() {
        let me = world.me(n, case.setup).await;
        // Refused first: a refusal must leave the target as it was for the allowed call.
        if let Some(refused) = &case.refused {
            let (status, body) = world.send(refused, &me, n).await;
            assert_eq!(
                status, refused.status,
                "{}: {:?} must be refused: {body}",
                case.operation_id, refused.who
            );
        }
        let (status, body) = world.send(&case.allowed, &me, n).await;
        assert_eq!(
            status, case.allowed.status,
            "{}: {:?} must be allowed: {body}",
            case.operation_id, case.allowed.who
        );
    }
}

/// Ids are UUIDs whatever they name: a user id where an organization id is expected (and the
/// reverse, and a session id for a user) names nothing, and tokens built from another kind of
/// id are invalid. None of it reads as a corrupt log or answers 5xx.
async fn ids_of_the_wrong_kind_are_not_found(backend: Backend) {
    let world = world(backend).await;
    let session_id = {
        let me = world.me(9_000, Setup::None).await;
        me.session
    };
    let swaps: [(&str, &str); 4] = [
        ("{me}", "{acme}"),
        ("{member}", "{acme}"),
        ("{acme}", "{member}"),
        ("{me_session}", "{member}"),
    ];
    let mut fresh = 10_000;
    for (n, case) in cases().iter().enumerate() {
        for (placeholder, wrong) in swaps {
            let allowed = &case.allowed;
            let in_body = matches!(&allowed.body, Body::Json(value) if value.to_string().contains(placeholder));
            if !allowed.path.contains(placeholder) && !in_body {
                continue;
            }
            fresh += 1;
            let me = world.me(fresh, case.setup).await;
            let path = allowed.path.replace(placeholder, wrong);
            let body = match &allowed.body {
                Body::Json(value) => Body::Json(
                    value
                        .to_string()
                        .replace(placeholder, wrong)
                        .parse()
                        .expect("json"),
                ),
                other => other.clone(),
            };
            let swapped = Call {
                path,
                body,
                ..allowed.clone()
            };
            let (status, answer) = world.send(&swapped, &me, n).await;
            let expected: &[u16] = if in_body {
                &[404, 422]
            } else {
                &[404, 422, 401]
            };
            assert!(
                expected.contains(&status),
                "{}: {placeholder} as {wrong} answered {status}: {answer}",
                case.operation_id
            );
        }
    }
    // Tokens carry the id of the stream that checks them.
    let me = world.me(20_000, Setup::None).await;
    for (path, body, status) in [
        (
            "/api/v1/auth/refresh",
            json!({"refresh_token": format!("{}.AAAA", world.member_id)}),
            401,
        ),
        (
            "/api/v1/auth/refresh",
            json!({"refresh_token": format!("{}.AAAA", world.acme)}),
            401,
        ),
        (
            "/api/v1/auth/password/reset",
            json!({"token": format!("{}.AAAA", world.acme), "new_password": "another fine passphrase"}),
            422,
        ),
        (
            "/api/v1/auth/password/reset",
            json!({"token": format!("{session_id}.AAAA"), "new_password": "another fine passphrase"}),
            422,
        ),
        (
            "/api/v1/auth/email/verify",
            json!({"token": format!("{}.AAAA", world.acme)}),
            422,
        ),
    ] {
        let call = Call {
            who: Who::Anonymous,
            method: reqwest::Method::POST,
            path: path.to_owned(),
            body: Body::Json(body.clone()),
            status,
        };
        let (answer, text) = world.send(&call, &me, 0).await;
        assert_eq!(answer, status, "{path} {body}: {text}");
    }
}

test_both_backends!(
    every_route_allows_its_caller_and_refuses_another,
    ids_of_the_wrong_kind_are_not_found,
);
