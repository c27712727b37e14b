//! Organization API keys: credentials of a partner's systems, not of a person. An org_admin (or
//! an administrator) creates one with a name, permission flags and an optional expiry; its secret
//! is shown once and only its SHA-256 is kept (256 random bits need no slow hash). A key acts for
//! its organization with the flags it was given that the catalog still grants, and every request
//! it authenticates is recorded in the log.

use crate::authority::Authority;
use crate::policy::{KeyActor, Operation};
use crate::{App, AppError, RequestContext, Resource};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use commands::CommandContext;
use commands::tokens::hash_token;
use domain::api_key::{API_KEY_STREAM_TYPE, ApiKeyEvent};
use domain::organization::{
    ApiKey, Organization, OrganizationAggregate, OrganizationCommand, OrganizationState,
};
use domain::values::{KeyName, Permission};
use domain::{ApiKeyId, OrganizationId, Timestamp};
use secrecy::{ExposeSecret, SecretString};
use std::collections::BTreeSet;

/// What every key starts with, so that secret scanners and people recognize one.
pub const KEY_PREFIX: &str = "idlog_key_";

/// A key to create.
#[derive(Debug, Clone)]
pub struct NewApiKey {
    /// What it is for.
    pub name: KeyName,
    /// The flags it acts with (each must be in the catalog).
    pub permissions: BTreeSet<Permission>,
    /// When it stops working, if ever.
    pub expires_at: Option<Timestamp>,
}

/// A key just created, with its secret: the only time the secret is known.
#[derive(Debug)]
pub struct IssuedApiKey {
    /// The key.
    pub key: ApiKey,
    /// The whole key to present (`Authorization: Bearer idlog_key_…`).
    pub token: SecretString,
    /// The log position of its creation.
    pub position: Option<u64>,
}

/// A request authenticated by a key: the key and the organization it acts for, as of now.
#[derive(Debug, Clone)]
pub struct KeyCaller {
    /// The key.
    pub key: ApiKey,
    /// Its organization.
    pub organization: Box<Organization>,
}

/// Whether a presented bearer credential is an API key rather than an access token.
pub fn is_api_key(credential: &str) -> bool {
    credential.starts_with(KEY_PREFIX)
}

/// A fresh key for `key_id` of `organization`: the prefix, both ids, 256 random bits.
fn new_key(organization: OrganizationId, key_id: ApiKeyId) -> SecretString {
    let mut secret = [0_u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut secret);
    SecretString::from(format!(
        "{KEY_PREFIX}{}_{}_{}",
        organization.as_uuid().simple(),
        key_id.as_uuid().simple(),
        URL_SAFE_NO_PAD.encode(secret)
    ))
}

/// The organization and key a presented key names, if it has a key's shape.
fn ids_of(token: &str) -> Option<(OrganizationId, ApiKeyId)> {
    let rest = token.strip_prefix(KEY_PREFIX)?;
    let mut parts = rest.splitn(3, '_');
    let organization = uuid::Uuid::try_parse(parts.next()?).ok()?;
    let key = uuid::Uuid::try_parse(parts.next()?).ok()?;
    parts.next()?;
    Some((
        OrganizationId::from_uuid(organization),
        ApiKeyId::from_uuid(key),
    ))
}

impl App {
    /// Organization `id`'s keys, newest first (revoked ones too): org_admins and administrators.
    #[tracing::instrument(skip_all, fields(organization_id = %id))]
    pub async fn api_keys(
        &self,
        who: &Authority,
        id: OrganizationId,
    ) -> Result<Vec<ApiKey>, AppError> {
        let (organization, _) = self
            .authorized_organization(who, id, Operation::ListApiKeys)
            .await?;
        let mut keys: Vec<ApiKey> = organization.api_keys.into_values().collect();
        keys.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
        Ok(keys)
    }

    /// Creates a key for organization `id`; its secret is in the answer and nowhere else.
    #[tracing::instrument(skip_all, fields(organization_id = %id))]
    pub async fn create_api_key(
        &self,
        who: &Authority,
        context: &RequestContext,
        id: OrganizationId,
        new: NewApiKey,
    ) -> Result<IssuedApiKey, AppError> {
        let (organization, version) = self
            .authorized_organization(who, id, Operation::CreateApiKey)
            .await?;
        self.check_grantable(&new.permissions).await?;
        let key_id = ApiKeyId::from_uuid(uuid::Uuid::now_v7());
        let token = new_key(organization.id, key_id);
        let command = OrganizationCommand::CreateApiKey {
            key_id,
            name: new.name,
            permissions: new.permissions,
            token_hash: hash_token(token.expose_secret()),
            expires_at: new.expires_at,
            at: chrono::Utc::now(),
        };
        let executed = self
            .commands
            .execute_on::<OrganizationAggregate>(
                &id.to_string(),
                OrganizationState::Present(organization),
                version,
                command,
                CommandContext {
                    metadata: who.acting(context),
                    data_subject: Some(id.to_string()),
                    ..Default::default()
                },
            )
            .await?;
        let OrganizationState::Present(organization) = executed.state else {
            return Err(AppError::NotFound(Resource::Organization));
        };
        let key = organization
            .api_keys
            .get(&key_id)
            .cloned()
            .ok_or(AppError::NotFound(Resource::ApiKey))?;
        Ok(IssuedApiKey {
            key,
            token,
            position: executed.position,
        })
    }

