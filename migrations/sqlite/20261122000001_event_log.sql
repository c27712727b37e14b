-- The event log. Appends are serialized (BEGIN IMMEDIATE), so global_position is gap-free and
-- equal to commit order. Times are ISO 8601 UTC text with microseconds; hashes and
-- fingerprints are 32-byte blobs.
CREATE TABLE events (
    global_position INTEGER PRIMARY KEY CHECK (global_position > 0),
    stream_id       TEXT    NOT NULL,
    stream_type     TEXT    NOT NULL,
    stream_version  INTEGER NOT NULL CHECK (stream_version > 0),
    event_id        TEXT    NOT NULL UNIQUE,
    event_type      TEXT    NOT NULL,
    schema_version  INTEGER NOT NULL,
    payload         TEXT    NOT NULL CHECK (json_valid(payload)),
    metadata        TEXT    NOT NULL CHECK (json_valid(metadata)),
    recorded_at     TEXT    NOT NULL,
    prev_hash       BLOB    NOT NULL CHECK (length(prev_hash) = 32),
    hash            BLOB    NOT NULL CHECK (length(hash) = 32),
    UNIQUE (stream_id, stream_version)
);
CREATE INDEX events_type_position ON events (event_type, global_position);
CREATE INDEX events_recorded_at ON events (recorded_at);

-- The log is append-only. (The hash chain still detects edits made by someone who drops these.)
CREATE TRIGGER events_no_update BEFORE UPDATE ON events
BEGIN
    SELECT RAISE(ABORT, 'the event log is append-only: UPDATE on events refused');
END;
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
BEGIN
    SELECT RAISE(ABORT, 'the event log is append-only: DELETE on events refused');
END;

CREATE TABLE unique_claims (
    kind                TEXT    NOT NULL,
    value_hash          BLOB    NOT NULL,
    stream_id           TEXT    NOT NULL,
    claimed_at_position INTEGER NOT NULL,
    PRIMARY KEY (kind, value_hash)
) WITHOUT ROWID;
CREATE INDEX unique_claims_stream ON unique_claims (stream_id);

CREATE TABLE idempotency_keys (
    key            TEXT    PRIMARY KEY,
    fingerprint    BLOB    NOT NULL,
    stream_id      TEXT    NOT NULL,
    stream_version INTEGER NOT NULL,
    first_position INTEGER NOT NULL,
    last_position  INTEGER NOT NULL,
    created_at     TEXT    NOT NULL
) WITHOUT ROWID;
