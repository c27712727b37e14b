//! Value objects. Each is parsed once at the edge ("parse, don't validate"): holding one proves
//! it is valid, so no code behind the edge checks it again.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use subtle::ConstantTimeEq;

/// Why a value was refused. `field` names the input, for field-level error reports.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct InvalidValue {
    /// The field that was refused, e.g. `email`.
    pub field: &'static str,
    /// What is wrong with it, in words fit for the person who typed it.
    pub message: String,
}

impl InvalidValue {
    fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

/// Trims the white space the API's schema calls white space: ECMAScript's `\s`, which (unlike
/// Rust's `str::trim`) leaves the control character U+0085 in place to be refused, and takes U+FEFF.
pub fn trim_space(raw: &str) -> &str {
    raw.trim_matches(|c: char| {
        matches!(
            c,
            '\t' | '\n' | '\u{b}' | '\u{c}' | '\r' | ' ' | '\u{a0}' | '\u{1680}' | '\u{2000}'
                ..='\u{200a}'
                    | '\u{2028}'
                    | '\u{2029}'
                    | '\u{202f}'
                    | '\u{205f}'
                    | '\u{3000}'
                    | '\u{feff}'
        )
    })
}

/// Checks free text: trimmed, not empty, at most `max_chars` characters, no control characters.
fn parse_text(field: &'static str, raw: &str, max_chars: usize) -> Result<String, InvalidValue> {
    let text = trim_space(raw);
    if text.is_empty() {
        return Err(InvalidValue::new(field, "must not be empty"));
    }
    if text.chars().count() > max_chars {
        return Err(InvalidValue::new(
            field,
            format!("must be at most {max_chars} characters"),
        ));
    }
    if text.chars().any(char::is_control) {
        return Err(InvalidValue::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(text.to_owned())
}

/// Free-text value objects: trimmed, bounded, printable.
macro_rules! text_value {
    ($(#[$doc:meta])* $name:ident, $field:literal, $max:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Parses and normalizes the value.
            pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
                parse_text($field, raw, $max).map(Self)
            }

            /// The value as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(deserializer)?;
                Self::parse(&raw).map_err(serde::de::Error::custom)
            }
        }
    };
}

text_value!(
    /// A first or last name.
    PersonName, "name", 100
);
text_value!(
    /// An organization's unique name.
    OrganizationName, "name", 100
);
text_value!(
    /// An organization's display name.
    DisplayName, "display_name", 200
);
text_value!(
    /// An API key's name, unique among its organization's keys in use ("nightly EDI import").
    KeyName, "name", 100
);
text_value!(
    /// Which resource a partner's activity record is about, in the partner's own terms.
    ResourceRef, "resource_id", 200
);
text_value!(
    /// A file's name as a partner's systems sent it.
    FileName, "filename", 255
);
text_value!(
    /// Why an account was locked or deactivated.
    Reason, "reason", 500
);
text_value!(
    /// A device label for a session, e.g. "Firefox on Linux".
    DeviceName, "device", 200
);
text_value!(
    /// The user agent a session was started from.
    UserAgent, "user_agent", 1024
);
text_value!(
    /// The kind of device a sign-in came from as its user agent tells it ("Firefox on
    /// Linux"): what "a device not seen before on this account" compares.
    DeviceKind, "device_kind", 200
);

impl DeviceKind {
    /// The device kind of a user agent: browser and system when they are recognized, else
    /// the agent's first 40 characters.
    pub fn of_user_agent(agent: &str) -> Self {
        // Order matters: Edge and Opera say Chrome, Chrome says Safari, Android says Linux.
        const BROWSERS: [(&str, &str); 7] = [
            ("Edg/", "Edge"),
            ("OPR/", "Opera"),
            ("Firefox/", "Firefox"),
            ("HeadlessChrome/", "Headless Chrome"),
            ("Chrome/", "Chrome"),
            ("Safari/", "Safari"),
            ("curl/", "curl"),
        ];
        const SYSTEMS: [(&str, &str); 7] = [
            ("Android", "Android"),
            ("iPhone", "iPhone"),
            ("iPad", "iPad"),
            ("Windows", "Windows"),
            ("Mac OS X", "macOS"),
            ("CrOS", "ChromeOS"),
            ("Linux", "Linux"),
        ];
        let find = |table: &[(&str, &'static str)]| {
            table
                .iter()
                .find(|(mark, _)| agent.contains(mark))
                .map(|(_, name)| *name)
        };
        let text = match (find(&BROWSERS), find(&SYSTEMS)) {
            (Some(browser), Some(system)) => format!("{browser} on {system}"),
            (Some(name), None) | (None, Some(name)) => name.to_owned(),
            (None, None) => agent.chars().take(40).collect(),
        };
        Self::parse(&text).unwrap_or_else(|_| Self("unknown device".to_owned()))
    }
}
text_value!(
    /// One line of a postal address, a city, a region or a postal code.
    AddressLine, "address", 200
);

/// Implements `Deserialize` through the type's `parse`, so stored values are re-checked on read.
macro_rules! deserialize_via_parse {
    ($name:ident) => {
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(deserializer)?;
                Self::parse(&raw).map_err(serde::de::Error::custom)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl $name {
            /// The value as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
    };
}

/// An email address, normalized to lower case so that differently cased spellings are one
/// address (`Ann@Example.com` and `ann@example.COM` cannot both register).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Email(String);
deserialize_via_parse!(Email);

impl Email {
    /// Parses an address: one `@`, a local part of at most 64 characters, a domain of dot-separated
    /// labels (letters, digits, hyphens) with at least one dot, 254 characters at most in all.
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let invalid = |message: &str| InvalidValue::new("email", message);
        let address = trim_space(raw).to_lowercase();
        if address.is_empty() {
            return Err(invalid("must not be empty"));
        }
        if address.len() > 254 {
            return Err(invalid("must be at most 254 characters"));
        }
        let (local, domain) = address
            .rsplit_once('@')
            .ok_or_else(|| invalid("must contain @"))?;
        if local.is_empty() || local.len() > 64 {
            return Err(invalid("the part before @ must be 1 to 64 characters"));
        }
        let local_ok = local
            .chars()
            .all(|c| c.is_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c))
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..");
        if !local_ok {
            return Err(invalid(
                "the part before @ has characters an address cannot have",
            ));
        }
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = labels.len() >= 2
            && labels.iter().all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_alphanumeric() || c == '-')
            });
        if !domain_ok {
            return Err(invalid("the domain after @ is not a valid domain name"));
        }
        Ok(Self(address))
    }
}

