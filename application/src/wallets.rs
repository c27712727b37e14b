//! Users' wallets ([`domain::wallet`]): the person and readers read a wallet and its history
//! (from the log); administrators credit, debit, freeze and unfreeze, never their own. Every
//! credit and debit carries a reason and an idempotency key, so a retried request moves credits
//! once. Wallets are opened by the wallet worker when a user registers or is created.

use crate::authority::Authority;
use crate::policy::{Operation, Target};
use crate::users::Read;
use crate::views::{UserView, WalletSummary};
use crate::{App, AppError, RequestContext};
use commands::{CommandContext, CommandError};
use domain::values::Reason;
use domain::wallet::{Wallet, WalletAggregate, WalletCommand, WalletEvent, wallet_stream};
use domain::{Timestamp, UserId};
use eventstore::IdempotencyKey;

/// The most history entries one page holds.
pub const MAX_HISTORY_PAGE: usize = 200;

/// What administrators do to a wallet.
#[derive(Debug, Clone)]
pub enum WalletChange {
    /// Add credits.
    Credit {
        /// How many.
        amount: u64,
        /// Why.
        reason: Reason,
    },
    /// Take credits.
    Debit {
        /// How many.
        amount: u64,
        /// Why.
        reason: Reason,
    },
    /// Stop credits and debits.
    Freeze {
        /// Why.
        reason: Reason,
    },
    /// Allow them again.
    Unfreeze,
}

impl WalletChange {
    /// The idempotency key of this change to `user_id`'s wallet under the caller's `key`
    /// (the command line's option, a page form's hidden field), bound to what it asks: the
    /// same key with another user, amount or reason is refused rather than answered with the
    /// first result. REST binds its keys to the request instead.
    pub fn keyed(&self, user_id: UserId, key: &str) -> Result<IdempotencyKey, AppError> {
        use sha2::Digest;
        let key = IdempotencyKey::client_key(key).ok_or(AppError::Malformed(
            "an idempotency key is 1 to 255 visible ASCII characters",
        ))?;
        let asked = match self {
            Self::Credit { amount, reason } => format!("credit\u{1f}{amount}\u{1f}{reason}"),
            Self::Debit { amount, reason } => format!("debit\u{1f}{amount}\u{1f}{reason}"),
            Self::Freeze { reason } => format!("freeze\u{1f}{reason}"),
            Self::Unfreeze => "unfreeze".to_owned(),
        };
        let mut digest = sha2::Sha256::new();
        digest.update(format!("wallet\u{1f}{user_id}\u{1f}{asked}"));
        Ok(IdempotencyKey {
            key: key.to_owned(),
            fingerprint: digest.finalize().into(),
        })
    }
}

/// A wallet, with its stream's version.
#[derive(Debug, Clone)]
pub struct WalletView {
    /// The wallet.
    pub wallet: Wallet,
    /// Its stream's version.
    pub version: u64,
    /// The log position of the change just made (`None`: nothing changed, or a read).
    pub position: Option<u64>,
    /// True when an idempotency key replayed an earlier change.
    pub replayed: bool,
}

/// One entry of a wallet's history.
#[derive(Debug, Clone)]
pub struct WalletEntry {
    /// The stream version it made (a page cursor).
    pub version: u64,
    /// Its log position.
    pub position: u64,
    /// When it was recorded.
    pub recorded_at: Timestamp,
    /// Who did it (an actor id), if anyone in particular.
    pub actor: Option<String>,
    /// What happened.
    pub event: WalletEvent,
}

impl App {
    /// `user_id`'s wallet, if the policy lets `who` read it and it is open (`None`: not yet).
    #[tracing::instrument(skip(self, who))]
    pub async fn wallet(
        &self,
        who: &Authority,
        user_id: UserId,
    ) -> Result<Option<WalletView>, AppError> {
        self.may_read_person(who, user_id, Operation::ReadWallet)
            .await?;
        self.wallet_of(user_id).await
    }

    /// `user`'s wallet for a view of them, when it is open and the policy lets `who` read it.
    pub async fn wallet_summary(
        &self,
        who: &Authority,
        user: &domain::user::User,
    ) -> Result<Option<WalletSummary>, AppError> {
        let person = who.person(self, user).await?;
        if !who.allows(Operation::ReadWallet, Target::Person(&person)) {
            return Ok(None);
        }
        Ok(self.wallet_of(user.id).await?.map(|view| WalletSummary {
            balance: view.wallet.balance,
            status: view.wallet.status,
        }))
    }

