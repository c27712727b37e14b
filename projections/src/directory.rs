//! The directory: users (with roles, status, verification, lock and last login), organizations
//! and their members, for listing, filtering and search.
//!
//! A batch reads the rows of the users it touches once, applies the events in memory and writes
//! each touched row back once: a handful of statements per batch, whatever its size.

use crate::{ApplyError, Fact, Projection, Table, Tables};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::organization::OrganizationEvent;
use domain::session::SessionEvent;
use domain::user::{LockKind, UserEvent};
use eventstore::RecordedEvent;
use eventstore::sql::{Arg, Tx, execute_in, fetch_in, insert_rows, label, upsert_suffix};
use sqlx::types::Json;
use std::collections::{BTreeSet, HashMap};

/// The directory projection.
#[derive(Debug, Clone, Copy)]
pub struct Directory;

/// Its name.
pub const NAME: &str = "directory";

/// The users' verification statuses, as listed and filtered.
pub const VERIFICATION_STATUSES: [&str; 4] = [
    "both_verified",
    "email_verified",
    "phone_verified",
    "not_verified",
];

const TABLES: &[Table] = &[
    Table {
        name: "users",
        columns: "user_id TEXT PRIMARY KEY,
            version {int} NOT NULL,
            email TEXT NOT NULL,
            username TEXT,
            first_name TEXT,
            last_name TEXT,
            phone TEXT,
            roles {json} NOT NULL,
            status TEXT NOT NULL,
            locked {bool} NOT NULL,
            lock_kind TEXT,
            locked_until {time},
            failed_attempts {int} NOT NULL,
            email_verified_at {time},
            phone_verified_at {time},
            verification TEXT NOT NULL,
            mfa_enabled {bool} NOT NULL,
            preferred_language TEXT,
            origin TEXT NOT NULL,
            search TEXT NOT NULL,
            created_at {time} NOT NULL,
            updated_at {time} NOT NULL,
            last_login_at {time},
            last_login_ip TEXT,
            last_login_device TEXT,
            last_login_user_agent TEXT,
            status_before_deletion TEXT",
        indexes: &[
            ("created", "created_at, user_id"),
            ("last_login", "last_login_at, user_id"),
            ("email", "email, user_id"),
            ("username", "username"),
            ("phone", "phone"),
            ("status", "status, created_at, user_id"),
            ("locked", "locked, created_at, user_id"),
            // `q` is a substring search: trigrams make it an index lookup on PostgreSQL.
            ("search", "USING gin (search gin_trgm_ops)"),
        ],
    },
    Table {
        name: "user_roles",
        columns: "user_id TEXT NOT NULL, role TEXT NOT NULL, PRIMARY KEY (user_id, role)",
        indexes: &[("role", "role, user_id")],
    },
    // Role profiles, a row per field, so that `role=student&department=physics` is an index
    // lookup: `value` spelled as text (`3`, `true`, `2026-12-06`) for filters, `typed` as the
    // profile holds it, for lists.
    Table {
        name: "user_role_fields",
        columns: "user_id TEXT NOT NULL,
            role TEXT NOT NULL,
            field TEXT NOT NULL,
            value TEXT NOT NULL,
            typed {json} NOT NULL,
            PRIMARY KEY (user_id, role, field)",
        indexes: &[("value", "role, field, value, user_id")],
    },
    Table {
        name: "organizations",
        columns: "organization_id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            display_name TEXT,
            contact_name TEXT,
            contact_email TEXT,
            contact_phone TEXT,
            status TEXT NOT NULL,
            partner_code TEXT,
            communication TEXT,
            edi_format TEXT,
            sender_id TEXT,
            receiver_id TEXT,
            created_at {time} NOT NULL,
            updated_at {time} NOT NULL",
        indexes: &[
            ("name", "name"),
            ("status", "status, name"),
            ("partner_code", "partner_code"),
        ],
    },
    Table {
        name: "members",
        columns: "organization_id TEXT NOT NULL,
            user_id TEXT NOT NULL,
            role TEXT NOT NULL,
            permissions {json} NOT NULL,
            added_at {time} NOT NULL,
            updated_at {time} NOT NULL,
            PRIMARY KEY (organization_id, user_id)",
        indexes: &[("user", "user_id, organization_id")],
    },
];

