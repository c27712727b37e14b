//! TOTP (RFC 6238: HMAC-SHA1, 30-second steps, six digits) and the sealing of its secrets.
//!
//! The shared secret has to be read again to check codes, so it cannot be hashed. It is sealed
//! with ChaCha20-Poly1305 under a key derived from the token key, bound to the user's id, so the
//! log alone (an export, a backup) does not let anyone compute a user's codes.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use domain::UserId;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// Seconds per time step.
pub const STEP_SECONDS: u64 = 30;
/// Accepted clock drift, in steps either way.
pub const DRIFT_STEPS: u64 = 1;
/// Secret length in bytes (160 bits, as RFC 4226 recommends).
pub const SECRET_BYTES: usize = 20;

/// The six-digit code of `secret` for time step `step`.
pub fn code_at(secret: &[u8], step: u64) -> String {
    // Keys of any length are accepted by HMAC; this cannot fail.
    let Ok(mut mac) = <Hmac<Sha1> as Mac>::new_from_slice(secret) else {
        return String::new();
    };
    mac.update(&step.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = usize::from(digest[19] & 0x0f);
    let binary = u32::from_be_bytes([
        digest[offset] & 0x7f,
        digest[offset + 1],
        digest[offset + 2],
        digest[offset + 3],
    ]);
    format!("{:06}", binary % 1_000_000)
}

/// The time step of `unix_seconds`.
pub fn step_of(unix_seconds: i64) -> u64 {
    u64::try_from(unix_seconds).unwrap_or(0) / STEP_SECONDS
}

/// The step `code` is good for around `now_step` (one step of drift either way), if any.
pub fn matching_step(secret: &[u8], code: &str, now_step: u64) -> Option<u64> {
    let code = code.trim();
    let mut found = None;
    // Check every candidate, so the time taken does not say which one matched.
    for step in now_step.saturating_sub(DRIFT_STEPS)..=now_step + DRIFT_STEPS {
        if bool::from(code_at(secret, step).as_bytes().ct_eq(code.as_bytes())) {
            found = found.or(Some(step));
        }
    }
    found
}

/// The `otpauth://` URI authenticator apps read (usually from a QR code).
pub fn otpauth_uri(issuer: &str, account: &str, secret: &[u8]) -> String {
    let encode = |text: &str| -> String {
        text.bytes()
            .map(|byte| match byte {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    char::from(byte).to_string()
                }
                _ => format!("%{byte:02X}"),
            })
            .collect()
    };
    let secret = data_encoding::BASE32_NOPAD.encode(secret);
    format!(
        "otpauth://totp/{}:{}?secret={secret}&issuer={}&algorithm=SHA1&digits=6&period={STEP_SECONDS}",
        encode(issuer),
        encode(account),
        encode(issuer)
    )
}

/// Seals and opens TOTP secrets.
#[derive(Clone)]
pub struct SecretSealer {
    cipher: ChaCha20Poly1305,
}

impl std::fmt::Debug for SecretSealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretSealer(..)")
    }
}

/// A sealed secret could not be opened (another key, or altered).
#[derive(Debug, thiserror::Error)]
#[error("the TOTP secret cannot be opened with this token key")]
pub struct UnsealError;

impl SecretSealer {
    /// A sealer whose key is derived from the token key.
    pub fn new(token_key: &[u8; 32]) -> Self {
        let mut key = [0_u8; 32];
        if let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(token_key) {
            mac.update(b"idlog totp secret sealing");
            key = mac.finalize().into_bytes().into();
        }
        Self {
            cipher: ChaCha20Poly1305::new(&key.into()),
        }
    }

    /// `secret` sealed for `user`: base64url of nonce and ciphertext.
    pub fn seal(&self, user: UserId, secret: &[u8]) -> String {
        let mut nonce = [0_u8; 12];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut nonce);
        let user = user.as_uuid();
        let payload = Payload {
            msg: secret,
            aad: user.as_bytes(),
        };
        // Encryption with a valid key and nonce does not fail for inputs this small.
        let sealed = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), payload)
            .unwrap_or_default();
        let mut bytes = nonce.to_vec();
        bytes.extend(sealed);
        base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, bytes)
    }

    /// The secret sealed for `user`.
    pub fn open(&self, user: UserId, sealed: &str) -> Result<Vec<u8>, UnsealError> {
        let bytes =
            base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, sealed)
                .map_err(|_| UnsealError)?;
        if bytes.len() < 12 {
            return Err(UnsealError);
        }
        let (nonce, ciphertext) = bytes.split_at(12);
        let user = user.as_uuid();
        let payload = Payload {
            msg: ciphertext,
            aad: user.as_bytes(),
        };
        self.cipher
            .decrypt(Nonce::from_slice(nonce), payload)
            .map_err(|_| UnsealError)
    }
}

/// A fresh random secret.
pub fn new_secret() -> [u8; SECRET_BYTES] {
    let mut secret = [0_u8; SECRET_BYTES];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut secret);
    secret
}

/// Ten fresh recovery codes, `xxxx-xxxx-xxxx` in lower-case base32 (60 bits each).
pub fn new_recovery_codes() -> Vec<String> {
    (0..10)
        .map(|_| {
            let mut bytes = [0_u8; 8];
            rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
            let text = data_encoding::BASE32_NOPAD.encode(&bytes).to_lowercase();
            format!("{}-{}-{}", &text[0..4], &text[4..8], &text[8..12])
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_the_rfc_6238_test_vectors() {
        // RFC 6238 appendix B, SHA-1 secret, truncated to six digits.
        let secret = b"12345678901234567890";
        for (seconds, code) in [
            (59, "287082"),
            (1_111_111_109, "081804"),
            (1_234_567_890, "005924"),
            (2_000_000_000, "279037"),
        ] {
            assert_eq!(code_at(secret, step_of(seconds)), code, "at {seconds}");
        }
    }

    #[test]
    fn a_code_is_accepted_one_step_either_way_and_no_further() {
        let secret = new_secret();
        let now = 1_000_000;
        assert_eq!(
            matching_step(&secret, &code_at(&secret, now - 1), now),
            Some(now - 1)
        );
        assert_eq!(
            matching_step(&secret, &code_at(&secret, now + 1), now),
            Some(now + 1)
        );
        assert_eq!(
            matching_step(&secret, &code_at(&secret, now - 2), now),
            None
        );
        assert_eq!(matching_step(&secret, "not a code", now), None);
    }

    #[test]
    fn a_sealed_secret_opens_only_for_its_user_and_key() {
        let sealer = SecretSealer::new(&[3; 32]);
        let (ann, bob) = (
            UserId::from_uuid(uuid::Uuid::from_u128(1)),
            UserId::from_uuid(uuid::Uuid::from_u128(2)),
        );
        let sealed = sealer.seal(ann, b"a secret of twenty b");
        assert_eq!(
            sealer.open(ann, &sealed).expect("opens"),
            b"a secret of twenty b"
        );
        assert!(sealer.open(bob, &sealed).is_err());
        assert!(SecretSealer::new(&[4; 32]).open(ann, &sealed).is_err());
        assert!(!sealed.contains("secret"));
        let uri = otpauth_uri("idlog", "ann@example.com", b"12345678901234567890");
        assert_eq!(
            uri,
            "otpauth://totp/idlog:ann%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=idlog&algorithm=SHA1&digits=6&period=30"
        );
        let codes = new_recovery_codes();
        assert_eq!(codes.len(), 10);
        assert!(codes.iter().all(|code| code.len() == 14));
    }
}
