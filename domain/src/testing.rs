//! Given/when/then for aggregates: `given::<User>(history).when(command).then(events)`.

use crate::Aggregate;

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
