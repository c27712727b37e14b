//! Addresses and ranges administrators block: requests from them may not sign up, sign in,
//! refresh a session or reset a password. The list is one stream; a block carries a reason and
//! may expire.

use crate::values::Reason;
use crate::{Aggregate, DomainEvent, Timestamp};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

/// The one stream the block list is.
pub const IP_BLOCKS_STREAM: &str = "ip-blocks";

/// The most blocks the list holds at once: every sign-in is checked against all of them.
pub const MAX_IP_BLOCKS: usize = 10_000;

/// Reads an address (`192.0.2.7`, `2001:db8::1`) or a range in CIDR notation
/// (`192.0.2.0/24`) as the network it names, host bits cleared, so one range has one spelling.
/// An IPv4 address written as IPv6 (`::ffff:192.0.2.7`) is the IPv4 address.
pub fn parse_network(text: &str) -> Option<IpNet> {
    let text = text.trim();
    if let Ok(address) = text.parse::<IpAddr>() {
        return Some(IpNet::from(address.to_canonical()));
    }
    let network = text.parse::<IpNet>().ok()?.trunc();
    Some(match network {
        IpNet::V6(v6) => match (v6.addr().to_ipv4_mapped(), v6.prefix_len()) {
            (Some(v4), prefix) if prefix >= 96 => {
                IpNet::new(IpAddr::V4(v4), prefix - 96).map_or(network, |net| net.trunc())
            }
            _ => network,
        },
        IpNet::V4(_) => network,
    })
}

/// One block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpBlock {
    /// Why (for administrators; never shown to whoever is refused).
    pub reason: Reason,
    /// When it was made or last changed.
    pub blocked_at: Timestamp,
    /// When it stops refusing, if ever.
    pub expires_at: Option<Timestamp>,
}

impl IpBlock {
    /// Whether it refuses requests at `now`.
    pub fn in_force(&self, now: Timestamp) -> bool {
        self.expires_at.is_none_or(|expiry| now < expiry)
    }
}

/// The block list as folded from its stream. Expired blocks stay listed until unblocked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpBlockList {
    /// Each blocked network with its block. Shared: every sign-in reads the list, and a copy
    /// of it (from the cache of folded states) is then a reference count, not 10,000 blocks.
    pub blocks: Arc<BTreeMap<IpNet, IpBlock>>,
}

impl IpBlockList {
    /// The block in force at `now` that covers `address`, if any (the narrowest, when ranges
    /// overlap).
    pub fn blocking(&self, address: IpAddr, now: Timestamp) -> Option<(&IpNet, &IpBlock)> {
        let address = address.to_canonical();
        self.blocks
            .iter()
            .filter(|(network, block)| network.contains(&address) && block.in_force(now))
            .max_by_key(|(network, _)| network.prefix_len())
    }
}

/// What can be asked of the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IpBlockCommand {
    /// Blocks a network, or changes the reason or expiry of its block.
    Block {
        /// The network (see [`parse_network`]).
        network: IpNet,
        /// Why.
        reason: Reason,
        /// When it ends, if ever.
        expires_at: Option<Timestamp>,
        /// When.
        at: Timestamp,
    },
    /// Lifts the block of a network (in force or expired).
    Unblock {
        /// The network, as blocked.
        network: IpNet,
        /// When.
        at: Timestamp,
    },
}

/// What happened to the list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
#[expect(missing_docs, reason = "event fields are named after what they hold")]
pub enum IpBlockEvent {
    /// A network was blocked, or its block changed.
    IpBlocked {
        network: IpNet,
        reason: Reason,
        expires_at: Option<Timestamp>,
        at: Timestamp,
    },
    /// A network's block was lifted.
    IpUnblocked { network: IpNet, at: Timestamp },
}