/// A row of the users table.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct UserRow {
    /// Id.
    pub user_id: String,
    /// Stream version the row reflects.
    pub version: i64,
    /// Email address (empty once the user was forgotten).
    pub email: String,
    /// Username.
    pub username: Option<String>,
    /// Given name.
    pub first_name: Option<String>,
    /// Family name.
    pub last_name: Option<String>,
    /// Phone (E.164).
    pub phone: Option<String>,
    /// Global roles.
    pub roles: Json<Vec<String>>,
    /// `active`, `inactive`, `deleted` or `forgotten` (a lock is shown by `locked`).
    pub status: String,
    /// Whether a lock was placed and not lifted (it may have expired: see `locked_until`).
    pub locked: bool,
    /// `policy` or `admin`.
    pub lock_kind: Option<String>,
    /// When the lock ends by itself.
    pub locked_until: Option<DateTime<Utc>>,
    /// Consecutive failed logins.
    pub failed_attempts: i64,
    /// When the email was verified.
    pub email_verified_at: Option<DateTime<Utc>>,
    /// When the phone was verified.
    pub phone_verified_at: Option<DateTime<Utc>>,
    /// `not_verified`, `email_verified`, `phone_verified` or `both_verified`.
    pub verification: String,
    /// Whether TOTP is on.
    pub mfa_enabled: bool,
    /// Preferred language.
    pub preferred_language: Option<String>,
    /// `registered` (by themself) or `created` (by an administrator).
    pub origin: String,
    /// Lower-cased email, username and names, for `q`.
    pub search: String,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
    /// Last successful login.
    pub last_login_at: Option<DateTime<Utc>>,
    /// Address of the last login.
    pub last_login_ip: Option<String>,
    /// Device named at the last login.
    pub last_login_device: Option<String>,
    /// User agent of the last login.
    pub last_login_user_agent: Option<String>,
    /// While deleted, the status before (what a restore gives back).
    pub status_before_deletion: Option<String>,
}

const USER_COLUMNS: &[&str] = &[
    "user_id",
    "version",
    "email",
    "username",
    "first_name",
    "last_name",
    "phone",
    "roles",
    "status",
    "locked",
    "lock_kind",
    "locked_until",
    "failed_attempts",
    "email_verified_at",
    "phone_verified_at",
    "verification",
    "mfa_enabled",
    "preferred_language",
    "origin",
    "search",
    "created_at",
    "updated_at",
    "last_login_at",
    "last_login_ip",
    "last_login_device",
    "last_login_user_agent",
    "status_before_deletion",
];

impl UserRow {
    fn new(user_id: &str, email: String, at: DateTime<Utc>, origin: &str) -> Self {
        Self {
            user_id: user_id.to_owned(),
            version: 0,
            email,
            username: None,
            first_name: None,
            last_name: None,
            phone: None,
            roles: Json(Vec::new()),
            status: "active".into(),
            locked: false,
            lock_kind: None,
            locked_until: None,
            failed_attempts: 0,
            email_verified_at: None,
            phone_verified_at: None,
            verification: String::new(),
            mfa_enabled: false,
            preferred_language: None,
            origin: origin.into(),
            search: String::new(),
            created_at: at,
            updated_at: at,
            last_login_at: None,
            last_login_ip: None,
            last_login_device: None,
            last_login_user_agent: None,
            status_before_deletion: None,
        }
    }

