-- The projector's bookkeeping. Read-model tables themselves are created by the projector (in the
-- idlog_read schema, one set per generation), and analysts read them through stable views in
-- the analytics schema.
CREATE SCHEMA IF NOT EXISTS idlog_read;
CREATE SCHEMA IF NOT EXISTS analytics;

-- One row per projection (`users`), per rebuild in progress (`users@rebuild`) and per past view
-- (`users@as_of`): the last position applied, moved in the same transaction as the writes.
CREATE TABLE projection_checkpoints (
    name        TEXT PRIMARY KEY,
    position    BIGINT NOT NULL CHECK (position >= 0),
    generation  TEXT NOT NULL,
    -- Fingerprint of the table definitions the generation was built with; a new one rebuilds.
    schema      TEXT NOT NULL,
    -- Set when an event kept failing: the projection waits here for an operator.
    stopped_at  BIGINT,
    -- For past views: the time they were rebuilt up to, if asked by time.
    until_time  TIMESTAMPTZ,
    updated_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE projection_dead_letters (
    id          BIGSERIAL PRIMARY KEY,
    projection  TEXT NOT NULL,
    position    BIGINT NOT NULL,
    event_id    TEXT NOT NULL,
    event_type  TEXT NOT NULL,
    error       TEXT NOT NULL,
    attempts    INTEGER NOT NULL,
    failed_at   TIMESTAMPTZ NOT NULL,
    -- `retried` or `skipped`, by an operator.
    resolution  TEXT,
    resolved_at TIMESTAMPTZ
);
CREATE INDEX projection_dead_letters_open ON projection_dead_letters (projection, position) WHERE resolution IS NULL;
