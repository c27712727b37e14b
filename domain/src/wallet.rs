//! A user's wallet: a balance in credits that never goes below zero, credited and debited with
//! a reason, and frozen (no credits, no debits) or active. Every user gets one, opened as a
//! reaction to their registration or creation; it is a stream of its own, so a busy wallet
//! never holds up its user's account.

use crate::values::Reason;
use crate::{Aggregate, DomainEvent, Timestamp, UserId};
use serde::{Deserialize, Serialize};

/// The most credits one credit or debit moves.
pub const MAX_AMOUNT: u64 = 1_000_000_000;

/// The most credits a wallet holds.
pub const MAX_BALANCE: u64 = 1_000_000_000_000;

/// The stream of `user`'s wallet.
pub fn wallet_stream(user: UserId) -> String {
    format!("wallet-{user}")
}

/// Whether a wallet takes credits and debits.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, strum::Display, Default,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum WalletStatus {
    /// It does.
    #[default]
    Active,
    /// It does not, until unfrozen.
    Frozen,
}

/// An open wallet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wallet {
    /// Whose.
    pub user_id: UserId,
    /// Credits in it.
    pub balance: u64,
    /// Active or frozen.
    pub status: WalletStatus,
    /// When it was opened.
    pub opened_at: Timestamp,
}

/// What can be asked of a wallet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WalletCommand {
    /// Opens the user's wallet; nothing happens if it is open already.
    Open {
        /// Whose.
        user_id: UserId,
        /// When.
        at: Timestamp,
    },
    /// Adds credits.
    Credit {
        /// How many (1 to [`MAX_AMOUNT`]).
        amount: u64,
        /// Why.
        reason: Reason,
        /// When.
        at: Timestamp,
    },
    /// Takes credits, if the balance holds them.
    Debit {
        /// How many (1 to [`MAX_AMOUNT`]).
        amount: u64,
        /// Why.
        reason: Reason,
        /// When.
        at: Timestamp,
    },
    /// Freezes the wallet; nothing happens if it is frozen already.
    Freeze {
        /// Why.
        reason: Reason,
        /// When.
        at: Timestamp,
    },
    /// Makes a frozen wallet active again; nothing happens if it is active.
    Unfreeze {
        /// When.
        at: Timestamp,
    },
}

/// What happened to a wallet. Credits and debits carry the balance they left.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
#[expect(missing_docs, reason = "event fields are named after what they hold")]
pub enum WalletEvent {
    /// The wallet was opened, empty and active.
    WalletOpened { user_id: UserId, at: Timestamp },
    /// Credits were added.
    WalletCredited {
        amount: u64,
        balance: u64,
        reason: Reason,
        at: Timestamp,
    },
    /// Credits were taken.
    WalletDebited {
        amount: u64,
        balance: u64,
        reason: Reason,
        at: Timestamp,
    },
    /// The wallet was frozen.
    WalletFrozen { reason: Reason, at: Timestamp },
    /// The wallet was made active again.
    WalletUnfrozen { at: Timestamp },
}

impl WalletEvent {
    /// A credit's or debit's amount and the balance it left.
    pub fn moved(&self) -> Option<(u64, u64)> {
        match self {
            Self::WalletCredited {
                amount, balance, ..
            }
            | Self::WalletDebited {
                amount, balance, ..
            } => Some((*amount, *balance)),
            Self::WalletOpened { .. } | Self::WalletFrozen { .. } | Self::WalletUnfrozen { .. } => {
                None
            }
        }
    }

    /// The reason a credit, debit or freeze was given.
    pub fn reason(&self) -> Option<&Reason> {
        match self {
            Self::WalletCredited { reason, .. }
            | Self::WalletDebited { reason, .. }
            | Self::WalletFrozen { reason, .. } => Some(reason),
            Self::WalletOpened { .. } | Self::WalletUnfrozen { .. } => None,
        }
    }
}

