-- The event log. Appends are serialized (advisory lock in idlog_append_batch), so
-- global_position is gap-free and equal to commit order.
CREATE TABLE events (
    global_position BIGINT PRIMARY KEY CHECK (global_position > 0),
    stream_id       TEXT        NOT NULL,
    stream_type     TEXT        NOT NULL,
    stream_version  BIGINT      NOT NULL CHECK (stream_version > 0),
    event_id        UUID        NOT NULL UNIQUE,
    event_type      TEXT        NOT NULL,
    schema_version  INTEGER     NOT NULL,
    payload         JSONB       NOT NULL,
    metadata        JSONB       NOT NULL,
    recorded_at     TIMESTAMPTZ NOT NULL,
    prev_hash       BYTEA       NOT NULL CHECK (length(prev_hash) = 32),
    hash            BYTEA       NOT NULL CHECK (length(hash) = 32),
    UNIQUE (stream_id, stream_version)
);
CREATE INDEX events_type_position ON events (event_type, global_position);
CREATE INDEX events_recorded_at ON events (recorded_at);

-- The log is append-only: rows are never updated or deleted. (The hash chain still detects
-- edits made by someone who disables this trigger.)
CREATE FUNCTION idlog_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the event log is append-only: % on events refused', TG_OP;
END;
$$;
CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION idlog_refuse_change();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION idlog_refuse_change();

-- Unique values (email, username, phone, organization name), as keyed hashes of the normalized
-- value, owned by a stream. Changed in the same transaction as the events that take or release them.
CREATE TABLE unique_claims (
    kind                TEXT   NOT NULL,
    value_hash          BYTEA  NOT NULL,
    stream_id           TEXT   NOT NULL,
    claimed_at_position BIGINT NOT NULL,
    PRIMARY KEY (kind, value_hash)
);
CREATE INDEX unique_claims_stream ON unique_claims (stream_id);

-- Idempotency keys: the first result of a command sent with a key.
CREATE TABLE idempotency_keys (
    key            TEXT        PRIMARY KEY,
    fingerprint    BYTEA       NOT NULL,
    stream_id      TEXT        NOT NULL,
    stream_version BIGINT      NOT NULL,
    first_position BIGINT      NOT NULL,
    last_position  BIGINT      NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL
);

-- Group commit in one round trip. The appender sends a batch whose positions and hashes it
-- computed from the head it expects; under the append lock this function checks the head, every
-- request's stream version, claims and idempotency key, and either writes the whole batch or
-- writes nothing and returns what failed (plus the real head) so the appender can drop the
-- failed requests and try again. Requests in one batch never share a stream, claim or key.
CREATE FUNCTION idlog_append_batch(
    expected_head     BIGINT,
    r_stream_ids      TEXT[],
    r_versions        BIGINT[],
    c_requests        INTEGER[],
    c_kinds           TEXT[],
    c_hashes          BYTEA[],
    c_stream_ids      TEXT[],
    c_takes           BOOLEAN[],
    i_requests        INTEGER[],
    i_keys            TEXT[],
    i_fingerprints    BYTEA[],
    i_stream_ids      TEXT[],
    i_versions        BIGINT[],
    i_first_positions BIGINT[],
    i_last_positions  BIGINT[],
    e_positions       BIGINT[],
    e_stream_ids      TEXT[],
    e_stream_types    TEXT[],
    e_versions        BIGINT[],
    e_event_ids       UUID[],
    e_types           TEXT[],
    e_schema_versions INTEGER[],
    e_payloads        TEXT[],
    e_metadata        TEXT[],
    e_recorded_at     TIMESTAMPTZ[],
    e_prev_hashes     BYTEA[],
    e_hashes          BYTEA[]
) RETURNS TABLE (
    failure        TEXT,
    request        INTEGER,
    actual_version BIGINT,
    claim_kind     TEXT,
    fingerprint    BYTEA,
    stream_id      TEXT,
    stream_version BIGINT,
    first_position BIGINT,
    last_position  BIGINT,
    head_position  BIGINT,
    head_hash      BYTEA,
    head_time      TIMESTAMPTZ
) LANGUAGE plpgsql
-- Custom plans would be re-planned on every call (the arrays are parameters): about 4x slower.
SET plan_cache_mode = force_generic_plan
AS $$
#variable_conflict use_column
DECLARE
    failed   BOOLEAN := FALSE;
    notified TEXT;
