//! The catalog of global roles, kept in the log: the built-in four (`admin`, `auditor`,
//! `analyst`, `user`) and those administrators define, change and retire. A role may be
//! privileged (only its holder and administrators act on a holder) and may declare the fields of
//! its holders' role profile (`student`: `student_id`, `department`, `year`).
//!
//! An empty log has no catalog yet: the configured roles stand in for it until the first change
//! or the first grant of a role, which seeds the catalog with them in the same append. From then
//! on the log is the catalog, in every process, whatever each one's configuration says.

use crate::values::{FieldName, Role};
use crate::{Aggregate, DomainEvent, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The one stream the catalog is.
pub const ROLE_CATALOG_STREAM: &str = "role-catalog";

/// The roles every installation has; they cannot be retired.
pub const BUILT_IN_ROLES: [&str; 4] = ["admin", "auditor", "analyst", "user"];

/// The built-in roles that grant something, and so are privileged whatever is asked.
pub const ALWAYS_PRIVILEGED: [&str; 3] = ["admin", "auditor", "analyst"];

/// The most fields a role's profile declares.
pub const MAX_FIELDS: usize = 32;

/// The most allowed values a field lists.
pub const MAX_ALLOWED_VALUES: usize = 100;

/// What a profile field holds.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    strum::Display,
    strum::EnumString,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum FieldType {
    /// Free text (up to 200 characters).
    Text,
    /// A whole number.
    Integer,
    /// `true` or `false`.
    Boolean,
    /// A calendar date, `2026-12-06`.
    Date,
}

impl FieldType {
    /// What a value of this type is, for messages.
    pub fn described(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Integer => "a whole number",
            Self::Boolean => "true or false",
            Self::Date => "a date (YYYY-MM-DD)",
        }
    }
}

/// A field a role's profile declares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
// A misspelt key (`requried`) is refused rather than read as its default.
#[serde(deny_unknown_fields)]
pub struct ProfileField {
    /// Its name.
    pub name: FieldName,
    /// What it holds.
    #[serde(rename = "type")]
    pub kind: FieldType,
    /// Whether a holder's profile must give it.
    #[serde(default)]
    pub required: bool,
    /// The values it may take (text and integer fields); empty: any of its type.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed: Vec<String>,
}

/// What a role is: privileged or not, and its profile's fields.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleDefinition {
    /// Only its holder and administrators act on a holder (the policy's global-role rule).
    #[serde(default)]
    pub privileged: bool,
    /// Its profile's fields, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<ProfileField>,
}

/// A role profile's values, by field: text and dates as strings, integers as numbers,
/// booleans as booleans.
pub type ProfileValues = BTreeMap<FieldName, serde_json::Value>;

impl RoleDefinition {
    /// A role whose fields are written one spec each (see [`ProfileField::parse_spec`]; blank
    /// ones are skipped), or what is wrong with the first that does not read.
    pub fn from_specs<'a>(
        privileged: bool,
        specs: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, String> {
        let fields = specs
            .into_iter()
            .filter(|spec| !spec.trim().is_empty())
            .map(ProfileField::parse_spec)
            .collect::<Result<_, _>>()?;
        Ok(Self { privileged, fields })
    }

    /// Values written as text (a form's or the command line's), read by each field's type:
    /// integers and booleans as such, anything else as text (what does not read is left as
    /// text, for [`Self::profile`] to refuse). Empty text leaves a field out.
    pub fn values_from_text<'a>(
        &self,
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<ProfileValues, Vec<(String, String)>> {
        use serde_json::Value;
        let mut values = ProfileValues::new();
        let mut problems = Vec::new();
        for (name, text) in pairs {
            let text = text.trim();
            if text.is_empty() {
                continue;
            }
            let Ok(field_name) = FieldName::parse(name) else {
                problems.push((name.to_owned(), "is not a field of this role".to_owned()));
                continue;
            };
            let kind = self
                .fields
                .iter()
                .find(|field| field.name == field_name)
                .map(|field| field.kind);
            let value = match (kind, text) {
                (Some(FieldType::Integer), _) => text
                    .parse::<i64>()
                    .map_or_else(|_| Value::String(text.to_owned()), Value::from),
                (Some(FieldType::Boolean), "true") => Value::Bool(true),
                (Some(FieldType::Boolean), "false") => Value::Bool(false),
                _ => Value::String(text.to_owned()),
            };
            values.insert(field_name, value);
        }
        if problems.is_empty() {
            Ok(values)
        } else {
            Err(problems)
        }
    }