    fn args(&self) -> Vec<Arg> {
        vec![
            self.user_id.clone().into(),
            self.version.into(),
            self.email.clone().into(),
            self.username.clone().into(),
            self.first_name.clone().into(),
            self.last_name.clone().into(),
            self.phone.clone().into(),
            Arg::Json(Some(serde_json::json!(self.roles.0))),
            self.status.clone().into(),
            self.locked.into(),
            self.lock_kind.clone().into(),
            self.locked_until.into(),
            self.failed_attempts.into(),
            self.email_verified_at.into(),
            self.phone_verified_at.into(),
            self.verification.clone().into(),
            self.mfa_enabled.into(),
            self.preferred_language.clone().into(),
            self.origin.clone().into(),
            self.search.clone().into(),
            self.created_at.into(),
            self.updated_at.into(),
            self.last_login_at.into(),
            self.last_login_ip.clone().into(),
            self.last_login_device.clone().into(),
            self.last_login_user_agent.clone().into(),
            self.status_before_deletion.clone().into(),
        ]
    }

    /// Keeps the derived columns in step with the others.
    fn derive(&mut self) {
        let [both, email, phone, none] = VERIFICATION_STATUSES;
        self.verification = match (
            self.email_verified_at.is_some(),
            self.phone_verified_at.is_some(),
        ) {
            (true, true) => both,
            (true, false) => email,
            (false, true) => phone,
            (false, false) => none,
        }
        .into();
        let mut search = self.email.to_lowercase();
        for part in [&self.username, &self.first_name, &self.last_name]
            .into_iter()
            .flatten()
        {
            search.push(' ');
            search.push_str(&part.to_lowercase());
        }
        self.search = search;
    }

    /// Applies one of the user's events.
    fn apply(&mut self, event: &UserEvent) {
        use UserEvent as E;
        match event {
            E::UserRegistered { .. } | E::UserCreated { .. } => {}
            E::EmailVerificationRequested { .. }
            | E::PhoneVerificationRequested { .. }
            | E::PhoneVerificationFailed { .. }
            | E::PasswordResetRequested { .. }
            | E::TotpEnrollmentStarted { .. }
            | E::TotpCodeUsed { .. }
            | E::RecoveryCodeUsed { .. }
            | E::ExpiredTokensDiscarded { .. }
            | E::SignedInFromNewDevice { .. }
            | E::OrganizationLinked { .. }
            | E::InvitedToOrganization { .. }
            | E::OrganizationUnlinked { .. }
            | E::ProfilePictureSet { .. }
            | E::ProfilePictureRemoved { .. } => {}
            E::EmailVerified { at, .. } => self.email_verified_at = Some(*at),
            E::PhoneVerified { at, .. } => self.phone_verified_at = Some(*at),
            E::ProfileUpdated {
                first_name,
                last_name,
                profile,
                at,
            } => {
                self.first_name = first_name.as_ref().map(ToString::to_string);
                self.last_name = last_name.as_ref().map(ToString::to_string);
                self.preferred_language =
                    profile.preferred_language.as_ref().map(ToString::to_string);
                self.updated_at = *at;
            }
            E::EmailChanged { new_email, at, .. } => {
                self.email = new_email
                    .known()
                    .map(ToString::to_string)
                    .unwrap_or_default();
                self.email_verified_at = None;
                self.updated_at = *at;
            }
            E::PhoneChanged { new_phone, at, .. } => {
                self.phone = new_phone.as_ref().map(ToString::to_string);
                self.phone_verified_at = None;
                self.updated_at = *at;
            }
            E::UsernameChanged {
                new_username, at, ..
            } => {
                self.username = new_username.as_ref().map(ToString::to_string);
                self.updated_at = *at;
            }
            E::RoleGranted { role, at } => {
                let role = role.to_string();
                if !self.roles.0.contains(&role) {
                    self.roles.0.push(role);
                    self.roles.0.sort();
                }
                self.updated_at = *at;
            }
            E::RoleRevoked { role, at } => {
                self.roles.0.retain(|r| r != role.as_str());
                self.updated_at = *at;
            }
            E::PasswordChanged { at, .. }
            | E::PasswordSet { at, .. }
            | E::PasswordChangeRequired { at }
            // The profile's fields are rows of `user_role_fields`.
            | E::RoleProfileSet { at, .. } => self.updated_at = *at,
            E::PasswordResetCompleted { at, .. } => {
                self.failed_attempts = 0;
                if self.lock_kind.as_deref() == Some("policy") {
                    self.unlock();
                }
                self.updated_at = *at;
            }
            E::LoginSucceeded { at, .. } => {
                self.failed_attempts = 0;
                self.drop_expired_lock(*at);
                self.last_login_at = Some(*at);
            }
            E::LoginFailed {
                failed_attempts,
                at,
            } => {
                self.failed_attempts = i64::from(*failed_attempts);
                self.drop_expired_lock(*at);
            }
            E::AccountLocked {
                kind, until, at, ..
            } => {
                self.locked = true;
                self.lock_kind = Some(
                    match kind {
                        LockKind::Policy => "policy",
                        LockKind::Admin => "admin",
                    }
                    .into(),
                );
                self.locked_until = *until;
                self.updated_at = *at;
            }
            E::AccountUnlocked { at } => {
                self.unlock();
                self.failed_attempts = 0;
                self.updated_at = *at;
            }
            E::UserDeactivated { at, .. } => {
                self.status = "inactive".into();
                self.updated_at = *at;
            }
            E::UserReactivated { at } => {
                self.status = "active".into();
                self.updated_at = *at;
            }
            E::UserDeleted { at } => {
                self.status_before_deletion =
                    Some(std::mem::replace(&mut self.status, "deleted".into()));
                self.updated_at = *at;
            }
            E::UserRestored { at } => {
                if let Some(status) = self.status_before_deletion.take() {
                    self.status = status;
                }
                self.updated_at = *at;
            }
            E::UserForgotten { at } => self.forget(*at),
            E::TotpEnabled { at, .. } => {
                self.mfa_enabled = true;
                self.updated_at = *at;
            }
            E::TotpDisabled { at } => {
                self.mfa_enabled = false;
                self.updated_at = *at;
            }
        }
        self.derive();
    }

