/**
 * Callbacks: intake, idle cost, breach storm. One machine, loopback only.
 *
 * Starts a real PostgreSQL (embedded, migrated, with pg_stat_statements), the Temporal CLI dev
 * server, an in-process SMTP server, the product's worker in its own process (exactly as
 * `npm run worker` runs it, with the outbox reconciler's schedule), a bare worker, and the
 * product's HTTP API in this process.
 *
 * 1. Intake: BENCH_INTAKE_N callbacks through POST /v1/callbacks (row + workflow start) at
 *    BENCH_CONCURRENCY in flight, against as many bare `client.workflow.start` calls of an empty
 *    workflow on the same server; rates, p50/p99 latencies, the ratio (goal >= 0.8).
 * 2. Idle cost: BENCH_IDLE_N open callbacks (assigned, 24 h SLA) waiting BENCH_IDLE_SECONDS on
 *    their timers: statements the product issued to PostgreSQL meanwhile (pg_stat_statements,
 *    by query), the worker's RSS and sticky cache (size, forced evictions), and whether evicted
 *    callbacks still answer their live query (a replay).
 * 3. Breach storm: BENCH_STORM_N urgent callbacks queued overnight at a branch with opening
 *    hours, so every SLA ends in the same second (opening + 30 s): time until every escalation
 *    row, notification and email exists, and duplicates (must be 0).
 *
 *   npm run bench:callbacks                                      # 500 / 10,000 for 300 s / 1,000
 *   BENCH_IDLE_N=2000 BENCH_IDLE_SECONDS=60 npm run bench:callbacks
 *
 * The dev server persists to SQLite through one connection: absolute workflow rates are far below
 * a Postgres-backed Temporal cluster; compare the ratios.
 */
import { fork, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../src/config';
import { migrate } from '../src/db/migrate';
import { createPool } from '../src/db/pool';
import { startEmbeddedPostgres } from '../src/dev/embedded-postgres';
import { freePort } from '../src/dev/free-port';
import { startTemporalDevServer } from '../src/dev/temporal-dev-server';
import { scheduleOptions } from '../src/commands/serve';
import { connectTemporalClient } from '../src/temporal/client';
import { benchPayloadCodec } from './encryption';
import { BranchId, CallbackDueAt, CallbackPriority, CallbackStatus, CompanyId } from '../src/temporal/search-attribute-keys';
import { ensureSchedules } from '../src/temporal/schedules';
import { startSmtpServer } from '../test/support/channel-servers';

/** Encrypted as in production; set before any process is started, so each inherits the key. */
const payloadCodec = benchPayloadCodec();
// The API runs as in production, which requires the unsubscribe links' secret (shared with the worker).
process.env.UNSUBSCRIBE_SECRET ||= randomBytes(32).toString('base64url');

const int = (name: string, fallback: number, min: number, max: number) => {
  const raw = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(raw) || raw < min || raw > max) throw new Error(`${name} must be an integer in [${min}, ${max}]`);
  return raw;
};
const INTAKE_N = int('BENCH_INTAKE_N', 500, 10, 20_000);
const CONCURRENCY = int('BENCH_CONCURRENCY', 32, 1, 256);
const IDLE_N = int('BENCH_IDLE_N', 10_000, 0, 50_000);
const IDLE_SECONDS = int('BENCH_IDLE_SECONDS', 300, 0, 3_600);
const STORM_N = int('BENCH_STORM_N', 1_000, 0, 10_000);
const STORM_SLA_SECONDS = 30;
const TIMEOUT_S = int('BENCH_TIMEOUT_S', 3_600, 60, 14_400);
const WARMUP = 20;
const TOKEN = 'bench-platform-token-0123456789';
const TASK_QUEUE = 'bench-callbacks';