impl DomainEvent for IpBlockEvent {
    fn event_type(&self) -> &'static str {
        match self {
            Self::IpBlocked { .. } => "IpBlocked",
            Self::IpUnblocked { .. } => "IpUnblocked",
        }
    }

    fn personal_fields(&self) -> &'static [&'static str] {
        &[]
    }
}

/// Why the list refused a change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IpBlockError {
    /// The expiry is not in the future.
    #[error("the expiry is not in the future")]
    ExpiryPassed,
    /// The list holds [`MAX_IP_BLOCKS`] already.
    #[error("the list holds {MAX_IP_BLOCKS} blocks already; lift some first")]
    ListFull,
    /// The network is not blocked.
    #[error("the address or range is not blocked")]
    NotBlocked,
}

/// The block list aggregate.
#[derive(Debug, Clone, Copy)]
pub struct IpBlockAggregate;

impl Aggregate for IpBlockAggregate {
    const STREAM_TYPE: &'static str = "ip-blocks";
    type State = IpBlockList;
    type Command = IpBlockCommand;
    type Event = IpBlockEvent;
    type Error = IpBlockError;

    fn decide(
        state: &IpBlockList,
        command: IpBlockCommand,
    ) -> Result<Vec<IpBlockEvent>, IpBlockError> {
        match command {
            IpBlockCommand::Block {
                network,
                reason,
                expires_at,
                at,
            } => {
                if expires_at.is_some_and(|expiry| expiry <= at) {
                    return Err(IpBlockError::ExpiryPassed);
                }
                let network = network.trunc();
                match state.blocks.get(&network) {
                    // Asked again: nothing changes (a retry).
                    Some(block) if block.reason == reason && block.expires_at == expires_at => {
                        return Ok(Vec::new());
                    }
                    Some(_) => {}
                    None if state.blocks.len() >= MAX_IP_BLOCKS => {
                        return Err(IpBlockError::ListFull);
                    }
                    None => {}
                }
                Ok(vec![IpBlockEvent::IpBlocked {
                    network,
                    reason,
                    expires_at,
                    at,
                }])
            }
            IpBlockCommand::Unblock { network, at } => {
                let network = network.trunc();
                if !state.blocks.contains_key(&network) {
                    return Err(IpBlockError::NotBlocked);
                }
                Ok(vec![IpBlockEvent::IpUnblocked { network, at }])
            }
        }
    }

