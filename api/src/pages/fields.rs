//! What a form's fields hold: text filled in or left empty, and values read from it.

use application::AppError;
use domain::values::InvalidValue;

/// A field's text, trimmed; `None` when empty.
pub fn filled(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

/// A field as an optional value: empty is none, anything else must read.
pub fn optional<T>(
    text: &str,
    parse: impl Fn(&str) -> Result<T, InvalidValue>,
) -> Result<Option<T>, AppError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    Ok(Some(parse(text)?))
}
