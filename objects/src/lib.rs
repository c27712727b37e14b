//! Object storage: users' folders and files under stable keys such as
//! `accounts/{user_id}/profile/picture.png`.
//!
//! [`ObjectStore`] is the one seam; [`LocalFolder`] is the embedded default (the data folder's
//! `objects/`, one file per key), and S3 implements the same trait with the same keys.

#[cfg(feature = "s3")]
mod s3;

#[cfg(feature = "s3")]
pub use s3::{S3Settings, S3Store};

use std::path::{Path, PathBuf};

/// A stored object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    /// Its bytes.
    pub bytes: Vec<u8>,
    /// Its media type.
    pub content_type: String,
}

/// Why object storage failed.
#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    /// The key is not one this store accepts (empty, absolute, `..`, odd characters).
    #[error("invalid object key {0:?}")]
    InvalidKey(String),
    /// The storage failed.
    #[error("object storage failed for {key}: {message}")]
    Storage {
        /// The key.
        key: String,
        /// What failed.
        message: String,
    },
}

/// Where objects live.
#[async_trait::async_trait]
pub trait ObjectStore: Send + Sync + std::fmt::Debug {
    /// Stores `bytes` under `key`, replacing what was there; a reader never sees half of it.
    async fn put(&self, key: &str, bytes: &[u8], content_type: &str) -> Result<(), ObjectError>;
    /// The object under `key`, if any.
    async fn get(&self, key: &str) -> Result<Option<Object>, ObjectError>;
    /// Removes the object under `key`; a missing one is not an error.
    async fn delete(&self, key: &str) -> Result<(), ObjectError>;
    /// Every key under `prefix` (folder markers included), sorted.
    async fn list(&self, prefix: &str) -> Result<Vec<String>, ObjectError>;
    /// Removes every object under `prefix` (a folder and all it holds); returns how many.
    async fn delete_prefix(&self, prefix: &str) -> Result<usize, ObjectError> {
        let keys = self.list(prefix).await?;
        // Deepest first, so a folder marker goes after what it holds.
        for key in keys.iter().rev() {
            self.delete(key).await?;
        }
        Ok(keys.len())
    }
}

/// Whether `key` is a folder marker (a zero-byte object whose key ends in `/`, as S3 consoles
/// make them).
pub fn is_folder(key: &str) -> bool {
    key.ends_with('/')
}

/// Checks that `key` is relative, without `..`, of `[A-Za-z0-9._-]` segments joined by `/`,
/// optionally ending in `/` (a folder marker).
pub fn validate_key(key: &str) -> Result<(), ObjectError> {
    let path = key.strip_suffix('/').unwrap_or(key);
    let valid = !path.is_empty()
        && key.len() <= 1024
        && path.split('/').all(|segment| {
            !segment.is_empty()
                && segment != "."
                && segment != ".."
                && segment
                    .bytes()
                    .all(|byte| byte.is_ascii_alphanumeric() || b"._-".contains(&byte))
        });
    if valid {
        Ok(())
    } else {
        Err(ObjectError::InvalidKey(key.to_owned()))
    }
}

/// The media type of a key, from its extension (what a folder can tell).
fn content_type_of(key: &str) -> &'static str {
    match key
        .rsplit('.')
        .next()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("webp") => "image/webp",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}

/// Objects as files in a folder, at their keys' paths.
#[derive(Debug, Clone)]
pub struct LocalFolder {
    root: PathBuf,
}

impl LocalFolder {
    /// A store in `root` (created as needed).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    fn path(&self, key: &str) -> Result<PathBuf, ObjectError> {
        validate_key(key)?;
        Ok(self.root.join(Path::new(key)))
    }
}

fn storage(key: &str, error: std::io::Error) -> ObjectError {
    ObjectError::Storage {
        key: key.to_owned(),
        message: error.to_string(),
    }
}

