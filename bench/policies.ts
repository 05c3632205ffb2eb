/**
 * The policy feature's figures, on one machine, loopback only.
 *
 * Starts a real PostgreSQL (embedded, migrated) and the Temporal CLI dev server, then measures:
 *   1. a quota check (the customer's counter row of the month) with 1,000 and with
 *      BENCH_POLICY_ROWS (default 1,000,000) rows in appointment_modifications; goal: ratio <= 1.2.
 *   2. resolves per second from the cache versus from the database (a miss's one query);
 *      goal: >= 100x.
 *   3. the queries a batch resolve of 1,000 entities uses (counted at the pool); goal: a constant <= 4.
 *   4. POST /v1/appointments/:id/cancel through the API (one transaction, then the notification
 *      workflow's start on the dev server): requests per second and p50/p95/p99.
 *
 *   npm run bench:policies
 *   BENCH_POLICY_ROWS=200000 BENCH_POLICY_CANCELS=300 npm run bench:policies
 *
 * Bounded: rows <= 5,000,000, cancels <= 5,000, and the whole run is aborted after BENCH_TIMEOUT_S
 * (default 900 s). Rows are inserted with generate_series in SQL, not a JS loop.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { createApp } from '../src/api/app';
import { createMetrics } from '../src/api/metrics';
import { migrate } from '../src/db/migrate';
import { createPool } from '../src/db/pool';
import type { Queryable } from '../src/db/transaction';
import { startEmbeddedPostgres } from '../src/dev/embedded-postgres';
import { freePort } from '../src/dev/free-port';
import { startTemporalDevServer } from '../src/dev/temporal-dev-server';
import { createLogger } from '../src/logger';
import { PolicyCache } from '../src/policies/cache';
import type { PolicyTarget } from '../src/policies/definitions';
import { resolvePolicyOnChain } from '../src/policies/resolution';
import { quotaMonth } from '../src/policies/rules';
import { policyCacheFor } from '../src/policies/service';
import { readMonthlyCount, resolveTargets } from '../src/policies/store';
import { connectTemporalClient } from '../src/temporal/client';
import { benchPayloadCodec } from './encryption';

/** Encrypted as in production; set before any process is started, so each inherits the key. */
const payloadCodec = benchPayloadCodec();

const int = (name: string, fallback: number, min: number, max: number) => {
  const raw = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(raw) || raw < min || raw > max) throw new Error(`${name} must be an integer in [${min}, ${max}]`);
  return raw;
};
const ROWS = int('BENCH_POLICY_ROWS', 1_000_000, 10_000, 5_000_000);
const CHECKS = int('BENCH_POLICY_CHECKS', 5_000, 100, 100_000);
const CANCELS = int('BENCH_POLICY_CANCELS', 1_000, 50, 5_000);
const CONCURRENCY = int('BENCH_POLICY_CONCURRENCY', 32, 1, 256);
const TIMEOUT_S = int('BENCH_TIMEOUT_S', 900, 30, 3_600);
const CUSTOMERS = 10_000;
const TOKEN = 'bench-platform-token-of-32-characters';

const log = (message: string) => process.stderr.write(`[bench] ${message}\n`);
const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
const stats = (samples: number[]) => {
  const sorted = [...samples].sort((a, b) => a - b);
  return { mean: samples.reduce((a, b) => a + b, 0) / samples.length, p50: pct(sorted, 0.5), p99: pct(sorted, 0.99) };
};

