//! Reading the read models: lists and search, sessions, activity, organizations and members,
//! analytics. Every read asks the policy for its scope (everything, or the caller's
//! organizations' share) and can wait for a log position a command answered with.

use crate::authority::Authority;
use crate::policy::{Operation, Target};
use crate::{App, AppError, Resource};
use chrono::NaiveDate;
use domain::{OrganizationId, UserId};
use projections::activity::ActivityRow;
use projections::queries::{
    ActivityFilter, DailyPoint, Dashboard, Funnel, ListedMember, ListedOrganization, ListedUser,
    OrganizationFilter, Page, QueryError, UserFilter,
};
use projections::sessions::SessionRow;
use projections::{activity, analytics, directory, sessions};

/// How much of the read models a caller may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Everything (admin, auditor, analyst).
    All,
    /// The organizations the caller administers, and their members.
    Organizations(Vec<String>),
}

impl Scope {
    /// The organizations the scope is limited to, if it is.
    pub fn organizations(&self) -> Option<&[String]> {
        match self {
            Self::All => None,
            Self::Organizations(ids) => Some(ids),
        }
    }
}

/// The read models the analytics read.
const ANALYTICS_MODELS: &[&str] = &[analytics::NAME, directory::NAME];

/// The longest analytics window, in days.
pub const MAX_WINDOW_DAYS: u32 = 3660;

/// A window of days ending today: 1 to [`MAX_WINDOW_DAYS`], 30 if not given.
pub(crate) fn window(days: Option<u32>) -> Result<u32, AppError> {
    match days.unwrap_or(30) {
        days @ 1..=MAX_WINDOW_DAYS => Ok(days),
        _ => Err(AppError::Unanswerable(format!(
            "`days` must be 1 to {MAX_WINDOW_DAYS}."
        ))),
    }
}

impl From<QueryError> for AppError {
    fn from(error: QueryError) -> Self {
        match error {
            QueryError::Invalid(message) => Self::Unanswerable(message),
            QueryError::Database(error) => Self::internal(error),
        }
    }
}

impl App {
    /// What `who` may read for `operation`: everything, or their organizations' share, as the
    /// policy says; refused if neither.
    pub fn scope(&self, who: &Authority, operation: Operation) -> Result<Scope, AppError> {
        let Err(refusal) = who.require(operation, Target::Everything, Resource::Organization)
        else {
            return Ok(Scope::All);
        };
        let shared: Vec<String> = who
            .organizations()
            .filter(|id| who.allows(operation, Target::Organization(*id)))
            .map(|id| id.to_string())
            .collect();
        if shared.is_empty() {
            Err(refusal)
        } else {
            Ok(Scope::Organizations(shared))
        }
    }

    /// Waits until `projections` have applied `min_position`, if any.
    pub async fn fresh(
        &self,
        min_position: Option<u64>,
        projections: &[&str],
    ) -> Result<(), AppError> {
        let Some(position) = min_position else {
            return Ok(());
        };
        if position > eventstore::MAX_POSITION {
            return Err(AppError::NoSuchPosition {
                head: None,
                max: eventstore::MAX_POSITION,
            });
        }
        // Every position a command answered with is at or below the head: one above it was
        // never given out, so waiting for it would only time out.
        let head = self.head_position().await?;
        if position > head {
            return Err(AppError::NoSuchPosition {
                head: Some(head),
                max: eventstore::MAX_POSITION,
            });
        }
        let reached = self
            .read
            .projector
            .wait_for(position, projections, self.read.wait_timeout)
            .await
            .map_err(AppError::internal)?;
        if reached {
            Ok(())
        } else {
            Err(AppError::ReadModelBehind { position })
        }
    }

    /// A page of users matching `filter`, within what `who` may list.
    #[tracing::instrument(skip_all)]
    pub async fn list_users(
        &self,
        who: &Authority,
        filter: &UserFilter,
        min_position: Option<u64>,
    ) -> Result<Page<ListedUser>, AppError> {
        let scope = self.scope(who, Operation::ListUsers)?;
        // Role profiles are personal: shown and searched only by who may read them all.
        let profiles = who.allows(Operation::ReadRoleProfile, Target::Everything);
        if !filter.profile.is_empty() {
            who.require(
                Operation::ReadRoleProfile,
                Target::Everything,
                Resource::Anything,
            )?;
            self.check_profile_filter(filter).await?;
        }
        self.fresh(min_position, &[directory::NAME]).await?;
        let mut page = self
            .read
            .queries
            .users(filter, scope.organizations())
            .await?;
        if !profiles {
            for user in &mut page.items {
                user.role_profiles.clear();
            }
        }
        Ok(page)
    }

