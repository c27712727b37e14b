//! idlog's workers: reactions to events (the user's object-storage folders, emails, SMS codes),
//! fed by an in-process subscription on the log or by Kafka.
//!
//! Not built yet: it arrives with the workers issue. The subscription it will consume
//! (`eventstore::EventLog::subscribe`) is in place.
