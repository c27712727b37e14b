//! What a person is told about their account: a sign-in from a kind of device the account was
//! not used on before, and security changes (password, email address, two-factor
//! authentication, a lock). Each is an event of the log, read through the activity read model;
//! each is also emailed by the email worker. And the kinds of device a person signed in from,
//! from the known-devices read model.

use crate::authority::Authority;
use crate::policy::Operation;
use crate::{App, AppError};
use domain::UserId;
use domain::user::UserEventType;
use projections::activity::ActivityLine;
use projections::devices::DeviceRow;
use projections::queries::{ActivityFilter, Page};

/// What a notification is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema, strum::Display)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum NotificationKind {
    /// A sign-in from a kind of device the account was not used on before.
    NewDevice,
    /// The person changed their password.
    PasswordChanged,
    /// The password was reset with an emailed link.
    PasswordReset,
    /// An administrator set the password.
    PasswordSet,
    /// The email address changed.
    EmailChanged,
    /// Two-factor authentication was turned on.
    TwoFactorOn,
    /// Two-factor authentication was turned off.
    TwoFactorOff,
    /// A recovery code was used to sign in.
    RecoveryCodeUsed,
    /// The account was locked.
    AccountLocked,
}

impl NotificationKind {
    /// The kind of the event `event_type`, if it is one a person is told of.
    pub fn of(event_type: UserEventType) -> Option<Self> {
        use UserEventType as T;
        Some(match event_type {
            T::SignedInFromNewDevice => Self::NewDevice,
            T::PasswordChanged => Self::PasswordChanged,
            T::PasswordResetCompleted => Self::PasswordReset,
            T::PasswordSet => Self::PasswordSet,
            T::EmailChanged => Self::EmailChanged,
            T::TotpEnabled => Self::TwoFactorOn,
            T::TotpDisabled => Self::TwoFactorOff,
            T::RecoveryCodeUsed => Self::RecoveryCodeUsed,
            T::AccountLocked => Self::AccountLocked,
            _ => return None,
        })
    }
}

/// One notification.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Notification {
    /// The event's log position.
    pub position: i64,
    /// When.
    #[serde(serialize_with = "domain::time::micros")]
    #[schema(value_type = String, format = DateTime)]
    pub at: domain::Timestamp,
    /// What happened.
    pub kind: NotificationKind,
    /// The kind of device (a new device's sign-in).
    pub device: Option<String>,
    /// From which address the request came: a sign-in's "place".
    pub ip: Option<String>,
    /// The address's country, when a GeoIP database is configured.
    pub country: Option<String>,
}

/// A kind of device a person signed in from, placed.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Device {
    /// The device as the read model has it.
    #[serde(flatten)]
    pub seen: DeviceRow,
    /// The last address's country, when a GeoIP database is configured.
    pub last_country: Option<String>,
}

/// How many activity rows a page of the account overview holds.
const OVERVIEW_ACTIVITY: u32 = 10;
/// How many notifications the account overview shows.
const OVERVIEW_NOTIFICATIONS: u32 = 5;

/// A person's account at a glance: recent activity and the latest notifications.
#[derive(Debug, Clone)]
pub struct AccountOverview {
    /// A page of recent activity, newest first.
    pub activity: Page<ActivityLine>,
    /// The latest notifications, newest first.
    pub notifications: Vec<Notification>,
}

/// The event types notifications are made of.
fn notified_event_types() -> Vec<String> {
    use strum::IntoEnumIterator;
    UserEventType::iter()
        .filter(|event_type| NotificationKind::of(*event_type).is_some())
        .map(|event_type| event_type.as_str().to_owned())
        .collect()
}

