//! The one path personal data takes into and out of the log.
//!
//! Personal fields (named by one-segment JSON pointers) are sealed before an event is hashed and
//! stored, and opened when it is read. [`PlainCodec`] stores them as they are;
//! [`crate::encryption::EncryptingCodec`] encrypts them under one data key per person, destroyed
//! to forget them. A sealed field is still a JSON value at the same place, so the event format
//! does not change.

use crate::storage::DataKeyRecord;
use async_trait::async_trait;
use serde_json::Value;

/// Seals and opens personal data fields.
#[async_trait]
pub trait PersonalDataCodec: Send + Sync + 'static {
    /// Seals the fields of `document` at `pointers`, which belong to `subject` (whose key is
    /// used). Missing fields and `null`s are left alone. `implied_subject` is the id of the
    /// event's stream: a subject equal to it need not be written out. Returns the key it sealed
    /// with when that key was created here and is not stored yet: the log writes it in the
    /// transaction of the events it sealed (or refuses them if another key was stored first).
    async fn seal(
        &self,
        subject: &str,
        implied_subject: &str,
        document: &mut Value,
        pointers: &[&str],
    ) -> Result<Option<DataKeyRecord>, String>;

    /// Opens every sealed field of `documents` in place (a batch, so keys are fetched once),
    /// each with the id of its event's stream. A field whose key is gone reads back as erased,
    /// never as an error.
    async fn open(&self, documents: &mut [(&str, &mut Value)]) -> Result<(), String>;

    /// `subject` was forgotten (their key destroyed): forget whatever is cached of them.
    fn forget(&self, _subject: &str) {}

    /// Those keys are stored now.
    fn keys_stored(&self, _subjects: &[&str]) {}

    /// Drops what is cached of `subject` (another process stored a different key first).
    fn drop_cached(&self, _subject: &str) {}

    /// Whether sealing for these subjects may create a key (one is not known to be stored).
    fn may_create_keys(&self, _subjects: &[&str]) -> bool {
        false
    }

    /// `subject` is the id of a stream being created: it has no key yet, none need be looked
    /// for (if it had one after all, the append would be refused and sealed again).
    fn expect_new_subject(&self, _subject: &str) {}
}

/// Stores personal data as it is (tests of the log itself, and benchmarks without encryption).
#[derive(Debug, Clone, Copy, Default)]
pub struct PlainCodec;

#[async_trait]
impl PersonalDataCodec for PlainCodec {
    async fn seal(
        &self,
        _subject: &str,
        _implied_subject: &str,
        _document: &mut Value,
        _pointers: &[&str],
    ) -> Result<Option<DataKeyRecord>, String> {
        Ok(None)
    }

    async fn open(&self, _documents: &mut [(&str, &mut Value)]) -> Result<(), String> {
        Ok(())
    }
}