/// A phone number in E.164 form: `+`, then 8 to 15 digits, the first not zero. Spaces, dots,
/// dashes and parentheses in the input are dropped.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct PhoneNumber(String);
deserialize_via_parse!(PhoneNumber);

impl PhoneNumber {
    /// Parses a number that is already in international form.
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let invalid = |message: &str| InvalidValue::new("phone", message);
        let compact: String = trim_space(raw)
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
            .collect();
        let digits = compact
            .strip_prefix('+')
            .ok_or_else(|| invalid("must be in international form, starting with +"))?;
        if !digits.chars().all(|c| c.is_ascii_digit()) {
            return Err(invalid("must contain only digits after +"));
        }
        if !(8..=15).contains(&digits.len()) {
            return Err(invalid("must have 8 to 15 digits"));
        }
        if digits.starts_with('0') {
            return Err(invalid("the country code cannot start with 0"));
        }
        Ok(Self(compact))
    }
}

/// A username: 3 to 32 characters of lower-case letters, digits, `.`, `_` and `-`, starting
/// with a letter or digit. Normalized to lower case.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Username(String);
deserialize_via_parse!(Username);

impl Username {
    /// Parses a username.
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let invalid = |message: &str| InvalidValue::new("username", message);
        let name = trim_space(raw).to_lowercase();
        if !(3..=32).contains(&name.chars().count()) {
            return Err(invalid("must be 3 to 32 characters"));
        }
        if !name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
        {
            return Err(invalid(
                "may contain only letters, digits, '.', '_' and '-'",
            ));
        }
        if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            return Err(invalid("must start with a letter or a digit"));
        }
        if name.contains('@') {
            return Err(invalid("must not look like an email address"));
        }
        Ok(Self(name))
    }
}

