//! Per-person encryption of personal data, so a person can be forgotten from an append-only log
//! by destroying one key (crypto-shredding).
//!
//! Each data subject (a user id, or whoever an actor is) has a random 256-bit data key, kept in
//! the `data_keys` table wrapped (encrypted) by the master key from configuration. A document's
//! personal fields are sealed together with AES-256-GCM under their subject's key, bound to the
//! subject and the fields' names: each field holds `{"$sealed": true}` in place of its value, and
//! the document a top-level `"$personal": "<subject>:<base64url(nonce || ciphertext)>"`. The hash
//! chain covers these stored bytes, so destroying a key changes nothing the chain covers; the
//! fields then read back as `{"$erased": true}`.
//!
//! Fields written in clear (before encryption was on) are read as they are.

use crate::codec::PersonalDataCodec;
use crate::error::StoreError;
use crate::storage::{DataKeyRecord, LogStorage};
use aes_gcm::aead::{Aead, AeadCore, AeadInPlace, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use lru::LruCache;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The key of the one-entry object a sealed field holds in place of its value:
/// `{"$sealed": true}`.
pub const SEALED: &str = "$sealed";
/// The top-level key of a document's sealed personal fields: `"<base64url(nonce || ciphertext)>"`
/// when their subject is the stream's id, `"<subject>:<base64url(...)>"` otherwise. The
/// ciphertext is a JSON array of the fields' values in the order of their names; documents sealed
/// before that hold a JSON object of names and values, and always name their subject. Both read.
pub const PERSONAL: &str = "$personal";
/// The key of the one-entry object an erased field reads back as: `{"$erased": true}`.
pub const ERASED: &str = "$erased";

/// The value an erased personal field reads back as.
pub fn erased_value() -> Value {
    serde_json::json!({ ERASED: true })
}

/// Whether `value` is the mark of an erased field.
pub fn is_erased(value: &Value) -> bool {
    value
        .as_object()
        .is_some_and(|fields| fields.len() == 1 && fields.get(ERASED) == Some(&Value::Bool(true)))
}

/// Whether `value` is the place of a sealed (encrypted) field.
pub fn is_sealed(value: &Value) -> bool {
    value
        .as_object()
        .is_some_and(|fields| fields.len() == 1 && fields.get(SEALED) == Some(&Value::Bool(true)))
}

fn sealed_mark() -> Value {
    serde_json::json!({ SEALED: true })
}

/// AES-GCM nonces are 12 bytes, random: each key seals a person's few events (and the master
/// key one data key per person), far below the 2^32 random nonces one key may take.
const NONCE_LEN: usize = 12;

/// How many data keys a process keeps unwrapped in memory.
pub const DEFAULT_CACHED_KEYS: usize = 100_000;

/// How long an unwrapped data key is trusted before the table is asked again: the longest a
/// process that does not follow the log keeps reading a person forgotten by another process.
pub const DEFAULT_KEY_TTL: Duration = Duration::from_secs(60);

/// The 256-bit key that wraps every data key. Never printed.
#[derive(Clone)]
pub struct MasterKey {
    key: [u8; 32],
    id: String,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MasterKey({})", self.id)
    }
}

impl MasterKey {
    /// The key with these bytes.
    pub fn from_bytes(key: [u8; 32]) -> Self {
        let digest = Sha256::new()
            .chain_update(b"idlog.master-key.id.v1")
            .chain_update(key)
            .finalize();
        Self {
            key,
            id: hex::encode(&digest[..8]),
        }
    }

    /// A fresh random key.
    pub fn generate() -> Self {
        Self::from_bytes(Aes256Gcm::generate_key(&mut OsRng).into())
    }

    /// A short public name of the key (a digest prefix), recorded with each data key it wraps.
    pub fn id(&self) -> &str {
        &self.id
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(&self.key.into())
    }

    /// Encrypts a data key for `subject`.
    fn wrap(&self, subject: &str, data_key: &[u8; 32]) -> Result<Vec<u8>, String> {
        seal_bytes(&self.cipher(), &wrap_aad(subject), data_key)
    }