    /// `values` as this role's profile takes them (text trimmed), or what is wrong with each
    /// field that is not: an unknown field, a required one missing, a value of another type or
    /// not among the allowed ones.
    pub fn profile(&self, values: &ProfileValues) -> Result<ProfileValues, Vec<(String, String)>> {
        let mut problems = Vec::new();
        for name in values.keys() {
            if !self.fields.iter().any(|field| field.name == *name) {
                problems.push((name.to_string(), "is not a field of this role".to_owned()));
            }
        }
        let mut profile = ProfileValues::new();
        for field in &self.fields {
            let Some(value) = values.get(&field.name).filter(|value| !value.is_null()) else {
                if field.required {
                    problems.push((field.name.to_string(), "is required".to_owned()));
                }
                continue;
            };
            match field.value(value) {
                Ok(value) => {
                    profile.insert(field.name.clone(), value);
                }
                Err(problem) => problems.push((field.name.to_string(), problem)),
            }
        }
        if problems.is_empty() {
            Ok(profile)
        } else {
            Err(problems)
        }
    }
}

impl ProfileField {
    /// A field written as one line (the command line's and the console's form):
    /// `name:type[:required][:value,value,...]`, e.g. `department:text:required:physics,chemistry`
    /// or `year:integer:1,2,3,4`.
    pub fn parse_spec(spec: &str) -> Result<Self, String> {
        let mut parts = spec.trim().splitn(4, ':');
        let name = parts.next().unwrap_or_default();
        let name = FieldName::parse(name).map_err(|error| format!("{spec}: {}", error.message))?;
        let kind = parts.next().unwrap_or_default();
        let kind: FieldType = kind
            .parse()
            .map_err(|_| format!("{spec}: the type is text, integer, boolean or date"))?;
        let mut required = false;
        let mut allowed = Vec::new();
        for part in parts {
            if part == "required" && !required && allowed.is_empty() {
                required = true;
            } else if allowed.is_empty() && !part.is_empty() {
                allowed = part
                    .split(',')
                    .map(|value| value.trim().to_owned())
                    .collect();
            } else {
                return Err(format!(
                    "{spec}: write name:type[:required][:value,value,...]"
                ));
            }
        }
        Ok(Self {
            name,
            kind,
            required,
            allowed,
        })
    }

    /// The field as [`Self::parse_spec`] reads it.
    pub fn spec(&self) -> String {
        let mut spec = format!("{}:{}", self.name, self.kind);
        if self.required {
            spec.push_str(":required");
        }
        if !self.allowed.is_empty() {
            spec.push(':');
            spec.push_str(&self.allowed.join(","));
        }
        spec
    }

    /// `value` as this field takes it, or what is wrong with it.
    fn value(&self, value: &serde_json::Value) -> Result<serde_json::Value, String> {
        use serde_json::Value;
        let taken = match (self.kind, value) {
            (FieldType::Text, Value::String(text)) => {
                let text = text.trim();
                if text.is_empty()
                    || text.chars().count() > 200
                    || text.chars().any(char::is_control)
                {
                    return Err("must be 1 to 200 printable characters".to_owned());
                }
                Value::String(text.to_owned())
            }
            (FieldType::Integer, Value::Number(number)) if number.is_i64() => value.clone(),
            (FieldType::Boolean, Value::Bool(_)) => value.clone(),
            (FieldType::Date, Value::String(text))
                if chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").is_ok() =>
            {
                value.clone()
            }
            (kind, _) => return Err(format!("must be {}", kind.described())),
        };
        if !self.allowed.is_empty() && !self.allowed.contains(&spelled(&taken)) {
            return Err(format!("must be one of {}", self.allowed.join(", ")));
        }
        Ok(taken)
    }
}

