//! The kinds of device a user signed in from.

use super::{Queries, QueryError};
use crate::devices::DeviceRow;
use eventstore::sql;

impl Queries {
    /// The kinds of device `user_id` signed in from, most recently seen first.
    #[tracing::instrument(skip(self))]
    pub async fn devices(&self, user_id: &str) -> Result<Vec<DeviceRow>, QueryError> {
        let devices = self.view("devices");
        Ok(sql::fetch_all(
            &self.database,
            &format!(
                "SELECT {} FROM {devices} WHERE user_id = $1 ORDER BY last_seen_at DESC, device",
                crate::devices::columns()
            ),
            &[user_id.into()],
        )
        .await?)
    }
}
