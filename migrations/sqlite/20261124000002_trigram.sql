-- PostgreSQL gets trigram indexes for substring search here; SQLite scans (kept in step so both
-- migration sets have the same versions).
SELECT 1;