const log = (message: string) => process.stderr.write(`[bench] ${new Date().toISOString().slice(11, 19)} ${message}\n`);
const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MiB`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs `task(i)` for i in [0, n) with at most `limit` in flight; returns each call's latency (ms). */
async function pooled(n: number, limit: number, task: (i: number) => Promise<void>): Promise<number[]> {
  const latencies: number[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, n) }, async () => {
      while (next < n) {
        const i = next++;
        const t = performance.now();
        await task(i);
        latencies.push(performance.now() - t);
      }
    }),
  );
  return latencies;
}

const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN;
};

async function until(what: string, timeoutMs: number, probe: () => Promise<boolean>, everyMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}

/**
 * CPU seconds used so far by the processes of this run (Linux /proc; this process's descendants
 * only, not other work on the machine): the Temporal dev server, PostgreSQL (postmaster and every
 * backend), the API process, this process (the load), the workers.
 */
function cpuSeconds(pids: { api: number; workers?: number[] }): Record<'temporal' | 'postgres' | 'api' | 'load' | 'workers', number> {
  const out = { temporal: 0, postgres: 0, api: 0, load: 0, workers: 0 };
  const ticks = 100; // USER_HZ on Linux
  const procs = new Map<number, { ppid: number; comm: string; used: number }>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    procs.set(Number(entry), { ppid: Number(fields[1]), comm, used: (Number(fields[11]) + Number(fields[12])) / ticks });
  }
  const ours = (pid: number): boolean => {
    for (let p = pid, hops = 0; p > 1 && hops < 10; p = procs.get(p)?.ppid ?? 0, hops++) if (p === process.pid) return true;
    return false;
  };
  for (const [pid, { comm, used }] of procs) {
    if (pid === process.pid) out.load += used;
    else if (!ours(pid)) continue;
    else if (pid === pids.api) out.api += used;
    else if (pids.workers?.includes(pid)) out.workers += used;
    else if (comm === 'postgres') out.postgres += used;
    else if (comm === 'temporal') out.temporal += used;
  }
  return out;
}

/** CPU milliseconds per operation of each part between two cpuSeconds() readings. */
function cpuPer(before: ReturnType<typeof cpuSeconds>, after: ReturnType<typeof cpuSeconds>, n: number): string {
  const part = (k: keyof typeof before) => `${k} ${(((after[k] - before[k]) * 1000) / n).toFixed(1)}`;
  return (['temporal', 'postgres', 'api', 'load', 'workers'] as const).map(part).join(', ');
}

type Run = { rate: number; latencies: number[]; cpu: string };

function intakeRows(label: string, r: { bare: Run; api: Run; visible: Run; statements: Array<{ calls: number; query: string }> }) {
  const line = (run: Run, unit: string) =>
    `${run.rate.toFixed(1)} ${unit}/s; p50 ${percentile(run.latencies, 0.5).toFixed(0)} ms, p99 ${percentile(run.latencies, 0.99).toFixed(0)} ms; CPU ms each: ${run.cpu}`;
  const statements = r.statements.reduce((sum, s) => sum + s.calls, 0) / INTAKE_N;
  const rows: Array<[string, string]> = [
    [`intake: ${label}`, ''],
    ['  callbacks via the API', line(r.api, 'callbacks')],
    ['  bare workflow.start', line(r.bare, 'starts')],
    ['  start + search attributes + memo', line(r.visible, 'starts')],
    [
      '  ratio API / bare',
      `${(r.api.rate / r.bare.rate).toFixed(3)} (goal >= 0.8); API / start with attributes ${(r.api.rate / r.visible.rate).toFixed(3)}`,
    ],
    ['  statements per callback', `${statements.toFixed(1)}: ${r.statements.map((s) => s.query.slice(0, 32)).join(' | ')}`],
  ];
  return rows;
}

/**
 * Pins the Temporal dev server's threads to `temporal`, and PostgreSQL, the API process and this
 * process to `rest` (taskset CPU lists). False when taskset is missing.
 */
function pinParts(p: { temporal: string; rest: string; api: number }): boolean {
  const set = (cpus: string, pid: number) => spawnSync('taskset', ['-a', '-p', '-c', cpus, String(pid)], { stdio: 'ignore' }).status === 0;
  if (!set(p.rest, process.pid)) return false;
  set(p.rest, p.api);
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let comm: string;
    try {
      comm = fs.readFileSync(`/proc/${entry}/comm`, 'utf8').trim();
    } catch {
      continue;
    }
    if (comm === 'temporal') set(p.temporal, Number(entry));
    else if (comm === 'postgres') set(p.rest, Number(entry));
  }
  return true;
}

type WorkerMessage = {
  type: string;
  rssBytes?: number;
  maxRssBytes?: number;
  sampledPeakRssBytes?: number;
  status?: { numCachedWorkflows: number; numInFlightWorkflowActivations: number; numInFlightActivities: number };
};

async function main(): Promise<void> {
  const cleanups: Array<() => Promise<unknown> | unknown> = [];
  const cleanup = async () => {
    for (const c of cleanups.reverse()) await Promise.resolve(c()).catch(() => undefined);
  };
  const abort = setTimeout(() => {
    log(`aborted after ${TIMEOUT_S}s`);
    void cleanup().finally(() => process.exit(2));
  }, TIMEOUT_S * 1000);
  abort.unref();

  try {
    log('starting PostgreSQL (pg_stat_statements), Temporal dev server, SMTP server');
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-callbacks-pg-'));
    fs.rmSync(dataDir, { recursive: true });
    const [pg, temporal, smtp] = await Promise.all([
      freePort().then((port) =>
        startEmbeddedPostgres({
          dataDir,
          port,
          persistent: false,
          database: 'bench',
          serverFlags: ['-c', 'shared_preload_libraries=pg_stat_statements', '-c', 'pg_stat_statements.track=top'],
        }),
      ),
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
    const pool = createPool(pg.databaseUrl, { max: 10 });
    cleanups.push(() => pool.end());
    await pool.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');

    const metricsPort = await freePort();
    const workerEnv = {
      ...process.env,
      DATABASE_URL: pg.databaseUrl,
      TEMPORAL_ADDRESS: temporal.address,
      TEMPORAL_TASK_QUEUE: TASK_QUEUE,
      SMTP_URL: smtp.url,
      WORKER_METRICS_BIND_ADDRESS: `127.0.0.1:${metricsPort}`,
      LOG_LEVEL: 'error',
    };
    function startWorkerProcess(kind: 'product' | 'bare') {
      const child: ChildProcess = fork(path.join(__dirname, 'worker.ts'), [], {
        execArgv: ['-r', '@swc-node/register'],
        env: { ...workerEnv, WORKER_KIND: kind, TASK_QUEUE: `${TASK_QUEUE}-bare` },
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
      cleanups.push(() => child.kill('SIGKILL'));
      const next = (type: string) =>
        new Promise<WorkerMessage>((resolve, reject) => {
          const onMessage = (m: WorkerMessage) => {
            if (m.type !== type) return;
            child.off('message', onMessage);
            resolve(m);
          };
          child.on('message', onMessage);
          child.once('exit', (code) => reject(new Error(`${kind} worker exited with ${code} before '${type}'`)));
        });
      const ready = next('ready');
      return {
        ready,
        status: () => {
          const reply = next('status');
          child.send('status');
          return reply;
        },
        stop: () => {
          const reply = next('stopped');
          child.send('stop');
          return reply;
        },
      };
    }
    const stickyCache = async () => {
      const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      const metric = (name: string) =>
        text
          .split('\n')
          .filter((l) => l.startsWith(name))
          .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
      return {
        size: metric('temporal_sticky_cache_size'),
        forcedEvictions: metric('temporal_sticky_cache_total_forced_eviction'),
      };
    };

    // The API in its own process, as `npm run api` runs it in production (logging at info).
    const apiEnv = {
      ...process.env,
      NODE_ENV: 'production',
      PORT: String(await freePort()),
      PLATFORM_ADMIN_TOKEN: TOKEN,
      API_RATE_LIMIT_PER_MINUTE: '0',
      DATABASE_URL: pg.databaseUrl,
      DATABASE_POOL_SIZE: '40',
      TEMPORAL_ADDRESS: temporal.address,
      TEMPORAL_TASK_QUEUE: TASK_QUEUE,
      LOG_LEVEL: 'info',
    };
    const config = loadConfig(apiEnv);
    const profile = process.env.BENCH_API_CPU_PROF_DIR ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_API_CPU_PROF_DIR}`] : [];
    const apiProcess = spawn(
      process.execPath,
      [...profile, '-r', '@swc-node/register', path.join(__dirname, '..', 'src', 'main.ts'), 'api'],
      {
        env: apiEnv,
        stdio: ['ignore', 'ignore', 'inherit'],
      },
    );
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          if (apiProcess.exitCode !== null) return resolve();
          const kill = setTimeout(() => apiProcess.kill('SIGKILL'), 10_000);
          apiProcess.once('exit', () => (clearTimeout(kill), resolve()));
          apiProcess.kill('SIGTERM');
        }),
    );
    const apiUrl = `http://127.0.0.1:${config.PORT}`;
    await until(
      'the API to listen',
      60_000,
      () =>
        fetch(`${apiUrl}/health`).then(
          (r) => r.ok,
          () => false,
        ),
      200,
    );
    const client = await connectTemporalClient(temporal.address, 'default', undefined, payloadCodec);
    cleanups.push(() => client.close());
    await ensureSchedules(client.client, scheduleOptions(config));

    // Keep-alive connections, as a real client (or a load balancer) would hold.
    const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
    cleanups.push(() => agent.destroy());
    const call = (method: string, p: string, key: string, body?: unknown): Promise<any> =>
      new Promise((resolve, reject) => {
        const payload = body === undefined ? undefined : JSON.stringify(body);
        const req = http.request(
          `${apiUrl}${p}`,
          {
            method,
            agent,
            headers: {
              authorization: `Bearer ${key}`,
              ...(payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}),
            },
          },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => {
              const text = Buffer.concat(chunks).toString('utf8');
              const json = text ? JSON.parse(text) : undefined;
              if ((res.statusCode ?? 500) >= 400) reject(new Error(`${method} ${p}: ${res.statusCode} ${text}`));
              else resolve(json);
            });
          },
        );
        req.on('error', reject);
        req.end(payload);
      });

    // A company with a day branch (four agents, a manager) and a night branch (a manager only).
    const { company, apiKey } = await call('POST', '/v1/companies', TOKEN, { name: 'Bench salon' });
    const admin = apiKey.key as string;
    const day = await call('POST', '/v1/branches', admin, { name: 'Centro' });
    const night = await call('POST', '/v1/branches', admin, { name: 'Noche' });
    for (let i = 0; i < 4; i++) {
      await call('POST', '/v1/staff', admin, { branchId: day.id, name: `Agent ${i}`, email: `agent${i}@bench.test` });
    }
    await call('POST', '/v1/staff', admin, { branchId: day.id, name: 'Day manager', role: 'manager', email: 'day@bench.test' });
    await call('POST', '/v1/staff', admin, { branchId: night.id, name: 'Night manager', role: 'manager', email: 'night@bench.test' });
    // Nobody to assign at night (pending callbacks retry daily, not every 15 min); urgent SLA 30 s.
    await call('PUT', '/v1/callback-settings', admin, {
      branchId: night.id,
      slaSeconds: { urgent: STORM_SLA_SECONDS },
      assignmentRetrySeconds: 86_400,
    });
    const newCallback = async (branchId: string, i: number, priority = 'normal'): Promise<void> => {
      await call('POST', '/v1/callbacks', admin, {
        branchId,
        customerName: `Customer ${i}`,
        phoneNumber: `+34 600 ${String(i).padStart(6, '0')}`,
        priority,
      });
    };
    /** No notification still running (assignment notices to the agents), so the idle wait starts idle. */
    const notificationsSettled = async () =>
      (await pool.query(`SELECT count(*)::int AS n FROM notifications WHERE status IN ('pending', 'waiting', 'sending')`)).rows[0].n === 0;
    const allAssigned = (branchId: string, n: number) => async () => {
      const { rows } = await pool.query(
        `SELECT count(*)::int AS n FROM callback_requests WHERE branch_id = $1 AND assigned_to IS NOT NULL`,
        [branchId],
      );
      return rows[0].n >= n;
    };

    // ---- 1. Intake ------------------------------------------------------------------------------
    // (a) The product's intake path against Temporal's own start with no worker polling either
    // queue: on 2 shared cores a busy worker slows the API path and not the bare one.
    log(`intake: warm-up, then ${INTAKE_N} bare starts and ${INTAKE_N} callbacks (concurrency ${CONCURRENCY}), no worker yet`);
    const startEmpty = (label: string) => async (i: number) => {
      await client.client.workflow.start('emptyWorkflow', { taskQueue: `${TASK_QUEUE}-bare`, workflowId: `empty-${label}-${i}` });
    };
    // The same empty start carrying what a callback's start carries for the Web UI.
    const startVisible = (label: string) => async (i: number) => {
      await client.client.workflow.start('emptyWorkflow', {
        taskQueue: `${TASK_QUEUE}-bare`,
        workflowId: `visible-${label}-${i}`,
        typedSearchAttributes: [
          { key: CompanyId, value: company.id },
          { key: BranchId, value: day.id },
          { key: CallbackPriority, value: 'normal' },
          { key: CallbackStatus, value: 'pending' },
          { key: CallbackDueAt, value: new Date(Date.now() + 86_400_000) },
        ],
        memo: { customerName: `Customer ${i}`, phone: '+34 *** *** 123' },
      });
    };
    await pooled(WARMUP, CONCURRENCY, startEmpty('warmup'));
    await pooled(WARMUP, CONCURRENCY, (i) => newCallback(day.id, i));
    let created = WARMUP;
    const cpu = () => cpuSeconds({ api: apiProcess.pid! });
    /** Bare starts, callbacks through the API, starts with the callback's search attributes: rates, latencies, CPU. */
    async function intakeRound(label: string) {
      const measure = async (task: (i: number) => Promise<void>): Promise<Run> => {
        const before = cpu();
        const t = performance.now();
        const latencies = await pooled(INTAKE_N, CONCURRENCY, task);
        const seconds = (performance.now() - t) / 1000;
        return { rate: INTAKE_N / seconds, latencies, cpu: cpuPer(before, cpu(), INTAKE_N) };
      };
      const bareRun = await measure(startEmpty(label));
      await pool.query('SELECT pg_stat_statements_reset()');
      const first = created;
      const apiRun = await measure((i) => newCallback(day.id, first + i));
      created += INTAKE_N;
      const { rows: statements } = await pool.query(
        `SELECT calls::int, regexp_replace(query, '\\s+', ' ', 'g') AS query FROM pg_stat_statements
          WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) AND query NOT ILIKE '%pg_stat%' ORDER BY calls DESC`,
      );
      const visibleRun = await measure(startVisible(label));
      return { bare: bareRun, api: apiRun, visible: visibleRun, statements };
    }
    const shared = await intakeRound('shared');
    // Again with Temporal on one core and everything else (API, PostgreSQL, load) on the other, as
    // when the API tier and the Temporal cluster do not share machines.
    const cpus = os.cpus().length;
    const pinned = cpus >= 2 && pinParts({ temporal: '0', rest: '1', api: apiProcess.pid! }) ? await intakeRound('pinned') : undefined;
    if (pinned) pinParts({ temporal: `0-${cpus - 1}`, rest: `0-${cpus - 1}`, api: apiProcess.pid! });
    const intakeRate = shared.api.rate;
    let t0: number;

    log('starting the product worker and the bare worker (bundling workflows)');
    const worker = startWorkerProcess('product');
    const bare = startWorkerProcess('bare');
    await Promise.all([worker.ready, bare.ready]);
    t0 = performance.now();
    const queued = created;
    await until('the queued callbacks assigned', 600_000, allAssigned(day.id, created));
    const backlogSeconds = (performance.now() - t0) / 1000;
    await until('every notification ended', 600_000, notificationsSettled);

    // (b) The same intake while the worker assigns and notifies, everything on the same cores.
    log(`intake: ${INTAKE_N} callbacks while the worker runs`);
    t0 = performance.now();
    const busyFirst = created;
    const busyLatencies = await pooled(INTAKE_N, CONCURRENCY, (i) => newCallback(day.id, busyFirst + i));
    created += INTAKE_N;
    const busySeconds = (performance.now() - t0) / 1000;
    await until('the callbacks assigned', 600_000, allAssigned(day.id, created));
    const busyAssignedSeconds = (performance.now() - t0) / 1000;
    await until('every notification ended', 600_000, notificationsSettled);

    // ---- 2. Idle cost ---------------------------------------------------------------------------
    let idle:
      | {
          fromIntake: number;
          createSeconds: number;
          statements: number;
          top: Array<{ calls: number; query: string }>;
          rssStart: number;
          rssEnd: number;
          rssPeak: number;
          cacheBefore: { size: number; forcedEvictions: number };
          cacheAfter: { size: number; forcedEvictions: number };
          cachedWorkflows: number;
          evictedAnswered: number;
          evictedProbed: number;
          evictedQueryP50: number;
        }
      | undefined;
    if (IDLE_N > 0) {
      const before = created;
      log(`idle: creating ${IDLE_N} callbacks`);
      t0 = performance.now();
      await pooled(IDLE_N, CONCURRENCY, (i) => newCallback(day.id, before + i));
      await until('idle callbacks assigned', 1_800_000, allAssigned(day.id, before + IDLE_N), 1_000);
      await until('every notification ended', 1_800_000, notificationsSettled, 1_000);
      await until('the worker to go quiet', 120_000, async () => {
        const { status } = await worker.status();
        return status!.numInFlightWorkflowActivations === 0 && status!.numInFlightActivities === 0;
      });
      const createSeconds = (performance.now() - t0) / 1000;
      const open = (await pool.query(`SELECT count(*)::int AS n FROM callback_requests WHERE status IN ('pending', 'assigned')`)).rows[0].n;
      log(`idle: ${open} open callbacks wait ${IDLE_SECONDS}s`);
      const cacheBefore = await stickyCache();
      await pool.query('SELECT pg_stat_statements_reset()');
      const rssStart = (await worker.status()).rssBytes!;
      let rssPeak = rssStart;
      const waitUntil = Date.now() + IDLE_SECONDS * 1000;
      while (Date.now() < waitUntil) {
        await sleep(Math.min(5_000, Math.max(0, waitUntil - Date.now())));
        rssPeak = Math.max(rssPeak, (await worker.status()).rssBytes!);
      }
      // Read in one statement, before anything else of this script touches the database.
      const { rows: statements } = await pool.query(
        `SELECT calls::int, regexp_replace(query, '\\s+', ' ', 'g') AS query FROM pg_stat_statements
          WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) AND query NOT ILIKE '%pg_stat%'
          ORDER BY calls DESC`,
      );
      const end = await worker.status();
      const cacheAfter = await stickyCache();
      // The oldest callbacks were evicted from the sticky cache long ago: their live state is a replay.
      const { rows: oldest } = await pool.query(
        `SELECT id FROM callback_requests WHERE branch_id = $1 ORDER BY created_at LIMIT 20 OFFSET $2`,
        [day.id, before],
      );
      const answers = await Promise.all(
        oldest.map(async (r) => {
          const t = performance.now();
          const detail = await call('GET', `/v1/callbacks/${r.id}`, admin);
          return { ok: detail.live?.status === 'assigned', ms: performance.now() - t };
        }),
      );
      idle = {
        fromIntake: before,
        createSeconds,
        statements: statements.reduce((sum, s) => sum + s.calls, 0),
        top: statements.slice(0, 6),
        rssStart,
        rssEnd: end.rssBytes!,
        rssPeak,
        cacheBefore,
        cacheAfter,
        cachedWorkflows: end.status!.numCachedWorkflows,
        evictedAnswered: answers.filter((a) => a.ok).length,
        evictedProbed: answers.length,
        evictedQueryP50: percentile(
          answers.map((a) => a.ms),
          0.5,
        ),
      };
    }

    // ---- 3. Breach storm ------------------------------------------------------------------------
    let storm:
      | {
          deadline: Date;
          distinctDeadlines: number;
          createSeconds: number;
          firstEscalation: number;
          allEscalations: number;
          allNotifications: number;
          allDelivered: number;
          escalations: number;
          duplicateEscalations: number;
          notifications: number;
          emails: number;
        }
      | undefined;
    if (STORM_N > 0) {
      // The night branch opens on a whole minute far enough ahead to queue every callback before it.
      const estimate = (STORM_N / intakeRate) * 2 + 20;
      const opensAt = new Date(Math.ceil((Date.now() + estimate * 1000) / 60_000) * 60_000);
      const weekday = String(opensAt.getUTCDay() || 7);
      await call('PATCH', `/v1/branches/${night.id}`, admin, {
        openingHours: { [weekday]: [{ start: opensAt.toISOString().slice(11, 16), end: '24:00' }] },
      });
      log(`storm: ${STORM_N} urgent callbacks queued before the night branch opens at ${opensAt.toISOString()}`);
      t0 = performance.now();
      const emailsBefore = smtp.messages.filter((m) => m.to.includes('night@bench.test')).length;
      await pooled(STORM_N, CONCURRENCY, (i) => newCallback(night.id, i, 'urgent'));
      const createSeconds = (performance.now() - t0) / 1000;
      if (Date.now() >= opensAt.getTime()) throw new Error('queuing the storm took longer than the time to opening: raise the estimate');
      const { rows: deadlines } = await pool.query(
        `SELECT count(DISTINCT expires_at)::int AS n, min(expires_at) AS at FROM callback_requests WHERE branch_id = $1`,
        [night.id],
      );
      const deadline: Date = deadlines[0].at;
      log(`storm: every SLA ends at ${deadline.toISOString()} (${deadlines[0].n} distinct deadline); waiting`);
      await sleep(Math.max(0, deadline.getTime() - Date.now()));
      const since = () => (Date.now() - deadline.getTime()) / 1000;
      const marks: { first?: number; escalations?: number; notifications?: number; delivered?: number } = {};
      await until(
        'every escalation notification delivered',
        900_000,
        async () => {
          const { rows } = await pool.query(
            `SELECT count(e.id)::int AS escalations, count(e.notification_id)::int AS notified,
                    count(n.id) FILTER (WHERE n.status = 'delivered')::int AS delivered
               FROM callback_requests c
               LEFT JOIN callback_escalations e ON e.callback_id = c.id
               LEFT JOIN notifications n ON n.id = e.notification_id
              WHERE c.branch_id = $1`,
            [night.id],
          );
          const r = rows[0];
          if (r.escalations > 0) marks.first ??= since();
          if (r.escalations >= STORM_N) marks.escalations ??= since();
          if (r.notified >= STORM_N) marks.notifications ??= since();
          if (r.delivered >= STORM_N) marks.delivered ??= since();
          return marks.delivered !== undefined;
        },
        50,
      );
      const { rows: counts } = await pool.query(
        `SELECT (SELECT count(*)::int FROM callback_escalations e JOIN callback_requests c ON c.id = e.callback_id WHERE c.branch_id = $1) AS escalations,
                (SELECT count(*)::int FROM (SELECT e.callback_id FROM callback_escalations e JOIN callback_requests c ON c.id = e.callback_id
                   WHERE c.branch_id = $1 GROUP BY e.callback_id HAVING count(*) > 1) d) AS duplicates,
                (SELECT count(*)::int FROM notifications WHERE company_id = $2 AND event_type = 'callback_escalated') AS notifications`,
        [night.id, company.id],
      );
      // Let any duplicate email that would follow arrive before counting.
      await sleep(2_000);
      storm = {
        deadline,
        distinctDeadlines: deadlines[0].n,
        createSeconds,
        firstEscalation: marks.first!,
        allEscalations: marks.escalations!,
        allNotifications: marks.notifications!,
        allDelivered: marks.delivered!,
        escalations: counts[0].escalations,
        duplicateEscalations: counts[0].duplicates,
        notifications: counts[0].notifications,
        emails: smtp.messages.filter((m) => m.to.includes('night@bench.test')).length - emailsBefore,
      };
    }

    const [stopped] = await Promise.all([worker.stop(), bare.stop()]);

    const rows: Array<[string, string]> = [
      ['intake: callbacks via API', `${INTAKE_N} per round, concurrency ${CONCURRENCY}, after ${WARMUP} warm-up, no worker polling`],
      ...intakeRows('all parts share both cores', shared),
      ...(pinned ? intakeRows('Temporal on core 0; API, PostgreSQL, load on core 1', pinned) : []),
      [
        'intake: queued ones assigned',
        `${queued} in ${backlogSeconds.toFixed(2)} s after the worker started (${(queued / backlogSeconds).toFixed(1)} callbacks/s)`,
      ],
      [
        'intake while the worker runs',
        `${(INTAKE_N / busySeconds).toFixed(1)} callbacks/s; p50 ${percentile(busyLatencies, 0.5).toFixed(0)} ms, p99 ${percentile(busyLatencies, 0.99).toFixed(0)} ms; all assigned after ${busyAssignedSeconds.toFixed(2)} s`,
      ],
    ];
    if (idle) {
      rows.push(
        ['idle: open callbacks', `${IDLE_N} (+${idle.fromIntake} from intake), created and assigned in ${idle.createSeconds.toFixed(0)} s`],
        ['idle: wait', `${IDLE_SECONDS} s`],
        [
          'idle: statements during the wait',
          `${idle.statements} (pg_stat_statements, every statement of every connection but this script's reads)`,
        ],
        ...idle.top.map((s, i): [string, string] => [`idle:   #${i + 1} by calls`, `${s.calls} x ${s.query.slice(0, 110)}`]),
        ['idle: worker RSS', `${mb(idle.rssStart)} at start, ${mb(idle.rssEnd)} at end, ${mb(idle.rssPeak)} peak during the wait`],
        [
          'idle: sticky cache',
          `${idle.cachedWorkflows} cached (WORKER_MAX_CACHED_WORKFLOWS ${config.WORKER_MAX_CACHED_WORKFLOWS}); forced evictions ${idle.cacheBefore.forcedEvictions} before the wait, ${idle.cacheAfter.forcedEvictions} after`,
        ],
        [
          'idle: evicted callbacks queried',
          `${idle.evictedAnswered}/${idle.evictedProbed} answered their live state (replayed), p50 ${idle.evictedQueryP50.toFixed(0)} ms`,
        ],
      );
    }
    if (storm) {
      rows.push(
        ['storm: callbacks', `${STORM_N} urgent, queued in ${storm.createSeconds.toFixed(1)} s before opening`],
        ['storm: SLA deadline', `${storm.deadline.toISOString()} (${storm.distinctDeadlines} distinct)`],
        ['storm: first escalation', `+${storm.firstEscalation.toFixed(2)} s after the deadline`],
        [
          'storm: all escalation rows',
          `+${storm.allEscalations.toFixed(2)} s (${(STORM_N / storm.allEscalations).toFixed(1)} escalations/s)`,
        ],
        ['storm: all notifications queued', `+${storm.allNotifications.toFixed(2)} s`],
        ['storm: all emails delivered', `+${storm.allDelivered.toFixed(2)} s`],
        [
          'storm: counts',
          `${storm.escalations} escalation rows, ${storm.duplicateEscalations} callbacks escalated twice, ${storm.notifications} notifications, ${storm.emails} emails`,
        ],
      );
    }
    rows.push(['worker process peak RSS', `${mb(stopped.maxRssBytes ?? 0)} (sampled ${mb(stopped.sampledPeakRssBytes ?? 0)})`]);
    const width = Math.max(...rows.map(([k]) => k.length));
    console.log('\nCallbacks benchmark (loopback; Temporal CLI dev server on SQLite; product worker in its own process)');
    for (const [k, v] of rows) console.log(`  ${k.padEnd(width)}  ${v}`);
    if (
      storm &&
      (storm.escalations !== STORM_N || storm.duplicateEscalations !== 0 || storm.notifications !== STORM_N || storm.emails !== STORM_N)
    ) {
      throw new Error(`breach storm: expected ${STORM_N} escalations, notifications and emails, no duplicates`);
    }
    if (idle && idle.evictedAnswered !== idle.evictedProbed) throw new Error('an evicted callback did not answer its live query');
  } finally {
    clearTimeout(abort);
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
