-- The bus listener as a trust boundary: dead letters keep any byte sequence; an inbox row whose
-- run cannot be started is parked with the reason instead of blocking the rows after it.

-- Raw bytes, not text: a frame may hold NUL or invalid UTF-8, and must still be kept and shown.
ALTER TABLE bus_dead_letters ALTER COLUMN raw TYPE bytea USING convert_to(raw, 'UTF8');
-- The topic frame as received (NULL for rows from before) and how many frames came, so that
-- `relengotron bus retry` can put a message through the receive path again after a fix.
ALTER TABLE bus_dead_letters ADD COLUMN topic_frame bytea;
ALTER TABLE bus_dead_letters ADD COLUMN frame_count integer;
-- Set by `bus retry`: when, and what became of it (stored, duplicate, dead-letter again, ...).
ALTER TABLE bus_dead_letters ADD COLUMN retried_at timestamptz;
ALTER TABLE bus_dead_letters ADD COLUMN retry_outcome text;
CREATE INDEX bus_dead_letters_received ON bus_dead_letters (received_at);

ALTER TABLE bus_inbox DROP CONSTRAINT bus_inbox_state_check;
ALTER TABLE bus_inbox ADD CONSTRAINT bus_inbox_state_check CHECK (state IN ('pending', 'started', 'ignored', 'parked'));
-- A start that failed for a reason a retry may fix waits until then, without holding others up.
ALTER TABLE bus_inbox ADD COLUMN next_attempt_at timestamptz;
ALTER TABLE bus_inbox ADD COLUMN parked_at timestamptz;
CREATE INDEX bus_inbox_parked ON bus_inbox (parked_at) WHERE state = 'parked';
CREATE INDEX bus_inbox_handled ON bus_inbox (handled_at) WHERE state IN ('started', 'ignored');
