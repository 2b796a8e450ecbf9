#!/usr/bin/env bash
# npm run test:cluster: releng-o-tron on a real Temporal cluster laid out as deploy/ says
# (temporal-server and temporal-sql-tool v1.29.1 built from Go modules into the cache the first
# time, a few minutes; the machine's Postgres at TEST_DATABASE_URL; root, for the network
# namespaces). Not part of `npm test`.
set -e
bash "$(dirname "$0")/setup-system.sh" --tests
source "$(dirname "$0")/bootstrap.sh"
node scripts/ensure-temporal-server.mjs >/dev/null
# One cluster run at a time on a machine: the bridge, the namespaces, 10.77.0.0/24 and the
# cluster's databases have fixed names, and a second run would tear down the first's.
exec 9>"${TMPDIR:-/tmp}/relengotron-test-cluster.lock"
flock -w 1800 9
exec node --test --test-concurrency=1 --test-timeout=2400000 "$@" dist/test/cluster/*.test.js
