//! The application layer: use cases and the policy that authorizes them.
//!
//! Every front end (REST handlers, web pages, the command line) builds an [`policy::Actor`] for
//! whoever asks and calls the same use cases, which ask [`policy::authorize`] before acting, so
//! a rule is written once.

pub mod policy;