    /// Leaves nothing personal: what a rebuild from the erased log gives too.
    fn forget(&mut self, at: DateTime<Utc>) {
        self.status = "forgotten".into();
        self.email = String::new();
        self.username = None;
        self.first_name = None;
        self.last_name = None;
        self.phone = None;
        self.preferred_language = None;
        self.last_login_ip = None;
        self.last_login_device = None;
        self.last_login_user_agent = None;
        self.updated_at = at;
    }

    fn unlock(&mut self) {
        self.locked = false;
        self.lock_kind = None;
        self.locked_until = None;
    }

    fn drop_expired_lock(&mut self, at: DateTime<Utc>) {
        if self.locked && self.locked_until.is_some_and(|until| until <= at) {
            self.unlock();
        }
    }

    fn created(user_id: &str, event: &UserEvent) -> Option<Self> {
        let (email, username, phone, first_name, last_name, roles, language, at) = match event {
            UserEvent::UserRegistered {
                email,
                username,
                phone,
                first_name,
                last_name,
                roles,
                preferred_language,
                at,
                ..
            }
            | UserEvent::UserCreated {
                email,
                username,
                phone,
                first_name,
                last_name,
                roles,
                preferred_language,
                at,
                ..
            } => (
                email,
                username,
                phone,
                first_name,
                last_name,
                roles,
                preferred_language,
                at,
            ),
            _ => return None,
        };
        let origin = if matches!(event, UserEvent::UserRegistered { .. }) {
            "registered"
        } else {
            "created"
        };
        let email = email.known().map(ToString::to_string).unwrap_or_default();
        let mut row = Self::new(user_id, email, *at, origin);
        row.username = username.as_ref().map(ToString::to_string);
        row.phone = phone.as_ref().map(ToString::to_string);
        row.first_name = first_name.as_ref().map(ToString::to_string);
        row.last_name = last_name.as_ref().map(ToString::to_string);
        row.roles = Json(roles.iter().map(ToString::to_string).collect());
        row.preferred_language = language.as_ref().map(ToString::to_string);
        row.derive();
        Some(row)
    }
}

