-- Whose messages: forgetting a user clears the recipients of their messages.
ALTER TABLE deliveries ADD COLUMN subject TEXT;
UPDATE deliveries d SET subject = e.stream_id FROM events e WHERE e.event_id::TEXT = d.event_id;
CREATE INDEX deliveries_by_subject ON deliveries (subject);