    /// Decrypts a data key of `subject`.
    fn unwrap(&self, subject: &str, wrapped: &[u8]) -> Result<[u8; 32], String> {
        let bytes = open_bytes(&self.cipher(), &wrap_aad(subject), wrapped).map_err(|_| {
            format!(
                "the data key of {subject} does not open with master key {}",
                self.id
            )
        })?;
        bytes
            .try_into()
            .map_err(|_| format!("the data key of {subject} is not 32 bytes"))
    }
}

/// The master key in use and the ones it replaced (still able to unwrap until re-wrapped).
#[derive(Debug, Clone)]
pub struct MasterKeys {
    /// Wraps new data keys.
    pub current: MasterKey,
    /// Earlier keys, for data keys not re-wrapped yet.
    pub previous: Vec<MasterKey>,
}

impl MasterKeys {
    /// Only `current`.
    pub fn new(current: MasterKey) -> Self {
        Self {
            current,
            previous: Vec::new(),
        }
    }

    fn by_id(&self, id: &str) -> Option<&MasterKey> {
        std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|key| key.id == id)
    }

    fn unwrap(&self, record: &DataKeyRecord, wrapped: &[u8]) -> Result<[u8; 32], String> {
        let master = self.by_id(&record.master_key_id).ok_or_else(|| {
            format!(
                "the data key of {} is wrapped by master key {}, which is not configured",
                record.subject, record.master_key_id
            )
        })?;
        master.unwrap(&record.subject, wrapped)
    }
}

fn wrap_aad(subject: &str) -> Vec<u8> {
    [b"idlog.data-key.v1:".as_slice(), subject.as_bytes()].concat()
}

/// Binds sealed data to its subject and the names of its fields, given sorted (documents come
/// back from the database in its own key order).
fn fields_aad<'a>(subject: &str, sorted_names: impl IntoIterator<Item = &'a str>) -> Vec<u8> {
    let mut aad = [b"idlog.personal-fields.v1:".as_slice(), subject.as_bytes()].concat();
    for name in sorted_names {
        aad.push(0);
        aad.extend_from_slice(name.as_bytes());
    }
    aad
}

fn seal_bytes(cipher: &Aes256Gcm, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, String> {
    // A CSPRNG seeded from the OS per thread: no system call per nonce.
    let nonce = Aes256Gcm::generate_nonce(&mut rand::thread_rng());
    let ciphertext = cipher
        .encrypt(
            &nonce,
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .map_err(|_| "encryption failed".to_owned())?;
    Ok([nonce.as_slice(), &ciphertext].concat())
}

fn open_bytes(cipher: &Aes256Gcm, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, ()> {
    if sealed.len() < NONCE_LEN {
        return Err(());
    }
    let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
    cipher
        .decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: ciphertext,
                aad,
            },
        )
        .map_err(|_| ())
}

/// Opens `nonce || ciphertext` where it lies: `buffer` holds the plaintext afterwards (one
/// allocation fewer per document than [`open_bytes`], on the path every read takes).
fn open_in_place(cipher: &Aes256Gcm, aad: &[u8], buffer: &mut Vec<u8>) -> Result<(), ()> {
    if buffer.len() < NONCE_LEN {
        return Err(());
    }
    let nonce: [u8; NONCE_LEN] = buffer[..NONCE_LEN].try_into().map_err(|_| ())?;
    buffer.drain(..NONCE_LEN);
    cipher
        .decrypt_in_place(Nonce::from_slice(&nonce), aad, buffer)
        .map_err(|_| ())
}

/// A subject's key as this process knows it.
#[derive(Clone)]
struct CachedKey {
    /// `None`: destroyed (the subject was forgotten); that never changes. The key, not its
    /// expanded cipher (ten times the size): expanding it per batch costs next to nothing.
    key: Option<[u8; 32]>,
    loaded: Instant,
    /// A key created here and not stored yet: it goes into the database with the first events
    /// it sealed.
    unstored: Option<DataKeyRecord>,
}

/// A document's sealed personal data: its subject and bytes.
fn sealed_blob<'a>(implied_subject: &'a str, document: &'a Value) -> Option<(&'a str, &'a str)> {
    document
        .get(PERSONAL)?
        .as_str()
        .map(|blob| split_blob(implied_subject, blob))
}

