//! The Session aggregate: one login, from start to end, with rotating refresh tokens.

use crate::values::{DeviceName, TokenHash, UserAgent};
use crate::{Aggregate, DomainEvent, Duration, SessionId, Timestamp, UserId};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// Why a session ended normally.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, strum::Display)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum EndReason {
    /// The user logged out.
    Logout,
    /// Idle too long or past its absolute lifetime.
    Expired,
    /// Ended to keep the user within the maximum number of concurrent sessions.
    Replaced,
}

/// Why a session was cut short.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, strum::Display)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum RevocationReason {
    /// A refresh token that had already been rotated was presented again: it may be stolen.
    RefreshTokenReused,
    /// The user logged out everywhere.
    LogoutAll,
    /// The user changed their password and ended their other sessions.
    PasswordChanged,
    /// The password was reset.
    PasswordReset,
    /// An administrator set the password.
    PasswordSet,
    /// The account was locked.
    UserLocked,
    /// The account was deactivated.
    UserDeactivated,
    /// The account was deleted.
    UserDeleted,
    /// The user was forgotten.
    UserForgotten,
    /// The user or an administrator revoked this session.
    Revoked,
}

/// Which front end holds a session's secret; each accepts only its own sessions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, strum::Display)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum SessionClient {
    /// A REST client: bearer access tokens and a refresh token that rotates on every use.
    #[default]
    Api,
    /// A browser on idlog's pages: a cookie whose secret does not rotate. Page views keep the
    /// session from idling out ([`SessionEvent::SessionUsed`]); it has no refresh token.
    Page,
}

/// Where a session is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionStatus {
    /// Usable.
    Active,
    /// Ended normally.
    Ended {
        /// Why.
        reason: EndReason,
        /// When.
        at: Timestamp,
    },
    /// Cut short.
    Revoked {
        /// Why.
        reason: RevocationReason,
        /// When.
        at: Timestamp,
    },
}

/// A session as folded from its stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Id (the `sid` of access tokens).
    pub id: SessionId,
    /// The front end that holds its secret.
    pub client: SessionClient,
    /// Whose session.
    pub user_id: UserId,
    /// Device label.
    pub device: Option<DeviceName>,
    /// Client address at login.
    pub ip: Option<IpAddr>,
    /// User agent at login.
    pub user_agent: Option<UserAgent>,
    /// Login time.
    pub started_at: Timestamp,
    /// Last login, refresh or recorded page view.
    pub last_used_at: Timestamp,
    /// Inactivity after which the session expires.
    pub idle_timeout: Duration,
    /// When the session expires whatever its use.
    pub expires_at: Timestamp,
    /// Hash of the secret that is valid now: the refresh token of an API session, the cookie
    /// secret of a page session.
    pub refresh_token_hash: TokenHash,
    /// Hashes of refresh tokens already rotated away; presenting one is reuse.
    pub rotated_token_hashes: Vec<TokenHash>,
    /// Status.
    pub status: SessionStatus,
}

impl Session {
    /// Whether the session can be used at `at`: active, not idle too long, not past its lifetime.
    pub fn is_usable(&self, at: Timestamp) -> bool {
        self.status == SessionStatus::Active && !self.is_expired(at)
    }

    /// Whether the session has run out of time at `at`.
    pub fn is_expired(&self, at: Timestamp) -> bool {
        at >= self.expires_at || at >= self.last_used_at + self.idle_timeout
    }
}

/// The state of a session stream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum SessionState {
    /// No such session.
    #[default]
    Absent,
    /// The session.
    Present(Box<Session>),
}

/// What can be asked of a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionCommand {
    /// Starts a session after a successful login.
    Start {
        /// A fresh id.
        session_id: SessionId,
        /// Whose.
        user_id: UserId,
        /// The front end that will hold its secret.
        client: SessionClient,
        /// Device label.
        device: Option<DeviceName>,
        /// Client address.
        ip: Option<IpAddr>,
        /// User agent.
        user_agent: Option<UserAgent>,
        /// Hash of the first refresh token, or of the page cookie's secret.
        refresh_token_hash: TokenHash,
        /// Idle timeout.
        idle_timeout: Duration,
        /// Absolute expiry.
        expires_at: Timestamp,
        /// When.
        at: Timestamp,
    },
    /// Rotates the refresh token.
    Refresh {
        /// Hash of the token presented.
        presented_hash: TokenHash,
        /// Hash of the token that replaces it.
        new_hash: TokenHash,
        /// When.
        at: Timestamp,
    },
    /// Records that a page session was used, so that it does not idle out.
    Touch {
        /// When.
        at: Timestamp,
    },
    /// Ends the session normally.
    End {
        /// Why.
        reason: EndReason,
        /// When.
        at: Timestamp,
    },
    /// Cuts the session short.
    Revoke {
        /// Why.
        reason: RevocationReason,
        /// When.
        at: Timestamp,
    },
}