/// Checks a catalog name (roles, permissions): 1 to 64 ASCII letters, digits, `_` or `-`.
fn parse_name(field: &'static str, raw: &str) -> Result<String, InvalidValue> {
    let name = trim_space(raw);
    if name.is_empty() || name.len() > 64 {
        return Err(InvalidValue::new(field, "must be 1 to 64 characters"));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(InvalidValue::new(
            field,
            "may contain only letters, digits, '_' and '-'",
        ));
    }
    Ok(name.to_owned())
}

/// What a partner's activity record says happened, e.g. `file_uploaded` or an action an
/// administrator added to the catalog.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct ActionName(String);
deserialize_via_parse!(ActionName);

impl ActionName {
    /// Parses an action name.
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        parse_name("action", raw).map(Self)
    }
}

/// The kind of thing a partner's activity record is about, e.g. `edi_document`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct ResourceType(String);
deserialize_via_parse!(ResourceType);

impl ResourceType {
    /// Parses a resource type.
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        parse_name("resource_type", raw).map(Self)
    }
}

/// A global role, e.g. `admin`, `auditor` or an operator's own such as `COACH`. Whether a role
/// exists is the configured catalog's business; the domain checks only its form.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Role(String);
deserialize_via_parse!(Role);

impl Role {
    /// Parses a role name.
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        parse_name("role", raw).map(Self)
    }
}

/// The name of a field a role's profile declares, e.g. `student_id` or `department`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct FieldName(String);
deserialize_via_parse!(FieldName);

impl FieldName {
    /// Parses a field name.
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        parse_name("field", raw).map(Self)
    }
}

/// A named permission flag on an organization membership, e.g. `can_upload_files`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Permission(String);
deserialize_via_parse!(Permission);

impl Permission {
    /// Parses a permission name.
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        parse_name("permission", raw).map(Self)
    }
}

/// A password hash in PHC string form (`$argon2id$...`), computed by the caller. The domain
/// never sees a password.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PasswordHash(String);

impl PasswordHash {
    /// Wraps a PHC string.
    pub fn new(phc: impl Into<String>) -> Self {
        Self(phc.into())
    }

    /// The PHC string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(..)")
    }
}

/// The SHA-256 of a secret token or code (email verification, password reset, refresh token,
/// phone code). Only hashes are stored; comparisons take constant time.
#[derive(Clone, Copy, Eq)]
pub struct TokenHash([u8; 32]);

impl TokenHash {
    /// Wraps a digest computed by the caller.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The digest.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl PartialEq for TokenHash {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenHash(..)")
    }
}

impl Serialize for TokenHash {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&hex::encode(self.0))
    }
}

impl<'de> Deserialize<'de> for TokenHash {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(&text, &mut bytes).map_err(serde::de::Error::custom)?;
        Ok(Self(bytes))
    }
}

/// A BCP 47 language tag such as `en` or `pt-BR`, kept as given.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct LanguageTag(String);
deserialize_via_parse!(LanguageTag);

impl LanguageTag {
    /// `en`, the installation's default unless `server.default_language` says otherwise.
    pub fn english() -> Self {
        Self("en".to_owned())
    }

    /// Parses a tag: a 2 or 3 letter language, then optional subtags of 1 to 8 letters or digits.
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let tag = trim_space(raw);
        let mut parts = tag.split('-');
        let language_ok = parts.next().is_some_and(|l| {
            (2..=3).contains(&l.len()) && l.chars().all(|c| c.is_ascii_alphabetic())
        });
        let subtags_ok = parts
            .all(|s| (1..=8).contains(&s.len()) && s.chars().all(|c| c.is_ascii_alphanumeric()));
        if !(language_ok && subtags_ok) {
            return Err(InvalidValue::new(
                "preferred_language",
                "must be a language tag such as en or pt-BR",
            ));
        }
        Ok(Self(tag.to_owned()))
    }
}