BEGIN
    -- 0x69646c6f67 is 'idlog': one lock for all appenders of this database.
    PERFORM pg_advisory_xact_lock(452857325415);

    -- Each statement below takes its snapshot after the lock is held, so it sees every
    -- earlier append. One statement checks the head and every stream version.
    RETURN QUERY
        WITH head AS (
            SELECT e.global_position, e.hash, e.recorded_at FROM events e ORDER BY e.global_position DESC LIMIT 1
        )
        SELECT 'head'::TEXT, NULL::INTEGER, NULL::BIGINT, NULL::TEXT, NULL::BYTEA, NULL::TEXT,
               NULL::BIGINT, NULL::BIGINT, NULL::BIGINT, coalesce(h.global_position, 0), h.hash, h.recorded_at
          FROM (SELECT 1) one LEFT JOIN head h ON TRUE
         WHERE coalesce(h.global_position, 0) <> expected_head
        UNION ALL
        SELECT 'version'::TEXT, r.idx::INTEGER, v.version, NULL::TEXT, NULL::BYTEA, NULL::TEXT,
               NULL::BIGINT, NULL::BIGINT, NULL::BIGINT, NULL::BIGINT, NULL::BYTEA, NULL::TIMESTAMPTZ
          FROM unnest(r_stream_ids, r_versions) WITH ORDINALITY AS r(stream_id, version, idx)
          CROSS JOIN LATERAL (
              SELECT coalesce(max(e.stream_version), 0) AS version FROM events e WHERE e.stream_id = r.stream_id
          ) v
         WHERE v.version <> r.version;
    failed := FOUND;

    IF cardinality(c_kinds) > 0 THEN
        RETURN QUERY
            SELECT 'claim'::TEXT, c.req, NULL::BIGINT, c.kind, NULL::BYTEA, NULL::TEXT,
                   NULL::BIGINT, NULL::BIGINT, NULL::BIGINT, NULL::BIGINT, NULL::BYTEA, NULL::TIMESTAMPTZ
              FROM unnest(c_requests, c_kinds, c_hashes, c_stream_ids, c_takes) AS c(req, kind, hash, stream_id, take)
              JOIN unique_claims u ON u.kind = c.kind AND u.value_hash = c.hash
             WHERE c.take AND u.stream_id <> c.stream_id;
        failed := failed OR FOUND;
    END IF;

    IF cardinality(i_keys) > 0 THEN
        RETURN QUERY
            SELECT 'idempotency'::TEXT, i.req, NULL::BIGINT, NULL::TEXT, k.fingerprint, k.stream_id,
                   k.stream_version, k.first_position, k.last_position, NULL::BIGINT, NULL::BYTEA, NULL::TIMESTAMPTZ
              FROM unnest(i_requests, i_keys) AS i(req, key)
              JOIN idempotency_keys k ON k.key = i.key;
        failed := failed OR FOUND;
    END IF;

    IF failed THEN
        RETURN;
    END IF;

    WITH inserted AS (
        INSERT INTO events (global_position, stream_id, stream_type, stream_version, event_id, event_type,
                            schema_version, payload, metadata, recorded_at, prev_hash, hash)
        SELECT p, s, st, v, id, t, sv, pl::JSONB, md::JSONB, ra, ph, h
          FROM unnest(e_positions, e_stream_ids, e_stream_types, e_versions, e_event_ids, e_types,
                      e_schema_versions, e_payloads, e_metadata, e_recorded_at, e_prev_hashes, e_hashes)
               AS x(p, s, st, v, id, t, sv, pl, md, ra, ph, h)
        RETURNING global_position
    )
    -- Wakes subscribers in every process (delivered at commit).
    SELECT pg_notify('idlog_events', max(global_position)::TEXT)::TEXT INTO notified FROM inserted;

    IF cardinality(c_kinds) > 0 THEN
        -- Releases apply before takes, so a request may move a value between its own claims.
        DELETE FROM unique_claims u
         USING unnest(c_kinds, c_hashes, c_stream_ids, c_takes) AS c(kind, hash, stream_id, take)
         WHERE NOT c.take AND u.kind = c.kind AND u.value_hash = c.hash AND u.stream_id = c.stream_id;

        INSERT INTO unique_claims (kind, value_hash, stream_id, claimed_at_position)
        SELECT c.kind, c.hash, c.stream_id, e_positions[array_length(e_positions, 1)]
          FROM unnest(c_kinds, c_hashes, c_stream_ids, c_takes) AS c(kind, hash, stream_id, take)
         WHERE c.take
        ON CONFLICT (kind, value_hash) DO NOTHING;
    END IF;

    IF cardinality(i_keys) > 0 THEN
        INSERT INTO idempotency_keys (key, fingerprint, stream_id, stream_version, first_position, last_position, created_at)
        SELECT k, f, s, v, fp, lp, now()
          FROM unnest(i_keys, i_fingerprints, i_stream_ids, i_versions, i_first_positions, i_last_positions)
               AS x(k, f, s, v, fp, lp);
    END IF;

    RETURN;
END;
$$;
