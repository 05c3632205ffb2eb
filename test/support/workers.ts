import webpush from 'web-push';
import type { Client } from '@temporalio/client';
import type { PayloadCodec } from '@temporalio/common';
import type { NativeConnection, Worker } from '@temporalio/worker';
import { createActivities } from '../../activities';
import { loadChannelConfig } from '../../src/channels/config';
import { ChannelRegistry, createChannelRegistry } from '../../src/channels/registry';
import { SmtpProvider } from '../../src/channels/smtp';
import { TwilioProvider } from '../../src/channels/twilio';
import { WebPushProvider } from '../../src/channels/webpush';
import type { Pool } from '../../src/db/pool';
import { createLogger } from '../../src/logger';
import { TEST_UNSUBSCRIBE_SECRET } from './api';
import { createCallbackService, type CallbackService } from '../../src/callbacks/service';
import { createNotificationService, type NotificationService } from '../../src/notifications/service';
import type { Durability } from '../../src/temporal/durability';
import { installSdkRuntime } from '../../src/temporal/sdk-logger';
import { createProductWorker } from '../../src/temporal/worker';
import { testPayloadCodec } from './encryption';
import {
  startPushServer,
  startSmtpServer,
  startTwilioServer,
  type SmtpTestServer,
  type TwilioTestServer,
} from '../support/channel-servers';
import { uniqueTaskQueue, workflowBundle } from '../support/temporal';

export const logger = createLogger(process.env.TEST_LOG_LEVEL ?? 'silent');
installSdkRuntime(createLogger(process.env.TEST_LOG_LEVEL ?? 'error'));

export interface ChannelServers {
  smtp: SmtpTestServer;
  smtpBackup: SmtpTestServer;
  twilio: TwilioTestServer;
  push: Awaited<ReturnType<typeof startPushServer>>;
  close(): Promise<void>;
}

export async function startChannelServers(): Promise<ChannelServers> {
  const [smtp, smtpBackup, twilio, push] = await Promise.all([
    startSmtpServer(),
    startSmtpServer(),
    startTwilioServer(),
    startPushServer(),
  ]);
  return {
    smtp,
    smtpBackup,
    twilio,
    push,
    close: async () => {
      await Promise.all([smtp.close(), smtpBackup.close(), twilio.close(), push.close()]);
    },
  };
}

const vapid = webpush.generateVAPIDKeys();

/**
 * The providers pointed at the local servers: `smtp` and `smtp-backup` (email defaults to `smtp`
 * alone, so a transient failure waits for a retry unless a config lists the backup), `twilio-sms`,
 * `twilio-whatsapp`, `webpush`.
 */
export function testChannels(servers: ChannelServers, timeoutMs = 3_000): ChannelRegistry {
  const twilio = { baseUrl: servers.twilio.baseUrl, accountSid: servers.twilio.accountSid, authToken: servers.twilio.authToken, timeoutMs };
  return new ChannelRegistry(
    [
      new SmtpProvider({ name: 'smtp', url: servers.smtp.url, from: 'Salon <notify@salon.test>', timeoutMs }),
      new SmtpProvider({ name: 'smtp-backup', url: servers.smtpBackup.url, from: 'Salon <notify@salon.test>', timeoutMs }),
      new TwilioProvider({ ...twilio, name: 'twilio-sms', channel: 'sms', from: '+15005550006' }),
      new TwilioProvider({ ...twilio, name: 'twilio-whatsapp', channel: 'whatsapp', from: 'whatsapp:+14155238886' }),
      // The local push service listens on loopback over http: allowed for tests only (OUTGOING_ALLOW_LOOPBACK).
      new WebPushProvider({
        name: 'webpush',
        vapid: { subject: 'mailto:ops@salon.test', ...vapid },
        ttlSeconds: 60,
        timeoutMs,
        allowLoopback: true,
      }),
    ],
    { email: ['smtp'] },
  );
}

export interface TestWorker {
  worker: Worker;
  taskQueue: string;
  /** The notification service, starting workflows on this worker's task queue. */
  service: NotificationService;
  /** The callback service, likewise. */
  callbacks: CallbackService;
  /** How many times each activity ran (executions, retries included) on this worker. */
  calls: Record<string, number>;
  /** Executions per activity that threw (retried by Temporal). */
  failures: Record<string, number>;
  /** Stops the worker (graceful shutdown) and waits for it. */
  stop(): Promise<void>;
}
/** Earlier name of TestWorker, kept for the notification tests. */
export type NotificationRig = TestWorker;