/// A user's notification preferences: a JSON object of at most 4 KiB, stored as given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
#[serde(transparent)]
pub struct NotificationPreferences(serde_json::Map<String, serde_json::Value>);

impl NotificationPreferences {
    /// The largest accepted size, in bytes of compact JSON.
    pub const MAX_BYTES: usize = 4096;

    /// The key of "email me when my account is signed in from a new kind of device" (a
    /// boolean; on unless set to false).
    pub const EMAIL_ON_NEW_DEVICE: &'static str = "email_on_new_device";

    /// Whether a sign-in from a new kind of device is emailed.
    pub fn email_on_new_device(&self) -> bool {
        self.0
            .get(Self::EMAIL_ON_NEW_DEVICE)
            .and_then(serde_json::Value::as_bool)
            .unwrap_or(true)
    }

    /// Checks that `value` is a JSON object no larger than [`Self::MAX_BYTES`].
    pub fn parse(value: serde_json::Value) -> Result<Self, InvalidValue> {
        let serde_json::Value::Object(map) = value else {
            return Err(InvalidValue::new(
                "notification_preferences",
                "must be a JSON object",
            ));
        };
        let size = serde_json::to_vec(&map)
            .map(|bytes| bytes.len())
            .unwrap_or(usize::MAX);
        if size > Self::MAX_BYTES {
            return Err(InvalidValue::new(
                "notification_preferences",
                format!("must be at most {} bytes of JSON", Self::MAX_BYTES),
            ));
        }
        Ok(Self(map))
    }

    /// The preferences.
    pub fn as_map(&self) -> &serde_json::Map<String, serde_json::Value> {
        &self.0
    }
}

impl<'de> Deserialize<'de> for NotificationPreferences {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Self::parse(serde_json::Value::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }
}

/// A postal address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    /// Street and number.
    pub line1: AddressLine,
    /// Apartment, suite, building.
    pub line2: Option<AddressLine>,
    /// City or town.
    pub city: AddressLine,
    /// State, province or region.
    pub region: Option<AddressLine>,
    /// Postal code.
    pub postal_code: Option<AddressLine>,
    /// ISO 3166-1 alpha-2 country code.
    pub country: CountryCode,
}

/// An ISO 3166-1 alpha-2 country code, upper case.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct CountryCode(String);
deserialize_via_parse!(CountryCode);

impl CountryCode {
    /// Parses two ASCII letters.
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let code = trim_space(raw).to_ascii_uppercase();
        if code.len() != 2 || !code.chars().all(|c| c.is_ascii_uppercase()) {
            return Err(InvalidValue::new(
                "country",
                "must be a two-letter country code",
            ));
        }
        Ok(Self(code))
    }
}

/// Whom to call in an emergency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmergencyContact {
    /// The contact's name.
    pub name: PersonName,
    /// The contact's phone number.
    pub phone: PhoneNumber,
}

/// The profile fields a user manages themself (names live on the user).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Profile {
    /// Postal address.
    pub address: Option<Address>,
    /// Emergency contact.
    pub emergency_contact: Option<EmergencyContact>,
    /// Preferred language for messages.
    pub preferred_language: Option<LanguageTag>,
    /// Notification preferences.
    #[serde(default)]
    pub notification_preferences: NotificationPreferences,
}

/// A single-use secret waiting to be presented (by hash), with its expiry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingToken {
    /// Hash of the token that was sent.
    pub token_hash: TokenHash,
    /// When the token was issued.
    pub issued_at: crate::Timestamp,
    /// When the token stops working.
    pub expires_at: crate::Timestamp,
}

impl PendingToken {
    /// Whether `presented` is this token and still valid at `at`; says which check failed.
    pub fn check(&self, presented: &TokenHash, at: crate::Timestamp) -> Result<(), TokenRejection> {
        if self.token_hash != *presented {
            return Err(TokenRejection::Mismatch);
        }
        if at >= self.expires_at {
            return Err(TokenRejection::Expired);
        }
        Ok(())
    }
}

