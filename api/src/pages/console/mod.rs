//! The console: administrators, organization admins, analysts and auditors at work. Each
//! section asks the policy through the same use cases as REST, so a role sees here exactly what
//! it may read there; a link the caller may not follow is not shown.

pub mod activity;
pub mod analytics;
pub mod audit;
pub mod charts;
pub mod ip_blocks;
pub mod operations;
pub mod organizations;
pub mod partners;
pub mod roles;
pub mod user;
pub mod users;

use crate::AppState;
use crate::pages::error::PageError;
use application::authority::Authority;
use application::policy::Operation;

/// Whose figures a page shows: everyone's, or one organization's the caller may read for an
/// operation (an org_admin's own organizations only).
pub(super) struct Choice {
    /// Whether "everyone" is a choice.
    pub(super) everyone: bool,
    /// The organizations the caller may choose from: (id, name), by name.
    pub(super) organizations: Vec<(String, String)>,
    /// The one chosen (none: everyone's).
    pub(super) organization: Option<String>,
}

impl Choice {
    /// The choice for `operation`, with `asked` (an id, or empty for everyone) where the
    /// caller may have it; refused if the caller may read no one's.
    pub(super) async fn of(
        state: &AppState,
        who: &Authority,
        operation: Operation,
        asked: &str,
    ) -> Result<Self, PageError> {
        let scope = state.scope(who, operation)?;
        let names: std::collections::HashMap<String, String> = state
            .list_organizations(who, &Default::default(), None)
            .await
            .unwrap_or_default()
            .into_iter()
            .map(|organization| (organization.organization_id, organization.name))
            .collect();
        let name_of = |id: &String| names.get(id).cloned().unwrap_or_else(|| id.clone());
        let asked = asked.trim();
        Ok(match scope.organizations() {
            None => {
                let mut all: Vec<_> = names
                    .iter()
                    .map(|(id, name)| (id.clone(), name.clone()))
                    .collect();
                all.sort_by(|a, b| a.1.cmp(&b.1));
                Self {
                    everyone: true,
                    organizations: all,
                    organization: (!asked.is_empty()).then(|| asked.to_owned()),
                }
            }
            Some(ids) => Self {
                everyone: false,
                organizations: ids.iter().map(|id| (id.clone(), name_of(id))).collect(),
                organization: ids
                    .iter()
                    .find(|id| **id == asked)
                    .or_else(|| ids.first())
                    .cloned(),
            },
        })
    }
}

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
        (
            "/console/partners",
            t.console_partners,
            Operation::ReadTransactions,
        ),
        ("/console/audit", t.console_audit, Operation::ReadAuditLog),
        (
            "/console/roles",
            t.console_roles,
            Operation::ReadRoleCatalog,
        ),
        (
            "/console/ip-blocks",
            t.console_ip_blocks,
            Operation::ReadIpBlocks,
        ),
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
