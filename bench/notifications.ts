/**
 * Notifications end to end versus plain nodemailer, on one machine, loopback only.
 *
 * Starts a real PostgreSQL (embedded, migrated), the Temporal CLI dev server, an in-process SMTP
 * server and the product's worker in its own process. Sends N notifications through the service
 * (row + workflow each: resolve config, render, rate-limit check, attempt row, SMTP send) and
 * waits until all are delivered; then sends the same N messages with plain nodemailer to the same
 * SMTP server at the same concurrency, and N bare workflows that each run one activity doing that
 * plain send (Temporal's floor on this server). Prints the rates, their ratios and the worker
 * process's peak RSS.
 *
 *   npm run bench:notifications            # N=200, concurrency 32
 *   BENCH_N=500 BENCH_CONCURRENCY=64 npm run bench:notifications
 *
 * Bounded: N <= 5000, and the whole run is aborted after BENCH_TIMEOUT_S (default 300 s).
 * The dev server persists to SQLite through one connection: absolute workflow rates here are far
 * below a Postgres-backed Temporal cluster; the ratio is the figure to watch.
 */
import { fork, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import nodemailer from 'nodemailer';
import { migrate } from '../src/db/migrate';
import { createPool } from '../src/db/pool';
import { startEmbeddedPostgres } from '../src/dev/embedded-postgres';
import { freePort } from '../src/dev/free-port';
import { startTemporalDevServer } from '../src/dev/temporal-dev-server';
import { createNotificationService } from '../src/notifications/service';
import { connectTemporalClient } from '../src/temporal/client';
import { benchPayloadCodec } from './encryption';
import { startSmtpServer } from '../test/support/channel-servers';

/** Encrypted as in production; set before any process is started, so each inherits the key. */
const payloadCodec = benchPayloadCodec();

const int = (name: string, fallback: number, min: number, max: number) => {
  const raw = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(raw) || raw < min || raw > max) throw new Error(`${name} must be an integer in [${min}, ${max}]`);
  return raw;
};
const N = int('BENCH_N', 200, 1, 5000);
const CONCURRENCY = int('BENCH_CONCURRENCY', 32, 1, 256);
const WARMUP = Math.min(20, N);
const TIMEOUT_S = int('BENCH_TIMEOUT_S', 300, 10, 3600);

/** Runs `task(i)` for i in [0, n) with at most `limit` in flight. */
async function pooled(n: number, limit: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, n) }, async () => {
      while (next < n) await task(next++);
    }),
  );
}

