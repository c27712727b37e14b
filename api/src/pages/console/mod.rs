//! The console: administrators, organization admins, analysts and auditors at work. Each
//! section asks the policy through the same use cases as REST, so a role sees here exactly what
//! it may read there; a link the caller may not follow is not shown.

pub mod users;
