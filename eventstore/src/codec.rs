//! The one path personal data takes into and out of the log.
//!
//! Personal fields (named by JSON pointers) are sealed before an event is hashed and stored, and
//! opened when it is read. The default codec stores them as they are; an encrypting codec (one
//! data key per person, destroyed to forget them) plugs in here without changing the event
//! format, because a sealed field is still a JSON value at the same place.

use serde_json::Value;

/// Seals and opens personal data fields.
pub trait PersonalDataCodec: Send + Sync + 'static {
    /// Seals the fields of `document` at `pointers`, which belong to `subject` (whose key is
    /// used). Missing fields and `null`s are left alone.
    fn seal(&self, subject: &str, document: &mut Value, pointers: &[&str]) -> Result<(), String>;

    /// Opens every sealed field of `document` in place. A field whose key is gone reads back as
    /// erased, never as an error.
    fn open(&self, document: &mut Value) -> Result<(), String>;
}

/// Stores personal data as it is. The default until per-person encryption is configured.
#[derive(Debug, Clone, Copy, Default)]
pub struct PlainCodec;

impl PersonalDataCodec for PlainCodec {
    fn seal(
        &self,
        _subject: &str,
        _document: &mut Value,
        _pointers: &[&str],
    ) -> Result<(), String> {
        Ok(())
    }

    fn open(&self, _document: &mut Value) -> Result<(), String> {
        Ok(())
    }
}
