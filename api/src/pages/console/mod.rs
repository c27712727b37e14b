//! The console: administrators, organization admins, analysts and auditors at work. Each
//! section asks the policy through the same use cases as REST, so a role sees here exactly what
//! it may read there; a link the caller may not follow is not shown.

pub mod activity;
pub mod analytics;
pub mod audit;
pub mod charts;
pub mod operations;
pub mod organizations;
pub mod user;
pub mod users;

use crate::AppState;
use application::authority::Authority;
use application::policy::Operation;

/// The console's sections the policy lets `who` into, with their labels: a section is listed
/// when its list would answer rather than refuse.
pub fn sections(state: &AppState, who: &Authority) -> Vec<(&'static str, &'static str)> {
    let t = &super::texts::ENGLISH;
    [
        ("/console/users", t.console_users, Operation::ListUsers),
        (
            "/console/organizations",
            t.console_organizations,
            Operation::ListOrganizations,
        ),
        (
            "/console/activity",
            t.console_activity,
            Operation::ListActivity,
        ),
        (
            "/console/analytics",
            t.console_analytics,
            Operation::ReadAnalytics,
        ),
        ("/console/audit", t.console_audit, Operation::ReadAuditLog),
        (
            "/console/operations",
            t.console_operations,
            Operation::ReadProcessing,
        ),
    ]
    .into_iter()
    .filter(|(_, _, operation)| state.scope(who, *operation).is_ok())
    .map(|(href, label, _)| (href, label))
    .collect()
}

/// A value's name as the API spells it (`deactivated`, `admin`): its serde name.
pub(super) fn status_word<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|value| value.as_str().map(str::to_owned))
        .unwrap_or_default()
}