/// The catalog as folded from its stream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoleCatalog {
    /// Whether the stream has begun (before, the configured roles are the catalog).
    pub seeded: bool,
    /// The roles that may be granted.
    pub active: BTreeMap<Role, RoleDefinition>,
    /// Roles retired: holders keep them (and their privilege); none may be granted them.
    pub retired: BTreeMap<Role, RoleDefinition>,
}

impl RoleCatalog {
    /// The catalog `seed` stands for: the built-in roles (those that grant something
    /// privileged) and `configured` ones, privileged where `privileged` says so.
    pub fn seed(configured: &[Role], privileged: &[Role]) -> BTreeMap<Role, RoleDefinition> {
        BUILT_IN_ROLES
            .iter()
            .filter_map(|name| Role::parse(name).ok())
            .chain(configured.iter().cloned())
            .map(|role| {
                let privileged = is_always_privileged(&role) || privileged.contains(&role);
                let definition = RoleDefinition {
                    privileged,
                    fields: Vec::new(),
                };
                (role, definition)
            })
            .collect()
    }
}

/// Whether `role` is one of the four every installation has.
pub fn is_built_in(role: &Role) -> bool {
    BUILT_IN_ROLES.contains(&role.as_str())
}

fn is_always_privileged(role: &Role) -> bool {
    ALWAYS_PRIVILEGED.contains(&role.as_str())
}

/// A profile value written as text, as allowed values list it and the users list filters by
/// it: text and dates as they are, integers and booleans as JSON writes them (`3`, `true`).
pub fn spelled(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// What can be asked of the catalog. Each carries the configured roles, which seed it when the
/// log holds no catalog yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoleCatalogCommand {
    /// Seeds the catalog if it is not yet (before a role is first granted); else nothing.
    Seed {
        /// The configured roles.
        seed: BTreeMap<Role, RoleDefinition>,
        /// When.
        at: Timestamp,
    },
    /// Defines a role (or a retired one again).
    Define {
        /// The role.
        role: Role,
        /// What it is.
        definition: RoleDefinition,
        /// The configured roles.
        seed: BTreeMap<Role, RoleDefinition>,
        /// When.
        at: Timestamp,
    },
    /// Changes a role's privilege or fields.
    Change {
        /// The role.
        role: Role,
        /// What it is now.
        definition: RoleDefinition,
        /// The configured roles.
        seed: BTreeMap<Role, RoleDefinition>,
        /// When.
        at: Timestamp,
    },
    /// Retires a role: nobody may be granted it from now on.
    Retire {
        /// The role.
        role: Role,
        /// The configured roles.
        seed: BTreeMap<Role, RoleDefinition>,
        /// When.
        at: Timestamp,
    },
}

/// What happened to the catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
#[expect(missing_docs, reason = "event fields are named after what they hold")]
pub enum RoleCatalogEvent {
    /// The catalog began with the configured roles.
    RolesSeeded {
        roles: BTreeMap<Role, RoleDefinition>,
        at: Timestamp,
    },
    /// A role was defined.
    RoleDefined {
        role: Role,
        definition: RoleDefinition,
        at: Timestamp,
    },
    /// A role's privilege or fields changed.
    RoleChanged {
        role: Role,
        definition: RoleDefinition,
        at: Timestamp,
    },
    /// A role was retired.
    RoleRetired { role: Role, at: Timestamp },
}

