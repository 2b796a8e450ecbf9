#!/usr/bin/env node
// Prints the path of a temporal CLI binary, building it from Go modules into a cache outside the
// checkout the first time. No dependencies: it runs before `npm ci` and is also called by the service.
//   TEMPORAL_CLI=/path/to/temporal   use that binary
//   RELENGOTRON_CACHE_DIR            cache root (default $XDG_CACHE_HOME or ~/.cache, /releng-o-tron)
import { execFileSync, spawnSync } from 'node:child_process';
import { accessSync, constants, mkdirSync, renameSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

// v1.5.1 is the newest tag without a go.mod replace directive (which `go install` rejects).
// v1.4.1 is the fallback named by the project's foundation issue.
const VERSIONS = ['v1.5.1', 'v1.4.1'];
const MODULE = 'github.com/temporalio/cli/cmd/temporal';

function executable(path) {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function fail(message) {
  process.stderr.write(`ensure-temporal: ${message}\n`);
  process.exit(1);
}

const explicit = process.env.TEMPORAL_CLI;
if (explicit) {
  if (!executable(explicit)) fail(`TEMPORAL_CLI=${explicit} is not an executable file`);
  process.stdout.write(`${explicit}\n`);
  process.exit(0);
}

const cacheRoot =
  process.env.RELENGOTRON_CACHE_DIR || join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'releng-o-tron');

for (const version of VERSIONS) {
  const cached = join(cacheRoot, `temporal-${version}`, 'temporal');
  if (executable(cached)) {
    process.stdout.write(`${cached}\n`);
    process.exit(0);
  }
}

const go = spawnSync('go', ['version'], { encoding: 'utf8' });
if (go.error || go.status !== 0) {
  fail(
    'the Temporal CLI is not cached and Go is not installed to build it.\n' +
      '  Install Go 1.25 or newer (https://go.dev/dl/, or your distribution: apt-get install golang-go),\n' +
      '  or point TEMPORAL_CLI at an existing `temporal` binary, then run this again.',
  );
}

for (const version of VERSIONS) {
  const dir = join(cacheRoot, `temporal-${version}`);
  const staging = `${dir}.building-${process.pid}`;
  mkdirSync(staging, { recursive: true });
  process.stderr.write(`ensure-temporal: building temporal ${version} from Go modules (first run only, a few minutes)...\n`);
  try {
    execFileSync('go', ['install', `${MODULE}@${version}`], {
      env: { ...process.env, GOBIN: staging, GOFLAGS: `${process.env.GOFLAGS ?? ''} -buildvcs=false`.trim() },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    mkdirSync(dir, { recursive: true });
    // Rename is atomic, so a concurrent run never sees a half-written binary.
    renameSync(join(staging, 'temporal'), join(dir, 'temporal'));
    process.stdout.write(`${join(dir, 'temporal')}\n`);
    process.exit(0);
  } catch (err) {
    process.stderr.write(`ensure-temporal: temporal ${version} did not build: ${err.message}\n`);
  }
}
fail(`could not build the Temporal CLI (${VERSIONS.join(', ')}); see the Go output above`);
