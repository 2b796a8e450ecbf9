#!/usr/bin/env bash
# npm test: unit and integration tests against the real Temporal dev server and Postgres.
# TEST_DATABASE_URL picks the Postgres server (default postgres://postgres@127.0.0.1:5432/test;
# each test file makes and drops its own database there; without a server, embedded PGlite).
# The system packages the tests run for real, and libvirtd, exactly as CI has them.
bash "$(dirname "$0")/setup-system.sh" --tests
source "$(dirname "$0")/bootstrap.sh"
# One file at a time: each starts its own Temporal server and the machine has two cores.
exec node --test --test-concurrency=1 "$@" dist/test/*.test.js
