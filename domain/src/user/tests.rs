//! Given/when/then for the User aggregate, one module per concern; the shared history and
//! builders are here.

mod credentials;
mod events;
mod lifecycle;
mod mfa;
mod organizations;
mod profile;
mod registration;
mod verification;

use super::*;
use crate::testing::given;
use crate::values::{
    Address, AddressLine, CountryCode, DeviceKind, Email, LanguageTag, PasswordHash, PendingToken,
    PersonName, PhoneNumber, Profile, Reason, Role, TokenHash, Username,
};
use crate::{ClaimKind, DomainEvent, Timestamp, UserId};
use chrono::TimeZone;
use std::collections::BTreeSet;

fn at(minute: u32) -> Timestamp {
    chrono::Utc
        .with_ymd_and_hms(2026, 1, 1, 12, 0, 0)
        .single()
        .expect("valid time")
        + Duration::minutes(minute.into())
}
fn user_id() -> UserId {
    UserId::from_uuid(uuid::Uuid::from_u128(1))
}
fn email(raw: &str) -> Email {
    Email::parse(raw).expect("valid email")
}
fn phone(raw: &str) -> PhoneNumber {
    PhoneNumber::parse(raw).expect("valid phone")
}
fn hash(n: u8) -> TokenHash {
    TokenHash::from_bytes([n; 32])
}
fn password(n: u8) -> PasswordHash {
    PasswordHash::new(format!("$argon2id$v=19$m=19456,t=2,p=1$salt{n}$hash{n}"))
}
fn token(n: u8, issued: u32, expires: u32) -> PendingToken {
    PendingToken {
        token_hash: hash(n),
        issued_at: at(issued),
        expires_at: at(expires),
    }
}
fn roles(names: &[&str]) -> BTreeSet<Role> {
    names
        .iter()
        .map(|n| Role::parse(n).expect("valid role"))
        .collect()
}
fn policy() -> LockoutPolicy {
    LockoutPolicy {
        max_failed_attempts: 5,
        lock_duration: Duration::minutes(15),
        max_lock_duration: Duration::hours(24),
    }
}
fn new_user() -> NewUser {
    NewUser {
        user_id: user_id(),
        email: email("ann@example.com"),
        username: Some(Username::parse("ann").expect("valid")),
        phone: Some(phone("+14155550100")),
        first_name: Some(PersonName::parse("Ann").expect("valid")),
        last_name: None,
        roles: roles(&["user"]),
        preferred_language: None,
    }
}
fn registered() -> UserEvent {
    UserEvent::UserRegistered {
        user_id: user_id(),
        email: email("ann@example.com").into(),
        username: Some(Username::parse("ann").expect("valid")),
        phone: Some(phone("+14155550100")),
        first_name: Some(PersonName::parse("Ann").expect("valid")),
        last_name: None,
        roles: roles(&["user"]),
        password_hash: password(1),
        preferred_language: None,
        at: at(0),
    }
}
fn verification_sent() -> UserEvent {
    UserEvent::EmailVerificationRequested {
        token: token(2, 0, 48),
    }
}
fn failed(n: u32, minute: u32) -> UserEvent {
    UserEvent::LoginFailed {
        failed_attempts: n,
        at: at(minute),
    }
}
fn policy_lock(minute: u32, until: u32) -> UserEvent {
    UserEvent::AccountLocked {
        kind: LockKind::Policy,
        reason: None,
        until: Some(at(until)),
        at: at(minute),
    }
}
fn deleted() -> UserEvent {
    UserEvent::UserDeleted { at: at(30) }
}
fn history() -> Vec<UserEvent> {
    vec![registered(), verification_sent()]
}
fn with(mut events: Vec<UserEvent>, more: impl IntoIterator<Item = UserEvent>) -> Vec<UserEvent> {
    events.extend(more);
    events
}
fn present(state: UserState) -> User {
    match state {
        UserState::Present(user) => *user,
        UserState::Absent | UserState::Forgotten(_) => panic!("the user should exist"),
    }
}