impl DomainEvent for RoleCatalogEvent {
    fn event_type(&self) -> &'static str {
        match self {
            Self::RolesSeeded { .. } => "RolesSeeded",
            Self::RoleDefined { .. } => "RoleDefined",
            Self::RoleChanged { .. } => "RoleChanged",
            Self::RoleRetired { .. } => "RoleRetired",
        }
    }

    fn personal_fields(&self) -> &'static [&'static str] {
        &[]
    }
}

/// Why the catalog refused a change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoleCatalogError {
    /// The role is in the catalog already.
    #[error("the role is defined already")]
    AlreadyDefined,
    /// The role is not in the catalog (or retired already).
    #[error("no such role in the catalog")]
    NotDefined,
    /// Built-in roles stay, and those that grant something stay privileged.
    #[error("a built-in role cannot be retired, and admin, auditor and analyst stay privileged")]
    BuiltIn,
    /// The fields do not make sense (the text says why).
    #[error("{0}")]
    InvalidFields(String),
}

/// Refuses fields that repeat a name, list allowed values for a type that takes none, or list
/// values their type does not take.
fn check_fields(fields: &[ProfileField]) -> Result<(), RoleCatalogError> {
    let invalid = |text: String| Err(RoleCatalogError::InvalidFields(text));
    if fields.len() > MAX_FIELDS {
        return invalid(format!("a role declares at most {MAX_FIELDS} fields"));
    }
    let mut names = BTreeSet::new();
    for field in fields {
        if !names.insert(&field.name) {
            return invalid(format!("{}: declared twice", field.name));
        }
        if field.allowed.is_empty() {
            continue;
        }
        if !matches!(field.kind, FieldType::Text | FieldType::Integer) {
            return invalid(format!(
                "{}: only text and integer fields list allowed values",
                field.name
            ));
        }
        if field.allowed.len() > MAX_ALLOWED_VALUES {
            return invalid(format!(
                "{}: at most {MAX_ALLOWED_VALUES} allowed values",
                field.name
            ));
        }
        let mut seen = BTreeSet::new();
        for value in &field.allowed {
            let readable = match field.kind {
                // As a profile's integer is spelled (`2`, not `02` or `+2`), or it never matches.
                FieldType::Integer => value
                    .parse::<i64>()
                    .is_ok_and(|number| number.to_string() == *value),
                _ => {
                    let trimmed = value.trim();
                    !trimmed.is_empty()
                        && trimmed == value
                        && value.chars().count() <= 200
                        && !value.chars().any(char::is_control)
                }
            };
            if !readable || !seen.insert(value) {
                return invalid(format!(
                    "{}: {value:?} is not a distinct {} value",
                    field.name, field.kind
                ));
            }
        }
    }
    Ok(())
}

/// The role catalog aggregate.
#[derive(Debug, Clone, Copy)]
pub struct RoleCatalogAggregate;

impl Aggregate for RoleCatalogAggregate {
    const STREAM_TYPE: &'static str = "role-catalog";
    type State = RoleCatalog;
    type Command = RoleCatalogCommand;
    type Event = RoleCatalogEvent;
    type Error = RoleCatalogError;

