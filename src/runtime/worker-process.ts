import { NativeConnection, type Worker } from '@temporalio/worker';
import type { Client } from '@temporalio/client';
import type { PayloadCodec } from '@temporalio/common';
import type { Logger } from 'pino';
import { createActivities } from '../../activities';
import { createChannelRegistry } from '../channels/registry';
import { createFeatureSwitches } from '../companies/features';
import { durabilityOf, featureDefaultsOf, unsubscribeLinksOf, workerPoolSize, type Config } from '../config';
import { createPool } from '../db/pool';
import { installSdkRuntime } from '../temporal/sdk-logger';
import { bundleWorkflows, createProductWorker } from '../temporal/worker';

export interface RunningWorker {
  worker: Worker;
  /** Resolves when the worker has stopped (after shutdown()). */
  done: Promise<void>;
  shutdown(): Promise<void>;
}

/**
 * Starts the product's worker on the task queue; shutdown() drains it gracefully. `payloadCodec`
 * (src/runtime/payload-encryption.ts) encrypts what it writes and decrypts what it reads; `client`
 * must use the same keys (it starts the notifications of running callbacks).
 */
export async function startWorker(
  config: Config,
  address: string,
  databaseUrl: string,
  client: Client,
  logger: Logger,
  payloadCodec: PayloadCodec,
): Promise<RunningWorker> {
  installSdkRuntime(logger);
  const workflowBundle = await bundleWorkflows();
  const connection = await NativeConnection.connect({ address });
  const channels = createChannelRegistry(config.channels, logger);
  // One connection per activity slot: no activity ever waits for a connection another one holds.
  const pool = createPool(databaseUrl, { max: workerPoolSize(config), connectionTimeoutMillis: config.DATABASE_CONNECT_TIMEOUT_MS });
  const worker = await createProductWorker({
    connection,
    workflowBundle,
    payloadCodec,
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    activities: createActivities({
      pool,
      logger,
      channels,
      client,
      taskQueue: config.TEMPORAL_TASK_QUEUE,
      durability: durabilityOf(config),
      unsubscribe: unsubscribeLinksOf(config),
      features: createFeatureSwitches({
        db: pool,
        defaults: featureDefaultsOf(config),
        ttlMs: config.FEATURE_CACHE_TTL_SECONDS * 1000,
      }),
    }),
    maxConcurrentActivityTaskExecutions: config.WORKER_MAX_CONCURRENT_ACTIVITIES,
    maxConcurrentLocalActivityExecutions: config.WORKER_MAX_CONCURRENT_LOCAL_ACTIVITIES,
    maxCachedWorkflows: config.WORKER_MAX_CACHED_WORKFLOWS,
    shutdownGraceMs: config.WORKER_SHUTDOWN_GRACE_MS,
  });
  const done = worker.run().finally(async () => {
    await channels.close();
    await connection.close();
    await pool.end();
  });
  logger.info({ taskQueue: config.TEMPORAL_TASK_QUEUE }, 'worker running');
  return {
    worker,
    done,
    shutdown: async () => {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await done;
    },
  };
}
