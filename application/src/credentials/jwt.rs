//! Access tokens: EdDSA (Ed25519) JWTs, and the key set that signs and publishes them.
//!
//! The key set is one JSON file (`jwt-keys.json` in the data folder by default, or the file named
//! in configuration) holding the signing key and the keys it replaced. A rotated-out key stays in
//! the JWKS, and its tokens stay valid, until every token it signed has expired; then it is
//! dropped. Validation pins the algorithm to EdDSA, the `typ` to `at+jwt` (RFC 9068), and checks
//! `kid`, signature, `iss`, `aud`, `exp` and `nbf`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use domain::{Duration, SessionId, Timestamp, UserId};
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::Path;

/// The `typ` header of idlog access tokens (RFC 9068).
pub const ACCESS_TOKEN_TYPE: &str = "at+jwt";

/// The `typ` header of the token that carries a login from the password to the second factor.
/// Its own type, so it can never pass for an access token, nor an access token for it.
pub const MFA_TOKEN_TYPE: &str = "mfa+jwt";

/// How long the second factor may take after the password.
pub const MFA_TOKEN_LIFETIME: Duration = Duration::minutes(5);

/// What an access token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
    /// The user.
    pub sub: String,
    /// The session.
    pub sid: String,
    /// Issued at (seconds since the epoch).
    pub iat: i64,
    /// Not before.
    pub nbf: i64,
    /// Expires at.
    pub exp: i64,
    /// Token id.
    pub jti: String,
}

impl AccessClaims {
    /// The user and session the token is for, if the claims hold well-formed ids.
    pub fn subject(&self) -> Option<(UserId, SessionId)> {
        Some((self.sub.parse().ok()?, self.sid.parse().ok()?))
    }
}

/// Why a token was refused. The HTTP answer does not tell them apart; logs do.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Not a JWT, or a header this service does not issue (`alg`, `typ`).
    #[error("malformed token or unexpected header: {0}")]
    Malformed(String),
    /// No key with this `kid` (never ours, or retired long ago).
    #[error("unknown signing key")]
    UnknownKey,
    /// Signature, issuer, audience or a time claim is wrong.
    #[error("invalid token: {0}")]
    Invalid(String),
}

/// The key set could not be read, written or understood.
#[derive(Debug, thiserror::Error)]
pub enum KeySetError {
    /// Reading or writing the file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a key set.
    #[error("{path} is not an idlog JWT key set: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// Why.
        message: String,
    },
}

/// One key of the stored key set.
#[derive(Clone, Serialize, Deserialize)]
struct StoredKey {
    kid: String,
    /// PKCS#8 PEM of the Ed25519 private key.
    private_key_pem: String,
    created_at: Timestamp,
    /// When it stopped signing; `None` for the signing key.
    retired_at: Option<Timestamp>,
}

/// The stored form of the key set.
#[derive(Clone, Default, Serialize, Deserialize)]
pub struct KeySetFile {
    keys: Vec<StoredKey>,
}

impl std::fmt::Debug for KeySetFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kids: Vec<&str> = self.keys.iter().map(|key| key.kid.as_str()).collect();
        f.debug_struct("KeySetFile").field("kids", &kids).finish()
    }
}

impl KeySetFile {
    /// A key set with one fresh signing key.
    pub fn generate(now: Timestamp) -> Result<Self, KeySetError> {
        let mut set = Self::default();
        set.rotate(now)?;
        Ok(set)
    }