async function pooled(n: number, limit: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, n) }, async () => {
      while (next < n) await task(next++);
    }),
  );
}

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
    log('starting PostgreSQL and the Temporal dev server');
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-policies-pg-'));
    fs.rmSync(dataDir, { recursive: true });
    const [pg, temporal] = await Promise.all([
      freePort().then((port) => startEmbeddedPostgres({ dataDir, port, persistent: false, database: 'bench' })),
      startTemporalDevServer({ namespace: 'default' }),
    ]);
    cleanups.push(
      () => fs.rmSync(dataDir, { recursive: true, force: true }),
      () => pg.stop(),
      () => temporal.stop(),
    );
    await migrate({ databaseUrl: pg.databaseUrl });
    const pool = createPool(pg.databaseUrl, { max: 40 });
    cleanups.push(() => pool.end());

    // ---- an organisation: a company, 10 branches with a service and 100 staff each, 10,000 customers ----
    const one = async (sql: string, params: unknown[] = []) => (await pool.query(sql, params)).rows[0];
    const company = (await one(`INSERT INTO companies (name, time_zone) VALUES ('Bench salon', 'Europe/Madrid') RETURNING id`))
      .id as string;
    await pool.query(`INSERT INTO branches (company_id, name) SELECT $1, 'Branch ' || n FROM generate_series(1, 10) n`, [company]);
    await pool.query(
      `INSERT INTO services (company_id, branch_id, name) SELECT company_id, id, 'Haircut' FROM branches WHERE company_id = $1`,
      [company],
    );
    await pool.query(
      `INSERT INTO staff (company_id, branch_id, name) SELECT b.company_id, b.id, 'Staff ' || n FROM branches b, generate_series(1, 100) n WHERE b.company_id = $1`,
      [company],
    );
    await pool.query(`INSERT INTO customers (company_id, name) SELECT $1, 'Customer ' || n FROM generate_series(1, $2) n`, [
      company,
      CUSTOMERS,
    ]);
    // One appointment per customer (the modifications below refer to them).
    await pool.query(
      `INSERT INTO appointments (company_id, customer_id, branch_id, service_id, starts_at, ends_at)
       SELECT c.company_id, c.id, s.branch_id, s.id, now() + interval '30 days', now() + interval '30 days 45 minutes'
         FROM customers c, LATERAL (SELECT * FROM services WHERE company_id = c.company_id LIMIT 1) s WHERE c.company_id = $1`,
      [company],
    );
    const customers: string[] = (await pool.query(`SELECT id FROM customers WHERE company_id = $1`, [company])).rows.map((r) => r.id);

    // ---- 1. quota check at 1,000 and ROWS modification rows ----
    /** Adds `count` modifications over the customers and the past year, then rebuilds the counters from them (as the service keeps them). */
    async function addModifications(count: number) {
      await pool.query(
        `WITH a AS (SELECT array_agg(id ORDER BY id) AS ids, array_agg(customer_id ORDER BY id) AS customers, count(*)::int AS n
                      FROM appointments WHERE company_id = $1)
         INSERT INTO appointment_modifications
           (company_id, appointment_id, customer_id, modification_type, within_policy, fee_charged_cents, modified_by, created_at)
         SELECT $1, a.ids[g % a.n + 1], a.customers[g % a.n + 1], CASE WHEN g % 3 = 0 THEN 'reschedule' ELSE 'cancel' END, true,
                (g % 3) * 500, 'bench', now() - (g % 365) * interval '1 day'
           FROM a, generate_series(1, $2) g`,
        [company, count],
      );
      await pool.query(`TRUNCATE appointment_modification_stats`);
      await pool.query(
        `INSERT INTO appointment_modification_stats (company_id, customer_id, modification_type, period_month, count, fees_cents)
         SELECT company_id, customer_id, modification_type, date_trunc('month', created_at AT TIME ZONE 'Europe/Madrid')::date,
                count(*), sum(fee_charged_cents)
           FROM appointment_modifications GROUP BY 1, 2, 3, 4`,
      );
      await pool.query(`ANALYZE appointment_modifications; ANALYZE appointment_modification_stats`);
    }
    const { firstDay } = quotaMonth(new Date(), 'Europe/Madrid');
    const counterCheck = (db: Queryable, customer: string) => readMonthlyCount(db, company, customer, 'cancel', firstDay);
    log('1,000 modification rows');
    await addModifications(1_000);
    // The 1,000-row state is kept in a schema of its own (same tables, same indexes), so both sizes
    // are measured in alternating blocks by the same function through search_path: load from other
    // work on this shared machine then falls on both alike instead of on whichever ran second.
    await pool.query(`CREATE SCHEMA small`);
    for (const table of ['appointment_modifications', 'appointment_modification_stats']) {
      await pool.query(`CREATE TABLE small.${table} (LIKE public.${table} INCLUDING ALL)`);
      await pool.query(`INSERT INTO small.${table} SELECT * FROM public.${table}`);
      await pool.query(`ANALYZE small.${table}`);
    }
    log(`inserting ${ROWS - 1_000} more modification rows (generate_series)`);
    const t0 = performance.now();
    await addModifications(ROWS - 1_000);
    log(`  ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const count = async (schema: string, table: string) => Number((await one(`SELECT count(*) AS n FROM ${schema}.${table}`)).n);
    const sizes = {
      small: { rows: await count('small', 'appointment_modifications'), counters: await count('small', 'appointment_modification_stats') },
      large: {
        rows: await count('public', 'appointment_modifications'),
        counters: await count('public', 'appointment_modification_stats'),
      },
    };
    const smallDb = await pool.connect();
    const largeDb = await pool.connect();
    const samples = { small: [] as number[], large: [] as number[] };
    try {
      await smallDb.query(`SET search_path = small, public`);
      const block = async (db: Queryable, into: number[] | null, offset: number, n: number) => {
        for (let i = 0; i < n; i++) {
          const customer = customers[((offset + i) * 7919) % customers.length];
          const t = performance.now();
          await counterCheck(db, customer);
          into?.push((performance.now() - t) * 1000);
        }
      };
      await block(smallDb, null, 0, 1_000); // warm-up: JIT, plans, buffers
      await block(largeDb, null, 0, 1_000);
      const BLOCKS = 10;
      const per = Math.ceil(CHECKS / BLOCKS);
      for (let b = 0; b < BLOCKS; b++) {
        const order: Array<'small' | 'large'> = b % 2 === 0 ? ['small', 'large'] : ['large', 'small'];
        for (const size of order) await block(size === 'small' ? smallDb : largeDb, samples[size], b * per, per);
      }
    } finally {
      smallDb.release();
      largeDb.release();
    }
    const small = stats(samples.small);
    const large = stats(samples.large);

    // ---- 2. cached versus uncached resolves ----
    log('resolves: cache versus database');
    const staff: Array<{ id: string; branch_id: string }> = (
      await pool.query(`SELECT id, branch_id FROM staff WHERE company_id = $1 ORDER BY id`, [company])
    ).rows;
    const services: Array<{ id: string; branch_id: string }> = (
      await pool.query(`SELECT id, branch_id FROM services WHERE company_id = $1`, [company])
    ).rows;
    const branches: string[] = (await pool.query(`SELECT id FROM branches WHERE company_id = $1`, [company])).rows.map((r) => r.id);
    await pool.query(
      `INSERT INTO policy_configurations (company_id, configurable_type, configurable_id, policy_type, config)
       VALUES ($1, 'company', $1, 'cancellation', '{"hours_before": 24}'),
              ($1, 'branch', $2, 'cancellation', '{"hours_before": 48, "max_cancellations_per_month": 3}'),
              ($1, 'staff', $3, 'cancellation', '{"fee_cents": 500}')`,
      [company, branches[0], staff[0].id],
    );
    let queries = 0;
    const counted: Queryable = {
      query: ((...args: unknown[]) => {
        queries++;
        return (pool.query as (...a: unknown[]) => unknown)(...args);
      }) as Queryable['query'],
    };
    const cache = new PolicyCache({ load: (c, t, p) => resolveTargets(counted, c, t, p), listen: { connectionString: pg.databaseUrl } });
    cleanups.push(() => cache.close());
    await cache.start();
    const keys: PolicyTarget[] = staff.slice(0, 100).map((s) => ({ entityType: 'staff', entityId: s.id }));
    await Promise.all(keys.map((k) => cache.resolve(company, k, 'cancellation')));
    const rate = async (n: number, concurrency: number, fn: (i: number) => Promise<unknown>) => {
      const t = performance.now();
      await pooled(n, concurrency, async (i) => void (await fn(i)));
      return n / ((performance.now() - t) / 1000);
    };
    const cachedQueriesBefore = queries;
    await rate(20_000, 1, (i) => cache.resolve(company, keys[i % keys.length], 'cancellation'));
    const cachedRate = await rate(200_000, 1, (i) => cache.resolve(company, keys[i % keys.length], 'cancellation'));
    const cachedQueries = queries - cachedQueriesBefore;
    // What a miss costs: the one statement, then the merge of every level's keys (what the cache stores).
    const uncached = async (i: number) => {
      const [r] = await resolveTargets(pool, company, [keys[i % keys.length]], ['cancellation']);
      return resolvePolicyOnChain('cancellation', r.chain, r.policies.cancellation ?? []);
    };
    await rate(500, 8, uncached);
    const uncachedRate1 = await rate(3_000, 1, uncached);
    const uncachedRate16 = await rate(5_000, 16, uncached);

    // ---- 3. batch resolve of 1,000 entities ----
    log('batch resolve of 1,000 entities');
    cache.clearAll();
    const targets: PolicyTarget[] = [
      ...staff.slice(0, 700).map((s) => ({ entityType: 'staff' as const, entityId: s.id })),
      ...staff.slice(700, 980).map((s) => ({
        entityType: 'staff' as const,
        entityId: s.id,
        serviceId: services.find((v) => v.branch_id === s.branch_id)!.id,
      })),
      ...services.map((s) => ({ entityType: 'service' as const, entityId: s.id })),
      ...branches.map((b) => ({ entityType: 'branch' as const, entityId: b })),
    ];
    const batchQueriesBefore = queries;
    const tb = performance.now();
    const resolved = await cache.resolveMany(
      company,
      targets.map((target) => ({ target, policyType: 'cancellation' })),
    );
    const batchMs = performance.now() - tb;
    const batchQueries = queries - batchQueriesBefore;
    const againBefore = queries;
    await cache.resolveMany(
      company,
      targets.map((target) => ({ target, policyType: 'cancellation' })),
    );
    const batchAgainQueries = queries - againBefore;
    if (resolved.some((r) => r === null)) throw new Error('a batch entity did not resolve');

    // ---- 4. POST /v1/appointments/:id/cancel through the API ----
    log(`${CANCELS} cancellations through the API (concurrency ${CONCURRENCY})`);
    const temporalClient = await connectTemporalClient(temporal.address, 'default', undefined, payloadCodec);
    cleanups.push(() => temporalClient.close());
    const policyCache = policyCacheFor(pool);
    cleanups.push(() => policyCache.close());
    await policyCache.start();
    const app = createApp({
      pool,
      temporal: temporalClient.client,
      taskQueue: 'bench-policies',
      logger: createLogger('silent'),
      metrics: createMetrics(),
      readiness: async () => {
        throw new Error('not measured');
      },
      platformAdminToken: TOKEN,
      policyCache,
    });
    const server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    cleanups.push(() => new Promise((r) => server.close(r)));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const call = (method: string, p: string, key: string, body?: unknown) =>
      fetch(base + p, {
        method,
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: body ? JSON.stringify(body) : undefined,
      });
    const created = (await (await call('POST', '/v1/companies', TOKEN, { name: 'Bench API salon' })).json()) as any;
    const admin = created.apiKey.key as string;
    const agent = ((await (await call('POST', '/v1/api-keys', admin, { name: 'agent', role: 'agent' })).json()) as any).key as string;
    const apiCompany = created.company.id as string;
    const branch = ((await (await call('POST', '/v1/branches', admin, { name: 'Main' })).json()) as any).id;
    const service = ((await (await call('POST', '/v1/services', admin, { branchId: branch, name: 'Cut' })).json()) as any).id;
    const staffId = (
      (await (await call('POST', '/v1/staff', admin, { branchId: branch, name: 'Ana', serviceIds: [service] })).json()) as any
    ).id;
    await call('PUT', '/v1/policies', admin, {
      entityType: 'company',
      entityId: apiCompany,
      policyType: 'cancellation',
      config: { hours_before: 24, max_cancellations_per_month: 100 },
    });
    await pool.query(
      `INSERT INTO customers (company_id, name, email) SELECT $1, 'C' || n, 'c' || n || '@example.test' FROM generate_series(1, 500) n`,
      [apiCompany],
    );
    const apiCustomers: string[] = (await pool.query(`SELECT id FROM customers WHERE company_id = $1`, [apiCompany])).rows.map((r) => r.id);
    // Booked through the API (terms kept at booking), 3 days ahead.
    const appointments: string[] = [];
    const WARM = 50;
    await pooled(CANCELS + WARM, CONCURRENCY, async (i) => {
      const startsAt = new Date(Date.now() + 72 * 3_600_000 + i * 60_000);
      const res = await call('POST', '/v1/appointments', admin, {
        customerId: apiCustomers[i % apiCustomers.length],
        branchId: branch,
        serviceId: service,
        staffId,
        startsAt: startsAt.toISOString(),
        endsAt: new Date(startsAt.getTime() + 30 * 60_000).toISOString(),
      });
      if (res.status !== 201) throw new Error(`booking failed: ${res.status} ${await res.text()}`);
      appointments.push(((await res.json()) as any).id);
    });
    let failures = 0;
    const cancelOne = async (id: string, latencies?: number[]) => {
      const t = performance.now();
      const res = await call('POST', `/v1/appointments/${id}/cancel`, agent, { reason: 'bench' });
      await res.arrayBuffer();
      if (res.status !== 200) failures++;
      latencies?.push(performance.now() - t);
    };
    await pooled(WARM, CONCURRENCY, (i) => cancelOne(appointments[i]));
    const latencies: number[] = [];
    const tc = performance.now();
    await pooled(CANCELS, CONCURRENCY, (i) => cancelOne(appointments[WARM + i], latencies));
    const cancelRate = CANCELS / ((performance.now() - tc) / 1000);
    const cancelStats = stats(latencies);
    const sortedLat = [...latencies].sort((x, y) => x - y);
    // Temporal's floor on this server: the same number of bare workflow starts (no worker runs them either).
    log(`${CANCELS} bare workflow starts (concurrency ${CONCURRENCY})`);
    const ts = performance.now();
    await pooled(CANCELS, CONCURRENCY, async (i) => {
      await temporalClient.client.workflow.start('bareStart', { taskQueue: 'bench-policies-bare', workflowId: `bare-${i}`, args: [] });
    });
    const startRate = CANCELS / ((performance.now() - ts) / 1000);

    // ---- the figures ----
    const us = (v: number) => `${v.toFixed(0)} µs`;
    console.log(`\nPolicy benchmark (${os.cpus().length} cores, loopback, embedded PostgreSQL, Temporal CLI dev server)`);
    console.log(
      `\n1. Quota check (${CHECKS} checks per size in alternating blocks, one connection each, random customers of ${CUSTOMERS})`,
    );
    console.log(`   rows in appointment_modifications   counter rows   the counter row read: mean / p50 / p99`);
    for (const [size, st] of [
      [sizes.small, small],
      [sizes.large, large],
    ] as const) {
      console.log(
        `   ${size.rows.toLocaleString('en-GB').padEnd(35)} ${size.counters.toLocaleString('en-GB').padEnd(14)} ${us(st.mean)} / ${us(st.p50)} / ${us(st.p99)}`,
      );
    }
    console.log(
      `   ratio (large / small): mean ${(large.mean / small.mean).toFixed(2)}, median ${(large.p50 / small.p50).toFixed(2)}   (goal <= 1.2)`,
    );
    console.log(`\n2. Resolves per second`);
    console.log(`   from the cache (sequential):        ${cachedRate.toFixed(0)} /s   (${cachedQueries} queries during the run)`);
    console.log(`   from the database, sequential:      ${uncachedRate1.toFixed(0)} /s`);
    console.log(`   from the database, 16 in flight:    ${uncachedRate16.toFixed(0)} /s`);
    console.log(
      `   ratio cached / uncached: ${(cachedRate / uncachedRate1).toFixed(0)}x sequential, ${(cachedRate / uncachedRate16).toFixed(0)}x against 16 in flight   (goal >= 100x)`,
    );
    console.log(`\n3. Batch resolve of ${targets.length} entities (staff, staff with a service, services, branches)`);
    console.log(
      `   queries: ${batchQueries} (then ${batchAgainQueries} for the same batch from the cache)   time: ${batchMs.toFixed(1)} ms   (goal: constant, <= 4)`,
    );
    console.log(
      `\n4. POST /v1/appointments/:id/cancel through the API (${CANCELS} requests, ${CONCURRENCY} in flight, after ${WARM} warm-up)`,
    );
    console.log(
      `   ${cancelRate.toFixed(1)} req/s   p50 ${pct(sortedLat, 0.5).toFixed(1)} ms   p95 ${pct(sortedLat, 0.95).toFixed(1)} ms   p99 ${cancelStats.p99.toFixed(1)} ms   failures ${failures}`,
    );
    console.log(
      `   bare workflow starts on the same server: ${startRate.toFixed(1)} /s; cancel / bare start: ${(cancelRate / startRate).toFixed(2)}`,
    );
    console.log(`   (each cancel: one transaction of ~10 statements, then the notification workflow's start on the dev server)`);
    if (failures > 0) process.exitCode = 1;
  } finally {
    clearTimeout(deadline);
    await cleanup();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
