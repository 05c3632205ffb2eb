import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { loadConfig, type Config } from '../config';
import { migrate } from '../db/migrate';
import { createPool } from '../db/pool';
import { logger as rootLogger } from '../logger';
import { startApi, type RunningApi } from '../runtime/api-process';
import { resolveDependencies } from '../runtime/dependencies';
import { startDevSinks } from '../runtime/dev-sinks';
import { payloadCodecFor } from '../runtime/payload-encryption';
import { secretBoxFor } from '../runtime/secret-keys';
import { startWorker, type RunningWorker } from '../runtime/worker-process';
import { connectTemporalClient } from '../temporal/client';
import { registerSearchAttributes } from '../temporal/search-attributes';
import { installSdkRuntime } from '../temporal/sdk-logger';
import { ensureSchedules, type ScheduleOptions } from '../temporal/schedules';

/** Which parts this process runs. */
export type ProcessRole = 'all' | 'worker' | 'api';

/**
 * Runs the service. `start` (role all) is the laptop/all-in-one mode: it brings up a real Postgres
 * and the Temporal dev server unless DATABASE_URL / TEMPORAL_ADDRESS are set, migrates, registers
 * search attributes, and runs the worker and the API in one process. `worker` and `api` are the
 * production roles (docker-compose): they require DATABASE_URL and TEMPORAL_ADDRESS.
 * Every role encrypts workflow payloads; without its keys (PAYLOAD_KEYS / PAYLOAD_KEYS_FILE) a
 * production process refuses to start (src/runtime/payload-encryption.ts). `start` also serves
 * the codec server and points the dev server's Web UI at it.
 * SIGINT/SIGTERM drain everything gracefully.
 */
export async function serveCommand(role: ProcessRole): Promise<number> {
  let config: Config = loadConfig();
  const logger: Logger = rootLogger.child({ role });
  if (role === 'all' && !config.PLATFORM_ADMIN_TOKEN) {
    config = { ...config, PLATFORM_ADMIN_TOKEN: randomBytes(24).toString('base64url') };
  }
  if (role === 'all' && !config.CODEC_AUTH_TOKEN) {
    config = { ...config, CODEC_AUTH_TOKEN: randomBytes(24).toString('base64url') };
  }
  // Before anything connects: no keys, no start (in production; development keeps a key in DATA_DIR).
  const payloadCodec = payloadCodecFor(config, logger);
  // Likewise the keys of the integrations' secrets, for the API (the worker never reads them).
  const secretBox = role === 'worker' ? undefined : secretBoxFor(config, logger);
  // Before anything creates the SDK runtime (the dev server launcher does): SDK logs go to pino.
  installSdkRuntime(logger, { metricsBindAddress: config.WORKER_METRICS_BIND_ADDRESS });
  const deps = await resolveDependencies(config, logger, { embedded: role === 'all', uiCodecEndpoint: uiCodecEndpoint(config) });
  // The API's pool; the worker has its own, sized by its activity slots (src/runtime/worker-process.ts).
  const pool = createPool(deps.databaseUrl, {
    max: config.DATABASE_POOL_SIZE,
    connectionTimeoutMillis: config.DATABASE_CONNECT_TIMEOUT_MS,
  });
  const temporal = await connectTemporalClient(deps.temporalAddress, config.TEMPORAL_NAMESPACE, undefined, payloadCodec);
  let worker: RunningWorker | undefined;
  let api: RunningApi | undefined;
  const sinks = role === 'all' ? await startDevSinks(config.channels, logger) : [];

  let stopping: Promise<void> | undefined;
  const stop = (signal: string) =>
    (stopping ??= (async () => {
      logger.info({ signal }, 'shutting down');
      await api?.close();
      await worker?.shutdown();
      await temporal.close();
      await pool.end();
      for (const sink of sinks) await sink.close();
      await deps.stop();
      logger.info('stopped');
    })());
  process.once('SIGINT', () => void stop('SIGINT'));
  process.once('SIGTERM', () => void stop('SIGTERM'));

  try {
    if (role === 'all') await migrate({ databaseUrl: deps.databaseUrl, log: (m) => logger.debug(m) });
    // Idempotent: every process makes sure the namespace has the product's search attributes.
    const added = await registerSearchAttributes(temporal.connection, config.TEMPORAL_NAMESPACE);
    if (added.length) logger.info({ added }, 'registered search attributes');
    if (role !== 'api') {
      worker = await startWorker(config, deps.temporalAddress, deps.databaseUrl, temporal.client, logger, payloadCodec);
      const schedules = await ensureSchedules(temporal.client, scheduleOptions(config));
      if (schedules.length) logger.info({ schedules }, 'created Temporal schedules');
    }
    if (role !== 'worker') api = await startApi(config, pool, temporal, logger, payloadCodec, secretBox!);
  } catch (error) {
    logger.error({ err: error }, 'start-up failed');
    await stop('startup-failure');
    return 1;
  }

  if (role === 'all')
    printBanner(
      config,
      api!.url,
      deps.temporalUiUrl,
      deps.databaseUrl,
      deps.temporalAddress,
      sinks.map((s) => s.url),
    );
  // A worker that stops on its own (fatal error) takes the process down with it, cleanly.
  worker?.done.then(
    () => stop('worker-stopped'),
    (error) => {
      logger.error({ err: error }, 'worker failed');
      void stop('worker-failed');
    },
  );
  // Serve until a signal (or the worker's end) has stopped everything.
  await new Promise<void>((resolve) => {
    const wait = () => (stopping ? stopping.then(resolve) : setTimeout(wait, 200));
    wait();
  });
  return 0;
}