/// The subject and bytes of a `$personal` value: subjects may hold ':' (`system:cli:alice`);
/// base64url never does, and without a subject it is the stream's.
fn split_blob<'a>(implied_subject: &'a str, blob: &'a str) -> (&'a str, &'a str) {
    blob.rsplit_once(':').unwrap_or((implied_subject, blob))
}

/// Puts the sealed fields of a document (its `$personal` taken out: `sealed`) back in place.
/// `buffer` is reused between documents.
fn open_fields(
    cipher: &Aes256Gcm,
    subject: &str,
    sealed: &str,
    fields: &mut serde_json::Map<String, Value>,
    buffer: &mut Vec<u8>,
) -> Result<(), String> {
    // The sealed fields' places, in name order (the order their values were sealed in).
    let mut places: Vec<(&str, &mut Value)> = fields
        .iter_mut()
        .filter(|(_, value)| is_sealed(value))
        .map(|(name, value)| (name.as_str(), value))
        .collect();
    places.sort_unstable_by(|a, b| a.0.cmp(b.0));
    let aad = fields_aad(subject, places.iter().map(|(name, _)| *name));
    buffer.clear();
    URL_SAFE_NO_PAD
        .decode_vec(sealed, buffer)
        .map_err(|_| format!("the personal data of {subject} is not base64url"))?;
    open_in_place(cipher, &aad, buffer)
        .map_err(|()| format!("the personal data of {subject} does not open: altered"))?;
    match serde_json::from_slice(buffer).map_err(|e| e.to_string())? {
        Value::Array(values) if values.len() == places.len() => {
            for ((_, place), value) in places.into_iter().zip(values) {
                *place = value;
            }
        }
        // Sealed before the values went alone: names and values.
        Value::Object(personal) => {
            drop(places);
            for (name, value) in personal {
                fields.insert(name, value);
            }
        }
        _ => {
            return Err(format!(
                "the personal data of {subject} does not match its fields"
            ));
        }
    }
    Ok(())
}

/// The field name of a one-segment JSON pointer (`/email`).
fn top_level_name(pointer: &str) -> Option<&str> {
    pointer
        .strip_prefix('/')
        .filter(|name| !name.is_empty() && !name.contains(['/', '~']))
}

/// Encrypts personal fields under per-subject data keys kept in the log's database.
pub struct EncryptingCodec {
    storage: Arc<dyn LogStorage>,
    masters: MasterKeys,
    cache: Mutex<LruCache<String, CachedKey>>,
    ttl: Duration,
}

impl std::fmt::Debug for EncryptingCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncryptingCodec")
            .field("master_key", &self.masters.current.id)
            .finish_non_exhaustive()
    }
}

impl EncryptingCodec {
    /// A codec keeping data keys in `storage`, wrapped by `masters.current`.
    pub fn new(storage: Arc<dyn LogStorage>, masters: MasterKeys) -> Self {
        Self {
            storage,
            masters,
            cache: Mutex::new(LruCache::new(
                NonZeroUsize::new(DEFAULT_CACHED_KEYS).unwrap_or(NonZeroUsize::MIN),
            )),
            ttl: DEFAULT_KEY_TTL,
        }
    }

    /// Sets how long an unwrapped key is trusted before it is read again.
    pub fn with_key_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    fn cached(&self, subject: &str) -> Option<CachedKey> {
        let mut cache = self.cache.lock().ok()?;
        let entry = cache.get(subject)?;
        // A destroyed key stays destroyed; a live one is re-read now and then, in case another
        // process destroyed it (one not stored yet cannot have been).
        if entry.key.is_some() && entry.unstored.is_none() && entry.loaded.elapsed() > self.ttl {
            return None;
        }
        Some(entry.clone())
    }

    /// Remembers `subject`'s key as read from the table. A key known here to be destroyed stays
    /// destroyed (a read that started before the forgetting must not bring it back), and a key
    /// created here and not stored yet stays until its events are stored or refused.
    fn remember(&self, subject: &str, key: Option<[u8; 32]>) {
        if let Ok(mut cache) = self.cache.lock() {
            if cache
                .peek(subject)
                .is_some_and(|entry| entry.key.is_none() || entry.unstored.is_some())
            {
                return;
            }
            cache.put(
                subject.to_owned(),
                CachedKey {
                    key,
                    loaded: Instant::now(),
                    unstored: None,
                },
            );
        }
    }

