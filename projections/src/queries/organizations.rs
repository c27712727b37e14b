//! Organizations and their members.

use super::{Binds, Queries, QueryError, escape_like, search_text};
use chrono::{DateTime, Utc};
use eventstore::sql;
use serde::Serialize;

/// An organization as listed.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct ListedOrganization {
    /// Id.
    pub organization_id: String,
    /// Unique name.
    pub name: String,
    /// Display name.
    pub display_name: Option<String>,
    /// Contact name.
    pub contact_name: Option<String>,
    /// Contact email.
    pub contact_email: Option<String>,
    /// Contact phone.
    pub contact_phone: Option<String>,
    /// Status.
    pub status: String,
    /// A partner's code.
    pub partner_code: Option<String>,
    /// A partner's communication method.
    pub communication: Option<String>,
    /// A partner's EDI format.
    pub edi_format: Option<String>,
    /// A partner's EDI sender id.
    pub sender_id: Option<String>,
    /// A partner's EDI receiver id.
    pub receiver_id: Option<String>,
    /// Members.
    pub member_count: i64,
    /// Created.
    #[serde(serialize_with = "domain::time::micros")]
    pub created_at: DateTime<Utc>,
    /// Last changed.
    #[serde(serialize_with = "domain::time::micros")]
    pub updated_at: DateTime<Utc>,
}

/// A member of an organization as listed.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct ListedMember {
    /// The user.
    pub user_id: String,
    /// Their email.
    pub email: Option<String>,
    /// Their role in the organization.
    pub role: String,
    /// Their permission flags.
    #[schema(value_type = Vec<String>)]
    pub permissions: sqlx::types::Json<Vec<String>>,
    /// Added.
    #[serde(serialize_with = "domain::time::micros")]
    pub added_at: DateTime<Utc>,
    /// Last changed.
    #[serde(serialize_with = "domain::time::micros")]
    pub updated_at: DateTime<Utc>,
}

/// Filters for the organizations list.
#[derive(Debug, Clone, Default)]
pub struct OrganizationFilter {
    /// In this status.
    pub status: Option<String>,
    /// Part of the name, display name, partner code, sender or receiver id, or the contact's
    /// name, email or phone (case-insensitive).
    pub q: Option<String>,
    /// Exactly this partner code (compared upper case, as stored).
    pub partner_code: Option<String>,
    /// Partners communicating so (`sftp`, `api`, `both`, `manual`).
    pub communication: Option<String>,
    /// Partners exchanging this format (`X12`, `EDIFACT`, `XML`, `JSON`, `CSV`).
    pub edi_format: Option<String>,
}

impl Queries {
    /// Organizations, by name.
    #[tracing::instrument(skip(self))]
    pub async fn organizations(
        &self,
        filter: &OrganizationFilter,
        scope: Option<&[String]>,
    ) -> Result<Vec<ListedOrganization>, QueryError> {
        let status = filter.status.as_deref();
        let q = filter.q.as_deref();
        let organizations = self.view("organizations");
        let members = self.view("members");
        let mut binds = Binds::default();
        let mut conditions = vec!["1 = 1".to_owned()];
        if let Some(status) = status {
            conditions.push(format!("o.status = {}", binds.push(status)));
        }
        if let Some(q) = search_text(q)? {
            let value = binds.push(escape_like(q));
            conditions.push(format!(
                "(lower(o.name) LIKE {value}{escape} OR lower(COALESCE(o.display_name, '')) LIKE {value}{escape} \
                 OR lower(COALESCE(o.partner_code, '')) LIKE {value}{escape} OR lower(COALESCE(o.sender_id, '')) LIKE {value}{escape} \
                 OR lower(COALESCE(o.receiver_id, '')) LIKE {value}{escape} \
                 OR lower(COALESCE(o.contact_name, '')) LIKE {value}{escape} OR lower(COALESCE(o.contact_email, '')) LIKE {value}{escape} \
                 OR lower(COALESCE(o.contact_phone, '')) LIKE {value}{escape})",
                escape = self.like_escape()
            ));
        }
        if let Some(code) = &filter.partner_code {
            conditions.push(format!(
                "o.partner_code = {}",
                binds.push(code.trim().to_ascii_uppercase())
            ));
        }
        if let Some(communication) = &filter.communication {
            conditions.push(format!(
                "o.communication = {}",
                binds.push(communication.clone())
            ));
        }
        if let Some(format) = &filter.edi_format {
            conditions.push(format!("o.edi_format = {}", binds.push(format.clone())));
        }
        if let Some(scope) = scope {
            let list: Vec<String> = scope.iter().map(|id| binds.push(id.clone())).collect();
            if list.is_empty() {
                conditions.push("1 = 0".into());
            } else {
                conditions.push(format!("o.organization_id IN ({})", list.join(", ")));
            }
        }
        Ok(sql::fetch_all(
            &self.database,
            &format!(
                "SELECT o.organization_id, o.name, o.display_name, o.contact_name, o.contact_email, o.contact_phone, o.status, \
                 o.partner_code, o.communication, o.edi_format, o.sender_id, o.receiver_id, \
                 (SELECT count(*) FROM {members} m WHERE m.organization_id = o.organization_id) AS member_count, \
                 o.created_at, o.updated_at FROM {organizations} o WHERE {} ORDER BY o.name LIMIT 1000",
                conditions.join(" AND ")
            ),
            &binds.args,
        )
        .await?)
    }

    /// An organization's members, with their emails.
    #[tracing::instrument(skip(self))]
    pub async fn members(&self, organization_id: &str) -> Result<Vec<ListedMember>, QueryError> {
        let members = self.view("members");
        let users = self.view("users");
        Ok(sql::fetch_all(
            &self.database,
            &format!(
                "SELECT m.user_id, u.email, m.role, m.permissions, m.added_at, m.updated_at FROM {members} m \
                 LEFT JOIN {users} u ON u.user_id = m.user_id WHERE m.organization_id = $1 ORDER BY m.added_at, m.user_id"
            ),
            &[organization_id.into()],
        )
        .await?)
    }
}
