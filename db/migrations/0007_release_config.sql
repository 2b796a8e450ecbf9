-- What the release lifecycle runs decided about configuration, read beside the config file:
-- gating lanes a branch carried over to the new rawhide or stopped, and lanes and compose streams
-- an end of life stopped. A row overrides the config file's entry of the same kind and name.
CREATE TABLE release_config (
  kind        text        NOT NULL CHECK (kind IN ('gating-lane', 'compose-stream')),
  name        text        NOT NULL,
  release     text        NOT NULL,
  -- the gating lane (common/config.ts GatingLane) for an active lane row; null otherwise
  value       jsonb,
  active      boolean     NOT NULL,
  set_by      text        NOT NULL,
  updated_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (kind, name)
);
