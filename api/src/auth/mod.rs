//! Who calls: the bearer token of a request, checked by the application into a
//! [`application::authentication::CurrentSession`] and a [`application::authentication::Caller`].

pub mod current;