    /// Reads the key set at `path`.
    pub fn load(path: &Path) -> Result<Self, KeySetError> {
        let text = std::fs::read_to_string(path).map_err(|source| KeySetError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// The ids of the keys, the signing key last.
    pub fn kids(&self) -> Vec<&str> {
        let mut keys: Vec<&StoredKey> = self.keys.iter().collect();
        keys.sort_by_key(|key| key.retired_at.is_none());
        keys.iter().map(|key| key.kid.as_str()).collect()
    }

    /// Reads the key set at `path`, creating it with a fresh key if it does not exist.
    pub fn load_or_create(path: &Path, now: Timestamp) -> Result<Self, KeySetError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse(&text, path),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                let set = Self::generate(now)?;
                set.save(path)?;
                tracing::info!(path = %path.display(), "generated a JWT signing key");
                Ok(set)
            }
            Err(source) => Err(KeySetError::Io {
                path: path.display().to_string(),
                source,
            }),
        }
    }

    fn parse(text: &str, path: &Path) -> Result<Self, KeySetError> {
        let invalid = |message: String| KeySetError::Invalid {
            path: path.display().to_string(),
            message,
        };
        let set: Self = serde_json::from_str(text).map_err(|error| invalid(error.to_string()))?;
        if set
            .keys
            .iter()
            .filter(|key| key.retired_at.is_none())
            .count()
            != 1
        {
            return Err(invalid(
                "exactly one key must be the signing key (no retired_at)".into(),
            ));
        }
        for key in &set.keys {
            SigningKey::from_pkcs8_pem(&key.private_key_pem)
                .map_err(|error| invalid(format!("key {}: {error}", key.kid)))?;
        }
        Ok(set)
    }

    /// Writes the key set (owner-only permissions), replacing the file atomically.
    pub fn save(&self, path: &Path) -> Result<(), KeySetError> {
        let io = |source| KeySetError::Io {
            path: path.display().to_string(),
            source,
        };
        let text =
            serde_json::to_string_pretty(self).map_err(|error| io(std::io::Error::other(error)))?;
        let temporary = path.with_extension("json.tmp");
        write_private(&temporary, text.as_bytes()).map_err(io)?;
        std::fs::rename(&temporary, path).map_err(io)
    }

    /// Makes a fresh key the signing key; the old one keeps verifying until its tokens expire.
    pub fn rotate(&mut self, now: Timestamp) -> Result<String, KeySetError> {
        let mut seed = [0_u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut seed);
        let signing = SigningKey::from_bytes(&seed);
        let pem = signing
            .to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
            .map_err(|error| KeySetError::Invalid {
                path: String::new(),
                message: error.to_string(),
            })?;
        let kid = thumbprint(&signing);
        for key in &mut self.keys {
            key.retired_at.get_or_insert(now);
        }
        self.keys.push(StoredKey {
            kid: kid.clone(),
            private_key_pem: pem.to_string(),
            created_at: now,
            retired_at: None,
        });
        Ok(kid)
    }

    /// Drops keys retired longer ago than `token_lifetime` (nothing they signed is still valid).
    pub fn prune(&mut self, now: Timestamp, token_lifetime: Duration) {
        self.keys.retain(|key| {
            key.retired_at
                .is_none_or(|retired| retired + token_lifetime > now)
        });
    }
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

/// RFC 7638 thumbprint of an Ed25519 public key, the key's `kid`.
fn thumbprint(key: &SigningKey) -> String {
    let x = URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes());
    // Members in lexicographic order, no whitespace, as RFC 7638 requires.
    let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

/// A public key as published in the JWKS.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Jwk {
    /// Key type.
    pub kty: &'static str,
    /// Curve.
    pub crv: &'static str,
    /// The public key, base64url.
    pub x: String,
    /// Key id.
    pub kid: String,
    /// Use: signatures.
    #[serde(rename = "use")]
    pub key_use: &'static str,
    /// Algorithm.
    pub alg: &'static str,
}

/// `GET /.well-known/jwks.json`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Jwks {
    /// The keys tokens may be signed with.
    pub keys: Vec<Jwk>,
}

struct VerifyingKey {
    kid: String,
    x: String,
    decoding: DecodingKey,
}

/// Access token settings, from configuration.
#[derive(Debug, Clone)]
pub struct AccessTokenSettings {
    /// `iss`.
    pub issuer: String,
    /// `aud`.
    pub audience: String,
    /// Lifetime.
    pub lifetime: Duration,
}

impl Default for AccessTokenSettings {
    fn default() -> Self {
        Self {
            issuer: "idlog".into(),
            audience: "idlog".into(),
            lifetime: Duration::minutes(15),
        }
    }
}

/// The access tokens of the key set in force; swapped when the key set file changes, so a
/// rotation reaches running servers without a restart.
#[derive(Debug)]
pub struct AccessTokenKeys(std::sync::RwLock<std::sync::Arc<AccessTokens>>);

impl AccessTokenKeys {
    /// Starts with `tokens`.
    pub fn new(tokens: AccessTokens) -> Self {
        Self(std::sync::RwLock::new(std::sync::Arc::new(tokens)))
    }

    /// The tokens in force now.
    pub fn current(&self) -> std::sync::Arc<AccessTokens> {
        // A writer never panics while holding the lock, but be explicit about poisoning anyway.
        match self.0.read() {
            Ok(tokens) => tokens.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Puts `tokens` in force.
    pub fn replace(&self, tokens: AccessTokens) {
        let mut current = match self.0.write() {
            Ok(current) => current,
            Err(poisoned) => poisoned.into_inner(),
        };
        *current = std::sync::Arc::new(tokens);
    }
}

/// Mints and validates access tokens.
pub struct AccessTokens {
    settings: AccessTokenSettings,
    signing_kid: String,
    encoding: EncodingKey,
    verifying: Vec<VerifyingKey>,
    validation: Validation,
    /// Access tokens whose signature and claims were checked, by SHA-256 of the token: a
    /// signature check is the costliest part of a request, and a token is sent many times.
    verified: std::sync::Mutex<lru::LruCache<[u8; 32], AccessClaims>>,
}

/// How many verified access tokens are remembered.
const VERIFIED_TOKENS: std::num::NonZeroUsize =
    std::num::NonZeroUsize::new(10_000).expect("not zero");

impl std::fmt::Debug for AccessTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessTokens")
            .field("settings", &self.settings)
            .field("signing_kid", &self.signing_kid)
            .finish_non_exhaustive()
    }
}