    fn evolve(mut state: IpBlockList, event: &IpBlockEvent) -> IpBlockList {
        match event {
            IpBlockEvent::IpBlocked {
                network,
                reason,
                expires_at,
                at,
            } => {
                Arc::make_mut(&mut state.blocks).insert(
                    *network,
                    IpBlock {
                        reason: reason.clone(),
                        blocked_at: *at,
                        expires_at: *expires_at,
                    },
                );
            }
            IpBlockEvent::IpUnblocked { network, .. } => {
                Arc::make_mut(&mut state.blocks).remove(network);
            }
        }
        state
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::given;

    fn at() -> Timestamp {
        chrono::DateTime::UNIX_EPOCH + chrono::TimeDelta::days(20_000)
    }

    fn net(text: &str) -> IpNet {
        parse_network(text).expect("network")
    }

    fn block(network: &str, expires_at: Option<Timestamp>) -> IpBlockCommand {
        IpBlockCommand::Block {
            network: net(network),
            reason: Reason::parse("credential stuffing").expect("reason"),
            expires_at,
            at: at(),
        }
    }

    fn blocked(network: &str, expires_at: Option<Timestamp>) -> IpBlockEvent {
        IpBlockEvent::IpBlocked {
            network: net(network),
            reason: Reason::parse("credential stuffing").expect("reason"),
            expires_at,
            at: at(),
        }
    }

    #[test]
    fn addresses_and_ranges_read_as_one_spelling_each() {
        assert_eq!(net("192.0.2.7").to_string(), "192.0.2.7/32");
        assert_eq!(net(" 192.0.2.7/24 ").to_string(), "192.0.2.0/24");
        assert_eq!(net("::ffff:192.0.2.7").to_string(), "192.0.2.7/32");
        assert_eq!(net("::ffff:192.0.2.0/120").to_string(), "192.0.2.0/24");
        assert_eq!(net("2001:db8::1/32").to_string(), "2001:db8::/32");
        for garbage in [
            "",
            "192.0.2",
            "192.0.2.0/33",
            "example.com",
            "1.2.3.4/",
            "::/129",
        ] {
            assert_eq!(parse_network(garbage), None, "{garbage:?}");
        }
    }

    #[test]
    fn a_block_covers_its_range_until_it_expires_or_is_lifted() {
        let expiry = at() + chrono::TimeDelta::hours(1);
        let list = given::<IpBlockAggregate>([])
            .when(block("198.51.100.0/24", Some(expiry)))
            .then([blocked("198.51.100.0/24", Some(expiry))]);
        let inside: IpAddr = "198.51.100.77".parse().expect("address");
        let mapped: IpAddr = "::ffff:198.51.100.77".parse().expect("address");
        let outside: IpAddr = "198.51.101.1".parse().expect("address");
        assert!(list.blocking(inside, at()).is_some());
        assert!(list.blocking(mapped, at()).is_some());
        assert!(list.blocking(outside, at()).is_none());
        assert!(list.blocking(inside, expiry).is_none(), "expired");
        given::<IpBlockAggregate>([blocked("198.51.100.0/24", Some(expiry))])
            .when(IpBlockCommand::Unblock {
                network: net("198.51.100.9/24"),
                at: at(),
            })
            .then([IpBlockEvent::IpUnblocked {
                network: net("198.51.100.0/24"),
                at: at(),
            }]);
    }

    #[test]
    fn the_narrowest_block_answers_for_an_address() {
        let list =
            IpBlockAggregate::fold(&[blocked("10.0.0.0/8", None), blocked("10.1.2.3", None)]);
        let (network, _) = list
            .blocking("10.1.2.3".parse().expect("address"), at())
            .expect("blocked");
        assert_eq!(network.to_string(), "10.1.2.3/32");
    }

    #[test]
    fn blocking_again_changes_the_block_or_nothing() {
        given::<IpBlockAggregate>([blocked("203.0.113.5", None)])
            .when(block("203.0.113.5", None))
            .then([]);
        let later = at() + chrono::TimeDelta::days(1);
        given::<IpBlockAggregate>([blocked("203.0.113.5", None)])
            .when(block("203.0.113.5/32", Some(later)))
            .then([blocked("203.0.113.5", Some(later))]);
    }

    #[test]
    fn a_block_needs_a_future_expiry_and_room() {
        given::<IpBlockAggregate>([])
            .when(block("203.0.113.5", Some(at())))
            .then_err(IpBlockError::ExpiryPassed);
        given::<IpBlockAggregate>([])
            .when(IpBlockCommand::Unblock {
                network: net("203.0.113.5"),
                at: at(),
            })
            .then_err(IpBlockError::NotBlocked);
        let full = IpBlockList {
            blocks: Arc::new(
                (0..MAX_IP_BLOCKS)
                    .map(|n| {
                        let address = IpAddr::from(u32::try_from(n).expect("small").to_be_bytes());
                        (
                            IpNet::from(address),
                            IpBlock {
                                reason: Reason::parse("r").expect("reason"),
                                blocked_at: at(),
                                expires_at: None,
                            },
                        )
                    })
                    .collect(),
            ),
        };
        assert_eq!(
            IpBlockAggregate::decide(&full, block("203.0.113.5", None)),
            Err(IpBlockError::ListFull)
        );
        // A block already there may still change.
        assert!(
            IpBlockAggregate::decide(
                &full,
                block("0.0.0.1", Some(at() + chrono::TimeDelta::days(1)))
            )
            .is_ok()
        );
    }
}
