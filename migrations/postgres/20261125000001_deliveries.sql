-- The delivery log: one row per message (email or SMS) an event called for, with its attempts and
-- outcome. A row marked `sent` is how a redelivered event knows not to send the message again.
CREATE TABLE deliveries (
    message_id  TEXT PRIMARY KEY,
    worker      TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    position    BIGINT NOT NULL,
    channel     TEXT NOT NULL CHECK (channel IN ('email', 'sms')),
    template    TEXT NOT NULL,
    recipient   TEXT NOT NULL,
    attempts    INTEGER NOT NULL,
    -- sending (an attempt is under way, or a process died during it), sent, failed (will be
    -- retried), dead (dead-lettered: waits for `idlog workers retry`)
    status      TEXT NOT NULL CHECK (status IN ('sending', 'sent', 'failed', 'dead')),
    last_error  TEXT,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    sent_at     TIMESTAMPTZ
);
CREATE INDEX deliveries_by_position ON deliveries (position DESC);
CREATE INDEX deliveries_by_event ON deliveries (event_id);
CREATE INDEX deliveries_by_recipient ON deliveries (recipient);

-- Leases: a job only one process may run at a time (the Kafka relay) belongs to the process whose
-- lease has not expired; it renews the lease while it works.
CREATE TABLE worker_leases (
    name       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
