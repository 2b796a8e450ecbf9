-- Compose testing (Autocloud's compose_details / compose_job_details, plus per-command output).

-- One row per compose under test. `id` is Autocloud's compose_job_id in messages and links.
CREATE TABLE compose_tests (
  id            bigserial   UNIQUE NOT NULL,
  compose_id    text        PRIMARY KEY,
  -- the stream a newer compose supersedes within (Fedora-Rawhide, Fedora-28)
  stream        text,
  release       text,
  location      text        NOT NULL,
  workflow_id   text        NOT NULL,
  status        text        NOT NULL CHECK (status IN ('queued', 'running', 'complete', 'aborted', 'error')),
  passed        integer     NOT NULL DEFAULT 0,
  failed        integer     NOT NULL DEFAULT 0,
  errored       integer     NOT NULL DEFAULT 0,
  aborted       integer     NOT NULL DEFAULT 0,
  reason        text,
  superseded_by text,
  queued_at     timestamptz NOT NULL DEFAULT now(),
  started_at    timestamptz,
  finished_at   timestamptz
);
CREATE INDEX compose_tests_stream_active ON compose_tests (stream) WHERE status IN ('queued', 'running');

-- One row per image and provider. `job_id` is Autocloud's job_id in messages and links.
CREATE TABLE test_jobs (
  job_id      bigserial   PRIMARY KEY,
  compose_id  text        NOT NULL REFERENCES compose_tests (compose_id) ON DELETE CASCADE,
  image_path  text        NOT NULL,
  image_url   text        NOT NULL,
  image_name  text        NOT NULL,
  variant     text        NOT NULL,
  subvariant  text,
  family      text        NOT NULL,
  arch        text        NOT NULL,
  image_type  text        NOT NULL,
  format      text        NOT NULL,
  provider    text        NOT NULL CHECK (provider IN ('libvirt', 'vbox')),
  workflow_id text        NOT NULL,
  status      text        NOT NULL CHECK (status IN ('queued', 'running', 'success', 'failed', 'aborted', 'error')),
  host        text,
  attempts    integer     NOT NULL DEFAULT 0,
  accelerator text,
  -- qemu, libvirt or virtualbox: what started the VM
  vm_backend  text,
  boot_ms     integer,
  reason      text,
  queued_at   timestamptz NOT NULL DEFAULT now(),
  started_at  timestamptz,
  finished_at timestamptz,
  UNIQUE (compose_id, image_path, provider)
);
CREATE INDEX test_jobs_filters ON test_jobs (status, arch, image_type);

-- What each command of a job's plan did.
CREATE TABLE test_job_commands (
  job_id      bigint  NOT NULL REFERENCES test_jobs (job_id) ON DELETE CASCADE,
  plan_line   integer NOT NULL,
  command     text    NOT NULL,
  gating      boolean NOT NULL,
  expect      text    NOT NULL CHECK (expect IN ('success', 'failure')),
  exit_code   integer,
  timed_out   boolean NOT NULL,
  passed      boolean NOT NULL,
  duration_ms integer NOT NULL,
  output      text    NOT NULL,
  PRIMARY KEY (job_id, plan_line)
);
