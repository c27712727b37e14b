-- Workers (storage folders, emails, SMS) follow the log at least once: each keeps the last
-- position it finished, and events that kept failing wait in the dead letters for an operator.
CREATE TABLE worker_checkpoints (
    worker     TEXT PRIMARY KEY,
    position   BIGINT NOT NULL CHECK (position >= 0),
    updated_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE worker_dead_letters (
    id          BIGSERIAL PRIMARY KEY,
    worker      TEXT NOT NULL,
    position    BIGINT NOT NULL,
    event_id    TEXT NOT NULL,
    event_type  TEXT NOT NULL,
    stream_id   TEXT NOT NULL,
    error       TEXT NOT NULL,
    attempts    INTEGER NOT NULL,
    failed_at   TIMESTAMPTZ NOT NULL,
    -- `retried` once an operator's retry succeeded.
    resolution  TEXT,
    resolved_at TIMESTAMPTZ
);
CREATE INDEX worker_dead_letters_open ON worker_dead_letters (worker, id) WHERE resolution IS NULL;