    /// Refuses profile filters on fields the role does not declare (a typo would otherwise
    /// find nobody, silently).
    async fn check_profile_filter(&self, filter: &UserFilter) -> Result<(), AppError> {
        let Some(name) = filter.role.as_deref() else {
            return Err(AppError::Unanswerable(
                "profile fields filter the holders of a role: give `role` too".into(),
            ));
        };
        let roles = self.roles().await?;
        let definition = domain::values::Role::parse(name)
            .ok()
            .and_then(|role| roles.definition(&role).cloned())
            .ok_or_else(|| AppError::Unanswerable(format!("role: {name} is not in the catalog")))?;
        for field in filter.profile.keys() {
            if !definition
                .fields
                .iter()
                .any(|declared| declared.name.as_str() == field)
            {
                let declared: Vec<&str> = definition
                    .fields
                    .iter()
                    .map(|declared| declared.name.as_str())
                    .collect();
                return Err(AppError::Unanswerable(format!(
                    "{field}: not a profile field of {name}; it has {}",
                    if declared.is_empty() {
                        "none".to_owned()
                    } else {
                        declared.join(", ")
                    }
                )));
            }
        }
        Ok(())
    }

    /// 404 unless the policy lets `who` do `operation` to the user `user_id`.
    async fn may_read_user(
        &self,
        who: &Authority,
        user_id: &str,
        operation: Operation,
    ) -> Result<(), AppError> {
        let user_id: UserId = user_id
            .parse()
            .map_err(|_| AppError::NotFound(Resource::User))?;
        self.may_read_person(who, user_id, operation).await
    }

    /// A user's sessions, open and past, newest first.
    #[tracing::instrument(skip_all)]
    pub async fn user_sessions(
        &self,
        who: &Authority,
        user_id: &str,
        min_position: Option<u64>,
    ) -> Result<Vec<SessionRow>, AppError> {
        self.fresh(min_position, &[sessions::NAME, directory::NAME])
            .await?;
        self.may_read_user(who, user_id, Operation::ReadUserSessions)
            .await?;
        Ok(self.read.queries.sessions(user_id).await?)
    }

    /// The activity log as `who` may read it: `filter` narrowed to their scope, or to the user
    /// `user` when given (the person, readers and their organizations' org_admins).
    #[tracing::instrument(skip_all)]
    pub async fn activity_filter(
        &self,
        who: &Authority,
        mut filter: ActivityFilter,
        user: Option<String>,
        min_position: Option<u64>,
    ) -> Result<ActivityFilter, AppError> {
        match user {
            Some(user_id) => {
                self.fresh(min_position, &[activity::NAME, directory::NAME])
                    .await?;
                self.may_read_user(who, &user_id, Operation::ReadUserActivity)
                    .await?;
                filter.user = Some(user_id);
            }
            None => {
                let scope = self.scope(who, Operation::ListActivity)?;
                filter.scope = scope.organizations().map(<[String]>::to_vec);
                self.fresh(min_position, &[activity::NAME]).await?;
            }
        }
        Ok(filter)
    }

    /// A page of activity for a filter [`Self::activity_filter`] gave.
    pub async fn activity_page(
        &self,
        filter: &ActivityFilter,
    ) -> Result<Page<ActivityRow>, AppError> {
        Ok(self.read.queries.activity(filter).await?)
    }

    /// Every row of activity for a filter [`Self::activity_filter`] gave, in pages. The filter
    /// (a bad cursor) is checked first, so that the stream can start as an answer.
    pub async fn activity_export(
        &self,
        filter: ActivityFilter,
    ) -> Result<
        impl futures::Stream<Item = Result<Vec<ActivityRow>, QueryError>> + Send + 'static,
        AppError,
    > {
        self.read
            .queries
            .activity(&ActivityFilter {
                limit: Some(1),
                ..filter.clone()
            })
            .await?;
        Ok(self.read.queries.activity_export(filter))
    }

