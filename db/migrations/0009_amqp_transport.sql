-- fedora-messaging (AMQP) beside fedmsg (ZeroMQ): one inbox for both, keyed by message ID, so an
-- event that arrives on both transports is stored once; the transport that brought it first is kept.
ALTER TABLE bus_inbox ADD COLUMN transport text NOT NULL DEFAULT 'fedmsg' CHECK (transport IN ('fedmsg', 'amqp'));

-- A refused AMQP message: its routing key goes in topic_frame, its body in raw, and its properties
-- (message ID, content type, headers) here, so `bus retry` can put it through the receive path again.
ALTER TABLE bus_dead_letters ADD COLUMN transport text NOT NULL DEFAULT 'fedmsg' CHECK (transport IN ('fedmsg', 'amqp'));
ALTER TABLE bus_dead_letters ADD COLUMN amqp_properties jsonb;

-- The outbox marks each transport apart: a message is sent on AMQP only once the broker confirmed it.
ALTER TABLE bus_outbox ADD COLUMN amqp_sent_at timestamptz;
ALTER TABLE bus_outbox ADD COLUMN amqp_sends integer NOT NULL DEFAULT 0;
