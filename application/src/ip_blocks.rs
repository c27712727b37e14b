//! The IP block list ([`domain::ip_block`]): administrators block and unblock addresses and
//! ranges; readers read the list. Sign-up, sign-in, refresh and password reset refuse a request
//! from a blocked address before doing anything else.

use crate::authority::Authority;
use crate::policy::{Operation, Target};
use crate::{App, AppError, RequestContext, Resource};
use commands::CommandContext;
use domain::Timestamp;
use domain::ip_block::{IP_BLOCKS_STREAM, IpBlockAggregate, IpBlockCommand, IpBlockList};
use domain::values::Reason;
use ipnet::IpNet;
use std::net::IpAddr;

impl App {
    /// Refuses a request from an address blocked now. A request of no known address (the
    /// command line) is not refused.
    pub async fn refuse_blocked_address(&self, context: &RequestContext) -> Result<(), AppError> {
        let Some(address) = context
            .ip
            .as_deref()
            .and_then(|ip| ip.parse::<IpAddr>().ok())
        else {
            return Ok(());
        };
        // From memory while this process has seen every change of the list (even while there
        // is no list).
        let list = self
            .commands
            .followed_singleton::<IpBlockAggregate>(IP_BLOCKS_STREAM)
            .await
            .map_err(AppError::internal)?;
        match list.state.blocking(address, chrono::Utc::now()) {
            Some((network, _)) => {
                tracing::info!(%network, "request from a blocked address refused");
                Err(AppError::AddressBlocked)
            }
            None => Ok(()),
        }
    }

    /// The block list, expired blocks included, if the policy lets `who` read it
    /// (administrators and readers).
    #[tracing::instrument(skip_all)]
    pub async fn ip_blocks(&self, who: &Authority) -> Result<IpBlockList, AppError> {
        who.require(
            Operation::ReadIpBlocks,
            Target::Everything,
            Resource::Anything,
        )?;
        let list = self
            .commands
            .current::<IpBlockAggregate>(IP_BLOCKS_STREAM)
            .await
            .map_err(AppError::internal)?;
        Ok(list.state)
    }

    /// Blocks `network` (or changes its block's reason and expiry), if the policy lets `who`
    /// (administrators); answers the log position (`None`: it was blocked so already).
    #[tracing::instrument(skip(self, who, context, reason))]
    pub async fn block_network(
        &self,
        who: &Authority,
        context: &RequestContext,
        network: IpNet,
        reason: Reason,
        expires_at: Option<Timestamp>,
    ) -> Result<Option<u64>, AppError> {
        let command = IpBlockCommand::Block {
            network,
            reason,
            expires_at,
            at: chrono::Utc::now(),
        };
        self.change_ip_blocks(who, context, command).await
    }

    /// Lifts the block of `network`, if the policy lets `who` (administrators).
    #[tracing::instrument(skip(self, who, context))]
    pub async fn unblock_network(
        &self,
        who: &Authority,
        context: &RequestContext,
        network: IpNet,
    ) -> Result<Option<u64>, AppError> {
        let command = IpBlockCommand::Unblock {
            network,
            at: chrono::Utc::now(),
        };
        self.change_ip_blocks(who, context, command).await
    }

    async fn change_ip_blocks(
        &self,
        who: &Authority,
        context: &RequestContext,
        command: IpBlockCommand,
    ) -> Result<Option<u64>, AppError> {
        who.require(
            Operation::ManageIpBlocks,
            Target::Everything,
            Resource::Anything,
        )?;
        let executed = self
            .commands
            .execute::<IpBlockAggregate>(
                IP_BLOCKS_STREAM,
                command,
                CommandContext {
                    metadata: who.acting(context),
                    ..Default::default()
                },
            )
            .await?;
        Ok(executed.position)
    }
}
