/**
 * A second API process for the cross-process cache tests: the product's own createApp with its own
 * pool and its own policy cache (listening on its own connection), on the suite's PostgreSQL.
 * Run as `node -r @swc-node/register test/policies/second-api-process.ts` with DATABASE_URL and
 * TEMPORAL_ADDRESS (TASK_QUEUE optional); prints one JSON line `{"url", "pid", "listener"}` when ready; SIGTERM stops it.
 */
import type { AddressInfo } from 'node:net';
import { Client, Connection } from '@temporalio/client';
import { testDataConverter } from '../support/encryption';
import { createApp } from '../../src/api/app';
import { createMetrics } from '../../src/api/metrics';
import { createPool } from '../../src/db/pool';
import { createLogger } from '../../src/logger';
import { policyCacheFor } from '../../src/policies/service';

async function main() {
  const pool = createPool(process.env.DATABASE_URL!, { max: 5 });
  const policyCache = policyCacheFor(pool, { reconnectInitialMs: 1_000, reconnectMaxMs: 1_000 });
  await policyCache.start();
  // Opened on first use (the notifications a cancellation sends).
  const temporal = new Client({
    connection: Connection.lazy({ address: process.env.TEMPORAL_ADDRESS! }),
    dataConverter: testDataConverter(),
  });
  const app = createApp({
    pool,
    temporal,
    taskQueue: process.env.TASK_QUEUE ?? 'second-api-process',
    logger: createLogger('silent'),
    metrics: createMetrics(),
    readiness: async () => ({ ok: true }) as never,
    policyCache,
  });
  const server = app.listen(0, '127.0.0.1', () => {
    const { port } = server.address() as AddressInfo;
    process.stdout.write(
      `${JSON.stringify({ url: `http://127.0.0.1:${port}`, pid: process.pid, listener: policyCache.applicationName })}\n`,
    );
  });
  process.once('SIGTERM', () => {
    server.close();
    server.closeAllConnections();
    void policyCache
      .close()
      .then(() => pool.end())
      .then(() => process.exit(0));
  });
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