#[async_trait::async_trait]
impl ObjectStore for LocalFolder {
    async fn put(&self, key: &str, bytes: &[u8], _content_type: &str) -> Result<(), ObjectError> {
        let path = self.path(key)?;
        if is_folder(key) {
            // A folder marker is the folder itself.
            return tokio::fs::create_dir_all(&path)
                .await
                .map_err(|error| storage(key, error));
        }
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(|error| storage(key, error))?;
        }
        // Write beside, then rename: readers see the old object or the new one, never a part.
        let temporary = path.with_extension(format!("tmp-{}", uuid::Uuid::new_v4().simple()));
        tokio::fs::write(&temporary, bytes)
            .await
            .map_err(|error| storage(key, error))?;
        tokio::fs::rename(&temporary, &path)
            .await
            .map_err(|error| storage(key, error))
    }

    async fn get(&self, key: &str) -> Result<Option<Object>, ObjectError> {
        let path = self.path(key)?;
        if is_folder(key) {
            return Ok(tokio::fs::metadata(&path)
                .await
                .is_ok_and(|metadata| metadata.is_dir())
                .then(|| Object {
                    bytes: Vec::new(),
                    content_type: "application/x-directory".to_owned(),
                }));
        }
        match tokio::fs::read(&path).await {
            Ok(bytes) => Ok(Some(Object {
                bytes,
                content_type: content_type_of(key).to_owned(),
            })),
            Err(error)
                if matches!(
                    error.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::IsADirectory
                ) =>
            {
                Ok(None)
            }
            Err(error) => Err(storage(key, error)),
        }
    }

    async fn delete(&self, key: &str) -> Result<(), ObjectError> {
        let path = self.path(key)?;
        let removed = if is_folder(key) {
            tokio::fs::remove_dir(&path).await
        } else {
            tokio::fs::remove_file(&path).await
        };
        match removed {
            Ok(()) => Ok(()),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(error) => Err(storage(key, error)),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, ObjectError> {
        let mut keys = Vec::new();
        let mut folders = vec![self.root.clone()];
        while let Some(folder) = folders.pop() {
            let mut entries = match tokio::fs::read_dir(&folder).await {
                Ok(entries) => entries,
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
                Err(error) => return Err(storage(prefix, error)),
            };
            while let Some(entry) = entries
                .next_entry()
                .await
                .map_err(|error| storage(prefix, error))?
            {
                let path = entry.path();
                let Ok(relative) = path.strip_prefix(&self.root) else {
                    continue;
                };
                let mut key = relative.to_string_lossy().replace('\\', "/");
                let is_dir = entry
                    .file_type()
                    .await
                    .map_err(|error| storage(prefix, error))?
                    .is_dir();
                if is_dir {
                    key.push('/');
                } else if key.contains(".tmp-") {
                    // A write in progress.
                    continue;
                }
                // Only descend where the prefix may lead.
                if key.starts_with(prefix) || (is_dir && prefix.starts_with(&key)) {
                    if is_dir {
                        folders.push(path);
                    }
                    if key.starts_with(prefix) {
                        keys.push(key);
                    }
                }
            }
        }
        keys.sort();
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn objects_are_stored_read_replaced_and_deleted_by_key() {
        let folder = tempfile::tempdir().expect("temp dir");
        let store = LocalFolder::new(folder.path());
        let key = "accounts/0190/profile/picture.png";
        assert_eq!(store.get(key).await.expect("get"), None);
        store.put(key, b"first", "image/png").await.expect("put");
        store.put(key, b"second", "image/png").await.expect("put");
        let object = store.get(key).await.expect("get").expect("stored");
        assert_eq!(
            (object.bytes.as_slice(), object.content_type.as_str()),
            (&b"second"[..], "image/png")
        );
        assert!(folder.path().join(key).is_file(), "the key is the path");
        store.delete(key).await.expect("delete");
        store.delete(key).await.expect("deleting again is fine");
        assert_eq!(store.get(key).await.expect("get"), None);
    }

    #[test]
    fn keys_cannot_leave_the_store() {
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a//b",
            "a/./b",
            "a\\b",
            "naïve",
        ] {
            assert!(validate_key(bad).is_err(), "{bad:?}");
        }
        validate_key("accounts/0190c6b0/metadata/user_info.json").expect("valid");
        validate_key("accounts/0190c6b0/biometric-data/").expect("a folder marker");
        assert!(validate_key("/").is_err());
    }
}
