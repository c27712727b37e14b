//! What a person shows of themself: their profile and their picture.

use crate::authority::Authority;
use crate::pictures;
use crate::policy::Operation;
use crate::users::{Preconditions, Read};
use crate::{App, AppError, RequestContext, Resource};
use commands::{CommandContext, Executed};
use domain::UserId;
use domain::user::{Picture, User, UserAggregate, UserCommand, UserState};
use domain::values::Profile;

/// A stored profile picture: what the user's stream says of it, and its bytes.
#[derive(Debug)]
pub struct StoredPicture {
    /// Its key, type, size and hash.
    pub picture: Picture,
    /// The image.
    pub bytes: Vec<u8>,
}

/// Where a user's profile picture is stored.
fn picture_key(user_id: UserId, extension: &str) -> String {
    format!("accounts/{user_id}/profile/picture.{extension}")
}

impl App {
    /// Replaces the profile of `user_id` (names stay as they are).
    #[tracing::instrument(skip_all)]
    pub async fn change_profile(
        &self,
        who: &Authority,
        context: &RequestContext,
        user_id: UserId,
        profile: Profile,
        preconditions: Preconditions,
    ) -> Result<Executed<UserAggregate>, AppError> {
        let (user, version) = self
            .authorized_user(who, user_id, Read::Followed, Operation::ChangeProfile)
            .await?;
        let update = UserCommand::UpdateProfile {
            first_name: user.first_name.clone(),
            last_name: user.last_name.clone(),
            profile,
            at: chrono::Utc::now(),
        };
        let command_context = preconditions.context(who.metadata(context, user.id));
        self.on_user(user, version, update, command_context).await
    }

    /// Stores `image` (a PNG, JPEG or WebP that decodes whole) as the profile picture of
    /// `user_id`, encoded again without its metadata.
    #[tracing::instrument(skip_all)]
    pub async fn set_picture(
        &self,
        who: &Authority,
        context: &RequestContext,
        user_id: UserId,
        image: bytes::Bytes,
    ) -> Result<Executed<UserAggregate>, AppError> {
        let (user, version) = self
            .authorized_user(who, user_id, Read::Followed, Operation::ChangeProfile)
            .await?;
        let image = tokio::task::spawn_blocking(move || pictures::reencode(&image))
            .await
            .map_err(AppError::internal)?
            .map_err(AppError::Picture)?;
        let picture = Picture {
            key: picture_key(user.id, image.extension),
            content_type: image.content_type.to_owned(),
            size: image.bytes.len() as u64,
            sha256: hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&image.bytes)),
            renditions: image.renditions.iter().map(|(size, _)| *size).collect(),
        };
        // Stored first: an event never points at a missing object. A stored object with no
        // event (a crash between) is replaced by the next upload, or found by the storage check.
        let objects = std::iter::once((picture.key.clone(), &image.bytes)).chain(
            image
                .renditions
                .iter()
                .map(|(size, bytes)| (picture.rendition_key(*size), bytes)),
        );
        for (key, bytes) in objects {
            self.objects
                .put(&key, bytes, image.content_type)
                .await
                .map_err(AppError::internal)?;
        }
        let kept = picture.keys();
        let current = user.picture.as_ref().map(Picture::keys).unwrap_or_default();
        let written: Vec<String> = kept
            .iter()
            .filter(|key| !current.contains(key))
            .cloned()
            .collect();
        let replaced: Vec<String> = current
            .into_iter()
            .filter(|old| !kept.contains(old))
            .collect();
        let command = UserCommand::SetProfilePicture {
            picture,
            at: chrono::Utc::now(),
        };
        let command_context = CommandContext {
            metadata: who.metadata(context, user.id),
            ..Default::default()
        };
        let executed = match self.on_user(user, version, command, command_context).await {
            Ok(executed) => executed,
            Err(error) => {
                // Refused (a deactivated account, say): what was just written is nobody's.
                for key in &written {
                    if let Err(error) = self.objects.delete(key).await {
                        tracing::warn!(%error, key, "a refused picture stays in storage");
                    }
                }
                return Err(error);
            }
        };
        for old in replaced {
            if let Err(error) = self.objects.delete(&old).await {
                tracing::warn!(%error, key = old, "the replaced picture stays in storage");
            }
        }
        Ok(executed)
    }

    /// The profile picture of `user_id`.
    #[tracing::instrument(skip_all)]
    /// `size` asks for a rendition (one of [`pictures::RENDITION_SIZES`]); a picture stored
    /// before renditions existed answers with itself.
    pub async fn picture(
        &self,
        who: &Authority,
        user_id: UserId,
        size: Option<u32>,
    ) -> Result<StoredPicture, AppError> {
        let (user, _) = self
            .authorized_user(who, user_id, Read::Latest, Operation::ReadProfile)
            .await?;
        let picture = user
            .picture
            .clone()
            .ok_or(AppError::NotFound(Resource::Picture))?;
        let key = match size {
            Some(size) if picture.renditions.contains(&size) => picture.rendition_key(size),
            _ => picture.key.clone(),
        };
        let object = self
            .objects
            .get(&key)
            .await
            .map_err(AppError::internal)?
            .ok_or(AppError::NotFound(Resource::Picture))?;
        Ok(StoredPicture {
            picture,
            bytes: object.bytes,
        })
    }

    /// Removes the profile picture of `user_id`.
    #[tracing::instrument(skip_all)]
    pub async fn remove_picture(
        &self,
        who: &Authority,
        context: &RequestContext,
        user_id: UserId,
    ) -> Result<(), AppError> {
        let (user, version) = self
            .authorized_user(who, user_id, Read::Followed, Operation::ChangeProfile)
            .await?;
        let keys = user.picture.as_ref().map(Picture::keys).unwrap_or_default();
        let command = UserCommand::RemoveProfilePicture {
            at: chrono::Utc::now(),
        };
        let command_context = CommandContext {
            metadata: who.metadata(context, user.id),
            ..Default::default()
        };
        self.on_user(user, version, command, command_context)
            .await?;
        // The event first: a failed delete leaves an unreferenced file, never a dangling
        // reference.
        for key in keys {
            if let Err(error) = self.objects.delete(&key).await {
                tracing::warn!(%error, key, "the removed picture stays in storage");
            }
        }
        Ok(())
    }

    /// Runs `command` on `user`, loaded at `version`.
    pub(crate) async fn on_user(
        &self,
        user: Box<User>,
        version: u64,
        command: UserCommand,
        context: CommandContext,
    ) -> Result<Executed<UserAggregate>, AppError> {
        Ok(self
            .commands
            .execute_on::<UserAggregate>(
                &user.id.to_string(),
                UserState::Present(user),
                version,
                command,
                context,
            )
            .await?)
    }
}
