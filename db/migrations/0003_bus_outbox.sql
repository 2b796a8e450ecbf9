-- Messages releng-o-tron publishes. An envelope is built once per msg_id and kept, so a retried
-- publish sends the very same bytes (same i, timestamp, signature) and receivers can drop it as a
-- duplicate; sent_at says whether it went out at least once.
CREATE TABLE bus_outbox (
  msg_id     text        PRIMARY KEY,
  topic      text        NOT NULL,
  envelope   text        NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  sent_at    timestamptz,
  sends      integer     NOT NULL DEFAULT 0
);
CREATE INDEX bus_outbox_topic ON bus_outbox (topic, created_at);

-- A message refused twice (live, then again by a backfill) is kept once: looked up by msg_id.
CREATE INDEX bus_dead_letters_msg_id ON bus_dead_letters (msg_id);
