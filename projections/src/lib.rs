//! idlog's read side: the projector (checkpoints, batching, rebuild) and the read models with
//! their queries (users, sessions, activity log, analytics).
//!
//! Not built yet: it arrives with the projections issue. The event log it will fold
//! (`eventstore::EventLog::subscribe`, gap-free positions in commit order) is in place.
