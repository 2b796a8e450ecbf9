-- Two-week releases: what people decided about a stream's composes, and what was released.

-- A compose marked good (released though its tests failed) or bad (never released), with who and why.
CREATE TABLE twoweek_marks (
  compose_id  text        PRIMARY KEY,
  verdict     text        NOT NULL CHECK (verdict IN ('good', 'bad')),
  reason      text        NOT NULL,
  marked_by   text        NOT NULL,
  marked_at   timestamptz NOT NULL DEFAULT now()
);

-- A stream that may not be released until it is unblocked.
CREATE TABLE twoweek_blocks (
  stream      text        PRIMARY KEY,
  reason      text        NOT NULL,
  blocked_by  text        NOT NULL,
  blocked_at  timestamptz NOT NULL DEFAULT now()
);

-- Each image set a stream released, newest last; the run that did it.
CREATE TABLE twoweek_releases (
  stream       text        NOT NULL,
  compose_id   text        NOT NULL,
  compose_date date        NOT NULL,
  workflow_id  text        NOT NULL,
  commits      jsonb       NOT NULL DEFAULT '{}',
  released_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (stream, compose_id)
);
