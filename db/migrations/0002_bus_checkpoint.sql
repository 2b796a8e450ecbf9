-- How far the bus listener is known to have been listening: after downtime it backfills from
-- datagrepper starting a little before this moment.
CREATE TABLE bus_checkpoint (
  source          text             PRIMARY KEY,
  listening_until double precision NOT NULL,
  updated_at      timestamptz      NOT NULL DEFAULT now()
);