impl AccessTokens {
    /// Signs with the key set's signing key; verifies with every key still in it.
    pub fn new(keys: &KeySetFile, settings: AccessTokenSettings) -> Result<Self, KeySetError> {
        let invalid = |message: String| KeySetError::Invalid {
            path: "key set".into(),
            message,
        };
        let mut signing = None;
        let mut verifying = Vec::new();
        for key in &keys.keys {
            let private = SigningKey::from_pkcs8_pem(&key.private_key_pem)
                .map_err(|e| invalid(e.to_string()))?;
            let x = URL_SAFE_NO_PAD.encode(private.verifying_key().as_bytes());
            let decoding =
                DecodingKey::from_ed_components(&x).map_err(|e| invalid(e.to_string()))?;
            verifying.push(VerifyingKey {
                kid: key.kid.clone(),
                x,
                decoding,
            });
            if key.retired_at.is_none() {
                let der = private.to_pkcs8_der().map_err(|e| invalid(e.to_string()))?;
                signing = Some((key.kid.clone(), EncodingKey::from_ed_der(der.as_bytes())));
            }
        }
        let (signing_kid, encoding) = signing.ok_or_else(|| invalid("no signing key".into()))?;
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[&settings.issuer]);
        validation.set_audience(&[&settings.audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = 5;
        Ok(Self {
            settings,
            signing_kid,
            encoding,
            verifying,
            validation,
            verified: std::sync::Mutex::new(lru::LruCache::new(VERIFIED_TOKENS)),
        })
    }

    /// The `iss` of the tokens.
    pub fn issuer(&self) -> &str {
        &self.settings.issuer
    }

    /// The configured lifetime of an access token.
    pub fn lifetime(&self) -> Duration {
        self.settings.lifetime
    }

    /// A token for `user`'s `session`, issued at `now`.
    pub fn mint(
        &self,
        user: UserId,
        session: SessionId,
        now: Timestamp,
    ) -> Result<String, TokenError> {
        self.mint_typed(
            user,
            session,
            now,
            ACCESS_TOKEN_TYPE,
            self.settings.lifetime,
        )
    }

    /// A token saying `user` gave the right password at `now` and owes a second factor.
    pub fn mint_mfa(&self, user: UserId, now: Timestamp) -> Result<String, TokenError> {
        let attempt = SessionId::from_uuid(uuid::Uuid::now_v7());
        self.mint_typed(user, attempt, now, MFA_TOKEN_TYPE, MFA_TOKEN_LIFETIME)
    }

    /// The user an MFA token is for, if it is valid.
    pub fn validate_mfa(&self, token: &str) -> Result<UserId, TokenError> {
        let claims = self.validate_typed(token, MFA_TOKEN_TYPE)?;
        claims
            .subject()
            .map(|(user, _)| user)
            .ok_or_else(|| TokenError::Invalid("subject".into()))
    }

    fn mint_typed(
        &self,
        user: UserId,
        session: SessionId,
        now: Timestamp,
        typ: &str,
        lifetime: Duration,
    ) -> Result<String, TokenError> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.signing_kid.clone());
        header.typ = Some(typ.into());
        let issued = now.timestamp();
        let claims = AccessClaims {
            iss: self.settings.issuer.clone(),
            aud: self.settings.audience.clone(),
            sub: user.to_string(),
            sid: session.to_string(),
            iat: issued,
            nbf: issued,
            exp: issued + lifetime.num_seconds(),
            jti: uuid::Uuid::now_v7().to_string(),
        };
        jsonwebtoken::encode(&header, &claims, &self.encoding)
            .map_err(|error| TokenError::Invalid(error.to_string()))
    }

    /// The claims of a valid token (signature, `alg`, `typ`, `kid`, `iss`, `aud`, times).
    pub fn validate(&self, token: &str) -> Result<AccessClaims, TokenError> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let now = chrono::Utc::now().timestamp();
        let leeway = i64::try_from(self.validation.leeway).unwrap_or(0);
        if let Ok(mut verified) = self.verified.lock()
            && let Some(claims) = verified.get(&digest)
        {
            // The signature was good and stays good; only time moves.
            if now - leeway < claims.exp && claims.nbf - leeway <= now {
                return Ok(claims.clone());
            }
            return Err(TokenError::Invalid("expired".into()));
        }
        let claims = self.validate_typed(token, ACCESS_TOKEN_TYPE)?;
        if let Ok(mut verified) = self.verified.lock() {
            verified.put(digest, claims.clone());
        }
        Ok(claims)
    }

    fn validate_typed(&self, token: &str, typ: &str) -> Result<AccessClaims, TokenError> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|error| TokenError::Malformed(error.to_string()))?;
        if header.alg != Algorithm::EdDSA {
            return Err(TokenError::Malformed(format!("algorithm {:?}", header.alg)));
        }
        if header.typ.as_deref() != Some(typ) {
            return Err(TokenError::Malformed(format!("typ {:?}", header.typ)));
        }
        let kid = header.kid.ok_or(TokenError::UnknownKey)?;
        let key = self
            .verifying
            .iter()
            .find(|key| key.kid == kid)
            .ok_or(TokenError::UnknownKey)?;
        jsonwebtoken::decode::<AccessClaims>(token, &key.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|error| TokenError::Invalid(error.to_string()))
    }

    /// The public keys, for `GET /.well-known/jwks.json`.
    pub fn jwks(&self) -> Jwks {
        let keys = self
            .verifying
            .iter()
            .map(|key| Jwk {
                kty: "OKP",
                crv: "Ed25519",
                x: key.x.clone(),
                kid: key.kid.clone(),
                key_use: "sig",
                alg: "EdDSA",
            })
            .collect();
        Jwks { keys }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        chrono::Utc::now()
    }

    #[test]
    fn a_minted_token_validates_and_names_its_user_and_session() {
        let tokens = AccessTokens::new(
            &KeySetFile::generate(now()).expect("keys"),
            AccessTokenSettings::default(),
        )
        .expect("tokens");
        let (user, session) = (
            UserId::from_uuid(uuid::Uuid::now_v7()),
            SessionId::from_uuid(uuid::Uuid::now_v7()),
        );
        let token = tokens.mint(user, session, now()).expect("mint");
        let claims = tokens.validate(&token).expect("valid");
        assert_eq!(claims.subject(), Some((user, session)));
        assert_eq!(claims.exp - claims.iat, 15 * 60);
    }

    #[test]
    fn after_rotation_old_tokens_validate_until_the_old_key_is_pruned() {
        let start = now();
        let mut keys = KeySetFile::generate(start).expect("keys");
        let settings = AccessTokenSettings::default();
        let before = AccessTokens::new(&keys, settings.clone()).expect("tokens");
        let old_token = before
            .mint(
                UserId::from_uuid(uuid::Uuid::now_v7()),
                SessionId::from_uuid(uuid::Uuid::now_v7()),
                start,
            )
            .expect("mint");
        let new_kid = keys.rotate(start).expect("rotate");
        let after = AccessTokens::new(&keys, settings.clone()).expect("tokens");
        assert_eq!(after.jwks().keys.len(), 2);
        after
            .validate(&old_token)
            .expect("the retired key still verifies");
        let fresh = after
            .mint(
                UserId::from_uuid(uuid::Uuid::now_v7()),
                SessionId::from_uuid(uuid::Uuid::now_v7()),
                start,
            )
            .expect("mint");
        assert_eq!(
            jsonwebtoken::decode_header(&fresh).expect("header").kid,
            Some(new_kid.clone())
        );
        keys.prune(
            start + settings.lifetime + Duration::seconds(1),
            settings.lifetime,
        );
        let pruned = AccessTokens::new(&keys, settings).expect("tokens");
        assert_eq!(
            pruned
                .jwks()
                .keys
                .iter()
                .map(|key| key.kid.clone())
                .collect::<Vec<_>>(),
            [new_kid]
        );
        assert!(matches!(
            pruned.validate(&old_token),
            Err(TokenError::UnknownKey)
        ));
    }

    #[test]
    fn a_key_set_survives_saving_and_loading() {
        let folder = tempfile::tempdir().expect("temp dir");
        let path = folder.path().join("jwt-keys.json");
        let created = KeySetFile::load_or_create(&path, now()).expect("created");
        let loaded = KeySetFile::load_or_create(&path, now()).expect("loaded");
        assert_eq!(created.keys.len(), 1);
        assert_eq!(created.keys[0].kid, loaded.keys[0].kid);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path)
                .expect("metadata")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&path, "{\"keys\": []}").expect("write");
        let error = KeySetFile::load_or_create(&path, now()).expect_err("no signing key");
        assert!(error.to_string().contains("signing key"), "{error}");
    }
}
