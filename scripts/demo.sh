#!/usr/bin/env bash
# npm run demo: the service end to end on embedded defaults, fed real-format bus traffic.
source "$(dirname "$0")/bootstrap.sh"
export LOG_LEVEL="${LOG_LEVEL:-warn}"
exec node dist/client/cli.js demo "$@"
