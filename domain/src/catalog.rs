//! The catalog of permission flags organization memberships may carry, kept in the log:
//! administrators define flags and retire them. An empty log has no catalog yet: the first
//! change seeds it with the configured flags in the same append, so configuration only ever
//! seeds and the log is the catalog from then on.

use crate::values::Permission;
use crate::{Aggregate, DomainEvent, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// The one stream the catalog is.
pub const PERMISSION_CATALOG_STREAM: &str = "permission-catalog";

/// The catalog as folded from its stream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PermissionCatalog {
    /// Whether the stream has begun (an empty log's catalog is the configured one).
    pub seeded: bool,
    /// The flags memberships may carry now.
    pub active: BTreeSet<Permission>,
    /// Flags defined once and retired since (memberships keep them; none may be granted).
    pub retired: BTreeSet<Permission>,
}

/// What can be asked of the catalog. Each carries the configured flags, which seed it when the
/// log holds no catalog yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CatalogCommand {
    /// Defines a flag (again, if it was retired).
    Define {
        /// The flag.
        flag: Permission,
        /// The configured flags.
        seed: BTreeSet<Permission>,
        /// When.
        at: Timestamp,
    },
    /// Retires a flag: no membership may be given it from now on.
    Retire {
        /// The flag.
        flag: Permission,
        /// The configured flags.
        seed: BTreeSet<Permission>,
        /// When.
        at: Timestamp,
    },
}

/// What happened to the catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
#[expect(missing_docs, reason = "event fields are named after what they hold")]
pub enum CatalogEvent {
    /// The catalog began with the configured flags.
    PermissionsSeeded {
        flags: BTreeSet<Permission>,
        at: Timestamp,
    },
    /// A flag was defined.
    PermissionDefined { flag: Permission, at: Timestamp },
    /// A flag was retired.
    PermissionRetired { flag: Permission, at: Timestamp },
}

impl DomainEvent for CatalogEvent {
    fn event_type(&self) -> &'static str {
        match self {
            Self::PermissionsSeeded { .. } => "PermissionsSeeded",
            Self::PermissionDefined { .. } => "PermissionDefined",
            Self::PermissionRetired { .. } => "PermissionRetired",
        }
    }

    fn personal_fields(&self) -> &'static [&'static str] {
        &[]
    }
}

/// Why the catalog refused a change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogError {
    /// The flag is in the catalog already.
    #[error("the permission flag is defined already")]
    AlreadyDefined,
    /// The flag is not in the catalog (or retired already).
    #[error("no such permission flag in the catalog")]
    NotDefined,
}

impl PermissionCatalog {
    /// The flags memberships may carry: the catalog's, or `seed` while there is none.
    pub fn active_or<'a>(&'a self, seed: &'a BTreeSet<Permission>) -> &'a BTreeSet<Permission> {
        if self.seeded { &self.active } else { seed }
    }
}

/// The permission catalog aggregate.
#[derive(Debug, Clone, Copy)]
pub struct CatalogAggregate;

impl Aggregate for CatalogAggregate {
    const STREAM_TYPE: &'static str = "catalog";
    type State = PermissionCatalog;
    type Command = CatalogCommand;
    type Event = CatalogEvent;
    type Error = CatalogError;

    fn decide(
        state: &PermissionCatalog,
        command: CatalogCommand,
    ) -> Result<Vec<CatalogEvent>, CatalogError> {
        let (seed, at) = match &command {
            CatalogCommand::Define { seed, at, .. } | CatalogCommand::Retire { seed, at, .. } => {
                (seed.clone(), *at)
            }
        };
        let mut events = Vec::new();
        let mut catalog = state.clone();
        if !state.seeded {
            let seeded = CatalogEvent::PermissionsSeeded { flags: seed, at };
            catalog = Self::evolve(catalog, &seeded);
            events.push(seeded);
        }
        match command {
            CatalogCommand::Define { flag, at, .. } => {
                if catalog.active.contains(&flag) {
                    return Err(CatalogError::AlreadyDefined);
                }
                events.push(CatalogEvent::PermissionDefined { flag, at });
            }
            CatalogCommand::Retire { flag, at, .. } => {
                if !catalog.active.contains(&flag) {
                    return Err(CatalogError::NotDefined);
                }
                events.push(CatalogEvent::PermissionRetired { flag, at });
            }
        }
        Ok(events)
    }

    fn evolve(mut state: PermissionCatalog, event: &CatalogEvent) -> PermissionCatalog {
        match event {
            CatalogEvent::PermissionsSeeded { flags, .. } => {
                state.seeded = true;
                state.active.extend(flags.iter().cloned());
            }
            CatalogEvent::PermissionDefined { flag, .. } => {
                state.seeded = true;
                state.retired.remove(flag);
                state.active.insert(flag.clone());
            }
            CatalogEvent::PermissionRetired { flag, .. } => {
                state.active.remove(flag);
                state.retired.insert(flag.clone());
            }
        }
        state
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::given;

    fn flag(name: &str) -> Permission {
        Permission::parse(name).expect("flag")
    }

    fn seed() -> BTreeSet<Permission> {
        [flag("can_view_reports"), flag("can_upload_files")].into()
    }

    fn at() -> Timestamp {
        chrono::DateTime::UNIX_EPOCH
    }

    #[test]
    fn the_first_change_seeds_the_catalog_with_the_configured_flags() {
        given::<CatalogAggregate>([])
            .when(CatalogCommand::Define {
                flag: flag("can_sign_contracts"),
                seed: seed(),
                at: at(),
            })
            .then([
                CatalogEvent::PermissionsSeeded {
                    flags: seed(),
                    at: at(),
                },
                CatalogEvent::PermissionDefined {
                    flag: flag("can_sign_contracts"),
                    at: at(),
                },
            ]);
        // Retiring a configured flag of an empty log seeds, then retires it.
        let events = CatalogAggregate::decide(
            &PermissionCatalog::default(),
            CatalogCommand::Retire {
                flag: flag("can_upload_files"),
                seed: seed(),
                at: at(),
            },
        )
        .expect("retired");
        let catalog = CatalogAggregate::fold(&events);
        assert_eq!(catalog.active, [flag("can_view_reports")].into());
        assert_eq!(catalog.retired, [flag("can_upload_files")].into());
    }

    #[test]
    fn once_seeded_configuration_no_longer_matters_and_flags_come_and_go() {
        let seeded = CatalogEvent::PermissionsSeeded {
            flags: seed(),
            at: at(),
        };
        given::<CatalogAggregate>([seeded.clone()])
            .when(CatalogCommand::Define {
                flag: flag("can_view_reports"),
                seed: BTreeSet::new(),
                at: at(),
            })
            .then_err(CatalogError::AlreadyDefined);
        given::<CatalogAggregate>([seeded.clone()])
            .when(CatalogCommand::Retire {
                flag: flag("can_fly"),
                seed: BTreeSet::new(),
                at: at(),
            })
            .then_err(CatalogError::NotDefined);
        let retired = CatalogEvent::PermissionRetired {
            flag: flag("can_view_reports"),
            at: at(),
        };
        // A retired flag may be defined again.
        given::<CatalogAggregate>([seeded, retired])
            .when(CatalogCommand::Define {
                flag: flag("can_view_reports"),
                seed: BTreeSet::new(),
                at: at(),
            })
            .then([CatalogEvent::PermissionDefined {
                flag: flag("can_view_reports"),
                at: at(),
            }]);
        let empty = PermissionCatalog::default();
        assert_eq!(empty.active_or(&seed()), &seed());
    }
}