impl App {
    /// The notifications of `user_id`, newest first, a page at a time (`cursor` from the
    /// previous page). The account's first device is its beginning, not news: it is left out.
    #[tracing::instrument(skip(self, who))]
    pub async fn notifications(
        &self,
        who: &Authority,
        user_id: UserId,
        cursor: Option<String>,
        limit: Option<u32>,
        min_position: Option<u64>,
    ) -> Result<Page<Notification>, AppError> {
        self.fresh(min_position, &[projections::activity::NAME])
            .await?;
        self.may_read_person(who, user_id, Operation::ReadNotifications)
            .await?;
        let filter = ActivityFilter {
            user: Some(user_id.to_string()),
            actions: Some(notified_event_types()),
            cursor,
            limit,
            ..ActivityFilter::default()
        };
        let page = self.read.queries.activity(&filter).await?;
        let items = self.notifications_of(page.items.into_iter().map(ActivityLine::from));
        Ok(Page {
            items,
            next_cursor: page.next_cursor,
            total: None,
            total_exact: None,
        })
    }

    /// The notifications among activity `rows`: the account's first device is its beginning,
    /// not news.
    fn notifications_of(&self, rows: impl IntoIterator<Item = ActivityLine>) -> Vec<Notification> {
        rows.into_iter()
            .filter(|row| {
                row.details
                    .0
                    .get("first")
                    .and_then(serde_json::Value::as_bool)
                    != Some(true)
            })
            .filter_map(|row| {
                let kind = row
                    .action
                    .parse::<UserEventType>()
                    .ok()
                    .and_then(NotificationKind::of)?;
                Some(Notification {
                    position: row.position,
                    at: row.at,
                    kind,
                    device: row
                        .details
                        .0
                        .get("device")
                        .and_then(serde_json::Value::as_str)
                        .map(str::to_owned),
                    country: row.ip.as_deref().and_then(|ip| self.places.country(ip)),
                    ip: row.ip,
                })
            })
            .collect()
    }

    /// What a person's dashboard shows of `user_id`: a page of their recent activity (without
    /// what every signed-in request does; `cursor` from the previous page) and their latest
    /// notifications, read in one statement.
    #[tracing::instrument(skip(self, who))]
    pub async fn account_overview(
        &self,
        who: &Authority,
        user_id: UserId,
        cursor: Option<String>,
        min_position: Option<u64>,
    ) -> Result<AccountOverview, AppError> {
        self.fresh(min_position, &[projections::activity::NAME])
            .await?;
        self.may_read_person(who, user_id, Operation::ReadUserActivity)
            .await?;
        self.may_read_person(who, user_id, Operation::ReadNotifications)
            .await?;
        let recent = ActivityFilter {
            user: Some(user_id.to_string()),
            without_routine: true,
            cursor,
            limit: Some(OVERVIEW_ACTIVITY),
            ..ActivityFilter::default()
        };
        // One more than shown: the account's first device, told of by no notification, is in
        // an account's history once.
        let notified = ActivityFilter {
            user: Some(user_id.to_string()),
            actions: Some(notified_event_types()),
            limit: Some(OVERVIEW_NOTIFICATIONS + 1),
            ..ActivityFilter::default()
        };
        let (activity, notified) = self.read.queries.activity_and(&recent, &notified).await?;
        let mut notifications = self.notifications_of(notified);
        notifications.truncate(OVERVIEW_NOTIFICATIONS as usize);
        Ok(AccountOverview {
            activity,
            notifications,
        })
    }

    /// The kinds of device `user_id` signed in from, most recently seen first.
    #[tracing::instrument(skip(self, who))]
    pub async fn devices(
        &self,
        who: &Authority,
        user_id: UserId,
        min_position: Option<u64>,
    ) -> Result<Vec<Device>, AppError> {
        self.fresh(min_position, &[projections::devices::NAME])
            .await?;
        self.may_read_person(who, user_id, Operation::ReadDevices)
            .await?;
        Ok(self
            .read
            .queries
            .devices(&user_id.to_string())
            .await?
            .into_iter()
            .map(|seen| Device {
                last_country: seen
                    .last_ip
                    .as_deref()
                    .and_then(|ip| self.places.country(ip)),
                seen,
            })
            .collect())
    }
}
