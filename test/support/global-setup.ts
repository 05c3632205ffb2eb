import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startEmbeddedPostgres } from '../../src/dev/embedded-postgres';
import { startTemporalDevServer } from '../../src/dev/temporal-dev-server';
import { startTemporalServer } from '../../src/dev/temporal-server';
import { migrate } from '../../src/db/migrate';
import { freePort } from '../../src/dev/free-port';
import { registerSearchAttributes } from '../../src/temporal/search-attributes';
import { writeWorkflowBundle } from '../../src/temporal/worker';
import { Connection } from '@temporalio/client';
import { TEST_PAYLOAD_KEYS, TEST_SECRET_KEYS } from './encryption';

/**
 * Starts the real servers the suite runs against, once for all test files:
 * - PostgreSQL: DATABASE_URL if set, else a throwaway embedded server; migrated to the latest level.
 * - Temporal: TEMPORAL_ADDRESS if set, else the official CLI dev server (in-memory SQLite), or with
 *   TEMPORAL_PERSISTENCE=postgres the full Temporal server with its persistence and visibility in
 *   that PostgreSQL (the production topology; src/dev/temporal-server.ts).
 * Their addresses reach the test workers through the environment (TEST_DATABASE_URL, TEST_TEMPORAL_ADDRESS).
 * Time-skipping servers are per test file (time is global to such a server).
 */
export default async function globalSetup(): Promise<void> {
  // Payload encryption on for the whole suite (test clients, workers, and the processes tests start).
  process.env.PAYLOAD_KEYS = TEST_PAYLOAD_KEYS;
  delete process.env.PAYLOAD_KEYS_FILE;
  // The integrations' secrets likewise (no process the tests start writes a key file into the repository).
  process.env.SECRET_KEYS = TEST_SECRET_KEYS;
  delete process.env.SECRET_KEYS_FILE;
  const stops: Array<() => Promise<void>> = [];
  (globalThis as { __stopServers?: () => Promise<void> }).__stopServers = async () => {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
  };

  let databaseUrl = process.env.DATABASE_URL;
  let adminUrl = process.env.TEST_ADMIN_DATABASE_URL;
  if (!databaseUrl) {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ao-test-pg-'));
    fs.rmSync(dataDir, { recursive: true });
    const pg = await startEmbeddedPostgres({ dataDir, port: await freePort(), persistent: false, database: 'appointments_test' });
    stops.push(pg.stop);
    databaseUrl = pg.databaseUrl;
    adminUrl = pg.adminUrl;
  }
  await migrate({ databaseUrl });
  process.env.TEST_DATABASE_URL = databaseUrl;
  if (adminUrl) process.env.TEST_ADMIN_DATABASE_URL = adminUrl;

  let address = process.env.TEMPORAL_ADDRESS;
  const namespace = process.env.TEMPORAL_NAMESPACE ?? 'default';
  const persistence = process.env.TEMPORAL_PERSISTENCE ?? 'sqlite';
  if (!['sqlite', 'postgres'].includes(persistence)) throw new Error(`TEMPORAL_PERSISTENCE must be sqlite or postgres, not ${persistence}`);
  if (!address && persistence === 'postgres') {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ao-test-temporal-'));
    // Its own two databases beside the suite's: in the throwaway server, or named after the test
    // database on a DATABASE_URL server.
    const testDatabase = new URL(databaseUrl).pathname.slice(1);
    const temporal = await startTemporalServer({
      postgresUrl: adminUrl ?? databaseUrl,
      dataDir,
      namespace,
      databases: process.env.DATABASE_URL
        ? { temporal: `${testDatabase}_temporal`, visibility: `${testDatabase}_temporal_visibility` }
        : undefined,
    });
    process.stderr.write(
      `\n[global-setup] Temporal server on PostgreSQL at ${temporal.address}: schemas ${temporal.timings.schemaMs} ms, ready ${temporal.timings.startMs} ms\n`,
    );
    stops.push(async () => {
      await temporal.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    });
    address = temporal.address;
  } else if (!address) {
    const temporal = await startTemporalDevServer({ namespace });
    stops.push(temporal.stop);
    address = temporal.address;
  } else {
    const connection = await Connection.connect({ address });
    await registerSearchAttributes(connection, namespace);
    await connection.close();
  }
  process.env.TEST_TEMPORAL_ADDRESS = address;
  process.env.TEST_TEMPORAL_NAMESPACE = namespace;

  // The workflow code, bundled once for the whole run: test workers and worker processes load it
  // (bundling costs seconds each time). Rebuilt every run, so it is never stale.
  const bundle = path.join(os.tmpdir(), `ao-workflow-bundle-${process.pid}.js`);
  await writeWorkflowBundle(bundle);
  process.env.WORKFLOW_BUNDLE_PATH = bundle;
  // Processes the tests start (worker, api) sign and check unsubscribe links alike, without writing
  // a generated secret under the repository's .data.
  process.env.UNSUBSCRIBE_SECRET ??= 'test-unsubscribe-secret-of-at-least-32-characters';
  stops.push(async () => fs.rmSync(bundle, { force: true }));
}