    /// Revokes key `key_id` of organization `id`: it authenticates nothing from now on.
    /// Revoking it again changes nothing. Answers the log position to wait for, if any.
    #[tracing::instrument(skip_all, fields(organization_id = %id, key_id = %key_id))]
    pub async fn revoke_api_key(
        &self,
        who: &Authority,
        context: &RequestContext,
        id: OrganizationId,
        key_id: ApiKeyId,
    ) -> Result<Option<u64>, AppError> {
        let (organization, version) = self
            .authorized_organization(who, id, Operation::RevokeApiKey)
            .await?;
        if !organization.api_keys.contains_key(&key_id) {
            return Err(AppError::NotFound(Resource::ApiKey));
        }
        let executed = self
            .commands
            .execute_on::<OrganizationAggregate>(
                &id.to_string(),
                OrganizationState::Present(organization),
                version,
                OrganizationCommand::RevokeApiKey {
                    key_id,
                    at: chrono::Utc::now(),
                },
                CommandContext {
                    metadata: who.acting(context),
                    data_subject: Some(id.to_string()),
                    ..Default::default()
                },
            )
            .await?;
        Ok(executed.position)
    }

    /// Checks a presented key: its organization names it, its hash matches (in constant time),
    /// it is neither revoked nor expired, and its organization lets members sign in. The use
    /// (`method` and `path`, the request's address) is recorded before anything is done with it:
    /// a use that cannot be recorded is refused.
    #[tracing::instrument(skip_all)]
    pub async fn authenticate_key(
        &self,
        context: &RequestContext,
        token: &str,
        method: &str,
        path: &str,
    ) -> Result<KeyCaller, AppError> {
        let (organization_id, key_id) = ids_of(token).ok_or(AppError::InvalidToken)?;
        let loaded = self
            .commands
            .followed::<OrganizationAggregate>(&organization_id.to_string())
            .await
            .map_err(|_| AppError::InvalidToken)?;
        let OrganizationState::Present(organization) = loaded.state else {
            return Err(AppError::InvalidToken);
        };
        let now = chrono::Utc::now();
        // TokenHash compares in constant time.
        let key = organization
            .api_keys
            .get(&key_id)
            .filter(|key| key.token_hash == hash_token(token))
            .filter(|key| key.is_usable(now) && organization.status.allows_login())
            .cloned()
            .ok_or_else(|| {
                tracing::info!(%key_id, "API key refused");
                AppError::InvalidToken
            })?;
        let used = ApiKeyEvent::ApiKeyUsed {
            key_id,
            organization_id,
            method: method.to_owned(),
            path: path.to_owned(),
            at: now,
        };
        self.commands
            .record(
                &uuid::Uuid::now_v7().to_string(),
                API_KEY_STREAM_TYPE,
                &used,
                CommandContext {
                    metadata: context.metadata(key_actor(key_id)),
                    data_subject: Some(organization_id.to_string()),
                    ..Default::default()
                },
            )
            .await
            .map_err(AppError::internal)?;
        Ok(KeyCaller { key, organization })
    }

    /// The flags `key` was given that the catalog still grants.
    pub(crate) async fn key_flags(&self, key: &ApiKey) -> Result<BTreeSet<Permission>, AppError> {
        if key.permissions.is_empty() {
            return Ok(BTreeSet::new());
        }
        let grantable = self.grantable_permissions().await?;
        Ok(key
            .permissions
            .iter()
            .filter(|flag| grantable.contains(*flag))
            .cloned()
            .collect())
    }
}

/// How the log names a key as an actor.
pub fn key_actor(key_id: ApiKeyId) -> eventstore::Actor {
    eventstore::Actor {
        kind: eventstore::ActorKind::Service,
        id: Some(format!("api-key:{key_id}")),
    }
}

impl KeyCaller {
    /// The key as the policy sees it, with `flags` (see [`App::key_flags`]).
    pub(crate) fn actor(&self, flags: BTreeSet<Permission>) -> KeyActor {
        KeyActor {
            id: self.key.id,
            organization: self.organization.id,
            flags,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_names_its_organization_and_itself_and_nothing_else_has_its_shape() {
        let organization = OrganizationId::from_uuid(uuid::Uuid::now_v7());
        let key_id = ApiKeyId::from_uuid(uuid::Uuid::now_v7());
        let token = new_key(organization, key_id);
        assert!(is_api_key(token.expose_secret()));
        assert_eq!(ids_of(token.expose_secret()), Some((organization, key_id)));
        assert!(token.expose_secret().len() > 100);
        for other in [
            "eyJhbGciOiJFZERTQSJ9.e30.sig",
            "idlog_key_",
            "idlog_key_notauuid_notauuid_secret",
            &format!("{KEY_PREFIX}{}_{}", organization.as_uuid().simple(), key_id),
        ] {
            assert_eq!(ids_of(other), None, "{other}");
        }
    }
}