    fn key_of(&self, record: &DataKeyRecord) -> Result<Option<[u8; 32]>, String> {
        record
            .wrapped_key
            .as_ref()
            .map(|wrapped| self.masters.unwrap(record, wrapped))
            .transpose()
    }

    /// Reads the keys of `subjects` that are not cached (one query); subjects with no key are
    /// left out of the cache.
    async fn load(&self, subjects: &[&str]) -> Result<(), String> {
        let missing: Vec<&str> = subjects
            .iter()
            .copied()
            .filter(|subject| self.cached(subject).is_none())
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        let records = self
            .storage
            .data_keys(&missing)
            .await
            .map_err(|e| e.to_string())?;
        for record in records {
            let key = self.key_of(&record)?;
            self.remember(&record.subject, key);
        }
        Ok(())
    }

    /// A fresh key for `subject`, wrapped.
    fn new_key(&self, subject: &str) -> Result<([u8; 32], DataKeyRecord), String> {
        let data_key: [u8; 32] = Aes256Gcm::generate_key(&mut OsRng).into();
        let record = DataKeyRecord {
            subject: subject.to_owned(),
            wrapped_key: Some(self.masters.current.wrap(subject, &data_key)?),
            master_key_id: self.masters.current.id.clone(),
        };
        Ok((data_key, record))
    }

    /// `subject`'s cached key, or a new one remembered as not stored yet: one step under the
    /// cache's lock, so concurrent appends for one subject never seal under two different new
    /// keys. With the key, the record to store if it is not stored yet.
    fn cached_or_pending_key(
        &self,
        subject: &str,
    ) -> Result<(Option<[u8; 32]>, Option<DataKeyRecord>), String> {
        let mut cache = self
            .cache
            .lock()
            .map_err(|_| "the data key cache is poisoned".to_owned())?;
        if let Some(entry) = cache.get(subject) {
            return Ok((entry.key, entry.unstored.clone()));
        }
        let (key, record) = self.new_key(subject)?;
        cache.put(
            subject.to_owned(),
            CachedKey {
                key: Some(key),
                loaded: Instant::now(),
                unstored: Some(record.clone()),
            },
        );
        Ok((Some(key), Some(record)))
    }

    /// The subject's key for sealing, created if it has none, with the record to store with
    /// the events when the key is new and not stored yet.
    async fn key_for_sealing(
        &self,
        subject: &str,
    ) -> Result<(Aes256Gcm, Option<DataKeyRecord>), String> {
        let (key, unstored) = match self.cached(subject) {
            Some(entry) => (entry.key, entry.unstored),
            None => {
                // A subject this process has not seen may well be new: on PostgreSQL the insert
                // below finds out in one round trip (and reads the key if there is one).
                let known = self
                    .cache
                    .lock()
                    .is_ok_and(|cache| cache.peek(subject).is_some());
                if known || self.storage.stores_new_keys_with_events() {
                    self.load(&[subject]).await?;
                }
                match self.cached(subject) {
                    Some(entry) => (entry.key, entry.unstored),
                    // It goes in with the events that it seals.
                    None if self.storage.stores_new_keys_with_events() => {
                        self.cached_or_pending_key(subject)?
                    }
                    None => {
                        let (_, fresh) = self.new_key(subject)?;
                        // Another process may create it at the same time: the first one stored
                        // wins, and a destroyed key stays destroyed.
                        let stored = self
                            .storage
                            .data_key_or_insert(&fresh)
                            .await
                            .map_err(|e| e.to_string())?;
                        let key = self.key_of(&stored)?;
                        self.remember(subject, key);
                        (key, None)
                    }
                }
            }
        };
        let key = key
            .ok_or_else(|| format!("{subject} was forgotten: no personal data is kept for them"))?;
        Ok((Aes256Gcm::new(&key.into()), unstored))
    }

