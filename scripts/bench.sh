#!/usr/bin/env bash
# npm run bench: throughput and latency figures, printed (never asserted by tests).
source "$(dirname "$0")/bootstrap.sh"
exec node dist/bench/bus-throughput.js "$@"
