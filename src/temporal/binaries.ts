import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { EphemeralServerExecutable } from '@temporalio/testing/lib/ephemeral-server';

/** Where scripts/install-temporal.sh puts the binaries (kept in step with that script). */
export function temporalToolsDir(env: NodeJS.ProcessEnv = process.env): string {
  return (
    env.TEMPORAL_TOOLS_DIR ?? path.join(env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'appointment-orchestrator', 'temporal')
  );
}

function onPath(name: string, env: NodeJS.ProcessEnv): string | undefined {
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    const candidate = path.join(dir, name);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      /* not here */
    }
  }
  return undefined;
}

function resolve(envVar: string, cachedName: string, pathName: string, env: NodeJS.ProcessEnv): EphemeralServerExecutable {
  const explicit = env[envVar];
  if (explicit) return { type: 'existing-path', path: explicit };
  const cached = path.join(temporalToolsDir(env), 'bin', cachedName);
  if (fs.existsSync(cached)) return { type: 'existing-path', path: cached };
  const found = onPath(pathName, env);
  if (found) return { type: 'existing-path', path: found };
  // Last resort: the SDK downloads the official release (works where the internet is reachable).
  return { type: 'cached-download' };
}

/** The Temporal CLI (dev server): TEMPORAL_CLI_PATH, the installed cache, `temporal` on PATH, or a download. */
export const devServerExecutable = (env: NodeJS.ProcessEnv = process.env) => resolve('TEMPORAL_CLI_PATH', 'temporal', 'temporal', env);

/** The Java time-skipping test server: TEMPORAL_TEST_SERVER_PATH, the installed cache, PATH, or a download. */
export const timeSkippingServerExecutable = (env: NodeJS.ProcessEnv = process.env) =>
  resolve('TEMPORAL_TEST_SERVER_PATH', 'temporal-test-server', 'temporal-test-server', env);

/** The Temporal server version scripts/install-temporal-server.sh builds (kept in step with that script). */
export const TEMPORAL_SERVER_VERSION = '1.32.2';

export interface TemporalServerBinaries {
  /** `go.temporal.io/server/cmd/server` (`temporal-server` in the temporalio/server image). */
  server: string;
  /** `go.temporal.io/server/cmd/tools/sql` (`temporal-sql-tool` in temporalio/admin-tools), schemas embedded. */
  sqlTool: string;
}

/**
 * The full Temporal server and its SQL schema tool, each resolved on its own:
 * TEMPORAL_SERVER_PATH / TEMPORAL_SQL_TOOL_PATH, then the installed cache
 * (bin-server-<TEMPORAL_SERVER_VERSION>/server and sql), then `temporal-server` / `temporal-sql-tool`
 * on the PATH (their names in Temporal's images). There is no download: built from the Go module
 * proxy by `npm run temporal:install-server`, which this error names when one is missing.
 */
export function temporalServerBinaries(env: NodeJS.ProcessEnv = process.env): TemporalServerBinaries {
  const version = env.TEMPORAL_SERVER_VERSION ?? TEMPORAL_SERVER_VERSION;
  const cacheDir = path.join(temporalToolsDir(env), `bin-server-${version}`);
  const find = (envVar: string, cachedName: string, pathName: string): string => {
    const explicit = env[envVar];
    if (explicit) return explicit;
    const cached = path.join(cacheDir, cachedName);
    if (fs.existsSync(cached)) return cached;
    const found = onPath(pathName, env);
    if (found) return found;
    throw new Error(
      `Temporal server ${version}: ${cachedName} not found (${envVar}, ${cached}, or ${pathName} on the PATH); ` +
        'build it once with `npm run temporal:install-server` (Go module proxy, a few minutes)',
    );
  };
  return {
    server: find('TEMPORAL_SERVER_PATH', 'server', 'temporal-server'),
    sqlTool: find('TEMPORAL_SQL_TOOL_PATH', 'sql', 'temporal-sql-tool'),
  };
}
