//! Password hashing and policy.
//!
//! Hashing is argon2id with OWASP's parameters by default (19 MiB, 2 passes, 1 lane). It runs on
//! a pool of its own with one thread per core, at the lowest scheduling priority: a login flood
//! queues here and uses every idle cycle, while the async runtime (every other request) still
//! gets the CPU the moment it needs it. An unknown account is verified against a dummy hash, so it
//! costs what a wrong password costs.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use domain::values::PasswordHash;
use secrecy::{ExposeSecret, SecretString};
use std::collections::HashSet;
use std::sync::{Arc, LazyLock, Mutex, mpsc};

/// The 10,000 most common passwords (see `application/data/README.md`), refused whatever the case.
static COMMON_PASSWORDS: LazyLock<HashSet<String>> = LazyLock::new(|| {
    include_str!("../../data/common-passwords.txt")
        .lines()
        .map(|line| line.trim().to_lowercase())
        .collect()
});

/// The longest password accepted, in characters (argon2 would take more; nobody needs more).
pub const MAX_PASSWORD_CHARS: usize = 128;

/// Hashing cost and policy, from configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordSettings {
    /// argon2id memory, KiB.
    pub memory_kib: u32,
    /// argon2id passes.
    pub iterations: u32,
    /// argon2id lanes.
    pub parallelism: u32,
    /// The shortest password accepted, in characters.
    pub min_length: usize,
}

impl Default for PasswordSettings {
    fn default() -> Self {
        Self {
            memory_kib: 19 * 1024,
            iterations: 2,
            parallelism: 1,
            min_length: 8,
        }
    }
}

/// Why a password was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordRejection {
    /// Too short.
    #[error("must be at least {0} characters")]
    TooShort(usize),
    /// Too long.
    #[error("must be at most {MAX_PASSWORD_CHARS} characters")]
    TooLong,
    /// Among the most common passwords.
    #[error("is one of the most common passwords; choose another")]
    Common,
    /// The same as the email address or username.
    #[error("must not be your email address or username")]
    SameAsIdentifier,
}

/// Hashing failed (bad parameters, or the blocking pool is gone).
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashingError(String);

type Job = Box<dyn FnOnce() + Send>;

/// Threads that run hashing jobs, one at a time each, at the lowest priority. They stop when
/// the pool is dropped.
struct HashingPool {
    jobs: Mutex<mpsc::Sender<Job>>,
}

impl HashingPool {
    fn new(threads: usize) -> Result<Self, HashingError> {
        let (sender, receiver) = mpsc::channel::<Job>();
        let receiver = Arc::new(Mutex::new(receiver));
        for index in 0..threads.max(1) {
            let receiver = receiver.clone();
            std::thread::Builder::new()
                .name(format!("idlog-argon2-{index}"))
                .spawn(move || {
                    if let Err(error) = thread_priority::set_current_thread_priority(
                        thread_priority::ThreadPriority::Min,
                    ) {
                        tracing::warn!(?error, "could not lower the hashing thread's priority");
                    }
                    loop {
                        // The lock is held while waiting for a job, not while running it.
                        let job = match receiver.lock() {
                            Ok(receiver) => receiver.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                })
                .map_err(|e| HashingError(e.to_string()))?;
        }
        Ok(Self {
            jobs: Mutex::new(sender),
        })
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, HashingError> {
        let (done, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            // The caller may be gone (client disconnected); the result is then dropped.
            let _ = done.send(work());
        });
        self.jobs
            .lock()
            .map_err(|_| HashingError("the hashing pool is poisoned".into()))?
            .send(job)
            .map_err(|_| HashingError("the hashing pool has stopped".into()))?;
        result
            .await
            .map_err(|_| HashingError("a hashing job was lost".into()))
    }
}

/// Hashes, verifies and judges passwords.
#[derive(Clone)]
pub struct Passwords {
    argon2: Argon2<'static>,
    pool: Arc<HashingPool>,
    dummy_hash: Arc<str>,
    min_length: usize,
}

impl std::fmt::Debug for Passwords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Passwords")
            .field("min_length", &self.min_length)
            .finish_non_exhaustive()
    }
}

impl Passwords {
    /// A hasher with `settings`, running at most `concurrency` hashes at once.
    pub fn new(settings: PasswordSettings, concurrency: usize) -> Result<Self, HashingError> {
        let params = Params::new(
            settings.memory_kib,
            settings.iterations,
            settings.parallelism,
            None,
        )
        .map_err(|e| HashingError(e.to_string()))?;
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let salt = SaltString::generate(&mut OsRng);
        let dummy_hash = argon2
            .hash_password(
                b"a password nobody has: it only makes unknown accounts cost the same",
                &salt,
            )
            .map_err(|e| HashingError(e.to_string()))?
            .to_string();
        Ok(Self {
            argon2,
            pool: Arc::new(HashingPool::new(concurrency)?),
            dummy_hash: dummy_hash.into(),
            min_length: settings.min_length,
        })
    }

