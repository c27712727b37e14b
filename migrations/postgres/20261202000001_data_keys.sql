-- One data key per data subject (a user, or any actor), wrapped by the master key. Personal
-- fields in the log are encrypted with it; destroying it (wrapped_key NULL) forgets the person
-- without touching the log, so its hash chain keeps verifying.
CREATE TABLE data_keys (
    subject       TEXT        PRIMARY KEY,
    wrapped_key   BYTEA       CHECK (wrapped_key IS NULL OR length(wrapped_key) > 24),
    master_key_id TEXT        NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    destroyed_at  TIMESTAMPTZ,
    CHECK ((wrapped_key IS NULL) = (destroyed_at IS NOT NULL))
);

-- A destroyed key stays destroyed.
CREATE FUNCTION idlog_keep_keys_destroyed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.wrapped_key IS NULL AND NEW.wrapped_key IS NOT NULL THEN
        RAISE EXCEPTION 'the data key of % was destroyed and cannot come back', OLD.subject;
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER data_keys_stay_destroyed BEFORE UPDATE ON data_keys
    FOR EACH ROW EXECUTE FUNCTION idlog_keep_keys_destroyed();
