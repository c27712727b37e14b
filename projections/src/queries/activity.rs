//! The activity log: pages, exports and pruning.

use super::{Binds, MAX_LIMIT, Page, Queries, QueryError, limit_of};
use crate::activity::{ActivityLine, ActivityRow, LINE_COLUMNS};
use chrono::{DateTime, Utc};
use eventstore::sql::{self, Arg, Dialect};
use serde::{Deserialize, Serialize};

/// Filters for the activity log.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActivityFilter {
    /// At or after.
    pub from: Option<DateTime<Utc>>,
    /// Before.
    pub to: Option<DateTime<Utc>>,
    /// Done by.
    pub actor: Option<String>,
    /// Concerning this user.
    pub user: Option<String>,
    /// This event type.
    pub action: Option<String>,
    /// This resource (a stream id).
    pub resource: Option<String>,
    /// Concerning this organization.
    pub organization: Option<String>,
    /// Where the previous page ended (a position).
    pub cursor: Option<String>,
    /// Page size (default 50, at most 200; exports ignore it).
    pub limit: Option<u32>,
    /// Answer only once the read models have applied this log position.
    pub min_position: Option<u64>,
    /// Only rows about these organizations or their members (an org_admin's view); set by the
    /// server, never by the client.
    #[serde(skip)]
    #[schema(ignore)]
    pub scope: Option<Vec<String>>,
    /// Leave out what happens on every request of a signed-in client (refresh tokens rotated,
    /// page sessions kept alive): what a person reads as their own recent activity. Set by
    /// the server.
    #[serde(skip)]
    #[schema(ignore)]
    pub without_routine: bool,
    /// Only these actions (a person's notifications). Set by the server.
    #[serde(skip)]
    #[schema(ignore)]
    pub actions: Option<Vec<String>>,
}

/// The events [`ActivityFilter::without_routine`] leaves out.
pub const ROUTINE_ACTIONS: [domain::session::SessionEventType; 2] = [
    domain::session::SessionEventType::SessionRefreshed,
    domain::session::SessionEventType::SessionUsed,
];

/// A row of [`Queries::activity_and`]: which of the two selects it came from.
#[derive(sqlx::FromRow)]
struct PartRow {
    part: i64,
    #[sqlx(flatten)]
    row: ActivityLine,
}

/// The two parts of [`Queries::activity_and`] on SQLite, each a JSON array of rows.
#[derive(sqlx::FromRow)]
struct JsonParts {
    recent: String,
    notified: String,
}

/// An activity line as a SQLite JSON object (`details` as JSON, not text).
fn sqlite_json_object() -> String {
    let fields: Vec<String> = LINE_COLUMNS
        .iter()
        .map(|column| match *column {
            "details" => "'details', json(details)".to_owned(),
            column => format!("'{column}', {column}"),
        })
        .collect();
    format!("json_object({})", fields.join(", "))
}

/// `rows` (fetched one over `limit`) as a page: `limit` of them, and where the next starts
/// (the last one's `position`).
pub(super) fn page_of<T>(mut rows: Vec<T>, limit: i64, position: impl Fn(&T) -> i64) -> Page<T> {
    let more = rows.len() > usize::try_from(limit).unwrap_or(usize::MAX);
    rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let next_cursor = more
        .then(|| rows.last().map(|row| position(row).to_string()))
        .flatten();
    Page {
        items: rows,
        next_cursor,
        total: None,
        total_exact: None,
    }
}

impl Queries {
    fn activity_sql(
        &self,
        filter: &ActivityFilter,
        limit: Option<i64>,
    ) -> Result<(String, Vec<Arg>), QueryError> {
        let mut binds = Binds::default();
        let columns = crate::activity::columns();
        let select = self.activity_select(filter, &columns, limit, &mut binds)?;
        Ok((select, binds.args))
    }

    /// The `SELECT` of the rows `filter` matches, newest first, its arguments in `binds` (so
    /// that one statement can hold several).
    fn activity_select(
        &self,
        filter: &ActivityFilter,
        columns: &str,
        limit: Option<i64>,
        binds: &mut Binds,
    ) -> Result<String, QueryError> {
        let activity = self.view("activity");
        let mut conditions = vec!["1 = 1".to_owned()];
        if let Some(from) = filter.from {
            conditions.push(format!("at >= {}", binds.push(from)));
        }
        if let Some(to) = filter.to {
            conditions.push(format!("at < {}", binds.push(to)));
        }
        for (column, value) in [
            ("actor_id", &filter.actor),
            ("subject_user_id", &filter.user),
            ("action", &filter.action),
            ("resource_id", &filter.resource),
            ("organization_id", &filter.organization),
        ] {
            if let Some(value) = value {
                conditions.push(format!("{column} = {}", binds.push(value.clone())));
            }
        }
        if let Some(actions) = &filter.actions {
            let list: Vec<String> = actions
                .iter()
                .map(|action| binds.push(action.clone()))
                .collect();
            if list.is_empty() {
                conditions.push("1 = 0".into());
            } else {
                conditions.push(format!("action IN ({})", list.join(", ")));
            }
        }
        if filter.without_routine {
            let list: Vec<String> = ROUTINE_ACTIONS
                .iter()
                .map(|action| binds.push(action.as_str().to_owned()))
                .collect();
            conditions.push(format!("action NOT IN ({})", list.join(", ")));
        }
        if let Some(scope) = &filter.scope {
            let members = self.view("members");
            let list: Vec<String> = scope.iter().map(|id| binds.push(id.clone())).collect();
            if list.is_empty() {
                conditions.push("1 = 0".into());
            } else {
                let list = list.join(", ");
                conditions.push(format!(
                    "(organization_id IN ({list}) OR subject_user_id IN (SELECT user_id FROM {members} WHERE organization_id IN ({list})))"
                ));
            }
        }
        if let Some(cursor) = &filter.cursor {
            let position: i64 = cursor.parse().map_err(|_| {
                QueryError::Invalid("the cursor is not one this server gave out".into())
            })?;
            conditions.push(format!("position < {}", binds.push(position)));
        }
        let limit = match limit {
            Some(limit) => format!(" LIMIT {}", binds.push(limit)),
            None => String::new(),
        };
        Ok(format!(
            "SELECT {columns} FROM {activity} WHERE {} ORDER BY position DESC{limit}",
            conditions.join(" AND ")
        ))
    }

