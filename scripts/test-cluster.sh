#!/usr/bin/env bash
# npm run test:cluster: releng-o-tron on a real Temporal cluster laid out as deploy/ says
# (temporal-server and temporal-sql-tool v1.29.1 built from Go modules into the cache the first
# time, a few minutes; the machine's Postgres at TEST_DATABASE_URL). Not part of `npm test`.
bash "$(dirname "$0")/setup-system.sh" --tests
source "$(dirname "$0")/bootstrap.sh"
node scripts/ensure-temporal-server.mjs >/dev/null
exec node --test --test-concurrency=1 "$@" dist/test/cluster/*.test.js