/// Why a presented token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenRejection {
    /// Not the token that was issued.
    Mismatch,
    /// The right token, too late.
    Expired,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_is_normalized_to_lower_case() {
        let email = Email::parse("  Ann.Lee+tag@Example.COM ").expect("valid");
        assert_eq!(email.as_str(), "ann.lee+tag@example.com");
    }

    #[test]
    fn email_rejects_malformed_addresses() {
        for raw in [
            "",
            "ann",
            "ann@",
            "@example.com",
            "ann@example",
            "ann@@example.com",
            "a b@example.com",
            "ann@-example.com",
            ".ann@example.com",
            "ann..lee@example.com",
            "ann@exa_mple.com",
        ] {
            assert!(Email::parse(raw).is_err(), "{raw:?} should be refused");
        }
        let too_long = format!("{}@example.com", "a".repeat(65));
        assert!(Email::parse(&too_long).is_err());
    }

    #[test]
    fn phone_numbers_are_e164() {
        assert_eq!(
            PhoneNumber::parse("+1 (415) 555-0100")
                .expect("valid")
                .as_str(),
            "+14155550100"
        );
        for raw in [
            "4155550100",
            "+0123456789",
            "+12",
            "+1234567890123456",
            "+1415abc0100",
        ] {
            assert!(
                PhoneNumber::parse(raw).is_err(),
                "{raw:?} should be refused"
            );
        }
    }

    #[test]
    fn usernames_are_lower_case_and_restricted() {
        assert_eq!(
            Username::parse("Ann_Lee").expect("valid").as_str(),
            "ann_lee"
        );
        for raw in ["ab", "_ann", "ann lee", "ann@x", &"a".repeat(33)] {
            assert!(Username::parse(raw).is_err(), "{raw:?} should be refused");
        }
    }

    #[test]
    fn text_values_refuse_control_characters_and_overlong_input() {
        assert!(PersonName::parse("Ann\u{0}").is_err());
        assert!(PersonName::parse(&"x".repeat(101)).is_err());
        assert!(PersonName::parse("   ").is_err());
        assert_eq!(PersonName::parse("  Zoë ").expect("valid").as_str(), "Zoë");
        // U+0085 is white space to Rust but a control character to the API's schema.
        assert!(PersonName::parse("\u{85}Ann").is_err());
        assert_eq!(
            PersonName::parse("\u{feff}Ann\u{3000}")
                .expect("valid")
                .as_str(),
            "Ann"
        );
    }

    #[test]
    fn roles_and_permissions_are_catalog_names() {
        assert!(Role::parse("COACH").is_ok());
        assert!(Role::parse("org admin").is_err());
        assert!(Permission::parse("can_upload_files").is_ok());
        assert!(Permission::parse("").is_err());
    }

    #[test]
    fn notification_preferences_are_a_small_object() {
        assert!(NotificationPreferences::parse(serde_json::json!({"email": true})).is_ok());
        assert!(NotificationPreferences::parse(serde_json::json!([1, 2])).is_err());
        let big = serde_json::json!({ "x": "y".repeat(5000) });
        assert!(NotificationPreferences::parse(big).is_err());
    }

    #[test]
    fn token_hashes_round_trip_through_json_as_hex() {
        let hash = TokenHash::from_bytes([7; 32]);
        let json = serde_json::to_string(&hash).expect("serializes");
        assert_eq!(json, format!("\"{}\"", "07".repeat(32)));
        let back: TokenHash = serde_json::from_str(&json).expect("parses");
        assert_eq!(back, hash);
    }

    #[test]
    fn stored_values_are_checked_again_when_read() {
        assert!(serde_json::from_str::<Email>("\"not-an-email\"").is_err());
    }
}

/// The mark an erased personal field reads back as once its owner was forgotten (their data
/// key destroyed): `{"$erased": true}`, as the event store writes it.
pub const ERASED_MARK: &str = "$erased";