    fn decide(
        state: &RoleCatalog,
        command: RoleCatalogCommand,
    ) -> Result<Vec<RoleCatalogEvent>, RoleCatalogError> {
        let (seed, at) = match &command {
            RoleCatalogCommand::Seed { seed, at }
            | RoleCatalogCommand::Define { seed, at, .. }
            | RoleCatalogCommand::Change { seed, at, .. }
            | RoleCatalogCommand::Retire { seed, at, .. } => (seed.clone(), *at),
        };
        let mut events = Vec::new();
        let mut catalog = state.clone();
        if !state.seeded {
            let seeded = RoleCatalogEvent::RolesSeeded { roles: seed, at };
            catalog = Self::evolve(catalog, &seeded);
            events.push(seeded);
        }
        match command {
            RoleCatalogCommand::Seed { .. } => {}
            RoleCatalogCommand::Define {
                role,
                mut definition,
                at,
                ..
            } => {
                if catalog.active.contains_key(&role) {
                    return Err(RoleCatalogError::AlreadyDefined);
                }
                check_fields(&definition.fields)?;
                definition.privileged |= is_always_privileged(&role);
                events.push(RoleCatalogEvent::RoleDefined {
                    role,
                    definition,
                    at,
                });
            }
            RoleCatalogCommand::Change {
                role,
                definition,
                at,
                ..
            } => {
                let Some(current) = catalog.active.get(&role) else {
                    return Err(RoleCatalogError::NotDefined);
                };
                if is_always_privileged(&role) && !definition.privileged {
                    return Err(RoleCatalogError::BuiltIn);
                }
                check_fields(&definition.fields)?;
                if *current != definition {
                    events.push(RoleCatalogEvent::RoleChanged {
                        role,
                        definition,
                        at,
                    });
                }
            }
            RoleCatalogCommand::Retire { role, at, .. } => {
                if is_built_in(&role) {
                    return Err(RoleCatalogError::BuiltIn);
                }
                if !catalog.active.contains_key(&role) {
                    return Err(RoleCatalogError::NotDefined);
                }
                events.push(RoleCatalogEvent::RoleRetired { role, at });
            }
        }
        Ok(events)
    }

