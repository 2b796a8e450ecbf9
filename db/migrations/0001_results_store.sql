-- Composes seen on the bus and what their metadata says.
CREATE TABLE composes (
  compose_id       text PRIMARY KEY,
  release_short    text        NOT NULL,
  release_version  text        NOT NULL,
  compose_type     text        NOT NULL,
  compose_date     date        NOT NULL,
  respin           integer     NOT NULL,
  label            text,
  location         text        NOT NULL,
  pungi_status     text        NOT NULL,
  metadata_version text        NOT NULL,
  image_count      integer     NOT NULL,
  first_seen_at    timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE compose_images (
  compose_id  text    NOT NULL REFERENCES composes (compose_id) ON DELETE CASCADE,
  variant     text    NOT NULL,
  arch        text    NOT NULL,
  subvariant  text,
  image_type  text    NOT NULL,
  format      text    NOT NULL,
  path        text    NOT NULL,
  size_bytes  bigint  NOT NULL,
  sha256      text,
  PRIMARY KEY (compose_id, path)
);

-- Every pungi status a compose went through, including the ones that start no work.
CREATE TABLE compose_status_events (
  compose_id text        NOT NULL,
  status     text        NOT NULL,
  location   text        NOT NULL,
  msg_id     text        NOT NULL,
  seen_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (compose_id, status)
);

-- The bus listener's durable inbox: a message counts as handled only once it is here.
CREATE TABLE bus_inbox (
  msg_id      text        PRIMARY KEY,
  topic       text        NOT NULL,
  sent_at     timestamptz NOT NULL,
  received_at timestamptz NOT NULL DEFAULT now(),
  envelope    jsonb       NOT NULL,
  state       text        NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'started', 'ignored')),
  workflow_id text,
  attempts    integer     NOT NULL DEFAULT 0,
  last_error  text,
  handled_at  timestamptz
);
CREATE INDEX bus_inbox_pending ON bus_inbox (received_at) WHERE state = 'pending';

-- What the listener refused, with the reason, so nothing is silently dropped.
CREATE TABLE bus_dead_letters (
  id          bigserial   PRIMARY KEY,
  received_at timestamptz NOT NULL DEFAULT now(),
  topic       text,
  msg_id      text,
  reason      text        NOT NULL,
  raw         text        NOT NULL
);
