import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createPool, type Pool } from '../../src/db/pool';
import { migrate } from '../../src/db/migrate';
import { freePort } from '../../src/dev/free-port';
import { startTestApi, type TestApi } from '../support/api';
import { RestartablePostgres } from '../support/postgres-server';

/**
 * A PostgreSQL of this file's own, stopped and started again under a running API: requests during
 * the outage get 503 with nothing written, and the API recovers by itself when the server is back.
 */
describe('PostgreSQL restart under the API', () => {
  let dataDir: string;
  let pg: RestartablePostgres;
  let pool: Pool;
  let api: TestApi;

  beforeAll(async () => {
    const parent = fs.mkdtempSync(path.join(os.tmpdir(), 'ao-fault-pg-'));
    fs.chmodSync(parent, 0o755); // the server may run as the unprivileged postgres user
    dataDir = path.join(parent, 'data');
    pg = new RestartablePostgres(dataDir, await freePort(), 'faults');
    const url = await pg.start();
    await migrate({ databaseUrl: url });
    pool = createPool(url, { max: 4, connectionTimeoutMillis: 2_000 });
    api = await startTestApi({ pool });
  }, 120_000);

  afterAll(async () => {
    await api?.close();
    await pool?.end().catch(() => undefined);
    await pg.stop();
    fs.rmSync(path.dirname(dataDir), { recursive: true, force: true });
  });

  it('answers 503 while the database is down, writes nothing, and recovers after the restart', async () => {
    const company = await api.company();
    const created = await api.request('POST', '/v1/branches', { key: company.admin, body: { name: 'Before' } });
    expect(created.status).toBe(201);

    await pg.stop();
    const during = await api.request('POST', '/v1/branches', { key: company.admin, body: { name: 'During' } });
    expect(during.status).toBe(503);
    expect(during.body.error.code).toBe('unavailable');
    const ready = await api.request('GET', '/health/ready');
    expect(ready.status).toBe(503);
    expect(ready.body.problems.join(' ')).toMatch(/database unreachable/);

    await pg.start();
    const after = await api.request('POST', '/v1/branches', { key: company.admin, body: { name: 'After' } });
    expect(after.status).toBe(201);
    const list = await api.request('GET', '/v1/branches', { key: company.admin });
    expect(list.body.items.map((b: { name: string }) => b.name)).toEqual(['Before', 'After']);
  });
});