    /// Asks the policy for analytics: of everything, or of one organization.
    async fn may_read_analytics(
        &self,
        who: &Authority,
        organization: Option<&str>,
    ) -> Result<(), AppError> {
        match organization {
            Some(id) => {
                let id: OrganizationId = id
                    .parse()
                    .map_err(|_| AppError::NotFound(Resource::Organization))?;
                self.authorized_organization(who, id, Operation::ReadAnalytics)
                    .await?;
            }
            None => who.require(
                Operation::ReadAnalytics,
                Target::Everything,
                Resource::Organization,
            )?,
        }
        Ok(())
    }

    /// The dashboard of the last `days` days: everyone's, or one organization's members'.
    #[tracing::instrument(skip_all)]
    pub async fn dashboard(
        &self,
        who: &Authority,
        organization: Option<&str>,
        days: Option<u32>,
        min_position: Option<u64>,
    ) -> Result<Dashboard, AppError> {
        self.may_read_analytics(who, organization).await?;
        let days = window(days)?;
        self.fresh(min_position, ANALYTICS_MODELS).await?;
        Ok(self.read.queries.dashboard(days, organization).await?)
    }

    /// One metric per day from `from` to `to` (default: the 30 days to today), zeros included.
    #[tracing::instrument(skip_all)]
    pub async fn daily(
        &self,
        who: &Authority,
        metric: &str,
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
        organization: Option<&str>,
        min_position: Option<u64>,
    ) -> Result<Vec<DailyPoint>, AppError> {
        self.may_read_analytics(who, organization).await?;
        self.fresh(min_position, ANALYTICS_MODELS).await?;
        let to = to.unwrap_or_else(|| chrono::Utc::now().date_naive());
        let from = from.unwrap_or_else(|| to - chrono::Days::new(29));
        Ok(self
            .read
            .queries
            .daily(metric, from, to, organization)
            .await?)
    }

    /// Registered, email verified, phone verified, both (users not deleted): everyone's, or
    /// one organization's members'.
    #[tracing::instrument(skip_all)]
    pub async fn verification_funnel(
        &self,
        who: &Authority,
        organization: Option<&str>,
        min_position: Option<u64>,
    ) -> Result<Funnel, AppError> {
        self.may_read_analytics(who, organization).await?;
        self.fresh(min_position, &[directory::NAME]).await?;
        Ok(self.read.queries.funnel(organization).await?)
    }

    /// Organizations `who` may list (an org_admin, the ones they administer), by name.
    #[tracing::instrument(skip_all)]
    pub async fn list_organizations(
        &self,
        who: &Authority,
        filter: &OrganizationFilter,
        min_position: Option<u64>,
    ) -> Result<Vec<ListedOrganization>, AppError> {
        let scope = self.scope(who, Operation::ListOrganizations)?;
        // A method or format no partner can have is a mistake, not an empty answer.
        if let Some(method) = &filter.communication
            && method
                .parse::<domain::organization::CommunicationMethod>()
                .is_err()
        {
            return Err(AppError::InvalidQuery {
                field: "/communication",
                message: "one of sftp, api, both, manual".into(),
            });
        }
        if let Some(format) = &filter.edi_format
            && format.parse::<domain::organization::EdiFormat>().is_err()
        {
            return Err(AppError::InvalidQuery {
                field: "/edi_format",
                message: "one of X12, EDIFACT, XML, JSON, CSV".into(),
            });
        }
        self.fresh(min_position, &[directory::NAME]).await?;
        Ok(self
            .read
            .queries
            .organizations(filter, scope.organizations())
            .await?)
    }

    /// An organization's members with their roles and permission flags.
    #[tracing::instrument(skip_all)]
    pub async fn members(
        &self,
        who: &Authority,
        organization: OrganizationId,
        min_position: Option<u64>,
    ) -> Result<Vec<ListedMember>, AppError> {
        self.authorized_organization(who, organization, Operation::ReadOrganization)
            .await?;
        self.fresh(min_position, &[directory::NAME]).await?;
        Ok(self.read.queries.members(&organization.to_string()).await?)
    }
}
