#!/usr/bin/env bash
# npm run bench: throughput, latency and scale figures, printed (never asserted by tests).
#   BENCH_ONLY=bus|push runs one of the two.
bash "$(dirname "$0")/setup-system.sh"
source "$(dirname "$0")/bootstrap.sh"
set -e
if [ "${BENCH_ONLY:-}" != push ]; then node dist/bench/bus-throughput.js "$@"; echo; fi
if [ "${BENCH_ONLY:-}" != bus ]; then node dist/bench/push-scale.js "$@"; fi
