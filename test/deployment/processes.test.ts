import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { testClient } from '../support/encryption';
import { freePort } from '../../src/dev/free-port';
import { createNotificationService } from '../../src/notifications/service';
import { startTwilioServer } from '../support/channel-servers';
import { testPool } from '../support/database';
import { createOrganisation } from '../support/fixtures';

const ROOT = path.resolve(__dirname, '..', '..');

interface Exited {
  code: number | null;
  logs: Array<{ msg?: string; level?: number }>;
}

/** Starts a production role (`worker` or `api`) as its own process, waits for `readyMsg`, sends SIGTERM. */
async function runUntilSigterm(
  role: 'worker' | 'api',
  readyMsg: string,
  env: Record<string, string>,
  whenReady: () => Promise<void> = async () => undefined,
): Promise<Exited> {
  const child = spawn(process.execPath, ['-r', '@swc-node/register', 'src/main.ts', role], {
    cwd: ROOT,
    env: {
      ...process.env,
      DATABASE_URL: process.env.TEST_DATABASE_URL!,
      TEMPORAL_ADDRESS: process.env.TEST_TEMPORAL_ADDRESS!,
      TEMPORAL_TASK_QUEUE: `proc-${randomUUID()}`,
      LOG_LEVEL: 'info',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Exited['logs'] = [];
  let buffer = '';
  let signalled = false;
  child.stdout!.on('data', (chunk) => {
    buffer += chunk;
    const lines = buffer.split('\n');
    buffer = lines.pop()!;
    for (const line of lines) {
      try {
        const entry = JSON.parse(line);
        logs.push(entry);
        if (!signalled && entry.msg === readyMsg) {
          signalled = true;
          void whenReady().finally(() => child.kill('SIGTERM'));
        }
      } catch {
        /* not a log line */
      }
    }
  });
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  return { code, logs };
}

describe('process roles shut down gracefully on SIGTERM', () => {
  it('the worker serves its SDK metrics, drains and exits 0', async () => {
    const metricsPort = await freePort();
    let metrics = '';
    const { code, logs } = await runUntilSigterm(
      'worker',
      'worker running',
      { WORKER_METRICS_BIND_ADDRESS: `127.0.0.1:${metricsPort}` },
      async () => {
        metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      },
    );
    expect(metrics).toMatch(/temporal_/);
    const messages = logs.map((l) => l.msg);
    expect(messages).toEqual(expect.arrayContaining(['worker running', 'shutting down', 'stopped']));
    expect(messages.indexOf('stopped')).toBeGreaterThan(messages.indexOf('shutting down'));
    expect(code).toBe(0);
  });

  it("a provider refusing the worker's credentials is logged at error level and counted on its metrics endpoint", async () => {
    const pool = testPool();
    const twilio = await startTwilioServer('ACmetrics', 'right');
    const connection = await Connection.connect({ address: process.env.TEST_TEMPORAL_ADDRESS! });
    const client = testClient(connection);
    try {
      const org = await createOrganisation(pool);
      await pool.query(
        `INSERT INTO notification_configurations (company_id, configurable_type, configurable_id, event_type, channel, fallback_channel, retry_count)
         VALUES ($1, 'company', $1, 'payment_received', 'sms', 'none', 0)`,
        [org.companyId],
      );
      const taskQueue = `proc-${randomUUID()}`;
      const metricsPort = await freePort();
      let metrics = '';
      const { logs } = await runUntilSigterm(
        'worker',
        'worker running',
        {
          TEMPORAL_TASK_QUEUE: taskQueue,
          WORKER_METRICS_BIND_ADDRESS: `127.0.0.1:${metricsPort}`,
          TWILIO_BASE_URL: twilio.baseUrl,
          TWILIO_ACCOUNT_SID: 'ACmetrics',
          TWILIO_AUTH_TOKEN: 'wrong', // the provider answers 401
        },
        async () => {
          const { notification } = await createNotificationService({ pool, client, taskQueue }).sendNotification(org.companyId, {
            eventType: 'payment_received',
            notifiable: { type: 'customer', id: org.customerId },
          });
          expect(await client.workflow.getHandle(notification.workflowId).result()).toMatchObject({ status: 'failed' });
          metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
          const { rows } = await pool.query(`SELECT error_kind FROM notification_deliveries WHERE notification_id = $1`, [notification.id]);
          expect(rows).toEqual([{ error_kind: 'configuration' }]);
        },
      );
      expect(metrics).toMatch(/^notification_provider_configuration_errors(_total)?\{[^}]*provider="twilio-sms"[^}]*\} 1$/m);
      expect(logs).toContainEqual(expect.objectContaining({ level: 50, msg: expect.stringContaining('provider refused our credentials') }));
    } finally {
      await connection.close();
      await twilio.close();
      await pool.end();
    }
  }, 60_000);

  it('the API closes its listener and exits 0', async () => {
    const { code, logs } = await runUntilSigterm('api', 'API listening', { PORT: String(await freePort()) });
    expect(logs.map((l) => l.msg)).toEqual(expect.arrayContaining(['API listening', 'shutting down', 'stopped']));
    expect(code).toBe(0);
  });
});

describe('payload keys at start-up', () => {
  /** Runs a production role to its exit (it should not get far); everything it printed. */
  async function runToExit(role: 'worker' | 'api', env: Record<string, string>): Promise<{ code: number | null; output: string }> {
    const child = spawn(process.execPath, ['-r', '@swc-node/register', 'src/main.ts', role], {
      cwd: ROOT,
      env: {
        ...process.env,
        DATABASE_URL: process.env.TEST_DATABASE_URL!,
        TEMPORAL_ADDRESS: process.env.TEST_TEMPORAL_ADDRESS!,
        TEMPORAL_TASK_QUEUE: `proc-${randomUUID()}`,
        PORT: String(await freePort()),
        LOG_LEVEL: 'info',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout!.on('data', (d) => (output += d));
    child.stderr!.on('data', (d) => (output += d));
    const timer = setTimeout(() => child.kill('SIGTERM'), 20_000);
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    clearTimeout(timer);
    return { code, output };
  }

  it.each(['worker', 'api'] as const)('a production %s without PAYLOAD_KEYS refuses to start, naming the variable', async (role) => {
    const { code, output } = await runToExit(role, { NODE_ENV: 'production', PAYLOAD_KEYS: '', PAYLOAD_KEYS_FILE: '' });
    expect(code).toBe(1);
    expect(output).toMatch(/PAYLOAD_KEYS: required with NODE_ENV=production/);
    expect(output).not.toMatch(/worker running|API listening/);
  });

  it('a production worker with a malformed key refuses to start, naming the variable and not the key', async () => {
    const { code, output } = await runToExit('worker', { NODE_ENV: 'production', PAYLOAD_KEYS: 'k1:c2hvcnQta2V5' });
    expect(code).toBe(1);
    expect(output).toMatch(/PAYLOAD_KEYS: entry 1 \(k1\): the key is 9 bytes/);
    expect(output).not.toContain('c2hvcnQta2V5');
    expect(output).not.toMatch(/worker running/);
  });
});
