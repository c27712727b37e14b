//! Who asks, as the policy sees them: the [`Actor`] for [`crate::policy::authorize`], the
//! organizations that tell their members' roles, and how the log records what they do.

use crate::api_keys::{KeyCaller, key_actor};
use crate::authentication::Caller;
use crate::policy::{self, Actor, GlobalRole, Operation, Person, Target, UserActor};
use crate::{App, AppError, RequestContext, Resource};
use domain::organization::{Organization, OrganizationAggregate, OrganizationState};
use domain::user::{User, UserState};
use domain::{OrganizationId, UserId};
use eventstore::{ActorKind, EventMetadata};
use secrecy::SecretString;
use std::collections::BTreeMap;

/// The rights of whoever asks, and how their actions are recorded.
#[derive(Debug, Clone)]
pub struct Authority {
    actor: Actor,
    organizations: Vec<Organization>,
    recorded_as: RecordedAs,
    /// The signed-in person, when it is one.
    caller: Option<Box<Caller>>,
}

/// Who the log names as the actor of what an [`Authority`] does.
#[derive(Debug, Clone)]
enum RecordedAs {
    /// A signed-in person: as an administrator when acting on someone else with the admin role.
    Person { id: UserId, admin: bool },
    /// The command line or idlog itself.
    Named(eventstore::Actor),
}

impl Authority {
    /// The rights of a signed-in caller, their memberships confirmed against each organization.
    pub async fn of(app: &App, caller: &Caller) -> Result<Self, AppError> {
        let mut organizations = Vec::new();
        let mut memberships = BTreeMap::new();
        let mut flags = BTreeMap::new();
        for id in &caller.user.organizations {
            let loaded = app
                .commands
                .followed::<OrganizationAggregate>(&id.to_string())
                .await?;
            if let OrganizationState::Present(organization) = loaded.state
                && let Some(membership) = organization.members.get(&caller.user.id)
            {
                memberships.insert(organization.id, membership.role);
                flags.insert(organization.id, membership.permissions.clone());
                organizations.push(*organization);
            }
        }
        // A flag retired from the catalog stays on its memberships but grants nothing (the
        // catalog is read only for callers holding flags at all).
        if flags
            .values()
            .any(|held: &std::collections::BTreeSet<_>| !held.is_empty())
        {
            let grantable = app.grantable_permissions().await?;
            for held in flags.values_mut() {
                held.retain(|flag| grantable.contains(flag));
            }
        }
        let roles = caller
            .user
            .roles
            .iter()
            .filter_map(|role| role.as_str().parse::<GlobalRole>().ok())
            .collect();
        let fresh = chrono::Utc::now() < caller.session.session.started_at + app.auth.reauth_window;
        Ok(Self {
            actor: Actor::User(UserActor {
                id: caller.user.id,
                roles,
                memberships,
                flags,
                fresh,
            }),
            organizations,
            recorded_as: RecordedAs::Person {
                id: caller.user.id,
                admin: caller.is_admin(),
            },
            caller: Some(Box::new(caller.clone())),
        })
    }

    /// The rights of an organization's API key: what its flags grant in its organization.
    pub async fn of_key(app: &App, key: &KeyCaller) -> Result<Self, AppError> {
        let flags = app.key_flags(&key.key).await?;
        Ok(Self {
            actor: Actor::Key(key.actor(flags)),
            // Its organization's share of lists and figures is what it may read.
            organizations: vec![(*key.organization).clone()],
            recorded_as: RecordedAs::Named(key_actor(key.key.id)),
            caller: None,
        })
    }

    /// The operator at the command line (full rights over a database at hand), recorded as
    /// `actor`.
    pub fn operator(actor: eventstore::Actor) -> Self {
        Self {
            actor: Actor::Operator,
            organizations: Vec::new(),
            recorded_as: RecordedAs::Named(actor),
            caller: None,
        }
    }

    /// The signed-in person asking, if it is one.
    pub fn caller(&self) -> Option<&Caller> {
        self.caller.as_deref()
    }

    /// Whether `user_id` is the person asking.
    pub fn is(&self, user_id: UserId) -> bool {
        self.caller().is_some_and(|caller| caller.is(user_id))
    }

