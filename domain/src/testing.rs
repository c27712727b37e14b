//! Given/when/then for aggregates: `given::<User>(history).when(command).then(events)`.

use crate::{Aggregate, DomainEvent};

/// Starts a scenario from a history of events.
pub fn given<A: Aggregate>(history: impl IntoIterator<Item = A::Event>) -> Given<A> {
    Given {
        state: history
            .into_iter()
            .fold(A::State::default(), |state, event| A::evolve(state, &event)),
    }
}

/// A scenario's starting state.
pub struct Given<A: Aggregate> {
    state: A::State,
}

impl<A: Aggregate> Given<A> {
    /// Decides `command` against the state.
    pub fn when(self, command: A::Command) -> Then<A> {
        let outcome = A::decide(&self.state, command);
        Then {
            state: self.state,
            outcome,
        }
    }
}

/// A decision, ready to be checked.
pub struct Then<A: Aggregate> {
    state: A::State,
    outcome: Result<Vec<A::Event>, A::Error>,
}

impl<A: Aggregate> Then<A> {
    /// Asserts the command was accepted with exactly these events; returns the state after them.
    #[track_caller]
    pub fn then(self, expected: impl IntoIterator<Item = A::Event>) -> A::State {
        let expected: Vec<A::Event> = expected.into_iter().collect();
        match self.outcome {
            Ok(events) => {
                assert_eq!(events, expected, "unexpected events");
                events.iter().fold(self.state, A::evolve)
            }
            Err(error) => panic!("expected events {expected:?}, the command was refused: {error}"),
        }
    }

    /// Asserts the command was refused with `expected`.
    #[track_caller]
    pub fn then_err(self, expected: A::Error) {
        match self.outcome {
            Ok(events) => panic!("expected refusal {expected}, got events {events:?}"),
            Err(error) => assert_eq!(error, expected),
        }
    }

    /// The raw outcome, for checks that need more than equality.
    pub fn outcome(self) -> Result<Vec<A::Event>, A::Error> {
        self.outcome
    }
}

/// Asserts that every name of an event type enum (`T`, the twin of `E` that
/// [`strum::EnumDiscriminants`] derives) is the name events of `E` are stored and read by:
/// `as_str`, `Into<&str>`, `Display` and `FromStr` agree, and `E`'s serde tag knows it.
#[track_caller]
pub fn assert_event_type_names<E, T>(as_str: fn(T) -> &'static str)
where
    E: DomainEvent,
    T: strum::IntoEnumIterator
        + Copy
        + std::fmt::Debug
        + std::fmt::Display
        + PartialEq
        + std::str::FromStr
        + Into<&'static str>,
{
    let unknown_name = |read: Result<E, serde_json::Error>| {
        read.is_err_and(|error| error.to_string().contains("unknown variant"))
    };
    // A name that is no event's, to show the check below can fail.
    assert!(unknown_name(E::from_payload(
        "NoSuchEvent",
        serde_json::json!({})
    )));
    for event_type in T::iter() {
        let name = as_str(event_type);
        assert_eq!(event_type.into(), name);
        assert_eq!(event_type.to_string(), name);
        assert!(
            name.parse::<T>().ok() == Some(event_type),
            "{name} does not parse back"
        );
        // The payload is empty, so the event may not read: but not for want of its name.
        assert!(
            !unknown_name(E::from_payload(name, serde_json::json!({}))),
            "{name} is not a stored event type"
        );
    }
}