fn is_erased_mark(value: &serde_json::Value) -> bool {
    value.as_object().is_some_and(|fields| {
        fields.len() == 1 && fields.get(ERASED_MARK) == Some(&serde_json::Value::Bool(true))
    })
}

/// A personal value an event must carry: known, or erased because its owner was forgotten.
/// Reading an old event of a forgotten person gives `Erased`, never an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Personal<T> {
    /// The value.
    Known(T),
    /// The value was erased (crypto-shredded).
    Erased,
}

impl<T> Personal<T> {
    /// The value, unless erased.
    pub fn known(&self) -> Option<&T> {
        match self {
            Self::Known(value) => Some(value),
            Self::Erased => None,
        }
    }

    /// Whether the value was erased.
    pub fn is_erased(&self) -> bool {
        matches!(self, Self::Erased)
    }
}

impl<T> From<T> for Personal<T> {
    fn from(value: T) -> Self {
        Self::Known(value)
    }
}

impl<T: Serialize> Serialize for Personal<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Known(value) => value.serialize(serializer),
            Self::Erased => {
                use serde::ser::SerializeMap;
                let mut map = serializer.serialize_map(Some(1))?;
                map.serialize_entry(ERASED_MARK, &true)?;
                map.end()
            }
        }
    }
}

impl<'de, T: serde::de::DeserializeOwned> Deserialize<'de> for Personal<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(deserializer)?;
        if is_erased_mark(&value) {
            return Ok(Self::Erased);
        }
        T::deserialize(value)
            .map(Self::Known)
            .map_err(serde::de::Error::custom)
    }
}

/// `deserialize_with` helpers for personal fields that have a natural empty value: an erased
/// field reads as that (`None`, an empty profile), so the types stay as they are.
pub mod erasable {
    use super::is_erased_mark;
    use serde::Deserialize;
    use serde::de::DeserializeOwned;

    /// An optional personal field: erased reads as `None`.
    pub fn optional<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
    where
        D: serde::Deserializer<'de>,
        T: DeserializeOwned,
    {
        let value = serde_json::Value::deserialize(deserializer)?;
        if is_erased_mark(&value) {
            return Ok(None);
        }
        Option::<T>::deserialize(value).map_err(serde::de::Error::custom)
    }

    /// A personal field with a default: erased reads as the default.
    pub fn or_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
    where
        D: serde::Deserializer<'de>,
        T: DeserializeOwned + Default,
    {
        let value = serde_json::Value::deserialize(deserializer)?;
        if is_erased_mark(&value) {
            return Ok(T::default());
        }
        T::deserialize(value).map_err(serde::de::Error::custom)
    }
}

/// Code values: letters, digits, `-`, `_` and `.`, stored upper case, compared as stored.
macro_rules! code_value {
    ($(#[$doc:meta])* $name:ident, $field:literal, $max:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Parses the value; letters are made upper case.
            pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
                let code = raw.trim().to_ascii_uppercase();
                if code.is_empty() || code.chars().count() > $max {
                    return Err(InvalidValue::new(
                        $field,
                        concat!("must be 1 to ", $max, " characters"),
                    ));
                }
                if !code
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
                {
                    return Err(InvalidValue::new(
                        $field,
                        "may hold only letters, digits, '-', '_' and '.'",
                    ));
                }
                Ok(Self(code))
            }

            /// The value as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(deserializer)?;
                Self::parse(&raw).map_err(serde::de::Error::custom)
            }
        }
    };
}

code_value!(
    /// A partner's code, unique among organizations (`ACME001`).
    PartnerCode, "partner_code", 32
);
code_value!(
    /// An EDI interchange id: a partner's sender or receiver id (X12's ISA06 and ISA08 hold
    /// 15 characters, EDIFACT's UNB up to 35).
    EdiId, "edi_id", 35
);
code_value!(
    /// An EDI document type: an X12 transaction set (`850`), an EDIFACT message (`ORDERS`).
    DocumentType, "document_type", 35
);
