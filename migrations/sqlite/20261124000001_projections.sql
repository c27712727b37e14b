-- The projector's bookkeeping. Read-model tables themselves are created by the projector
-- (`rm_<table>_<generation>`), and read through stable views (`analytics_<table>`).

-- One row per projection (`users`), per rebuild in progress (`users@rebuild`) and per past view
-- (`users@as_of`): the last position applied, moved in the same transaction as the writes.
CREATE TABLE projection_checkpoints (
    name        TEXT PRIMARY KEY,
    position    INTEGER NOT NULL CHECK (position >= 0),
    generation  TEXT NOT NULL,
    -- Fingerprint of the table definitions the generation was built with; a new one rebuilds.
    schema      TEXT NOT NULL,
    -- Set when an event kept failing: the projection waits here for an operator.
    stopped_at  INTEGER,
    -- For past views: the time they were rebuilt up to, if asked by time.
    until_time  TEXT,
    updated_at  TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE projection_dead_letters (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    projection  TEXT NOT NULL,
    position    INTEGER NOT NULL,
    event_id    TEXT NOT NULL,
    event_type  TEXT NOT NULL,
    error       TEXT NOT NULL,
    attempts    INTEGER NOT NULL,
    failed_at   TEXT NOT NULL,
    -- `retried` or `skipped`, by an operator.
    resolution  TEXT,
    resolved_at TEXT
);
CREATE INDEX projection_dead_letters_open ON projection_dead_letters (projection, position) WHERE resolution IS NULL;
