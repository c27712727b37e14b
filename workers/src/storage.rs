//! Users' storage folders: `accounts/{user_id}/biometric-data/` and `performance-data/`
//! (zero-byte folder markers) and `accounts/{user_id}/metadata/user_info.json`.
//!
//! Every event that changes what `user_info.json` holds (or the user's existence) makes the worker
//! bring the user's folder in line with the user's state *now*, folded from the log: replays,
//! duplicates and retries of old events all converge on the same objects, and a deleted user's
//! folder never comes back.

use crate::{Worker, WorkerError};
use async_trait::async_trait;
use commands::StateReader;
use domain::Aggregate;
use domain::user::{User, UserAggregate, UserEventType, UserState, UserStatus};
use eventstore::RecordedEvent;
use lru::LruCache;
use objects::ObjectStore;
use serde_json::json;
use std::collections::BTreeSet;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

/// The storage worker's name.
pub const NAME: &str = "storage";

/// The version of `user_info.json`'s layout.
pub const USER_INFO_SCHEMA: u32 = 1;

/// Users whose objects one Kafka consumer writes at once: S3 round trips, not CPU, bound it.
const CONCURRENT_USERS: usize = 32;

/// Whether a user event changes the folder or what `user_info.json` holds.
fn relevant(event_type: UserEventType) -> bool {
    use UserEventType as T;
    matches!(
        event_type,
        T::UserRegistered
            | T::UserCreated
            | T::ProfileUpdated
            | T::EmailChanged
            | T::UsernameChanged
            | T::RoleGranted
            | T::RoleRevoked
            | T::OrganizationLinked
            | T::OrganizationUnlinked
            | T::UserDeleted
            | T::UserRestored
            | T::UserForgotten
    )
}

/// The folder of a user.
pub fn folder(user_id: &str) -> String {
    format!("accounts/{user_id}/")
}

/// The keys every user's folder holds.
pub fn expected_keys(user_id: &str) -> [String; 3] {
    let folder = folder(user_id);
    [
        format!("{folder}biometric-data/"),
        format!("{folder}performance-data/"),
        format!("{folder}metadata/user_info.json"),
    ]
}

/// What `user_info.json` says about `user`.
pub fn user_info(user: &User) -> serde_json::Value {
    json!({
        "schema_version": USER_INFO_SCHEMA,
        "id": user.id.to_string(),
        "email": user.email.to_string(),
        "username": user.username.as_ref().map(ToString::to_string),
        "first_name": user.first_name.as_ref().map(ToString::to_string),
        "last_name": user.last_name.as_ref().map(ToString::to_string),
        "roles": user.roles.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "organizations": user.organizations.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "created_at": domain::time::text(&user.created_at),
    })
}

/// What bringing a folder in line did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Synced {
    /// The folder is complete and `user_info.json` current.
    Written,
    /// The user is deleted or unknown: the folder is gone.
    Removed,
}

/// How many users' last written `user_info.json` the worker remembers.
const REMEMBERED_WRITES: usize = 10_000;

/// Creates, rewrites and removes users' folders.
#[derive(Clone)]
pub struct StorageWorker {
    objects: Arc<dyn ObjectStore>,
    states: StateReader,
    /// What this process last wrote as each user's `user_info.json`: an event that changes
    /// nothing in it (most profile updates) writes nothing.
    written: Arc<Mutex<LruCache<String, Vec<u8>>>>,
}

impl std::fmt::Debug for StorageWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StorageWorker")
            .field("objects", &self.objects)
            .finish_non_exhaustive()
    }
}

impl StorageWorker {
    /// A worker writing to `objects`, reading users' states through `states`.
    pub fn new(objects: Arc<dyn ObjectStore>, states: StateReader) -> Self {
        Self {
            objects,
            states,
            written: Arc::new(Mutex::new(LruCache::new(
                NonZeroUsize::new(REMEMBERED_WRITES).unwrap_or(NonZeroUsize::MIN),
            ))),
        }
    }

    /// Brings the folder of `user_id` in line with the user as the log says now.
    #[tracing::instrument(skip(self))]
    pub async fn sync(&self, user_id: &str) -> Result<Synced, WorkerError> {
        let current = self
            .states
            .current::<UserAggregate>(user_id)
            .await
            .map_err(|error| WorkerError::Other(error.to_string()))?;
        self.write(user_id, current.state, Writes::All).await
    }

