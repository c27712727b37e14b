//! Single-use secrets sent to people: minted from the token key in the `commands` crate, where
//! the workers that put them into messages find them too.

pub use commands::tokens::{TokenMinter, TokenPurpose, hash_token};
