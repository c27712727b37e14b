//! Single-use secrets sent to people (email verification and password reset links).
//!
//! A token is the user id, a dot, and HMAC-SHA256(token key, purpose, user id, issue time); only
//! its SHA-256 goes into the log. The id in front says whose stream to check the token against. Whoever holds the key (the email worker) can rebuild the token from the event to put
//! it in a message; the log alone reveals nothing, and the token is never stored in clear.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use domain::values::{PendingToken, TokenHash};
use domain::{Duration, Timestamp, UserId};
use hmac::{Hmac, Mac};
use secrecy::SecretString;
use sha2::{Digest, Sha256};

/// What a token is for (part of what it is derived from, so one cannot stand in for another).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenPurpose {
    /// Verifying an email address.
    EmailVerification,
    /// Resetting (or, for an invited user, setting) a password.
    PasswordReset,
}

impl TokenPurpose {
    fn label(self) -> &'static [u8] {
        match self {
            Self::EmailVerification => b"email-verification",
            Self::PasswordReset => b"password-reset",
        }
    }
}

/// Mints tokens and hashes presented ones.
#[derive(Clone)]
pub struct TokenMinter {
    key: [u8; 32],
}

impl std::fmt::Debug for TokenMinter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenMinter(..)")
    }
}

/// The SHA-256 of a token as presented by a client.
pub fn hash_token(token: &str) -> TokenHash {
    TokenHash::from_bytes(Sha256::digest(token.as_bytes()).into())
}

impl TokenMinter {
    /// A minter with a 32-byte secret key.
    pub fn new(key: [u8; 32]) -> Self {
        Self { key }
    }

    /// The token for `purpose`, `user` and `issued_at` (microsecond precision, as stored).
    pub fn token(&self, purpose: TokenPurpose, user: UserId, issued_at: Timestamp) -> SecretString {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes keys of any length");
        mac.update(purpose.label());
        mac.update(&[0]);
        mac.update(user.as_uuid().as_bytes());
        mac.update(&issued_at.timestamp_micros().to_be_bytes());
        let mac = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        SecretString::from(format!("{}.{mac}", user.as_uuid().simple()))
    }

    /// The six-digit phone verification code for `user` issued at `issued_at`, and its hash.
    /// Like tokens, codes are derived, so the SMS worker can rebuild one from its event. The
    /// hash is keyed: a million codes are too few to hide behind a plain SHA-256.
    pub fn phone_code(&self, user: UserId, issued_at: Timestamp) -> (SecretString, TokenHash) {
        let mac = self.mac(&[
            b"phone-code",
            user.as_uuid().as_bytes(),
            &issued_at.timestamp_micros().to_be_bytes(),
        ]);
        let number = u32::from_be_bytes([mac[0], mac[1], mac[2], mac[3]]) % 1_000_000;
        let code = format!("{number:06}");
        let hash = self.phone_code_hash(user, &code);
        (SecretString::from(code), hash)
    }

    /// The keyed hash of a phone code as entered.
    pub fn phone_code_hash(&self, user: UserId, code: &str) -> TokenHash {
        TokenHash::from_bytes(self.mac(&[
            b"phone-code-hash",
            user.as_uuid().as_bytes(),
            code.trim().as_bytes(),
        ]))
    }

    /// The keyed hash of a recovery code as entered (case and spaces do not matter).
    pub fn recovery_code_hash(&self, user: UserId, code: &str) -> TokenHash {
        let normalized: String = code
            .trim()
            .to_lowercase()
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        TokenHash::from_bytes(self.mac(&[
            b"recovery-code",
            user.as_uuid().as_bytes(),
            normalized.as_bytes(),
        ]))
    }

    fn mac(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .expect("HMAC takes keys of any length");
        for part in parts {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }

    /// The user a presented token claims to be for (checked against their stream's hash).
    pub fn user_of(token: &str) -> Option<UserId> {
        let (user, _) = token.split_once('.')?;
        uuid::Uuid::try_parse(user).ok().map(UserId::from_uuid)
    }

    /// A fresh pending token valid for `lifetime`, and the token itself to send.
    pub fn issue(
        &self,
        purpose: TokenPurpose,
        user: UserId,
        issued_at: Timestamp,
        lifetime: Duration,
    ) -> (PendingToken, SecretString) {
        // Stored times have microsecond precision; derive from what will be stored.
        let issued_at =
            Timestamp::from_timestamp_micros(issued_at.timestamp_micros()).unwrap_or(issued_at);
        let token = self.token(purpose, user, issued_at);
        let pending = PendingToken {
            token_hash: hash_token(secrecy::ExposeSecret::expose_secret(&token)),
            issued_at,
            expires_at: issued_at + lifetime,
        };
        (pending, token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn a_token_can_be_rebuilt_from_its_event_but_not_without_the_key() {
        let minter = TokenMinter::new([9; 32]);
        let user = UserId::from_uuid(uuid::Uuid::from_u128(1));
        let now = Timestamp::from_timestamp_micros(1_700_000_000_123_456).expect("time");
        let (pending, token) = minter.issue(
            TokenPurpose::EmailVerification,
            user,
            now,
            Duration::hours(48),
        );
        let rebuilt = minter.token(TokenPurpose::EmailVerification, user, pending.issued_at);
        assert_eq!(hash_token(rebuilt.expose_secret()), pending.token_hash);
        assert_eq!(hash_token(token.expose_secret()), pending.token_hash);
        let other_key = TokenMinter::new([8; 32]).token(TokenPurpose::EmailVerification, user, now);
        assert_ne!(hash_token(other_key.expose_secret()), pending.token_hash);
        let other_purpose = minter.token(TokenPurpose::PasswordReset, user, now);
        assert_ne!(
            hash_token(other_purpose.expose_secret()),
            pending.token_hash
        );
        assert_eq!(pending.expires_at - pending.issued_at, Duration::hours(48));
        assert_eq!(TokenMinter::user_of(token.expose_secret()), Some(user));
        assert_eq!(TokenMinter::user_of("garbage"), None);
    }

    #[test]
    fn phone_codes_are_six_digits_rebuilt_from_their_event_and_hashed_with_the_key() {
        let minter = TokenMinter::new([9; 32]);
        let user = UserId::from_uuid(uuid::Uuid::from_u128(1));
        let now = Timestamp::from_timestamp_micros(1_700_000_000_123_456).expect("time");
        let (code, hash) = minter.phone_code(user, now);
        assert_eq!(code.expose_secret().len(), 6);
        assert!(code.expose_secret().chars().all(|c| c.is_ascii_digit()));
        assert_eq!(minter.phone_code_hash(user, code.expose_secret()), hash);
        assert_ne!(
            hash_token(code.expose_secret()),
            hash,
            "not a plain SHA-256"
        );
        assert_ne!(
            TokenMinter::new([8; 32]).phone_code_hash(user, code.expose_secret()),
            hash
        );
        let later = minter.phone_code(user, now + Duration::seconds(61)).0;
        assert_ne!(later.expose_secret(), code.expose_secret());
    }
}