    /// A page of the lines `recent` matches and the first lines `notified` matches, in one
    /// statement (one round trip): what a person's dashboard shows.
    #[tracing::instrument(skip(self))]
    pub async fn activity_and(
        &self,
        recent: &ActivityFilter,
        notified: &ActivityFilter,
    ) -> Result<(Page<ActivityLine>, Vec<ActivityLine>), QueryError> {
        let limit = limit_of(recent.limit)?;
        let notified_limit = limit_of(notified.limit)?;
        let mut binds = Binds::default();
        let columns = LINE_COLUMNS.join(", ");
        let first = self.activity_select(recent, &columns, Some(limit + 1), &mut binds)?;
        let second = self.activity_select(notified, &columns, Some(notified_limit), &mut binds)?;
        let (recent_rows, notified_rows) = match self.dialect {
            Dialect::Postgres => {
                let sql = format!(
                    "SELECT CAST(0 AS BIGINT) AS part, {columns} FROM ({first}) AS recent \
                     UNION ALL SELECT CAST(1 AS BIGINT) AS part, {columns} FROM ({second}) AS \
                     notified ORDER BY part, position DESC"
                );
                let rows: Vec<PartRow> = sql::fetch_all(&self.database, &sql, &binds.args).await?;
                let (mut recent, mut notified) = (Vec::new(), Vec::new());
                for row in rows {
                    if row.part == 0 {
                        &mut recent
                    } else {
                        &mut notified
                    }
                    .push(row.row);
                }
                (recent, notified)
            }
            // SQLite's driver hands each row over from its connection's thread on its own,
            // which costs more than the row: each part comes back as one JSON array instead.
            Dialect::Sqlite => {
                let object = sqlite_json_object();
                let sql = format!(
                    "SELECT (SELECT json_group_array({object}) FROM ({first})) AS recent, \
                     (SELECT json_group_array({object}) FROM ({second})) AS notified"
                );
                let parts: Vec<JsonParts> =
                    sql::fetch_all(&self.database, &sql, &binds.args).await?;
                let part = |text: Option<&str>| -> Result<Vec<ActivityLine>, QueryError> {
                    let mut rows: Vec<ActivityLine> = serde_json::from_str(text.unwrap_or("[]"))
                        .map_err(|error| {
                            QueryError::Database(sqlx::Error::Decode(Box::new(error)))
                        })?;
                    rows.sort_by_key(|row| std::cmp::Reverse(row.position));
                    Ok(rows)
                };
                let first = parts.first();
                (
                    part(first.map(|parts| parts.recent.as_str()))?,
                    part(first.map(|parts| parts.notified.as_str()))?,
                )
            }
        };
        Ok((
            page_of(recent_rows, limit, |line| line.position),
            notified_rows,
        ))
    }

    /// A page of the activity log, newest first.
    #[tracing::instrument(skip(self))]
    pub async fn activity(&self, filter: &ActivityFilter) -> Result<Page<ActivityRow>, QueryError> {
        let limit = limit_of(filter.limit)?;
        let (sql, args) = self.activity_sql(filter, Some(limit + 1))?;
        let rows: Vec<ActivityRow> = sql::fetch_all(&self.database, &sql, &args).await?;
        Ok(page_of(rows, limit, |row| row.position))
    }

    /// The whole activity log matching `filter`, newest first, page by page (exports): memory
    /// stays flat whatever the log's size.
    pub fn activity_export(
        &self,
        filter: ActivityFilter,
    ) -> impl futures::Stream<Item = Result<Vec<ActivityRow>, QueryError>> + Send + 'static {
        let queries = self.clone();
        let first = ActivityFilter {
            limit: Some(MAX_LIMIT),
            ..filter
        };
        futures::stream::try_unfold(Some(first), move |next| {
            let queries = queries.clone();
            async move {
                let Some(filter) = next else {
                    return Ok(None);
                };
                let page = queries.activity(&filter).await?;
                let following = page.next_cursor.map(|cursor| ActivityFilter {
                    cursor: Some(cursor),
                    ..filter
                });
                Ok(Some((page.items, following)))
            }
        })
    }

    /// Deletes activity rows recorded before `before`; returns how many. The log keeps them.
    pub async fn prune_activity(&self, before: DateTime<Utc>) -> Result<u64, QueryError> {
        // Rows live in the generation tables; the view is not writable on every database.
        let generation: Vec<(String,)> = sql::fetch_all(
            &self.database,
            "SELECT generation FROM projection_checkpoints WHERE name = $1",
            &[crate::activity::NAME.into()],
        )
        .await?;
        let Some((generation,)) = generation.into_iter().next() else {
            return Ok(0);
        };
        let table = self.names.table("activity", &generation);
        Ok(sql::execute(
            &self.database,
            &format!("DELETE FROM {table} WHERE at < $1"),
            &[before.into()],
        )
        .await?)
    }
}