/// What happened to a session.
///
/// [`SessionEventType`] names its variants without their fields: the stored event type, so code
/// that reads the log without decoding payloads matches on names the compiler checks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, strum::EnumDiscriminants)]
#[serde(tag = "type", content = "data")]
#[strum_discriminants(
    name(SessionEventType),
    doc = "The type of a [`SessionEvent`], as stored with it; see [`SessionEventType::as_str`].",
    derive(
        Hash,
        PartialOrd,
        Ord,
        strum::IntoStaticStr,
        strum::EnumString,
        strum::Display,
        strum::VariantNames,
        strum::EnumIter
    )
)]
#[expect(missing_docs, reason = "event fields are named after what they hold")]
pub enum SessionEvent {
    /// A session started.
    SessionStarted {
        session_id: SessionId,
        user_id: UserId,
        // Sessions started before pages existed were all API sessions.
        #[serde(default)]
        client: SessionClient,
        #[serde(default, deserialize_with = "crate::values::erasable::optional")]
        device: Option<DeviceName>,
        #[serde(default, deserialize_with = "crate::values::erasable::optional")]
        ip: Option<IpAddr>,
        #[serde(default, deserialize_with = "crate::values::erasable::optional")]
        user_agent: Option<UserAgent>,
        refresh_token_hash: TokenHash,
        idle_timeout_seconds: i64,
        expires_at: Timestamp,
        at: Timestamp,
    },
    /// The refresh token was rotated.
    SessionRefreshed {
        refresh_token_hash: TokenHash,
        at: Timestamp,
    },
    /// A page session was used (recorded at most once per a tenth of its idle timeout).
    SessionUsed { at: Timestamp },
    /// The session ended normally.
    SessionEnded { reason: EndReason, at: Timestamp },
    /// The session was cut short.
    SessionRevoked {
        reason: RevocationReason,
        at: Timestamp,
    },
}

impl SessionEventType {
    /// The event type as stored in the log, e.g. `"SessionStarted"`.
    pub const fn as_str(self) -> &'static str {
        // The names are listed in declaration order, the order of the discriminants.
        <Self as strum::VariantNames>::VARIANTS[self as usize]
    }
}

impl DomainEvent for SessionEvent {
    fn event_type(&self) -> &'static str {
        // One source for the name: the type the rest of the system matches on.
        SessionEventType::from(self).as_str()
    }

    fn personal_fields(&self) -> &'static [&'static str] {
        match self {
            Self::SessionStarted { .. } => &["/device", "/ip", "/user_agent"],
            Self::SessionRefreshed { .. }
            | Self::SessionUsed { .. }
            | Self::SessionEnded { .. }
            | Self::SessionRevoked { .. } => &[],
        }
    }
}

/// Why a session command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// Start on an existing stream.
    #[error("the session already exists")]
    AlreadyExists,
    /// No such session.
    #[error("no such session")]
    NotFound,
    /// The session has ended or was revoked.
    #[error("the session is no longer active")]
    NotActive,
    /// The session ran out of time.
    #[error("the session has expired")]
    Expired,
    /// The refresh token is not this session's.
    #[error("the refresh token is invalid")]
    InvalidRefreshToken,
    /// A page session has no refresh token; an API session is not kept alive by page views.
    #[error("the session does not belong to this kind of client")]
    WrongClient,
}

/// The Session aggregate.
#[derive(Debug, Clone, Copy)]
pub struct SessionAggregate;

impl Aggregate for SessionAggregate {
    const STREAM_TYPE: &'static str = "session";
    type State = SessionState;
    type Command = SessionCommand;
    type Event = SessionEvent;
    type Error = SessionError;

