import webpush from 'web-push';
import type { Client } from '@temporalio/client';
import type { NativeConnection, Worker } from '@temporalio/worker';
import { createActivities } from '../../activities';
import { ChannelRegistry } from '../../src/channels/registry';
import { SmtpProvider } from '../../src/channels/smtp';
import { TwilioProvider } from '../../src/channels/twilio';
import { WebPushProvider } from '../../src/channels/webpush';
import type { Pool } from '../../src/db/pool';
import { createLogger } from '../../src/logger';
import { createNotificationService, type NotificationService } from '../../src/notifications/service';
import { installSdkRuntime } from '../../src/temporal/sdk-logger';
import { createProductWorker } from '../../src/temporal/worker';
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
      new WebPushProvider({ name: 'webpush', vapid: { subject: 'mailto:ops@salon.test', ...vapid }, ttlSeconds: 60, timeoutMs }),
    ],
    { email: ['smtp'] },
  );
}

export interface NotificationRig {
  worker: Worker;
  taskQueue: string;
  service: NotificationService;
  /** How many times each activity ran (executions, retries included) on this worker. */
  calls: Record<string, number>;
  /** Stops the worker (graceful shutdown) and waits for it. */
  stop(): Promise<void>;
}

/** A worker with the product's workflows and activities on a fresh task queue, and the service using it. */
export async function startRig(options: {
  connection: NativeConnection;
  client: Client;
  namespace?: string;
  pool: Pool;
  channels: ChannelRegistry;
  taskQueue?: string;
  shutdownGraceMs?: number;
  maxCachedWorkflows?: number;
}): Promise<NotificationRig> {
  const taskQueue = options.taskQueue ?? uniqueTaskQueue('notify');
  const calls: Record<string, number> = {};
  // The real activities, counted (a spy, not a stand-in).
  const activities = Object.fromEntries(
    Object.entries(createActivities({ pool: options.pool, logger, channels: options.channels })).map(([name, fn]) => [
      name,
      (...args: unknown[]) => {
        calls[name] = (calls[name] ?? 0) + 1;
        return (fn as (...a: unknown[]) => unknown)(...args);
      },
    ]),
  );
  const worker = await createProductWorker({
    connection: options.connection,
    namespace: options.namespace ?? 'default',
    taskQueue,
    activities,
    workflowBundle: await workflowBundle(),
    shutdownGraceMs: options.shutdownGraceMs ?? 2_000,
    maxCachedWorkflows: options.maxCachedWorkflows,
  });
  const running = worker.run();
  const service = createNotificationService({ pool: options.pool, client: options.client, taskQueue, logger });
  return {
    worker,
    taskQueue,
    service,
    calls,
    stop: async () => {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running;
    },
  };
}

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
    `SELECT attempt_number, channel, provider, recipient, is_fallback, status, error, error_kind, config_id, may_have_sent, idempotency_key, started_at
       FROM notification_deliveries WHERE notification_id = $1 ORDER BY attempt_number, started_at`,
    [notificationId],
  );
  return rows;
}