    /// Re-wraps every data key not wrapped by the current master key; returns how many.
    /// `progress` is told how many keys were looked at.
    pub async fn rewrap_all(&self, mut progress: impl FnMut(u64)) -> Result<u64, StoreError> {
        let mut after: Option<String> = None;
        let mut rewrapped = 0;
        let mut seen = 0;
        loop {
            let page = self.storage.data_keys_after(after.as_deref(), 1000).await?;
            let Some(last) = page.last() else { break };
            after = Some(last.subject.clone());
            for record in &page {
                seen += 1;
                let Some(wrapped) = &record.wrapped_key else {
                    continue;
                };
                if record.master_key_id == self.masters.current.id {
                    continue;
                }
                let key = self
                    .masters
                    .unwrap(record, wrapped)
                    .map_err(StoreError::Codec)?;
                let rewrapped_key = self
                    .masters
                    .current
                    .wrap(&record.subject, &key)
                    .map_err(StoreError::Codec)?;
                if self
                    .storage
                    .replace_wrapped_key(
                        &record.subject,
                        &record.master_key_id,
                        &rewrapped_key,
                        &self.masters.current.id,
                    )
                    .await?
                {
                    rewrapped += 1;
                }
            }
            progress(seen);
        }
        Ok(rewrapped)
    }
}

#[async_trait]
impl PersonalDataCodec for EncryptingCodec {
    async fn seal(
        &self,
        subject: &str,
        implied_subject: &str,
        document: &mut Value,
        pointers: &[&str],
    ) -> Result<Option<DataKeyRecord>, String> {
        // Only top-level fields are sealed, so opening never looks inside a value a user wrote.
        if let Some(nested) = pointers
            .iter()
            .find(|pointer| top_level_name(pointer).is_none())
        {
            return Err(format!(
                "personal fields are top-level fields, not {nested}"
            ));
        }
        let Some(fields) = document.as_object_mut() else {
            return Ok(None);
        };
        if fields.contains_key(PERSONAL) {
            return Err(format!("{PERSONAL} is reserved in event documents"));
        }
        let mut names: Vec<&str> = pointers
            .iter()
            .filter_map(|pointer| top_level_name(pointer))
            .collect();
        names.sort_unstable();
        names.dedup();
        // In name order, the order opening reads them back in.
        let mut sealed_names = Vec::with_capacity(names.len());
        let mut values = Vec::with_capacity(names.len());
        for name in names {
            if let Some(value) = fields.get_mut(name).filter(|value| !value.is_null()) {
                values.push(std::mem::replace(value, sealed_mark()));
                sealed_names.push(name);
            }
        }
        if values.is_empty() {
            return Ok(None);
        }
        let (cipher, unstored) = self.key_for_sealing(subject).await?;
        let plaintext = serde_json::to_vec(&values).map_err(|e| e.to_string())?;
        let sealed = seal_bytes(
            &cipher,
            &fields_aad(subject, sealed_names.iter().copied()),
            &plaintext,
        )?;
        let encoded = URL_SAFE_NO_PAD.encode(sealed);
        let blob = if subject == implied_subject {
            encoded
        } else {
            format!("{subject}:{encoded}")
        };
        fields.insert(PERSONAL.to_owned(), Value::String(blob));
        Ok(unstored)
    }

    async fn open(&self, documents: &mut [(&str, &mut Value)]) -> Result<(), String> {
        let mut subjects: HashSet<String> = HashSet::new();
        for (subject, _) in documents
            .iter()
            .filter_map(|(implied, document)| sealed_blob(implied, document))
        {
            // A batch holds few subjects and many documents: allocate once per subject.
            if !subjects.contains(subject) {
                subjects.insert(subject.to_owned());
            }
        }
        if subjects.is_empty() {
            return Ok(());
        }
        let wanted: Vec<&str> = subjects.iter().map(String::as_str).collect();
        self.load(&wanted).await?;
        // The batch's keys, taken from the cache once.
        let ciphers: std::collections::HashMap<&str, Option<Aes256Gcm>> = wanted
            .iter()
            .filter_map(|subject| {
                let key = self.cached(subject)?.key;
                Some((*subject, key.map(|key| Aes256Gcm::new(&key.into()))))
            })
            .collect();
        let mut buffer = Vec::new();
        for (implied_subject, document) in documents.iter_mut() {
            let Some(fields) = document.as_object_mut() else {
                continue;
            };
            let Some(Value::String(blob)) = fields.remove(PERSONAL) else {
                continue;
            };
            let (subject, sealed) = split_blob(implied_subject, &blob);
            let entry = ciphers.get(subject).ok_or_else(|| {
                format!("no data key for {subject}: personal data cannot be read")
            })?;
            match entry {
                Some(cipher) => open_fields(cipher, subject, sealed, fields, &mut buffer)?,
                None => {
                    for value in fields.values_mut().filter(|value| is_sealed(value)) {
                        *value = erased_value();
                    }
                }
            }
        }
        Ok(())
    }