    fn decide(
        state: &SessionState,
        command: SessionCommand,
    ) -> Result<Vec<SessionEvent>, SessionError> {
        use SessionCommand as C;
        use SessionEvent as E;
        let session = match (state, command) {
            (
                SessionState::Absent,
                C::Start {
                    session_id,
                    user_id,
                    client,
                    device,
                    ip,
                    user_agent,
                    refresh_token_hash,
                    idle_timeout,
                    expires_at,
                    at,
                },
            ) => {
                return Ok(vec![E::SessionStarted {
                    session_id,
                    user_id,
                    client,
                    device,
                    ip,
                    user_agent,
                    refresh_token_hash,
                    idle_timeout_seconds: idle_timeout.num_seconds(),
                    expires_at,
                    at,
                }]);
            }
            (SessionState::Present(_), C::Start { .. }) => return Err(SessionError::AlreadyExists),
            (SessionState::Absent, _) => return Err(SessionError::NotFound),
            (SessionState::Present(session), command) => (session, command),
        };
        match session {
            (_, C::Start { .. }) => Err(SessionError::AlreadyExists),
            (session, _) if session.status != SessionStatus::Active => Err(SessionError::NotActive),
            (
                session,
                C::Refresh {
                    presented_hash,
                    new_hash,
                    at,
                },
            ) => {
                if session.client != SessionClient::Api {
                    return Err(SessionError::WrongClient);
                }
                if session.rotated_token_hashes.contains(&presented_hash) {
                    // A rotated token is back: someone holds a copy. The whole session goes.
                    return Ok(vec![E::SessionRevoked {
                        reason: RevocationReason::RefreshTokenReused,
                        at,
                    }]);
                }
                if session.refresh_token_hash != presented_hash {
                    return Err(SessionError::InvalidRefreshToken);
                }
                if session.is_expired(at) {
                    return Err(SessionError::Expired);
                }
                Ok(vec![E::SessionRefreshed {
                    refresh_token_hash: new_hash,
                    at,
                }])
            }
            (session, C::Touch { at }) => {
                if session.client != SessionClient::Page {
                    return Err(SessionError::WrongClient);
                }
                if session.is_expired(at) {
                    return Err(SessionError::Expired);
                }
                Ok(vec![E::SessionUsed { at }])
            }
            (_, C::End { reason, at }) => Ok(vec![E::SessionEnded { reason, at }]),
            (_, C::Revoke { reason, at }) => Ok(vec![E::SessionRevoked { reason, at }]),
        }
    }