async fn load_users(
    tx: &mut Tx,
    table: &str,
    ids: &BTreeSet<String>,
) -> Result<HashMap<String, UserRow>, sqlx::Error> {
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    let statement = format!(
        "SELECT {} FROM {table} WHERE user_id IN",
        USER_COLUMNS.join(", ")
    );
    Ok(fetch_in::<UserRow>(tx, &statement, &ids)
        .await?
        .into_iter()
        .map(|row| (row.user_id.clone(), row))
        .collect())
}

#[async_trait]
impl Projection for Directory {
    fn name(&self) -> &'static str {
        NAME
    }

    fn tables(&self) -> &'static [Table] {
        TABLES
    }

    /// 2: deleting or forgetting a user ends their memberships.
    fn revision(&self) -> u32 {
        2
    }

    async fn apply(
        &self,
        tx: &mut Tx,
        tables: &Tables,
        events: &[RecordedEvent],
    ) -> Result<(), ApplyError> {
        let users_table = tables.get("users");
        let facts = events
            .iter()
            .map(|record| Ok((record, Fact::parse(record)?)))
            .collect::<Result<Vec<_>, ApplyError>>()?;
        let touched: BTreeSet<String> = facts
            .iter()
            .filter_map(|(record, fact)| match fact {
                Fact::User(_) => Some(record.stream_id.clone()),
                Fact::Session(SessionEvent::SessionStarted { user_id, .. }) => {
                    Some(user_id.to_string())
                }
                _ => None,
            })
            .collect();
        let mut users = load_users(tx, &users_table, &touched).await?;
        let mut dirty: BTreeSet<String> = BTreeSet::new();
        let mut roles_changed: BTreeSet<String> = BTreeSet::new();
        for (record, fact) in &facts {
            match fact {
                Fact::User(event) => {
                    let id = &record.stream_id;
                    if matches!(
                        event,
                        UserEvent::UserDeleted { .. } | UserEvent::UserForgotten { .. }
                    ) {
                        // Deleting ends memberships. The application records each removal in
                        // the organization's stream; a log written before it did replays
                        // to the same members from this.
                        let members = tables.get("members");
                        tx.execute(
                            &format!("DELETE FROM {members} WHERE user_id = $1"),
                            &[id.clone().into()],
                        )
                        .await?;
                    }
                    if let Some(row) = UserRow::created(id, event) {
                        users.insert(id.clone(), row);
                        roles_changed.insert(id.clone());
                    }
                    let Some(row) = users.get_mut(id) else {
                        // Its creation was skipped by an operator: nothing to update.
                        tracing::debug!(
                            position = record.global_position,
                            "event of an unknown user"
                        );
                        continue;
                    };
                    if matches!(
                        event,
                        UserEvent::RoleGranted { .. } | UserEvent::RoleRevoked { .. }
                    ) {
                        roles_changed.insert(id.clone());
                    }
                    write_role_fields(tx, &tables.get("user_role_fields"), id, event).await?;
                    row.apply(event);
                    row.version = i64::try_from(record.stream_version).unwrap_or(i64::MAX);
                    dirty.insert(id.clone());
                }
                Fact::Session(SessionEvent::SessionStarted {
                    user_id,
                    device,
                    ip,
                    user_agent,
                    ..
                }) => {
                    let id = user_id.to_string();
                    if let Some(row) = users.get_mut(&id) {
                        row.last_login_ip = ip.map(|ip| ip.to_string());
                        row.last_login_device = device.as_ref().map(ToString::to_string);
                        row.last_login_user_agent = user_agent.as_ref().map(ToString::to_string);
                        dirty.insert(id);
                    }
                }
                Fact::Organization(event) => {
                    apply_organization(tx, tables, &record.stream_id, event).await?;
                }
                Fact::Session(_) | Fact::ApiKey(_) | Fact::PartnerRecord(_) | Fact::Other => {}
            }
        }
        let rows: Vec<Vec<Arg>> = dirty
            .iter()
            .filter_map(|id| users.get(id))
            .map(UserRow::args)
            .collect();
        let suffix = upsert_suffix(USER_COLUMNS, &["user_id"]);
        insert_rows(tx, &users_table, USER_COLUMNS, &suffix, rows).await?;
        write_roles(tx, &tables.get("user_roles"), &roles_changed, &users).await?;
        Ok(())
    }
}

