//! Event store errors.

/// An append was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    /// The stream's version is not the one expected: someone else appended first.
    #[error("stream {stream_id} is at version {actual}, not the expected {expected}")]
    WrongExpectedVersion {
        /// The stream.
        stream_id: String,
        /// The version the writer expected.
        expected: String,
        /// The stream's version.
        actual: u64,
    },
    /// A unique value is owned by another stream.
    #[error("the {kind} is already taken")]
    DuplicateClaim {
        /// Which kind of value (`email`, `username`, ...).
        kind: String,
    },
    /// An idempotency key was reused with a different request.
    #[error("the idempotency key was already used for a different request")]
    IdempotencyKeyReused,
    /// The request itself is malformed.
    #[error("invalid append: {0}")]
    Invalid(String),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The database or the store's own machinery failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A database error, with what was being done.
    #[error("{context}: {cause}")]
    Database {
        /// What the store was doing.
        context: &'static str,
        /// The driver's error (shown in the message, so not also chained as a source).
        cause: sqlx::Error,
    },
    /// Migrations failed.
    #[error("migrating the database: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored row could not be read back.
    #[error("corrupt row at position {position}: {message}")]
    Corrupt {
        /// The row's position (0 if unknown).
        position: u64,
        /// What is wrong.
        message: String,
    },
    /// The personal-data codec failed.
    #[error("personal data codec: {0}")]
    Codec(String),
    /// Another process stored a different data key for this subject first (the append is
    /// sealed again with the stored key).
    #[error("the data key of {subject} was created by another process at the same time")]
    DataKeyConflict {
        /// Whose key.
        subject: String,
    },
    /// The database URL is not one idlog understands.
    #[error("unsupported database URL (use sqlite:PATH or postgres://...): {0}")]
    UnsupportedUrl(String),
    /// An append failed in the appender (the message carries the cause).
    #[error("append failed: {0}")]
    Batch(String),
    /// The appender task is gone (the store is shutting down).
    #[error("the event store is shut down")]
    Closed,
}

/// Adds context to sqlx errors.
pub(crate) trait DbContext<T> {
    fn context(self, context: &'static str) -> Result<T, StoreError>;
}

impl<T> DbContext<T> for Result<T, sqlx::Error> {
    fn context(self, context: &'static str) -> Result<T, StoreError> {
        self.map_err(|cause| StoreError::Database { context, cause })
    }
}