const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MiB`;
const log = (message: string) => process.stderr.write(`[bench] ${message}\n`);

async function main(): Promise<void> {
  const cleanups: Array<() => Promise<unknown> | unknown> = [];
  const cleanup = async () => {
    for (const c of cleanups.reverse()) await Promise.resolve(c()).catch(() => undefined);
  };
  const deadline = setTimeout(() => {
    log(`aborted after ${TIMEOUT_S}s`);
    void cleanup().finally(() => process.exit(2));
  }, TIMEOUT_S * 1000);
  deadline.unref();

  try {
    log('starting PostgreSQL, Temporal dev server, SMTP server');
    // A fresh path under /tmp that initdb creates itself (as the postgres user when we are root).
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-notify-pg-'));
    fs.rmSync(dataDir, { recursive: true });
    const [pg, temporal, smtp] = await Promise.all([
      freePort().then((port) => startEmbeddedPostgres({ dataDir, port, persistent: false, database: 'bench' })),
      startTemporalDevServer({ namespace: 'default' }),
      startSmtpServer(),
    ]);
    cleanups.push(
      () => fs.rmSync(dataDir, { recursive: true, force: true }),
      () => pg.stop(),
      () => temporal.stop(),
      () => smtp.close(),
    );
    await migrate({ databaseUrl: pg.databaseUrl });
    const pool = createPool(pg.databaseUrl, { max: 40 });
    cleanups.push(() => pool.end());
    const client = await connectTemporalClient(temporal.address, 'default', undefined, payloadCodec);
    cleanups.push(() => client.close());
    const taskQueue = 'bench-notifications';

    log('starting the worker processes');
    type WorkerMessage = { type: string; maxRssBytes?: number; sampledPeakRssBytes?: number };
    function startWorkerProcess(kind: 'product' | 'bare', queue: string) {
      const child: ChildProcess = fork(path.join(__dirname, 'worker.ts'), [], {
        execArgv: ['-r', '@swc-node/register'],
        env: {
          ...process.env,
          WORKER_KIND: kind,
          DATABASE_URL: pg.databaseUrl,
          TEMPORAL_ADDRESS: temporal.address,
          TASK_QUEUE: queue,
          TEMPORAL_TASK_QUEUE: queue,
          SMTP_URL: smtp.url,
          WORKER_MAX_CONCURRENT_ACTIVITIES: '100',
          LOG_LEVEL: 'error',
        },
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
      cleanups.push(() => child.kill('SIGKILL'));
      const messages: WorkerMessage[] = [];
      child.on('message', (m: WorkerMessage) => messages.push(m));
      const waitFor = (type: string) =>
        new Promise<WorkerMessage>((resolve, reject) => {
          const found = messages.find((m) => m.type === type);
          if (found) return resolve(found);
          child.on('message', (m: WorkerMessage) => m.type === type && resolve(m));
          child.once('exit', (code) => reject(new Error(`${kind} worker exited with ${code} before '${type}'`)));
        });
      return { child, waitFor };
    }
    const worker = startWorkerProcess('product', taskQueue);
    const bareWorker = startWorkerProcess('bare', `${taskQueue}-bare`);
    await Promise.all([worker.waitFor('ready'), bareWorker.waitFor('ready')]);

    const {
      rows: [company],
    } = await pool.query(`INSERT INTO companies (name) VALUES ('Bench salon') RETURNING id`);
    const {
      rows: [customer],
    } = await pool.query(
      `INSERT INTO customers (company_id, name, email) VALUES ($1, 'Bench customer', 'bench@example.test') RETURNING id`,
      [company.id],
    );
    const service = createNotificationService({ pool, client: client.client, taskQueue });
    const request = {
      eventType: 'payment_received' as const,
      notifiable: { type: 'customer' as const, id: customer.id as string },
      data: { amount: '25 EUR' },
    };

    async function deliverNotifications(count: number): Promise<{ seconds: number; ids: string[] }> {
      const ids: string[] = [];
      const t0 = performance.now();
      await pooled(count, CONCURRENCY, async () => {
        ids.push((await service.sendNotification(company.id, request)).notification.id);
      });
      for (;;) {
        const { rows } = await pool.query(
          `SELECT count(*) FILTER (WHERE status = 'delivered')::int AS ok, count(*) FILTER (WHERE status IN ('failed', 'suppressed', 'cancelled'))::int AS bad FROM notifications WHERE id = ANY($1)`,
          [ids],
        );
        if (rows[0].bad > 0) throw new Error(`${rows[0].bad} notifications did not deliver`);
        if (rows[0].ok === count) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      return { seconds: (performance.now() - t0) / 1000, ids };
    }

    log(`warm-up: ${WARMUP} notifications`);
    await deliverNotifications(WARMUP);

    log(`${N} notifications through workflows (concurrency ${CONCURRENCY})`);
    const before = smtp.messages.length;
    const wf = await deliverNotifications(N);
    const wfReceived = smtp.messages.length - before;
    const {
      rows: [lat],
    } = await pool.query(
      `SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS p50, percentile_cont(0.95) WITHIN GROUP (ORDER BY ms) AS p95
         FROM (SELECT extract(epoch FROM completed_at - created_at) * 1000 AS ms FROM notifications WHERE id = ANY($1)) t`,
      [wf.ids],
    );
    const {
      rows: [smtpLat],
    } = await pool.query(
      `SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms) AS p50 FROM notification_deliveries WHERE notification_id = ANY($1)`,
      [wf.ids],
    );

    // History events per delivered notification (what a notification costs Temporal's persistence).
    const sample = wf.ids.slice(0, 50);
    const eventCounts = await Promise.all(
      sample.map(async (id) => ((await client.client.workflow.getHandle(`notification-${id}`).fetchHistory()).events ?? []).length),
    );
    const eventsPerNotification = eventCounts.reduce((a, b) => a + b, 0) / eventCounts.length;

    const bareRun = (count: number, label: string) =>
      pooled(count, CONCURRENCY, async (i) => {
        await client.client.workflow.execute('bareEmailWorkflow', {
          taskQueue: `${taskQueue}-bare`,
          workflowId: `bare-${label}-${i}`,
          args: ['bench@example.test', 'Payment received', `Bare workflow message ${i}`],
        });
      });
    log(`warm-up: ${WARMUP} bare workflows`);
    await bareRun(WARMUP, 'warmup');
    log(`${N} bare workflows, one plain nodemailer activity each (concurrency ${CONCURRENCY})`);
    const beforeBare = smtp.messages.length;
    const b0 = performance.now();
    await bareRun(N, 'run');
    const bareSeconds = (performance.now() - b0) / 1000;
    const bareReceived = smtp.messages.length - beforeBare;
    const bareEvents = ((await client.client.workflow.getHandle('bare-run-0').fetchHistory()).events ?? []).length;

    log(`${N} plain nodemailer sends (concurrency ${CONCURRENCY})`);
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: smtp.port, ignoreTLS: true });
    const beforePlain = smtp.messages.length;
    const p0 = performance.now();
    await pooled(N, CONCURRENCY, async (i) => {
      await transport.sendMail({
        from: 'Appointments <notifications@localhost>',
        to: 'bench@example.test',
        subject: 'Payment received',
        text: `Plain message ${i}`,
      });
    });
    const plainSeconds = (performance.now() - p0) / 1000;
    const plainReceived = smtp.messages.length - beforePlain;
    transport.close();

    worker.child.send('stop');
    bareWorker.child.send('stop');
    const [stopped, bareStopped] = await Promise.all([worker.waitFor('stopped'), bareWorker.waitFor('stopped')]);

    const wfRate = N / wf.seconds;
    const bareRate = N / bareSeconds;
    const plainRate = N / plainSeconds;
    const rows: Array<[string, string]> = [
      ['notifications (N)', `${N}, concurrency ${CONCURRENCY}, after ${WARMUP} warm-up`],
      ['workflow path: elapsed', `${wf.seconds.toFixed(2)} s`],
      ['workflow path: rate', `${wfRate.toFixed(1)} notifications/s`],
      ['workflow path: latency p50 / p95', `${Number(lat.p50).toFixed(0)} / ${Number(lat.p95).toFixed(0)} ms (created -> delivered)`],
      ['workflow path: SMTP call p50', `${Number(smtpLat.p50).toFixed(0)} ms`],
      ['workflow path: messages at SMTP', `${wfReceived}`],
      [
        'history events per notification',
        `${eventsPerNotification.toFixed(1)} (mean of ${eventCounts.length}; min ${Math.min(...eventCounts)}, max ${Math.max(...eventCounts)}); bare workflow ${bareEvents}`,
      ],
      ['bare workflow + activity: rate', `${bareRate.toFixed(1)} messages/s (${bareSeconds.toFixed(2)} s, ${bareReceived} at SMTP)`],
      ['plain nodemailer: elapsed', `${plainSeconds.toFixed(2)} s`],
      ['plain nodemailer: rate', `${plainRate.toFixed(1)} messages/s`],
      ['plain nodemailer: messages at SMTP', `${plainReceived}`],
      ['ratio workflow / plain', `${(wfRate / plainRate).toFixed(3)} (plain is ${(plainRate / wfRate).toFixed(1)}x faster)`],
      ['ratio workflow / bare workflow', `${(wfRate / bareRate).toFixed(3)} (the product's own cost on top of Temporal's)`],
      [
        'worker process peak RSS',
        `${mb(stopped.maxRssBytes ?? 0)} (sampled ${mb(stopped.sampledPeakRssBytes ?? 0)}); bare worker ${mb(bareStopped.maxRssBytes ?? 0)}`,
      ],
    ];
    const width = Math.max(...rows.map(([k]) => k.length));
    console.log('\nNotifications benchmark (loopback; Temporal CLI dev server on SQLite; smtp-server in-process)');
    for (const [k, v] of rows) console.log(`  ${k.padEnd(width)}  ${v}`);
    if (wfReceived !== N || bareReceived !== N || plainReceived !== N) {
      throw new Error(`SMTP server received ${wfReceived} / ${bareReceived} / ${plainReceived}, expected ${N} each`);
    }
  } finally {
    clearTimeout(deadline);
    await cleanup();
  }
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