/// Keeps `user_role_fields` as `event` leaves the user's role profiles (rare events: a
/// statement or two each).
async fn write_role_fields(
    tx: &mut Tx,
    table: &str,
    user_id: &str,
    event: &UserEvent,
) -> Result<(), sqlx::Error> {
    match event {
        UserEvent::RoleProfileSet { role, profile, .. } => {
            tx.execute(
                &format!("DELETE FROM {table} WHERE user_id = $1 AND role = $2"),
                &[user_id.to_owned().into(), role.to_string().into()],
            )
            .await?;
            let rows: Vec<Vec<Arg>> = profile
                .iter()
                .map(|(field, value)| {
                    vec![
                        user_id.to_owned().into(),
                        role.to_string().into(),
                        field.to_string().into(),
                        domain::role_catalog::spelled(value).into(),
                        Arg::Json(Some(value.clone())),
                    ]
                })
                .collect();
            let columns = ["user_id", "role", "field", "value", "typed"];
            insert_rows(tx, table, &columns, "", rows).await
        }
        UserEvent::RoleRevoked { role, .. } => {
            tx.execute(
                &format!("DELETE FROM {table} WHERE user_id = $1 AND role = $2"),
                &[user_id.to_owned().into(), role.to_string().into()],
            )
            .await?;
            Ok(())
        }
        UserEvent::UserForgotten { .. } => {
            tx.execute(
                &format!("DELETE FROM {table} WHERE user_id = $1"),
                &[user_id.to_owned().into()],
            )
            .await?;
            Ok(())
        }
        _ => Ok(()),
    }
}

async fn write_roles(
    tx: &mut Tx,
    table: &str,
    changed: &BTreeSet<String>,
    users: &HashMap<String, UserRow>,
) -> Result<(), sqlx::Error> {
    let ids: Vec<&str> = changed.iter().map(String::as_str).collect();
    execute_in(tx, &format!("DELETE FROM {table} WHERE user_id IN"), &ids).await?;
    let rows: Vec<Vec<Arg>> = changed
        .iter()
        .filter_map(|id| users.get(id))
        .flat_map(|user| {
            user.roles
                .0
                .iter()
                .map(|role| vec![user.user_id.clone().into(), role.clone().into()])
                .collect::<Vec<_>>()
        })
        .collect();
    insert_rows(tx, table, &["user_id", "role"], "", rows).await
}