export interface TestWorkerOptions {
  connection: NativeConnection;
  client: Client;
  namespace?: string;
  pool: Pool;
  /** Channel providers; default: the production registry with its loopback defaults. */
  channels?: ChannelRegistry;
  taskQueue?: string;
  shutdownGraceMs?: number;
  maxCachedWorkflows?: number;
  /** Fault injection around the real activities (e.g. stop the database before one runs). */
  around?: (name: string, run: () => Promise<unknown>, args: unknown[]) => Promise<unknown>;
  /** Infrastructure retry policy of the workflows this worker's service starts (default: the production defaults). */
  durability?: Durability;
  /** Continue-as-new threshold of the callback workflows the service starts. */
  historyLimit?: number;
  /** The clock the services compute deadlines on (a time-skipping server's). */
  clock?: () => number | Promise<number>;
  /** Where unsubscribe links in emails point (a test API's url; default: an unused address). */
  publicBaseUrl?: string;
  /** The worker's payload codec (default: the suite's keys). */
  payloadCodec?: PayloadCodec;
}

/**
 * A worker with the product's workflows and the real activities on a fresh task queue (the one
 * worker set-up every test file shares), and the notification service using it. The activities are
 * wrapped to count executions and failures: a spy, not a stand-in.
 */
export async function startTestWorker(options: TestWorkerOptions): Promise<TestWorker> {
  const taskQueue = options.taskQueue ?? uniqueTaskQueue('worker');
  const calls: Record<string, number> = {};
  const failures: Record<string, number> = {};
  const channels = options.channels ?? createChannelRegistry(loadChannelConfig({}), logger);
  const { durability } = options;
  const real = createActivities({
    pool: options.pool,
    logger,
    channels,
    client: options.client,
    taskQueue,
    durability,
    unsubscribe: { secret: TEST_UNSUBSCRIBE_SECRET, baseUrl: options.publicBaseUrl ?? 'http://127.0.0.1:9', ttlDays: 30 },
  });
  const activities = Object.fromEntries(
    Object.entries(real).map(([name, fn]) => [
      name,
      async (...args: unknown[]) => {
        calls[name] = (calls[name] ?? 0) + 1;
        const run = () => (fn as (...a: unknown[]) => Promise<unknown>)(...args);
        try {
          return await (options.around ? options.around(name, run, args) : run());
        } catch (error) {
          failures[name] = (failures[name] ?? 0) + 1;
          throw error;
        }
      },
    ]),
  );
  const worker = await createProductWorker({
    connection: options.connection,
    namespace: options.namespace ?? process.env.TEST_TEMPORAL_NAMESPACE ?? 'default',
    taskQueue,
    activities,
    workflowBundle: await workflowBundle(),
    payloadCodec: options.payloadCodec ?? testPayloadCodec(),
    shutdownGraceMs: options.shutdownGraceMs ?? 2_000,
    maxCachedWorkflows: options.maxCachedWorkflows,
  });
  const running = worker.run();
  const service = createNotificationService({ pool: options.pool, client: options.client, taskQueue, logger, durability });
  const callbacks = createCallbackService({
    pool: options.pool,
    client: options.client,
    taskQueue,
    logger,
    durability,
    historyLimit: options.historyLimit,
    clock: options.clock,
  });
  return {
    worker,
    taskQueue,
    service,
    callbacks,
    calls,
    failures,
    stop: async () => {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running;
    },
  };
}

/** startTestWorker with the notification tests' defaults. */
export const startRig = (options: TestWorkerOptions & { channels: ChannelRegistry }) =>
  startTestWorker({ ...options, taskQueue: options.taskQueue ?? uniqueTaskQueue('notify') });

/**
 * The notification's workflow result (time skips on a time-skipping server while this waits).
 * Await one at a time on a time-skipping server: concurrent result() calls unbalance its
 * lock/unlock count and can freeze its clock for the rest of the file.
 */
export async function resultOf(client: Client, notificationId: string) {
  return client.workflow.getHandle(`notification-${notificationId}`).result();
}

/** Durations (ms) of the timers the workflow started, in order, read from its history. */
export async function timerDurations(client: Client, notificationId: string): Promise<number[]> {
  const history = await client.workflow.getHandle(`notification-${notificationId}`).fetchHistory();
  return (history.events ?? [])
    .filter((e) => e.timerStartedEventAttributes)
    .map((e) => {
      const d = e.timerStartedEventAttributes!.startToFireTimeout!;
      return Number(d.seconds ?? 0) * 1000 + Math.round((d.nanos ?? 0) / 1e6);
    });
}

/** Attempt rows of a notification, in order. */
export async function attemptsOf(pool: Pool, notificationId: string) {
  const { rows } = await pool.query(
    `SELECT attempt_number, channel, provider, recipient, is_fallback, status, error, error_kind, config_id, may_have_sent, idempotency_key, provider_key, started_at
       FROM notification_deliveries WHERE notification_id = $1 ORDER BY attempt_number, started_at`,
    [notificationId],
  );
  return rows;
}
