//! A user's sessions, and sessions past their lifetime.

use super::{Queries, QueryError};
use crate::sessions::SessionRow;
use chrono::{DateTime, Utc};
use eventstore::sql;

impl Queries {
    /// A user's sessions, newest first.
    #[tracing::instrument(skip(self))]
    pub async fn sessions(&self, user_id: &str) -> Result<Vec<SessionRow>, QueryError> {
        let sessions = self.view("sessions");
        Ok(sql::fetch_all(
            &self.database,
            &format!(
                "SELECT {} FROM {sessions} WHERE user_id = $1 ORDER BY started_at DESC, session_id DESC",
                crate::sessions::columns()
            ),
            &[user_id.into()],
        )
        .await?)
    }

    /// Sessions the log still shows open that are past their idle timeout or absolute
    /// lifetime at `now` (unusable already; `idlog maintenance expire-sessions` records it).
    #[tracing::instrument(skip(self))]
    pub async fn lapsed_sessions(&self, now: DateTime<Utc>) -> Result<Vec<SessionRow>, QueryError> {
        let sessions = self.view("sessions");
        let open: Vec<SessionRow> = sql::fetch_all(
            &self.database,
            &format!(
                "SELECT {} FROM {sessions} WHERE status = 'active' ORDER BY started_at, session_id",
                crate::sessions::columns()
            ),
            &[],
        )
        .await?;
        Ok(open
            .into_iter()
            .filter(|session| {
                let idle = chrono::TimeDelta::seconds(session.idle_timeout_seconds);
                now >= session.expires_at || now >= session.last_used_at + idle
            })
            .collect())
    }
}