    /// As many concurrent hashes as the machine has cores.
    pub fn with_core_count(settings: PasswordSettings) -> Result<Self, HashingError> {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Self::new(settings, cores)
    }

    /// The shortest password the policy accepts, in characters.
    pub fn min_length(&self) -> usize {
        self.min_length
    }

    /// Checks a new password against the policy.
    pub fn check_policy(
        &self,
        password: &SecretString,
        identifiers: &[&str],
    ) -> Result<(), PasswordRejection> {
        let password = password.expose_secret();
        let length = password.chars().count();
        if length < self.min_length {
            return Err(PasswordRejection::TooShort(self.min_length));
        }
        if length > MAX_PASSWORD_CHARS {
            return Err(PasswordRejection::TooLong);
        }
        let lowered = password.to_lowercase();
        if COMMON_PASSWORDS.contains(&lowered) {
            return Err(PasswordRejection::Common);
        }
        if identifiers
            .iter()
            .any(|identifier| !identifier.is_empty() && identifier.to_lowercase() == lowered)
        {
            return Err(PasswordRejection::SameAsIdentifier);
        }
        Ok(())
    }

    /// Hashes a password (with a fresh salt) on the capped blocking pool.
    #[tracing::instrument(skip_all)]
    pub async fn hash(&self, password: SecretString) -> Result<PasswordHash, HashingError> {
        let argon2 = self.argon2.clone();
        self.run(move || {
            let salt = SaltString::generate(&mut OsRng);
            argon2
                .hash_password(password.expose_secret().as_bytes(), &salt)
                .map(|hash| PasswordHash::new(hash.to_string()))
                .map_err(|e| HashingError(e.to_string()))
        })
        .await?
    }

    /// Whether `password` matches `hash`. With no hash (unknown account, invited user) it
    /// verifies against the dummy hash and answers false, taking as long as a real check.
    #[tracing::instrument(skip_all)]
    pub async fn verify(
        &self,
        password: SecretString,
        hash: Option<&PasswordHash>,
    ) -> Result<bool, HashingError> {
        let known = hash.is_some();
        let phc: Arc<str> =
            hash.map_or_else(|| self.dummy_hash.clone(), |hash| hash.as_str().into());
        let argon2 = self.argon2.clone();
        let matches = self
            .run(move || {
                let parsed =
                    argon2::PasswordHash::new(&phc).map_err(|e| HashingError(e.to_string()))?;
                // The comparison inside is constant-time.
                Ok::<bool, HashingError>(
                    argon2
                        .verify_password(password.expose_secret().as_bytes(), &parsed)
                        .is_ok(),
                )
            })
            .await??;
        Ok(known && matches)
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, HashingError> {
        self.pool.run(work).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> Passwords {
        Passwords::new(
            PasswordSettings {
                memory_kib: 256,
                iterations: 1,
                parallelism: 1,
                min_length: 8,
            },
            2,
        )
        .expect("valid settings")
    }

    fn secret(text: &str) -> SecretString {
        SecretString::from(text.to_owned())
    }

    #[test]
    fn the_policy_refuses_short_long_common_and_identifying_passwords() {
        let passwords = cheap();
        let check = |p: &str| passwords.check_policy(&secret(p), &["ann@example.com", "ann_lee"]);
        assert_eq!(check("short"), Err(PasswordRejection::TooShort(8)));
        assert_eq!(check(&"x".repeat(129)), Err(PasswordRejection::TooLong));
        assert_eq!(check("PASSWORD"), Err(PasswordRejection::Common));
        assert_eq!(check("qwertyuiop"), Err(PasswordRejection::Common));
        assert_eq!(
            check("Ann@Example.com"),
            Err(PasswordRejection::SameAsIdentifier)
        );
        assert_eq!(check("ann_lee0"), Ok(()));
        assert_eq!(check("correct horse battery staple"), Ok(()));
        assert!(COMMON_PASSWORDS.len() > 9_000, "the shipped list is loaded");
    }

    #[tokio::test]
    async fn hashes_are_argon2id_and_verify() {
        let passwords = cheap();
        let hash = passwords
            .hash(secret("correct horse battery staple"))
            .await
            .expect("hash");
        assert!(hash.as_str().starts_with("$argon2id$v=19$m=256,t=1,p=1$"));
        assert!(
            passwords
                .verify(secret("correct horse battery staple"), Some(&hash))
                .await
                .expect("verify")
        );
        assert!(
            !passwords
                .verify(secret("wrong horse battery staple"), Some(&hash))
                .await
                .expect("verify")
        );
        assert!(
            !passwords
                .verify(secret("anything at all"), None)
                .await
                .expect("verify")
        );
        let again = passwords
            .hash(secret("correct horse battery staple"))
            .await
            .expect("hash");
        assert_ne!(hash.as_str(), again.as_str(), "each hash has its own salt");
    }

    #[test]
    fn the_default_parameters_are_owasps() {
        assert_eq!(
            PasswordSettings::default(),
            PasswordSettings {
                memory_kib: 19456,
                iterations: 2,
                parallelism: 1,
                min_length: 8
            }
        );
    }
}