impl DomainEvent for WalletEvent {
    fn event_type(&self) -> &'static str {
        match self {
            Self::WalletOpened { .. } => "WalletOpened",
            Self::WalletCredited { .. } => "WalletCredited",
            Self::WalletDebited { .. } => "WalletDebited",
            Self::WalletFrozen { .. } => "WalletFrozen",
            Self::WalletUnfrozen { .. } => "WalletUnfrozen",
        }
    }

    fn personal_fields(&self) -> &'static [&'static str] {
        &[]
    }
}

/// Why a wallet refused a command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WalletError {
    /// The user has no wallet (yet).
    #[error("the user has no wallet yet")]
    NoWallet,
    /// The amount is 0 or more than [`MAX_AMOUNT`].
    #[error("the amount is a whole number of credits from 1 to {MAX_AMOUNT}")]
    InvalidAmount,
    /// The balance does not hold the debit.
    #[error("insufficient funds: the balance is {balance} credits")]
    InsufficientFunds {
        /// The balance.
        balance: u64,
    },
    /// The credit would take the balance over [`MAX_BALANCE`].
    #[error("the balance would exceed {MAX_BALANCE} credits")]
    BalanceLimit,
    /// The wallet is frozen.
    #[error("the wallet is frozen")]
    Frozen,
}

/// The wallet aggregate: `None` until opened.
#[derive(Debug, Clone, Copy)]
pub struct WalletAggregate;

impl Aggregate for WalletAggregate {
    const STREAM_TYPE: &'static str = "wallet";
    type State = Option<Wallet>;
    type Command = WalletCommand;
    type Event = WalletEvent;
    type Error = WalletError;

    fn decide(
        state: &Option<Wallet>,
        command: WalletCommand,
    ) -> Result<Vec<WalletEvent>, WalletError> {
        if let WalletCommand::Open { user_id, at } = command {
            return Ok(match state {
                Some(_) => Vec::new(),
                None => vec![WalletEvent::WalletOpened { user_id, at }],
            });
        }
        let wallet = state.as_ref().ok_or(WalletError::NoWallet)?;
        let movable = |amount: u64| {
            if (1..=MAX_AMOUNT).contains(&amount) {
                Ok(amount)
            } else {
                Err(WalletError::InvalidAmount)
            }
        };
        let active = || match wallet.status {
            WalletStatus::Active => Ok(()),
            WalletStatus::Frozen => Err(WalletError::Frozen),
        };
        Ok(match command {
            WalletCommand::Open { .. } => Vec::new(),
            WalletCommand::Credit { amount, reason, at } => {
                let amount = movable(amount)?;
                active()?;
                let balance = wallet
                    .balance
                    .checked_add(amount)
                    .filter(|balance| *balance <= MAX_BALANCE)
                    .ok_or(WalletError::BalanceLimit)?;
                vec![WalletEvent::WalletCredited {
                    amount,
                    balance,
                    reason,
                    at,
                }]
            }
            WalletCommand::Debit { amount, reason, at } => {
                let amount = movable(amount)?;
                active()?;
                let balance =
                    wallet
                        .balance
                        .checked_sub(amount)
                        .ok_or(WalletError::InsufficientFunds {
                            balance: wallet.balance,
                        })?;
                vec![WalletEvent::WalletDebited {
                    amount,
                    balance,
                    reason,
                    at,
                }]
            }
            WalletCommand::Freeze { reason, at } => match wallet.status {
                WalletStatus::Frozen => Vec::new(),
                WalletStatus::Active => vec![WalletEvent::WalletFrozen { reason, at }],
            },
            WalletCommand::Unfreeze { at } => match wallet.status {
                WalletStatus::Active => Vec::new(),
                WalletStatus::Frozen => vec![WalletEvent::WalletUnfrozen { at }],
            },
        })
    }

