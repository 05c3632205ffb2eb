import { spawn, execFile, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time';
import { temporalServerBinaries, type TemporalServerBinaries } from '../temporal/binaries';
import { registerSearchAttributes } from '../temporal/search-attributes';
import { freePort, freePortInRange } from './free-port';
import type { RunningTemporal } from './temporal-dev-server';

/**
 * The full Temporal server (frontend, history, matching and worker services in one process) with
 * its persistence and visibility in PostgreSQL: the production topology of docker-compose.yml,
 * run from the binaries `npm run temporal:install-server` builds. Schemas are set up by Temporal's
 * own SQL tool (as the temporalio/admin-tools step of the compose file does), the config follows
 * the server's `config/development-postgres12.yaml` (loopback only, no archival), and the
 * namespace and the product's search attributes are registered through the frontend.
 */
export interface TemporalServerOptions {
  /**
   * PostgreSQL whose role may create databases (its database part is not used): the embedded
   * server's admin URL, or DATABASE_URL's server.
   */
  postgresUrl: string;
  /** Where the generated config files and the server's log (temporal-server.log) go. The data is in PostgreSQL. */
  dataDir: string;
  namespace: string;
  /** Frontend gRPC port; a free one when omitted. */
  port?: number;
  /** The two databases, created when missing. Default `temporal` and `temporal_visibility`, as in the compose file. */
  databases?: { temporal: string; visibility: string };
  /** Serve the server's Prometheus metrics on 127.0.0.1:<metricsPort> (none when omitted). */
  metricsPort?: number;
  /** The server's own log level (default warn). */
  logLevel?: 'debug' | 'info' | 'warn' | 'error';
  /** How long to wait for the frontend, the namespace and the search attributes (default 120 s). */
  readyTimeoutMs?: number;
  binaries?: TemporalServerBinaries;
}

export interface RunningTemporalServer extends RunningTemporal {
  /** The server process's id (the one process of all four services). */
  readonly pid: number | undefined;
  /** Milliseconds spent by the SQL tool on both databases, and from spawning the server to a ready namespace. */
  readonly timings: { schemaMs: number; startMs: number };
  /** Stops the server process and starts it again on the same ports and databases (clients reconnect to `address`). */
  restart(): Promise<void>;
}

const execFileAsync = promisify(execFile);
const DEFAULT_DATABASES = { temporal: 'temporal', visibility: 'temporal_visibility' };
/** Namespace retention when this module creates the namespace (the CLI's default for `operator namespace create`). */
const RETENTION = '72h';
/** History shards: fixed for the life of the databases (the development template's value). */
const HISTORY_SHARDS = 4;

interface PostgresTarget {
  host: string;
  port: number;
  user: string;
  password: string;
}

export async function startTemporalServer(options: TemporalServerOptions): Promise<RunningTemporalServer> {
  const binaries = options.binaries ?? temporalServerBinaries();
  const databases = options.databases ?? DEFAULT_DATABASES;
  const target = postgresTarget(options.postgresUrl);
  const dataDir = path.resolve(options.dataDir);
  fs.mkdirSync(dataDir, { recursive: true });

  const schemaStarted = Date.now();
  await setUpSchemas(binaries.sqlTool, target, databases);
  const schemaMs = Date.now() - schemaStarted;

  const ports = await serverPorts(options.port);
  const address = `127.0.0.1:${ports.frontend}`;
  const dynamicConfigFile = path.join(dataDir, 'dynamicconfig.yaml');
  fs.writeFileSync(dynamicConfigFile, dynamicConfigYaml());
  const configFile = path.join(dataDir, 'temporal-server.yaml');
  fs.writeFileSync(
    configFile,
    serverConfigYaml({
      target,
      databases,
      ports,
      dynamicConfigFile,
      metricsPort: options.metricsPort,
      logLevel: options.logLevel ?? 'warn',
    }),
    { mode: 0o600 }, // it holds the database password
  );
  const logFile = path.join(dataDir, 'temporal-server.log');
  const readyTimeoutMs = options.readyTimeoutMs ?? 120_000;

  let server: ServerProcess | undefined;
  const startProcess = async () => {
    server = spawnServer(binaries.server, configFile, logFile, dataDir);
    await waitUntilReady(server, address, options.namespace, readyTimeoutMs);
  };
  const started = Date.now();
  await startProcess().catch(async (error) => {
    await server?.stop();
    throw error;
  });
  const startMs = Date.now() - started;

  return {
    address,
    get pid() {
      return server?.child.pid;
    },
    timings: { schemaMs, startMs },
    stop: async () => {
      await server?.stop();
    },
    restart: async () => {
      await server?.stop();
      await startProcess();
    },
  };
}

/** Creates both databases when missing and brings their schemas to the newest version; every step is idempotent. */
async function setUpSchemas(sqlTool: string, target: PostgresTarget, databases: { temporal: string; visibility: string }): Promise<void> {
  const run = (database: string, ...command: string[]) =>
    execFileAsync(
      sqlTool,
      ['--plugin', 'postgres12', '--ep', target.host, '--port', String(target.port), '--user', target.user, '--db', database, ...command],
      // The password through the environment ($SQL_PASSWORD), not the process list.
      { env: { ...process.env, SQL_PASSWORD: target.password }, maxBuffer: 16 * 1024 * 1024 },
    ).catch((error: Error & { stderr?: string }) => {
      throw new Error(`temporal-sql-tool ${command[0]} on ${database} failed: ${lastLines(error.stderr ?? error.message, 5)}`);
    });
  for (const [database, schema] of [
    [databases.temporal, 'postgresql/v12/temporal'],
    [databases.visibility, 'postgresql/v12/visibility'],
  ]) {
    await run(database, 'create-database');
    await run(database, 'setup-schema', '--version', '0.0');
    // The versioned schemas embedded in the tool (schema/postgresql/v12/... of the same server version).
    await run(database, 'update-schema', '--schema-name', schema);
  }
}

interface ServerPorts {
  frontend: number;
  frontendHttp: number;
  frontendMembership: number;
  history: number;
  historyMembership: number;
  matching: number;
  matchingMembership: number;
  worker: number;
  workerMembership: number;
}

/** Membership (ringpop) ports are stored in cluster_membership.rpc_port, a SMALLINT: they must stay below 32768. */
const MEMBERSHIP_PORTS: [number, number] = [20000, 32767];

async function serverPorts(frontend?: number): Promise<ServerPorts> {
  const chosen = new Set<number>(frontend ? [frontend] : []);
  const next = async (range?: [number, number]): Promise<number> => {
    for (;;) {
      const port = range ? await freePortInRange(...range) : await freePort();
      if (!chosen.has(port)) {
        chosen.add(port);
        return port;
      }
    }
  };
  return {
    frontend: frontend ?? (await next()),
    frontendHttp: await next(),
    frontendMembership: await next(MEMBERSHIP_PORTS),
    history: await next(),
    historyMembership: await next(MEMBERSHIP_PORTS),
    matching: await next(),
    matchingMembership: await next(MEMBERSHIP_PORTS),
    worker: await next(),
    workerMembership: await next(MEMBERSHIP_PORTS),
  };
}

/** A YAML double-quoted scalar (JSON strings are valid ones). */
const q = (value: string) => JSON.stringify(value);

/**
 * The server's config: `config/development-postgres12.yaml` of go.temporal.io/server 1.32 with the
 * given databases and ports, every service bound on loopback, no archival, no pprof, metrics only
 * when asked for.
 */
function serverConfigYaml(c: {
  target: PostgresTarget;
  databases: { temporal: string; visibility: string };
  ports: ServerPorts;
  dynamicConfigFile: string;
  metricsPort?: number;
  logLevel: string;
}): string {
  const datastore = (database: string, maxConns: number) => `      sql:
        pluginName: "postgres12"
        databaseName: ${q(database)}
        connectAddr: ${q(`${c.target.host}:${c.target.port}`)}
        connectProtocol: "tcp"
        user: ${q(c.target.user)}
        password: ${q(c.target.password)}
        maxConns: ${maxConns}
        maxIdleConns: ${maxConns}
        maxConnLifetime: "1h"`;
  const service = (name: string, grpc: number, membership: number, http?: number) => `  ${name}:
    rpc:
      grpcPort: ${grpc}
      membershipPort: ${membership}
      bindOnLocalHost: true${http ? `\n      httpPort: ${http}` : ''}`;
  return `# Generated by src/dev/temporal-server.ts from go.temporal.io/server 1.32 config/development-postgres12.yaml.
log:
  stdout: true
  level: ${c.logLevel}

persistence:
  defaultStore: postgres-default
  visibilityStore: postgres-visibility
  numHistoryShards: ${HISTORY_SHARDS}
  datastores:
    postgres-default:
${datastore(c.databases.temporal, 20)}
    postgres-visibility:
${datastore(c.databases.visibility, 10)}

global:
  membership:
    maxJoinDuration: 30s
    broadcastAddress: "127.0.0.1"
${
  c.metricsPort
    ? `  metrics:
    prometheus:
      framework: "tally"
      timerType: "histogram"
      listenAddress: "127.0.0.1:${c.metricsPort}"
`
    : ''
}
services:
${service('frontend', c.ports.frontend, c.ports.frontendMembership, c.ports.frontendHttp)}
${service('matching', c.ports.matching, c.ports.matchingMembership)}
${service('history', c.ports.history, c.ports.historyMembership)}
${service('worker', c.ports.worker, c.ports.workerMembership)}

clusterMetadata:
  enableGlobalNamespace: false
  failoverVersionIncrement: 10
  masterClusterName: "active"
  currentClusterName: "active"
  clusterInformation:
    active:
      enabled: true
      initialFailoverVersion: 1
      rpcName: "frontend"
      rpcAddress: "127.0.0.1:${c.ports.frontend}"

dcRedirectionPolicy:
  policy: "noop"

dynamicConfigClient:
  filepath: ${q(c.dynamicConfigFile)}
  pollInterval: "10s"
`;
}

/**
 * Dynamic config: the same as the compose file's (deploy/temporal/dynamicconfig.yaml), no testing
 * switches, so the server behaves as deployed: IDs longer than the schema's VARCHAR(255) columns
 * are refused at the API instead of failing in the database.
 */
function dynamicConfigYaml(): string {
  return `# Generated by src/dev/temporal-server.ts (as deploy/temporal/dynamicconfig.yaml).
limit.maxIDLength:
  - value: 255
    constraints: {}
`;
}

interface ServerProcess {
  child: ChildProcess;
  logFile: string;
  exited: Promise<number | null>;
  stop(): Promise<void>;
}

function spawnServer(executable: string, configFile: string, logFile: string, cwd: string): ServerProcess {
  const log = fs.openSync(logFile, 'a');
  const child = spawn(executable, ['--config-file', configFile, '--allow-no-auth', 'start'], {
    cwd,
    stdio: ['ignore', log, log],
  });
  fs.closeSync(log);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code, signal) => resolve(code ?? (signal ? -1 : null))));
  // Never leave the server running after its owner exits, even on an uncaught error.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      process.removeListener('exit', killOnExit);
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(timer);
    })());
  return { child, logFile, exited, stop };
}

