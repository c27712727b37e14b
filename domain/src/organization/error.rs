//! Why an organization command is refused.

/// Why an organization command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrganizationError {
    /// Create on an existing stream.
    #[error("the organization already exists")]
    AlreadyExists,
    /// No such organization.
    #[error("no such organization")]
    NotFound,
    /// The user is a member already.
    #[error("the user is already a member")]
    AlreadyMember,
    /// The user is not a member.
    #[error("the user is not a member")]
    NotAMember,
    /// An invitation to the person is already waiting for their answer.
    #[error("an invitation is already waiting for this person's answer")]
    AlreadyInvited,
    /// No invitation waits for this person.
    #[error("no pending invitation")]
    NoInvitation,
    /// Another key in use has this name.
    #[error("another API key in use has this name")]
    ApiKeyNameTaken,
    /// No such API key.
    #[error("no such API key")]
    NoApiKey,
    /// The expiry is not after now.
    #[error("an API key's expiry must be in the future")]
    ApiKeyExpiryPassed,
    /// The organization has as many keys in use as it may.
    #[error("the organization has {max} API keys in use; revoke one first", max = super::MAX_API_KEYS)]
    TooManyApiKeys,
}