    /// Who is asking, to the policy.
    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    /// Event metadata for what this caller does to no person in particular (an organization):
    /// a signed-in person acts as themself.
    pub fn acting(&self, context: &RequestContext) -> EventMetadata {
        match &self.recorded_as {
            RecordedAs::Person { id, .. } => self.metadata(context, *id),
            RecordedAs::Named(actor) => context.metadata(actor.clone()),
        }
    }

    /// Event metadata for what this caller does as an administrator (creating someone whose id
    /// is not known yet).
    pub fn administering(&self, context: &RequestContext) -> EventMetadata {
        match &self.recorded_as {
            RecordedAs::Person { id, .. } => context.metadata(eventstore::Actor {
                kind: ActorKind::Admin,
                id: Some(id.to_string()),
            }),
            RecordedAs::Named(actor) => context.metadata(actor.clone()),
        }
    }

    /// Event metadata for what this caller does to `subject`.
    pub fn metadata(&self, context: &RequestContext, subject: UserId) -> EventMetadata {
        match &self.recorded_as {
            RecordedAs::Person { id, admin } => context.metadata(eventstore::Actor {
                kind: if *admin && *id != subject {
                    ActorKind::Admin
                } else {
                    ActorKind::User
                },
                id: Some(id.to_string()),
            }),
            RecordedAs::Named(actor) => context.metadata(actor.clone()),
        }
    }

    /// Checks the password the caller sent (at `field` in the input) against their own,
    /// counted against their account like a login; when it matches, the caller has a fresh
    /// proof of who they are for this request.
    pub async fn confirm_password(
        &mut self,
        app: &App,
        password: Option<SecretString>,
        field: &'static str,
    ) -> Result<(), AppError> {
        let caller = self
            .caller
            .as_deref()
            .ok_or(AppError::WrongPassword { field })?;
        let password = password.ok_or(AppError::WrongPassword { field })?;
        app.rate_limits
            .login_per_account
            .check(caller.user.email.as_str())?;
        let matches = app
            .passwords
            .verify(password, caller.user.password_hash.as_ref())
            .await?;
        if !matches {
            return Err(AppError::WrongPassword { field });
        }
        if let Actor::User(user) = &mut self.actor {
            user.fresh = true;
        }
        Ok(())
    }

    /// `user` as the policy sees them: privileged or not, and their memberships in the
    /// caller's organizations (the only ones that can grant the caller anything over them).
    pub async fn person(&self, app: &App, user: &User) -> Result<Person, AppError> {
        let roles = app.roles().await?;
        Ok(Person {
            privileged: roles.any_privileged(user.roles.iter()),
            ..self.person_without_roles(user.id)
        })
    }

    /// The person whose stream `state` is: as [`Self::person`] while they are present; once
    /// forgotten (or never there), only their id is left and they hold no role.
    pub async fn person_in(
        &self,
        app: &App,
        id: UserId,
        user: &UserState,
    ) -> Result<Person, AppError> {
        match user {
            UserState::Present(user) => self.person(app, user).await,
            _ => Ok(self.person_without_roles(id)),
        }
    }

    /// A person who holds no global role (one forgotten: nothing but the id is left).
    pub fn person_without_roles(&self, id: UserId) -> Person {
        Person {
            id,
            privileged: false,
            memberships: self
                .organizations
                .iter()
                .filter_map(|organization| {
                    let membership = organization.members.get(&id)?;
                    Some((organization.id, membership.role))
                })
                .collect(),
        }
    }

    /// The organizations the caller belongs to.
    pub fn organizations(&self) -> impl Iterator<Item = OrganizationId> + '_ {
        self.organizations
            .iter()
            .map(|organization| organization.id)
    }

    /// Whether the policy allows `operation` on `target`.
    pub fn allows(&self, operation: Operation, target: Target<'_>) -> bool {
        policy::allows(&self.actor, operation, target)
    }

    /// `operation` on `target` if the policy allows it; otherwise the refusal, which names
    /// `resource` as what is "not found" when the caller may not know the target exists.
    pub fn require(
        &self,
        operation: Operation,
        target: Target<'_>,
        resource: Resource,
    ) -> Result<(), AppError> {
        policy::authorize(&self.actor, operation, target).map_err(|refusal| AppError::Refused {
            refusal,
            operation,
            resource,
        })
    }
}
