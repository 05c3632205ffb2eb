/**
 * HTTP API throughput, loopback only: the same process serves and loads (2 cores), so figures are
 * for comparison between routes, not capacity planning.
 *
 * Starts an embedded PostgreSQL (migrated) and the API, then for each case sends BENCH_API_N
 * requests at BENCH_API_CONCURRENCY in flight:
 *   /health                         no auth, no database: the Express + logging floor
 *   GET /v1/branches/:id            API key lookup + one indexed read
 *   POST /v1/branches               API key lookup + validation + one insert
 * Prints requests/s, p50/p95 latency, each case's ratio to /health, and the process's peak RSS.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { Client, Connection } from '@temporalio/client';
import { createApp } from '../src/api/app';
import { createMetrics } from '../src/api/metrics';
import { migrate } from '../src/db/migrate';
import { createPool } from '../src/db/pool';
import { startEmbeddedPostgres } from '../src/dev/embedded-postgres';
import { freePort } from '../src/dev/free-port';
import { createLogger } from '../src/logger';

const N = Math.min(Number(process.env.BENCH_API_N ?? 3000), 50_000);
const CONCURRENCY = Math.min(Number(process.env.BENCH_API_CONCURRENCY ?? 32), 256);
const TOKEN = 'bench-platform-token';

async function load(label: string, request: (i: number) => Promise<Response>) {
  const latencies: number[] = [];
  let next = 0;
  let failures = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < N) {
        const i = next++;
        const t = performance.now();
        const res = await request(i);
        await res.arrayBuffer();
        if (!res.ok) failures++;
        latencies.push(performance.now() - t);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))];
  return { label, rate: N / seconds, p50: pct(0.5), p95: pct(0.95), failures };
}

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ao-bench-api-'));
  fs.chmodSync(dir, 0o755);
  const pg = await startEmbeddedPostgres({ dataDir: path.join(dir, 'pg'), port: await freePort(), persistent: false, database: 'bench' });
  let peakRss = process.memoryUsage().rss;
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 100);
  try {
    await migrate({ databaseUrl: pg.databaseUrl });
    const pool = createPool(pg.databaseUrl, { max: 20 });
    // No route measured here talks to Temporal; the lazy connection is never opened.
    const temporal = new Client({ connection: Connection.lazy({ address: '127.0.0.1:7233' }) });
    const app = createApp({
      pool,
      temporal,
      taskQueue: 'bench',
      logger: createLogger('silent'),
      metrics: createMetrics(),
      readiness: async () => {
        throw new Error('not measured');
      },
      platformAdminToken: TOKEN,
    });
    const server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const json = (method: string, p: string, key: string, body?: unknown) =>
      fetch(base + p, {
        method,
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: body ? JSON.stringify(body) : undefined,
      });

    const company = (await (await json('POST', '/v1/companies', TOKEN, { name: 'Bench' })).json()) as { apiKey: { key: string } };
    const key = company.apiKey.key as string;
    const branch = (await (await json('POST', '/v1/branches', key, { name: 'Main' })).json()) as { id: string };

    // Warm-up: JIT, pool connections.
    await load('warm-up', () => fetch(`${base}/health`));
    const results = [
      await load('GET /health', () => fetch(`${base}/health`)),
      await load('GET /v1/branches/:id', () => json('GET', `/v1/branches/${branch.id}`, key)),
      await load('POST /v1/branches', (i) => json('POST', '/v1/branches', key, { name: `Branch ${i}` })),
    ];
    server.close();
    await pool.end();

    const floor = results[0].rate;
    console.log(`\nAPI benchmark (loopback, one process, N=${N} per case, concurrency ${CONCURRENCY}, ${os.cpus().length} cores)`);
    console.log(
      `  ${'case'.padEnd(22)} ${'req/s'.padStart(8)} ${'p50 ms'.padStart(8)} ${'p95 ms'.padStart(8)} ${'vs /health'.padStart(11)} failures`,
    );
    for (const r of results) {
      console.log(
        `  ${r.label.padEnd(22)} ${r.rate.toFixed(0).padStart(8)} ${r.p50.toFixed(1).padStart(8)} ${r.p95.toFixed(1).padStart(8)} ${(r.rate / floor).toFixed(2).padStart(11)} ${r.failures}`,
      );
    }
    console.log(`  peak RSS (API + load generator): ${(peakRss / 2 ** 20).toFixed(0)} MiB`);
    if (results.some((r) => r.failures > 0)) process.exitCode = 1;
  } finally {
    clearInterval(sampler);
    await pg.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
