# Sourced by the npm entry scripts: dependencies installed, the Temporal CLI present, code built.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if ! command -v node >/dev/null || ! node -e 'process.exit(+process.versions.node.split(".")[0] >= 20 ? 0 : 1)'; then
  echo "releng-o-tron needs Node.js 20 or newer (found: $(node --version 2>/dev/null || echo none))" >&2
  exit 1
fi
# npm keeps a copy of the lock file in node_modules: a newer package-lock.json means reinstall.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
TEMPORAL_CLI="$(node scripts/ensure-temporal.mjs)"
export TEMPORAL_CLI
npm run --silent build