    fn evolve(mut state: RoleCatalog, event: &RoleCatalogEvent) -> RoleCatalog {
        match event {
            RoleCatalogEvent::RolesSeeded { roles, .. } => {
                state.seeded = true;
                state.active.extend(roles.clone());
            }
            RoleCatalogEvent::RoleDefined {
                role, definition, ..
            }
            | RoleCatalogEvent::RoleChanged {
                role, definition, ..
            } => {
                state.seeded = true;
                state.retired.remove(role);
                state.active.insert(role.clone(), definition.clone());
            }
            RoleCatalogEvent::RoleRetired { role, .. } => {
                if let Some(definition) = state.active.remove(role) {
                    state.retired.insert(role.clone(), definition);
                }
            }
        }
        state
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::given;

    fn role(name: &str) -> Role {
        Role::parse(name).expect("role")
    }

    fn at() -> Timestamp {
        chrono::DateTime::UNIX_EPOCH
    }

    fn field(name: &str, kind: FieldType, required: bool, allowed: &[&str]) -> ProfileField {
        ProfileField {
            name: FieldName::parse(name).expect("field"),
            kind,
            required,
            allowed: allowed.iter().map(|value| (*value).to_owned()).collect(),
        }
    }

    fn student() -> RoleDefinition {
        RoleDefinition {
            privileged: false,
            fields: vec![
                field("student_id", FieldType::Text, true, &[]),
                field(
                    "department",
                    FieldType::Text,
                    true,
                    &["physics", "chemistry"],
                ),
                field("year", FieldType::Integer, false, &["1", "2", "3", "4"]),
            ],
        }
    }

    fn seed() -> BTreeMap<Role, RoleDefinition> {
        RoleCatalog::seed(&[role("COACH")], &[role("COACH")])
    }

    #[test]
    fn a_field_reads_from_its_one_line_spec_and_back() {
        for spec in [
            "student_id:text:required",
            "department:text:required:physics,chemistry",
            "year:integer:1,2,3,4",
            "enrolled:date",
            "boarder:boolean",
        ] {
            let field = ProfileField::parse_spec(spec).expect(spec);
            assert_eq!(field.spec(), spec);
        }
        assert_eq!(
            student().fields[1],
            ProfileField::parse_spec("department:text:required:physics,chemistry").expect("spec")
        );
        for wrong in ["", "year", "year:number", "bad name:text", "a:text:x:y"] {
            assert!(ProfileField::parse_spec(wrong).is_err(), "{wrong}");
        }
    }

    #[test]
    fn text_values_read_by_their_field_type() {
        let definition = RoleDefinition {
            privileged: false,
            fields: vec![
                field("student_id", FieldType::Text, true, &[]),
                field("year", FieldType::Integer, false, &[]),
                field("boarder", FieldType::Boolean, false, &[]),
            ],
        };
        let values = definition
            .values_from_text([
                ("student_id", "0012"),
                ("year", "2"),
                ("boarder", "true"),
                ("club", ""),
            ])
            .expect("values");
        assert_eq!(
            serde_json::to_value(&values).expect("json"),
            serde_json::json!({"student_id": "0012", "year": 2, "boarder": true})
        );
        // What does not read stays text, for the profile's check to name.
        let wrong = definition
            .values_from_text([("student_id", "S-1"), ("year", "second")])
            .expect("values");
        assert_eq!(
            definition.profile(&wrong),
            Err(vec![(
                "year".to_owned(),
                "must be a whole number".to_owned()
            )])
        );
    }

    #[test]
    fn the_seed_holds_the_built_in_roles_and_the_configured_ones() {
        let seed = seed();
        let names: Vec<String> = seed.keys().map(ToString::to_string).collect();
        assert_eq!(names, ["COACH", "admin", "analyst", "auditor", "user"]);
        assert!(seed[&role("admin")].privileged && seed[&role("COACH")].privileged);
        assert!(!seed[&role("user")].privileged);
    }

    #[test]
    fn the_first_change_or_grant_seeds_the_catalog() {
        let seeded = RoleCatalogEvent::RolesSeeded {
            roles: seed(),
            at: at(),
        };
        given::<RoleCatalogAggregate>([])
            .when(RoleCatalogCommand::Seed {
                seed: seed(),
                at: at(),
            })
            .then([seeded.clone()]);
        // Seeded, configuration no longer matters.
        given::<RoleCatalogAggregate>([seeded.clone()])
            .when(RoleCatalogCommand::Seed {
                seed: BTreeMap::new(),
                at: at(),
            })
            .then([]);
        let catalog = given::<RoleCatalogAggregate>([])
            .when(RoleCatalogCommand::Define {
                role: role("student"),
                definition: student(),
                seed: seed(),
                at: at(),
            })
            .then([
                seeded,
                RoleCatalogEvent::RoleDefined {
                    role: role("student"),
                    definition: student(),
                    at: at(),
                },
            ]);
        assert_eq!(catalog.active[&role("student")], student());
        assert!(catalog.active.contains_key(&role("COACH")));
    }

    #[test]
    fn roles_are_defined_changed_and_retired_but_built_in_ones_stay() {
        let seeded = RoleCatalogEvent::RolesSeeded {
            roles: seed(),
            at: at(),
        };
        given::<RoleCatalogAggregate>([seeded.clone()])
            .when(RoleCatalogCommand::Define {
                role: role("COACH"),
                definition: RoleDefinition::default(),
                seed: BTreeMap::new(),
                at: at(),
            })
            .then_err(RoleCatalogError::AlreadyDefined);
        let coach_with_team = RoleDefinition {
            privileged: false,
            fields: vec![field("team", FieldType::Text, false, &[])],
        };
        given::<RoleCatalogAggregate>([seeded.clone()])
            .when(RoleCatalogCommand::Change {
                role: role("COACH"),
                definition: coach_with_team.clone(),
                seed: BTreeMap::new(),
                at: at(),
            })
            .then([RoleCatalogEvent::RoleChanged {
                role: role("COACH"),
                definition: coach_with_team,
                at: at(),
            }]);
        given::<RoleCatalogAggregate>([seeded.clone()])
            .when(RoleCatalogCommand::Change {
                role: role("auditor"),
                definition: RoleDefinition::default(),
                seed: BTreeMap::new(),
                at: at(),
            })
            .then_err(RoleCatalogError::BuiltIn);
        given::<RoleCatalogAggregate>([seeded.clone()])
            .when(RoleCatalogCommand::Retire {
                role: role("user"),
                seed: BTreeMap::new(),
                at: at(),
            })
            .then_err(RoleCatalogError::BuiltIn);
        let catalog = given::<RoleCatalogAggregate>([seeded.clone()])
            .when(RoleCatalogCommand::Retire {
                role: role("COACH"),
                seed: BTreeMap::new(),
                at: at(),
            })
            .then([RoleCatalogEvent::RoleRetired {
                role: role("COACH"),
                at: at(),
            }]);
        // Retired, it keeps its privilege for those who hold it.
        assert!(catalog.retired[&role("COACH")].privileged);
        given::<RoleCatalogAggregate>([seeded])
            .when(RoleCatalogCommand::Retire {
                role: role("NOBODY"),
                seed: BTreeMap::new(),
                at: at(),
            })
            .then_err(RoleCatalogError::NotDefined);
    }

    #[test]
    fn a_profile_holds_the_fields_of_its_role_and_nothing_else() {
        let values = |pairs: &[(&str, serde_json::Value)]| -> ProfileValues {
            pairs
                .iter()
                .map(|(name, value)| (FieldName::parse(name).expect("field"), value.clone()))
                .collect()
        };
        let profile = student()
            .profile(&values(&[
                ("student_id", serde_json::json!(" S-1024 ")),
                ("department", serde_json::json!("physics")),
                ("year", serde_json::json!(2)),
            ]))
            .expect("valid");
        assert_eq!(
            profile[&FieldName::parse("student_id").expect("field")],
            "S-1024"
        );
        let problems = student()
            .profile(&values(&[
                ("department", serde_json::json!("history")),
                ("year", serde_json::json!("2")),
                ("shoe_size", serde_json::json!(44)),
            ]))
            .expect_err("invalid");
        let named: Vec<&str> = problems.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(named, ["shoe_size", "student_id", "department", "year"]);
        assert!(problems[2].1.contains("physics, chemistry"), "{problems:?}");
        // Optional fields may be left out, or null.
        let staff = RoleDefinition {
            privileged: false,
            fields: vec![
                field("joined", FieldType::Date, false, &[]),
                field("remote", FieldType::Boolean, false, &[]),
            ],
        };
        assert!(
            staff
                .profile(&values(&[("joined", serde_json::Value::Null)]))
                .is_ok()
        );
        assert!(
            staff
                .profile(&values(&[("joined", serde_json::json!("2026-02-30"))]))
                .is_err()
        );
        assert!(
            staff
                .profile(&values(&[("remote", serde_json::json!(true))]))
                .is_ok()
        );
    }

    #[test]
    fn fields_must_make_sense() {
        let seeded = RoleCatalogEvent::RolesSeeded {
            roles: seed(),
            at: at(),
        };
        let refused = |fields: Vec<ProfileField>| {
            RoleCatalogAggregate::decide(
                &RoleCatalogAggregate::fold(std::slice::from_ref(&seeded)),
                RoleCatalogCommand::Define {
                    role: role("staff"),
                    definition: RoleDefinition {
                        privileged: false,
                        fields,
                    },
                    seed: BTreeMap::new(),
                    at: at(),
                },
            )
        };
        for fields in [
            vec![
                field("department", FieldType::Text, true, &[]),
                field("department", FieldType::Integer, false, &[]),
            ],
            vec![field("active", FieldType::Boolean, false, &["true"])],
            vec![field("year", FieldType::Integer, false, &["first"])],
            // A profile's integer is spelled `2`: `02` could never be set.
            vec![field("year", FieldType::Integer, false, &["02", "+3"])],
            vec![field("grade", FieldType::Text, false, &["A", "A"])],
            vec![field("grade", FieldType::Text, false, &[" A"])],
        ] {
            assert!(
                matches!(
                    refused(fields.clone()),
                    Err(RoleCatalogError::InvalidFields(_))
                ),
                "{fields:?}"
            );
        }
        assert!(refused(vec![field("position", FieldType::Text, true, &[])]).is_ok());
    }
}
