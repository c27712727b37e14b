-- One data key per data subject (a user, or any actor), wrapped by the master key. Personal
-- fields in the log are encrypted with it; destroying it (wrapped_key NULL) forgets the person
-- without touching the log, so its hash chain keeps verifying.
CREATE TABLE data_keys (
    subject       TEXT PRIMARY KEY,
    wrapped_key   BLOB CHECK (wrapped_key IS NULL OR length(wrapped_key) > 24),
    master_key_id TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    destroyed_at  TEXT,
    CHECK ((wrapped_key IS NULL) = (destroyed_at IS NOT NULL))
) WITHOUT ROWID;

-- A destroyed key stays destroyed.
CREATE TRIGGER data_keys_stay_destroyed BEFORE UPDATE ON data_keys
    FOR EACH ROW WHEN OLD.wrapped_key IS NULL AND NEW.wrapped_key IS NOT NULL
BEGIN
    SELECT RAISE(ABORT, 'a destroyed data key cannot come back');
END;