    fn evolve(state: Option<Wallet>, event: &WalletEvent) -> Option<Wallet> {
        if let WalletEvent::WalletOpened { user_id, at } = event {
            return Some(state.unwrap_or(Wallet {
                user_id: *user_id,
                balance: 0,
                status: WalletStatus::Active,
                opened_at: *at,
            }));
        }
        let mut wallet = state?;
        match event {
            WalletEvent::WalletOpened { .. } => {}
            WalletEvent::WalletCredited { balance, .. }
            | WalletEvent::WalletDebited { balance, .. } => wallet.balance = *balance,
            WalletEvent::WalletFrozen { .. } => wallet.status = WalletStatus::Frozen,
            WalletEvent::WalletUnfrozen { .. } => wallet.status = WalletStatus::Active,
        }
        Some(wallet)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::given;

    fn at() -> Timestamp {
        chrono::DateTime::UNIX_EPOCH
    }

    fn user() -> UserId {
        UserId::from_uuid(uuid::Uuid::from_u128(7))
    }

    fn reason() -> Reason {
        Reason::parse("top-up").expect("reason")
    }

    fn opened() -> WalletEvent {
        WalletEvent::WalletOpened {
            user_id: user(),
            at: at(),
        }
    }

    fn credited(amount: u64, balance: u64) -> WalletEvent {
        WalletEvent::WalletCredited {
            amount,
            balance,
            reason: reason(),
            at: at(),
        }
    }

    fn debit(amount: u64) -> WalletCommand {
        WalletCommand::Debit {
            amount,
            reason: reason(),
            at: at(),
        }
    }

    #[test]
    fn a_wallet_opens_once() {
        let open = WalletCommand::Open {
            user_id: user(),
            at: at(),
        };
        let wallet = given::<WalletAggregate>([])
            .when(open.clone())
            .then([opened()])
            .expect("open");
        assert_eq!((wallet.balance, wallet.status), (0, WalletStatus::Active));
        given::<WalletAggregate>([opened()]).when(open).then([]);
        given::<WalletAggregate>([])
            .when(debit(1))
            .then_err(WalletError::NoWallet);
    }

    #[test]
    fn the_balance_never_goes_below_zero() {
        let wallet = given::<WalletAggregate>([opened(), credited(50, 50)])
            .when(debit(20))
            .then([WalletEvent::WalletDebited {
                amount: 20,
                balance: 30,
                reason: reason(),
                at: at(),
            }])
            .expect("open");
        assert_eq!(wallet.balance, 30);
        given::<WalletAggregate>([opened(), credited(50, 50)])
            .when(debit(51))
            .then_err(WalletError::InsufficientFunds { balance: 50 });
        given::<WalletAggregate>([opened()])
            .when(debit(0))
            .then_err(WalletError::InvalidAmount);
        given::<WalletAggregate>([opened()])
            .when(debit(MAX_AMOUNT + 1))
            .then_err(WalletError::InvalidAmount);
        given::<WalletAggregate>([opened(), credited(MAX_AMOUNT, MAX_BALANCE)])
            .when(WalletCommand::Credit {
                amount: 1,
                reason: reason(),
                at: at(),
            })
            .then_err(WalletError::BalanceLimit);
    }

    #[test]
    fn a_frozen_wallet_moves_nothing_until_unfrozen() {
        let frozen = WalletEvent::WalletFrozen {
            reason: reason(),
            at: at(),
        };
        given::<WalletAggregate>([opened(), credited(5, 5), frozen.clone()])
            .when(debit(1))
            .then_err(WalletError::Frozen);
        given::<WalletAggregate>([opened(), frozen.clone()])
            .when(WalletCommand::Freeze {
                reason: reason(),
                at: at(),
            })
            .then([]);
        let wallet = given::<WalletAggregate>([opened(), credited(5, 5), frozen])
            .when(WalletCommand::Unfreeze { at: at() })
            .then([WalletEvent::WalletUnfrozen { at: at() }])
            .expect("open");
        assert_eq!((wallet.balance, wallet.status), (5, WalletStatus::Active));
    }
}
