//! What the workers' tests share: a token minter and registering a user.

use chrono::Utc;
use commands::tokens::{TokenMinter, TokenPurpose};
use commands::{CommandContext, CommandHandler};
use domain::user::{NewUser, UserAggregate, UserCommand};
use domain::values::{Email, PasswordHash, PhoneNumber, Role};
use domain::{Duration, UserId};

/// The token minter the tests' workers share with the commands.
pub fn minter() -> TokenMinter {
    TokenMinter::new([9; 32])
}

/// Registers a user with `email` (and `phone`) through the command handler, as the API would.
pub async fn register(commands: &CommandHandler, email: &str, phone: Option<&str>) -> UserId {
    let id = UserId::from_uuid(uuid::Uuid::now_v7());
    let now = Utc::now();
    let (email_verification, _) = minter().issue(
        TokenPurpose::EmailVerification,
        id,
        now,
        Duration::hours(48),
    );
    let command = UserCommand::Register {
        user: NewUser {
            user_id: id,
            email: Email::parse(email).expect("email"),
            username: None,
            phone: phone.map(|phone| PhoneNumber::parse(phone).expect("phone")),
            first_name: None,
            last_name: None,
            roles: [Role::parse("user").expect("role")].into(),
            preferred_language: None,
        },
        password_hash: PasswordHash::new("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA"),
        email_verification,
        at: now,
    };
    commands
        .execute::<UserAggregate>(&id.to_string(), command, CommandContext::default())
        .await
        .expect("registered");
    id
}