/**
 * Waits until the frontend answers, the namespace exists (created if missing) and the product's
 * search attributes are registered and usable.
 */
async function waitUntilReady(server: ServerProcess, address: string, namespace: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exitCode: number | null | undefined;
  void server.exited.then((code) => (exitCode = code));
  let lastError: unknown;
  let connection: Connection | undefined;
  try {
    for (;;) {
      if (exitCode !== undefined) {
        const tail = lastLines(fs.readFileSync(server.logFile, 'utf8'), 5);
        throw new Error(`the Temporal server exited (${exitCode}) while starting (${server.logFile}):\n${tail}`);
      }
      if (Date.now() > deadline) throw new Error(`the Temporal server was not ready within ${timeoutMs} ms: ${String(lastError)}`);
      try {
        connection ??= await Connection.connect({ address, connectTimeout: '2s' });
        await ensureNamespace(connection, namespace);
        await registerSearchAttributes(connection, namespace, { usableWithinMs: Math.max(deadline - Date.now(), 1) });
        return;
      } catch (error) {
        // A refusal (e.g. more search attributes of a type than the visibility schema has columns) will not pass by waiting.
        if ((error as { code?: number }).code === 3 /* INVALID_ARGUMENT */) throw error;
        lastError = error;
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    }
  } finally {
    await connection?.close();
  }
}

/** Describes the namespace, registering it when the server does not know it (as the compose file's namespace step does). */
async function ensureNamespace(connection: Connection, namespace: string): Promise<void> {
  try {
    await connection.workflowService.describeNamespace({ namespace });
  } catch (error) {
    if ((error as { code?: number }).code !== 5 /* NOT_FOUND */) throw error;
    try {
      await connection.workflowService.registerNamespace({
        namespace,
        workflowExecutionRetentionPeriod: msToTs(RETENTION),
      });
    } catch (registerError) {
      if ((registerError as { code?: number }).code !== 6 /* ALREADY_EXISTS */) throw registerError;
    }
  }
}

function postgresTarget(url: string): PostgresTarget {
  const parsed = new URL(url);
  const sslmode = parsed.searchParams.get('sslmode');
  if (sslmode && !['disable', 'prefer', 'allow'].includes(sslmode)) {
    throw new Error(`the local Temporal server connects to PostgreSQL without TLS; sslmode=${sslmode} is not supported here`);
  }
  return {
    host: parsed.hostname || '127.0.0.1',
    port: Number(parsed.port || 5432),
    user: decodeURIComponent(parsed.username),
    password: decodeURIComponent(parsed.password),
  };
}

function lastLines(text: string, n: number): string {
  return text.trim().split('\n').slice(-n).join('\n');
}
