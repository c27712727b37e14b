-- Facts every idlog process on this database must agree on, e.g. a fingerprint of the claim key
-- (a process hashing claims with another key would break uniqueness silently).
CREATE TABLE idlog_settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
