-- Trigram indexes make the users list's substring search (`q`) an index lookup. pg_trgm ships
-- with PostgreSQL (contrib) and is a trusted extension: the database's owner may create it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
