#!/usr/bin/env bash
# npm run demo: the service end to end on embedded defaults, fed real-format bus traffic.
# qemu, ostree, gpg, rsync, rpm, createrepo_c...: what the demo runs for real.
bash "$(dirname "$0")/setup-system.sh"
source "$(dirname "$0")/bootstrap.sh"
# Expected failures (images the sandbox does not hold) would otherwise fill the screen with SDK warnings.
export LOG_LEVEL="${LOG_LEVEL:-error}"
exec node dist/client/cli.js demo "$@"
