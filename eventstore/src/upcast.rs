//! Upcasting: old payload schemas are rewritten to the current one as they are read, so the log
//! is never rewritten and readers only know the newest shape.

use serde_json::Value;
use std::collections::HashMap;

type UpcastFn = Box<dyn Fn(Value) -> Value + Send + Sync>;

/// Payload rewrites from one schema version to the next, by event type.
#[derive(Default)]
pub struct Upcasters {
    steps: HashMap<(String, u32), UpcastFn>,
}

impl std::fmt::Debug for Upcasters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upcasters")
            .field("steps", &self.steps.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Upcasters {
    /// No rewrites.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers the rewrite of `event_type` payloads from `from_version` to `from_version + 1`.
    pub fn register(
        mut self,
        event_type: impl Into<String>,
        from_version: u32,
        step: impl Fn(Value) -> Value + Send + Sync + 'static,
    ) -> Self {
        self.steps
            .insert((event_type.into(), from_version), Box::new(step));
        self
    }

    /// Applies every step from `schema_version` on; returns the final version and payload.
    pub fn upcast(
        &self,
        event_type: &str,
        mut schema_version: u32,
        mut payload: Value,
    ) -> (u32, Value) {
        if self.steps.is_empty() {
            return (schema_version, payload);
        }
        while let Some(step) = self.steps.get(&(event_type.to_owned(), schema_version)) {
            payload = step(payload);
            schema_version += 1;
        }
        (schema_version, payload)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn applies_each_step_in_turn() {
        let upcasters = Upcasters::new()
            .register("UserRegistered", 1, |mut p| {
                p["name"] = json!(format!(
                    "{} {}",
                    p["first"].as_str().unwrap_or(""),
                    p["last"].as_str().unwrap_or("")
                ));
                p
            })
            .register("UserRegistered", 2, |mut p| {
                p["roles"] = json!(["user"]);
                p
            });
        let (version, payload) =
            upcasters.upcast("UserRegistered", 1, json!({"first": "Ann", "last": "Lee"}));
        assert_eq!(version, 3);
        assert_eq!(payload["name"], "Ann Lee");
        assert_eq!(payload["roles"], json!(["user"]));
        let (version, _) = upcasters.upcast("OtherEvent", 1, json!({}));
        assert_eq!(version, 1);
    }
}
