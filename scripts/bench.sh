#!/usr/bin/env bash
# npm run bench: throughput, latency and scale figures, printed (never asserted by tests).
#   BENCH_ONLY=bus|push runs one of the two; BENCH_ONLY=cluster runs only the cluster part (starts
#   per second and the large push on temporal-server v1.29.1 on Postgres beside the dev server;
#   it builds the server the first time, a few minutes, and needs the machine's Postgres).
bash "$(dirname "$0")/setup-system.sh"
source "$(dirname "$0")/bootstrap.sh"
set -e
case "${BENCH_ONLY:-}" in
  bus) node dist/bench/bus-throughput.js "$@" ;;
  push) node dist/bench/push-scale.js "$@" ;;
  cluster) node scripts/ensure-temporal-server.mjs >/dev/null; node dist/bench/cluster.js "$@" ;;
  *) node dist/bench/bus-throughput.js "$@"; echo; node dist/bench/push-scale.js "$@" ;;
esac
