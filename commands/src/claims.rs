//! Keyed hashes of unique values: the claims table never holds an email address, a phone number
//! or a username, only HMAC-SHA256 under a key from configuration. Erasing a person leaves
//! nothing that can be looked up without the key.

use domain::ClaimKind;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Hashes normalized unique values with a secret key.
#[derive(Clone)]
pub struct ClaimHasher {
    key: [u8; 32],
}

impl std::fmt::Debug for ClaimHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClaimHasher(..)")
    }
}

impl ClaimHasher {
    /// A hasher with a 32-byte secret key.
    pub fn new(key: [u8; 32]) -> Self {
        Self { key }
    }

    /// A fingerprint of the key (not the key), so processes sharing a database can check they
    /// hash claims alike.
    pub fn key_fingerprint(&self) -> String {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes keys of any length");
        mac.update(b"idlog.claim-key.fingerprint");
        hex::encode(&mac.finalize().into_bytes()[..16])
    }

    /// HMAC-SHA256(key, kind || 0x00 || value).
    pub fn hash(&self, kind: ClaimKind, normalized_value: &str) -> [u8; 32] {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes keys of any length");
        let kind: &'static str = kind.into();
        mac.update(kind.as_bytes());
        mac.update(&[0]);
        mac.update(normalized_value.as_bytes());
        mac.finalize().into_bytes().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_depend_on_key_kind_and_value() {
        let hasher = ClaimHasher::new([1; 32]);
        let email = hasher.hash(ClaimKind::Email, "ann@example.com");
        assert_eq!(email, hasher.hash(ClaimKind::Email, "ann@example.com"));
        assert_ne!(email, hasher.hash(ClaimKind::Username, "ann@example.com"));
        assert_ne!(email, hasher.hash(ClaimKind::Email, "bob@example.com"));
        assert_ne!(
            email,
            ClaimHasher::new([2; 32]).hash(ClaimKind::Email, "ann@example.com")
        );
    }
}