function printBanner(
  config: Config,
  apiUrl: string,
  uiUrl: string | undefined,
  databaseUrl: string,
  temporalAddress: string,
  sinks: string[],
) {
  const lines = [
    '',
    'Appointment orchestrator is running',
    `  API            ${apiUrl}   (docs ${apiUrl}/docs, readiness ${apiUrl}/health/ready)`,
    `  Console        ${apiUrl}/console   (sign in with a staff member's API key)`,
    `  Temporal       ${temporalAddress}${
      uiUrl
        ? `   (Web UI ${uiUrl})`
        : config.TEMPORAL_PERSISTENCE === 'postgres' && !config.TEMPORAL_ADDRESS
          ? '   (server on PostgreSQL; no Web UI in this mode)'
          : ''
    }`,
    ...(config.CODEC_AUTH_TOKEN
      ? [
          `  Codec server   ${apiUrl}/codec   (payloads are encrypted in Temporal; ${uiUrl ? 'the Web UI decodes them here; ' : ''}` +
            `CLI: --codec-endpoint ${apiUrl}/codec --codec-auth 'Bearer ${config.CODEC_AUTH_TOKEN}')`,
        ]
      : []),
    `  PostgreSQL     ${databaseUrl.replace(/:[^:@/]+@/, ':***@')}`,
    `  Task queue     ${config.TEMPORAL_TASK_QUEUE}`,
    ...(sinks.length
      ? [`  Dev sinks      ${sinks.join(', ')}   (messages are logged; set SMTP_URL / TWILIO_BASE_URL for real providers)`]
      : []),
    '',
    'Create a company and its first admin API key:',
    `  curl -s -X POST ${apiUrl}/v1/companies -H 'Authorization: Bearer ${config.PLATFORM_ADMIN_TOKEN}' \\`,
    `       -H 'Content-Type: application/json' -d '{"name":"My Salon"}'`,
    '',
  ];
  process.stdout.write(lines.join('\n') + '\n');
}

/**
 * The codec endpoint the dev server's Web UI is given: the API's /codec with the codec token as a
 * path segment (the UI cannot send a header of ours). For the browser, a wildcard listen address
 * is reached on 127.0.0.1. None when the port is only known after listening (PORT=0).
 */
export function uiCodecEndpoint(config: Config): string | undefined {
  if (!config.CODEC_AUTH_TOKEN || config.PORT === 0) return undefined;
  const host = ['0.0.0.0', '::', '[::]'].includes(config.HOST) ? '127.0.0.1' : config.HOST.includes(':') ? `[${config.HOST}]` : config.HOST;
  return `http://${host}:${config.PORT}/codec/${encodeURIComponent(config.CODEC_AUTH_TOKEN)}`;
}

export const scheduleOptions = (config: Config): ScheduleOptions => ({
  taskQueue: config.TEMPORAL_TASK_QUEUE,
  idempotencyKeyTtlHours: config.IDEMPOTENCY_KEY_TTL_HOURS,
  calcomDeliveryBodyTtlHours: config.CALCOM_DELIVERY_BODY_TTL_HOURS,
  reconcile: {
    every: `${config.RECONCILE_EVERY_SECONDS}s`,
    graceSeconds: config.RECONCILE_GRACE_SECONDS,
    lookbackHours: config.RECONCILE_LOOKBACK_HOURS,
    limit: 500,
  },
});