    fn forget(&self, subject: &str) {
        self.remember(subject, None);
    }

    fn keys_stored(&self, subjects: &[&str]) {
        if let Ok(mut cache) = self.cache.lock() {
            for subject in subjects {
                if let Some(entry) = cache.get_mut(*subject) {
                    entry.unstored = None;
                }
            }
        }
    }

    fn may_create_keys(&self, subjects: &[&str]) -> bool {
        subjects.iter().any(|subject| {
            self.cached(subject)
                .is_none_or(|entry| entry.unstored.is_some())
        })
    }

    fn expect_new_subject(&self, subject: &str) {
        if self.storage.stores_new_keys_with_events() {
            // A failure here only means the key is looked for when sealing.
            let _ = self.cached_or_pending_key(subject);
        }
    }

    fn drop_cached(&self, subject: &str) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.pop(subject);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_master_key_is_named_by_a_digest_and_never_printed() {
        let key = MasterKey::from_bytes([7; 32]);
        assert_eq!(key.id(), MasterKey::from_bytes([7; 32]).id());
        assert_ne!(key.id(), MasterKey::from_bytes([8; 32]).id());
        assert!(!format!("{key:?}").contains(&hex::encode([7; 32])));
    }

    #[test]
    fn a_wrapped_key_opens_only_for_its_subject_and_master() {
        let master = MasterKey::generate();
        let data_key = [9; 32];
        let wrapped = master.wrap("alice", &data_key).expect("wrap");
        assert_eq!(master.unwrap("alice", &wrapped).expect("unwrap"), data_key);
        assert!(master.unwrap("bob", &wrapped).is_err());
        assert!(MasterKey::generate().unwrap("alice", &wrapped).is_err());
    }

    /// Documents sealed before the values went alone (a JSON object of names and values, the
    /// subject always written out) still open.
    #[test]
    fn documents_sealed_in_the_first_format_still_open() {
        let key = [5; 32];
        let cipher = Aes256Gcm::new(&key.into());
        let plaintext = serde_json::json!({"email": "ann@example.com", "ip": "192.0.2.1"});
        let sealed = seal_bytes(
            &cipher,
            &fields_aad("user-1", ["email", "ip"]),
            &serde_json::to_vec(&plaintext).expect("json"),
        )
        .expect("sealed");
        let blob = format!("user-1:{}", URL_SAFE_NO_PAD.encode(sealed));
        let mut document = serde_json::json!({
            "email": sealed_mark(), "ip": sealed_mark(), "plan": "free", PERSONAL: blob
        });
        let fields = document.as_object_mut().expect("object");
        let Some(Value::String(blob)) = fields.remove(PERSONAL) else {
            panic!("sealed")
        };
        let (subject, sealed) = split_blob("another-stream", &blob);
        assert_eq!(subject, "user-1");
        open_fields(&cipher, subject, sealed, fields, &mut Vec::new()).expect("opens");
        assert_eq!(
            document,
            serde_json::json!({"email": "ann@example.com", "ip": "192.0.2.1", "plan": "free"})
        );
    }

    #[test]
    fn sealed_data_names_its_subject_even_with_colons() {
        let document =
            serde_json::json!({ PERSONAL: "system:cli:alice:AAAA", "ip": sealed_mark() });
        assert_eq!(
            sealed_blob("stream", &document),
            Some(("system:cli:alice", "AAAA"))
        );
        let implied = serde_json::json!({ PERSONAL: "AAAA", "ip": sealed_mark() });
        assert_eq!(sealed_blob("stream", &implied), Some(("stream", "AAAA")));
        assert_eq!(
            sealed_blob("stream", &serde_json::json!({"ip": "192.0.2.1"})),
            None
        );
        assert!(is_sealed(&document["ip"]) && !is_sealed(&serde_json::json!("x")));
        assert!(is_erased(&erased_value()));
    }
}