async fn apply_organization(
    tx: &mut Tx,
    tables: &Tables,
    organization_id: &str,
    event: &OrganizationEvent,
) -> Result<(), sqlx::Error> {
    use OrganizationEvent as E;
    let organizations = tables.get("organizations");
    let members = tables.get("members");
    let permissions_json = |permissions: &BTreeSet<domain::values::Permission>| {
        Arg::Json(Some(serde_json::json!(
            permissions
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
        )))
    };
    match event {
        E::OrganizationCreated {
            name,
            display_name,
            contact,
            status,
            partner,
            at,
            ..
        } => {
            let mut args = vec![
                organization_id.into(),
                name.to_string().into(),
                display_name.as_ref().map(ToString::to_string).into(),
                contact.name.as_ref().map(ToString::to_string).into(),
                contact.email.as_ref().map(ToString::to_string).into(),
                contact.phone.as_ref().map(ToString::to_string).into(),
                label(status).into(),
                (*at).into(),
            ];
            args.extend(partner_columns(partner.as_ref()));
            tx.execute(
                &format!(
                    "INSERT INTO {organizations} (organization_id, name, display_name, contact_name, contact_email, contact_phone, status, created_at, updated_at, \
                     partner_code, communication, edi_format, sender_id, receiver_id) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9, $10, $11, $12, $13) ON CONFLICT (organization_id) DO NOTHING"
                ),
                &args,
            )
            .await?;
        }
        E::PartnerDetailsChanged { details, at, .. } => {
            let mut args = vec![organization_id.into(), (*at).into()];
            args.extend(partner_columns(details.as_ref()));
            tx.execute(
                &format!("UPDATE {organizations} SET updated_at = $2, partner_code = $3, communication = $4, edi_format = $5, sender_id = $6, receiver_id = $7 WHERE organization_id = $1"),
                &args,
            )
            .await?;
        }
        E::OrganizationRenamed {
            name,
            display_name,
            at,
            ..
        } => {
            tx.execute(
                &format!("UPDATE {organizations} SET name = $2, display_name = $3, updated_at = $4 WHERE organization_id = $1"),
                &[
                    organization_id.into(),
                    name.to_string().into(),
                    display_name.as_ref().map(ToString::to_string).into(),
                    (*at).into(),
                ],
            )
            .await?;
        }
        E::OrganizationContactChanged { contact, at } => {
            tx.execute(
                &format!("UPDATE {organizations} SET contact_name = $2, contact_email = $3, contact_phone = $4, updated_at = $5 WHERE organization_id = $1"),
                &[
                    organization_id.into(),
                    contact.name.as_ref().map(ToString::to_string).into(),
                    contact.email.as_ref().map(ToString::to_string).into(),
                    contact.phone.as_ref().map(ToString::to_string).into(),
                    (*at).into(),
                ],
            )
            .await?;
        }
        E::OrganizationStatusChanged { status, at, .. } => {
            tx.execute(
                &format!("UPDATE {organizations} SET status = $2, updated_at = $3 WHERE organization_id = $1"),
                &[organization_id.into(), label(status).into(), (*at).into()],
            )
            .await?;
        }
        E::MemberAdded {
            user_id,
            role,
            permissions,
            at,
        }
        | E::MemberChanged {
            user_id,
            role,
            permissions,
            at,
        } => {
            tx.execute(
                &format!(
                    "INSERT INTO {members} (organization_id, user_id, role, permissions, added_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5) \
                     ON CONFLICT (organization_id, user_id) DO UPDATE SET role = excluded.role, permissions = excluded.permissions, updated_at = excluded.updated_at"
                ),
                &[
                    organization_id.into(),
                    user_id.to_string().into(),
                    label(role).into(),
                    permissions_json(permissions),
                    (*at).into(),
                ],
            )
            .await?;
        }
        E::MemberRemoved { user_id, .. } => {
            tx.execute(
                &format!("DELETE FROM {members} WHERE organization_id = $1 AND user_id = $2"),
                &[organization_id.into(), user_id.to_string().into()],
            )
            .await?;
        } // Invitations are read from the organization's stream; the directory lists members.
        E::MemberInvited { .. }
        | E::InvitationAccepted { .. }
        | E::InvitationDeclined { .. }
        | E::InvitationRevoked { .. }
        | E::InvitationExpired { .. }
        | E::ApiKeyCreated { .. }
        | E::ApiKeyRevoked { .. } => {}
    }
    Ok(())
}

/// A partner's columns in the organizations table: code, communication, format, sender and
/// receiver ids (all null for an organization that is no partner).
fn partner_columns(partner: Option<&domain::organization::PartnerDetails>) -> [Arg; 5] {
    [
        partner.map(|p| p.code.to_string()).into(),
        partner.map(|p| p.communication.to_string()).into(),
        partner.map(|p| p.edi_format.to_string()).into(),
        partner.map(|p| p.sender_id.to_string()).into(),
        partner.map(|p| p.receiver_id.to_string()).into(),
    ]
}