    /// Brings the folder in line with `state`, the user's.
    async fn write(
        &self,
        user_id: &str,
        state: UserState,
        writes: Writes,
    ) -> Result<Synced, WorkerError> {
        match state {
            UserState::Present(user) if user.status != UserStatus::Deleted => {
                let [biometric, performance, info] = expected_keys(user_id);
                let body = serde_json::to_vec_pretty(&user_info(&user))
                    .map_err(|error| WorkerError::Other(error.to_string()))?;
                if writes == Writes::Changed
                    && self.written.lock().is_ok_and(|mut written| {
                        written.get(user_id).is_some_and(|last| *last == body)
                    })
                {
                    return Ok(Synced::Written);
                }
                // Independent objects: written at once (three round trips cost one).
                futures::try_join!(
                    self.objects.put(&biometric, b"", "application/x-directory"),
                    self.objects
                        .put(&performance, b"", "application/x-directory"),
                    self.objects.put(&info, &body, "application/json"),
                )?;
                if let Ok(mut written) = self.written.lock() {
                    written.put(user_id.to_owned(), body);
                }
                Ok(Synced::Written)
            }
            _ => {
                if let Ok(mut written) = self.written.lock() {
                    written.pop(user_id);
                }
                self.objects.delete_prefix(&folder(user_id)).await?;
                Ok(Synced::Removed)
            }
        }
    }

    /// Compares the store with `users` (every user that should have a folder): what is
    /// missing, and what belongs to no such user.
    pub async fn verify(&self, users: &BTreeSet<String>) -> Result<StorageReport, WorkerError> {
        let keys = self.objects.list("accounts/").await?;
        let mut present: BTreeSet<&str> = BTreeSet::new();
        let mut orphans: BTreeSet<String> = BTreeSet::new();
        for key in &keys {
            let owner = key
                .strip_prefix("accounts/")
                .and_then(|rest| rest.split_once('/'))
                .map(|(owner, _)| owner);
            match owner {
                Some(owner) if users.contains(owner) => {
                    present.insert(key.as_str());
                }
                // The folder of a deleted or unknown user, reported once.
                Some(owner) => {
                    orphans.insert(folder(owner));
                }
                // A stray object right under `accounts/`.
                None if key != "accounts/" => {
                    orphans.insert(key.clone());
                }
                None => {}
            }
        }
        let mut report = StorageReport {
            orphans: orphans.into_iter().collect(),
            ..StorageReport::default()
        };
        for user in users {
            for key in expected_keys(user) {
                if !present.contains(key.as_str()) {
                    report.missing.push((user.clone(), key));
                }
            }
        }
        report.checked_users = users.len();
        Ok(report)
    }
}

impl StorageWorker {
    /// Repairs what `verify` found: recreates the folders of users with something missing and,
    /// with `prune`, removes the orphans. `progress` is told (done, to do).
    pub async fn repair(
        &self,
        report: &StorageReport,
        prune: bool,
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> Result<RepairReport, WorkerError> {
        let users: BTreeSet<&str> = report
            .missing
            .iter()
            .map(|(user, _)| user.as_str())
            .collect();
        let total = users.len() + if prune { report.orphans.len() } else { 0 };
        let mut repaired = RepairReport::default();
        for user in users {
            self.sync(user).await?;
            repaired.users_repaired += 1;
            progress(repaired.users_repaired, total);
        }
        if prune {
            for orphan in &report.orphans {
                if objects::is_folder(orphan) {
                    self.objects.delete_prefix(orphan).await?;
                } else {
                    self.objects.delete(orphan).await?;
                }
                repaired.orphans_removed += 1;
                progress(repaired.users_repaired + repaired.orphans_removed, total);
            }
        }
        Ok(repaired)
    }
}

/// Which of a user's objects to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Writes {
    /// All of them (a sync or repair: someone may have removed them).
    All,
    /// None if this process last wrote the same `user_info.json` (an event's reaction).
    Changed,
}

/// What a repair did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct RepairReport {
    /// Users whose folder was recreated or completed.
    pub users_repaired: usize,
    /// Orphaned folders and objects removed.
    pub orphans_removed: usize,
}

/// The differences between the store and the users.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct StorageReport {
    /// How many users were checked.
    pub checked_users: usize,
    /// (user, key) that should be there and are not.
    pub missing: Vec<(String, String)>,
    /// Keys of no current user (deleted, unknown, or foreign files).
    pub orphans: Vec<String>,
}

impl StorageReport {
    /// Whether store and users agree.
    pub fn is_clean(&self) -> bool {
        self.missing.is_empty() && self.orphans.is_empty()
    }
}

#[async_trait]
impl Worker for StorageWorker {
    fn name(&self) -> &'static str {
        NAME
    }

    fn wants(&self, event: &RecordedEvent) -> bool {
        // A type no user event has is not one this worker knows.
        event.stream_type == UserAggregate::STREAM_TYPE
            && event.event_type.parse().is_ok_and(relevant)
    }

    /// Writing a user's objects converges on their present state, whatever ran before.
    fn concurrency(&self) -> usize {
        CONCURRENT_USERS
    }

    async fn handle(&self, event: &RecordedEvent) -> Result<(), WorkerError> {
        let user_id = &event.stream_id;
        let followed = self
            .states
            .followed::<UserAggregate>(user_id)
            .await
            .map_err(|error| WorkerError::Other(error.to_string()))?;
        // The user as this process follows the log, if that includes the event (it may not
        // yet, for another process's append noticed by the worker first).
        if followed.version >= event.stream_version {
            self.write(user_id, followed.state, Writes::Changed)
                .await
                .map(drop)
        } else {
            self.sync(user_id).await.map(drop)
        }
    }
}
