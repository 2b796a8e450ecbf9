#!/usr/bin/env node
// Prints the directory holding temporal-server and temporal-sql-tool v1.29.1 (what deploy/ runs),
// building them from Go modules into a cache outside the checkout the first time, and the schema
// directory of the same version (from the Go module cache), one per line:
//   <bin dir>
//   <schema dir>/postgresql/v12
// No dependencies, like ensure-temporal.mjs.
//   RELENGOTRON_CACHE_DIR   cache root (default $XDG_CACHE_HOME or ~/.cache, /releng-o-tron)
import { execFileSync, spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, renameSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

const VERSION = 'v1.29.1';
const MODULE = 'go.temporal.io/server';
// The binaries as deploy/README installs them: cmd/server as temporal-server, cmd/tools/sql as temporal-sql-tool.
const BINARIES = [
  { pkg: 'cmd/server', built: 'server', name: 'temporal-server' },
  { pkg: 'cmd/tools/sql', built: 'sql', name: 'temporal-sql-tool' },
];

function fail(message) {
  process.stderr.write(`ensure-temporal-server: ${message}\n`);
  process.exit(1);
}

const executable = (path) => {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
};

const go = spawnSync('go', ['env', 'GOMODCACHE'], { encoding: 'utf8' });
if (go.error || go.status !== 0) fail('Go is not installed: it builds temporal-server and temporal-sql-tool (Go 1.25 or newer).');
const cacheRoot = process.env.RELENGOTRON_CACHE_DIR || join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'releng-o-tron');
const dir = join(cacheRoot, `temporal-server-${VERSION}`);

if (!BINARIES.every((b) => executable(join(dir, b.name)))) {
  const staging = `${dir}.building-${process.pid}`;
  mkdirSync(staging, { recursive: true });
  process.stderr.write(`ensure-temporal-server: building temporal-server and temporal-sql-tool ${VERSION} from Go modules (first run only, a few minutes)...\n`);
  try {
    execFileSync('go', ['install', ...BINARIES.map((b) => `${MODULE}/${b.pkg}@${VERSION}`)], {
      env: { ...process.env, GOBIN: staging, GOFLAGS: `${process.env.GOFLAGS ?? ''} -buildvcs=false`.trim() },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
  } catch (err) {
    fail(`temporal-server ${VERSION} did not build: ${err.message}`);
  }
  mkdirSync(dir, { recursive: true });
  // Rename is atomic, so a concurrent run never sees a half-written binary.
  for (const b of BINARIES) renameSync(join(staging, b.built), join(dir, b.name));
}
const schema = join(go.stdout.trim(), `${MODULE}@${VERSION}`, 'schema', 'postgresql', 'v12');
if (!existsSync(schema)) {
  // The module is in the cache once built; a cleaned cache gets it back without building.
  execFileSync('go', ['mod', 'download', `${MODULE}@${VERSION}`], { stdio: ['ignore', 'inherit', 'inherit'] });
}
if (!existsSync(schema)) fail(`no schema directory at ${schema}`);
process.stdout.write(`${dir}\n${schema}\n`);