    /// `user` as `who` may see them now: with the wallet and the role profiles where the
    /// policy lets `who` read them.
    pub async fn user_view(
        &self,
        who: &Authority,
        user: &domain::user::User,
    ) -> Result<UserView, AppError> {
        let view = UserView::new(user, chrono::Utc::now())
            .with_wallet(self.wallet_summary(who, user).await?);
        let person = who.person(self, user).await?;
        Ok(
            if who.allows(Operation::ReadRoleProfile, Target::Person(&person)) {
                view
            } else {
                view.without_role_profiles()
            },
        )
    }

    /// `user_id`'s wallet now, for answers that show it (whose reading was authorized
    /// already).
    pub(crate) async fn wallet_of(&self, user_id: UserId) -> Result<Option<WalletView>, AppError> {
        let loaded = self
            .commands
            .current::<WalletAggregate>(&wallet_stream(user_id))
            .await
            .map_err(AppError::internal)?;
        Ok(loaded.state.map(|wallet| WalletView {
            wallet,
            version: loaded.version,
            position: None,
            replayed: false,
        }))
    }

    /// A page of `user_id`'s wallet history from the log, newest first: at most `limit`
    /// entries before stream version `before` (from the newest when `None`).
    #[tracing::instrument(skip(self, who))]
    pub async fn wallet_history(
        &self,
        who: &Authority,
        user_id: UserId,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<WalletEntry>, AppError> {
        self.may_read_person(who, user_id, Operation::ReadWallet)
            .await?;
        if !(1..=MAX_HISTORY_PAGE).contains(&limit) {
            return Err(AppError::InvalidQuery {
                field: "/limit",
                message: format!("1 to {MAX_HISTORY_PAGE}"),
            });
        }
        // The whole stream is folded for each page: wallets' histories are read rarely, and a
        // stream is read in one query.
        let loaded = self
            .commands
            .load::<WalletAggregate>(&wallet_stream(user_id), None)
            .await
            .map_err(AppError::internal)?;
        Ok(loaded
            .history
            .into_iter()
            .rev()
            .filter(|(record, _)| before.is_none_or(|before| record.stream_version < before))
            .take(limit)
            .map(|(record, event)| WalletEntry {
                version: record.stream_version,
                position: record.global_position,
                recorded_at: record.recorded_at,
                actor: record
                    .metadata()
                    .ok()
                    .and_then(|metadata| metadata.actor.id),
                event,
            })
            .collect())
    }

    /// Credits, debits, freezes or unfreezes `user_id`'s wallet, if the policy lets `who`
    /// (administrators, on others' wallets). Credits and debits need `idempotency`: the same
    /// request again is answered with the first result and moves nothing.
    #[tracing::instrument(skip(self, who, context, idempotency))]
    pub async fn change_wallet(
        &self,
        who: &Authority,
        context: &RequestContext,
        user_id: UserId,
        change: WalletChange,
        idempotency: Option<IdempotencyKey>,
    ) -> Result<WalletView, AppError> {
        self.authorized_user(who, user_id, Read::Followed, Operation::ManageWallet)
            .await?;
        let at = chrono::Utc::now();
        let command = match change {
            WalletChange::Credit { amount, reason } => WalletCommand::Credit { amount, reason, at },
            WalletChange::Debit { amount, reason } => WalletCommand::Debit { amount, reason, at },
            WalletChange::Freeze { reason } => WalletCommand::Freeze { reason, at },
            WalletChange::Unfreeze => WalletCommand::Unfreeze { at },
        };
        if matches!(
            command,
            WalletCommand::Credit { .. } | WalletCommand::Debit { .. }
        ) && idempotency.is_none()
        {
            return Err(AppError::IdempotencyKeyRequired);
        }
        let executed = self
            .commands
            .execute::<WalletAggregate>(
                &wallet_stream(user_id),
                command,
                CommandContext {
                    metadata: who.metadata(context, user_id),
                    idempotency,
                    data_subject: Some(user_id.to_string()),
                    ..Default::default()
                },
            )
            .await?;
        let wallet = executed
            .state
            .ok_or(AppError::Wallet(CommandError::Rejected(
                domain::wallet::WalletError::NoWallet,
            )))?;
        Ok(WalletView {
            wallet,
            version: executed.stream_version,
            position: executed.position,
            replayed: executed.replayed,
        })
    }
}