    fn evolve(state: SessionState, event: &SessionEvent) -> SessionState {
        use SessionEvent as E;
        match (state, event) {
            (
                SessionState::Absent,
                E::SessionStarted {
                    session_id,
                    user_id,
                    client,
                    device,
                    ip,
                    user_agent,
                    refresh_token_hash,
                    idle_timeout_seconds,
                    expires_at,
                    at,
                },
            ) => SessionState::Present(Box::new(Session {
                id: *session_id,
                client: *client,
                user_id: *user_id,
                device: device.clone(),
                ip: *ip,
                user_agent: user_agent.clone(),
                started_at: *at,
                last_used_at: *at,
                idle_timeout: Duration::seconds(*idle_timeout_seconds),
                expires_at: *expires_at,
                refresh_token_hash: *refresh_token_hash,
                rotated_token_hashes: Vec::new(),
                status: SessionStatus::Active,
            })),
            (SessionState::Present(mut session), event) => {
                match event {
                    E::SessionStarted { .. } => {}
                    E::SessionRefreshed {
                        refresh_token_hash,
                        at,
                    } => {
                        let old =
                            std::mem::replace(&mut session.refresh_token_hash, *refresh_token_hash);
                        session.rotated_token_hashes.push(old);
                        session.last_used_at = *at;
                    }
                    E::SessionUsed { at } => session.last_used_at = *at,
                    E::SessionEnded { reason, at } => {
                        session.status = SessionStatus::Ended {
                            reason: *reason,
                            at: *at,
                        };
                    }
                    E::SessionRevoked { reason, at } => {
                        session.status = SessionStatus::Revoked {
                            reason: *reason,
                            at: *at,
                        };
                    }
                }
                SessionState::Present(session)
            }
            (SessionState::Absent, _) => SessionState::Absent,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::given;
    use chrono::TimeZone;

    fn at(minute: u32) -> Timestamp {
        chrono::Utc
            .with_ymd_and_hms(2026, 1, 1, 12, 0, 0)
            .single()
            .expect("valid time")
            + crate::Duration::minutes(minute.into())
    }
    fn token(n: u8) -> TokenHash {
        TokenHash::from_bytes([n; 32])
    }
    fn started() -> SessionEvent {
        SessionEvent::SessionStarted {
            session_id: SessionId::from_uuid(uuid::Uuid::from_u128(5)),
            user_id: UserId::from_uuid(uuid::Uuid::from_u128(1)),
            client: SessionClient::Api,
            device: Some(DeviceName::parse("Firefox on Linux").expect("valid")),
            ip: Some("192.0.2.7".parse().expect("valid ip")),
            user_agent: Some(UserAgent::parse("Mozilla/5.0").expect("valid")),
            refresh_token_hash: token(1),
            idle_timeout_seconds: 30 * 60,
            expires_at: at(50),
            at: at(0),
        }
    }
    fn refreshed(n: u8, minute: u32) -> SessionEvent {
        SessionEvent::SessionRefreshed {
            refresh_token_hash: token(n),
            at: at(minute),
        }
    }

    #[test]
    fn starts_a_session_with_device_ip_and_user_agent() {
        let command = SessionCommand::Start {
            session_id: SessionId::from_uuid(uuid::Uuid::from_u128(5)),
            user_id: UserId::from_uuid(uuid::Uuid::from_u128(1)),
            client: SessionClient::Api,
            device: Some(DeviceName::parse("Firefox on Linux").expect("valid")),
            ip: Some("192.0.2.7".parse().expect("valid ip")),
            user_agent: Some(UserAgent::parse("Mozilla/5.0").expect("valid")),
            refresh_token_hash: token(1),
            idle_timeout: Duration::minutes(30),
            expires_at: at(50),
            at: at(0),
        };
        given::<SessionAggregate>([])
            .when(command)
            .then([started()]);
    }

    #[test]
    fn rotates_the_refresh_token() {
        given::<SessionAggregate>([started()])
            .when(SessionCommand::Refresh {
                presented_hash: token(1),
                new_hash: token(2),
                at: at(10),
            })
            .then([refreshed(2, 10)]);
    }

    #[test]
    fn presenting_a_rotated_refresh_token_revokes_the_session() {
        let state = given::<SessionAggregate>([started(), refreshed(2, 10)])
            .when(SessionCommand::Refresh {
                presented_hash: token(1),
                new_hash: token(3),
                at: at(11),
            })
            .then([SessionEvent::SessionRevoked {
                reason: RevocationReason::RefreshTokenReused,
                at: at(11),
            }]);
        let SessionState::Present(session) = state else {
            panic!("session exists")
        };
        assert!(!session.is_usable(at(11)));
    }

    #[test]
    fn refuses_an_unknown_refresh_token() {
        given::<SessionAggregate>([started()])
            .when(SessionCommand::Refresh {
                presented_hash: token(9),
                new_hash: token(3),
                at: at(5),
            })
            .then_err(SessionError::InvalidRefreshToken);
    }

    #[test]
    fn refuses_to_refresh_a_session_idle_past_its_timeout() {
        given::<SessionAggregate>([started()])
            .when(SessionCommand::Refresh {
                presented_hash: token(1),
                new_hash: token(2),
                at: at(31),
            })
            .then_err(SessionError::Expired);
    }

    #[test]
    fn refuses_to_refresh_a_session_past_its_absolute_lifetime() {
        given::<SessionAggregate>([started(), refreshed(2, 25), refreshed(3, 45)])
            .when(SessionCommand::Refresh {
                presented_hash: token(3),
                new_hash: token(4),
                at: at(50),
            })
            .then_err(SessionError::Expired);
    }

    #[test]
    fn ends_a_session_on_logout() {
        given::<SessionAggregate>([started()])
            .when(SessionCommand::End {
                reason: EndReason::Logout,
                at: at(3),
            })
            .then([SessionEvent::SessionEnded {
                reason: EndReason::Logout,
                at: at(3),
            }]);
    }

    #[test]
    fn refuses_to_refresh_or_end_a_session_that_has_ended() {
        let ended = SessionEvent::SessionEnded {
            reason: EndReason::Logout,
            at: at(3),
        };
        given::<SessionAggregate>([started(), ended.clone()])
            .when(SessionCommand::Refresh {
                presented_hash: token(1),
                new_hash: token(2),
                at: at(4),
            })
            .then_err(SessionError::NotActive);
        given::<SessionAggregate>([started(), ended])
            .when(SessionCommand::Revoke {
                reason: RevocationReason::Revoked,
                at: at(4),
            })
            .then_err(SessionError::NotActive);
    }

    #[test]
    fn revokes_a_session_with_a_reason() {
        given::<SessionAggregate>([started()])
            .when(SessionCommand::Revoke {
                reason: RevocationReason::PasswordReset,
                at: at(7),
            })
            .then([SessionEvent::SessionRevoked {
                reason: RevocationReason::PasswordReset,
                at: at(7),
            }]);
    }

    #[test]
    fn refuses_commands_for_an_unknown_session_and_a_second_start() {
        given::<SessionAggregate>([])
            .when(SessionCommand::End {
                reason: EndReason::Logout,
                at: at(1),
            })
            .then_err(SessionError::NotFound);
        let SessionEvent::SessionStarted {
            session_id,
            user_id,
            ..
        } = started()
        else {
            unreachable!()
        };
        given::<SessionAggregate>([started()])
            .when(SessionCommand::Start {
                session_id,
                user_id,
                client: SessionClient::Api,
                device: None,
                ip: None,
                user_agent: None,
                refresh_token_hash: token(8),
                idle_timeout: Duration::minutes(30),
                expires_at: at(50),
                at: at(1),
            })
            .then_err(SessionError::AlreadyExists);
    }

    fn page_session() -> SessionEvent {
        let SessionEvent::SessionStarted {
            session_id,
            user_id,
            device,
            ip,
            user_agent,
            refresh_token_hash,
            idle_timeout_seconds,
            expires_at,
            at,
            ..
        } = started()
        else {
            unreachable!()
        };
        SessionEvent::SessionStarted {
            session_id,
            user_id,
            client: SessionClient::Page,
            device,
            ip,
            user_agent,
            refresh_token_hash,
            idle_timeout_seconds,
            expires_at,
            at,
        }
    }

    #[test]
    fn a_page_view_keeps_a_page_session_from_idling_out() {
        let state = given::<SessionAggregate>([page_session()])
            .when(SessionCommand::Touch { at: at(20) })
            .then([SessionEvent::SessionUsed { at: at(20) }]);
        let SessionState::Present(session) = state else {
            panic!("session exists")
        };
        assert!(session.is_usable(at(45)), "idle since minute 20 only");
        assert!(
            !session.is_usable(at(50)),
            "the absolute lifetime still holds"
        );
    }

    #[test]
    fn a_page_session_has_no_refresh_token_and_an_api_session_no_page_views() {
        given::<SessionAggregate>([page_session()])
            .when(SessionCommand::Refresh {
                presented_hash: token(1),
                new_hash: token(2),
                at: at(1),
            })
            .then_err(SessionError::WrongClient);
        given::<SessionAggregate>([started()])
            .when(SessionCommand::Touch { at: at(1) })
            .then_err(SessionError::WrongClient);
    }

    #[test]
    fn refuses_to_keep_alive_a_page_session_that_idled_out() {
        given::<SessionAggregate>([page_session()])
            .when(SessionCommand::Touch { at: at(31) })
            .then_err(SessionError::Expired);
    }

    #[test]
    fn sessions_started_before_pages_existed_read_as_api_sessions() {
        let mut payload = serde_json::to_value(started()).expect("serializes");
        payload["data"]
            .as_object_mut()
            .expect("an object")
            .remove("client");
        let event: SessionEvent = serde_json::from_value(payload).expect("reads");
        assert_eq!(event, started());
    }

    #[test]
    fn personal_fields_point_at_real_payload_fields() {
        let payload = started().to_payload().expect("serializes");
        for pointer in started().personal_fields() {
            assert!(
                payload.pointer(pointer).is_some(),
                "{pointer} is not in the payload"
            );
        }
    }

    #[test]
    fn every_event_type_is_the_name_its_events_are_stored_and_read_by() {
        crate::testing::assert_event_type_names::<SessionEvent, _>(SessionEventType::as_str);
        for event in [started(), refreshed(2, 5)] {
            let event_type = SessionEventType::from(&event);
            assert_eq!(event_type.as_str(), event.event_type());
            assert_eq!(
                serde_json::to_value(&event).expect("serializes")["type"],
                event_type.as_str()
            );
        }
    }
}
