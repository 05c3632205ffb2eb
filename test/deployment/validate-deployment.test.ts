import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { Client } from 'pg';
import { Connection } from '@temporalio/client';
import Long from 'long';
import { expectedMigrationNames, migrate } from '../../src/db/migrate';
import { scratchDatabase } from '../support/database';

const run = promisify(execFile);
const ROOT = path.resolve(__dirname, '..', '..');

/** Runs the real command, as an operator would, and returns its exit code and output. */
async function validateDeployment(env: Record<string, string>) {
  try {
    const { stdout, stderr } = await run(process.execPath, ['-r', '@swc-node/register', 'src/main.ts', 'validate-deployment'], {
      cwd: ROOT,
      env: { ...process.env, LOG_LEVEL: 'silent', ...env },
      timeout: 60_000,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('validate-deployment (real Postgres, real Temporal)', () => {
  const temporal = () => ({
    TEMPORAL_ADDRESS: process.env.TEST_TEMPORAL_ADDRESS!,
    TEMPORAL_NAMESPACE: process.env.TEST_TEMPORAL_NAMESPACE ?? 'default',
  });

  it('passes on a fully migrated database and a prepared namespace', async () => {
    const result = await validateDeployment({ DATABASE_URL: process.env.TEST_DATABASE_URL!, ...temporal() });
    expect(result.stderr).toContain('deployment is valid');
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout);
    expect(report).toMatchObject({ ok: true, migrations: { ok: true, pending: [] }, searchAttributes: { ok: true } });
  });

  it('exits 1 naming a dropped table and the migration level', async () => {
    const scratch = await scratchDatabase();
    try {
      await migrate({ databaseUrl: scratch.url });
      const client = new Client({ connectionString: scratch.url });
      await client.connect();
      await client.query('DROP TABLE callback_escalations');
      const [previous, newest] = expectedMigrationNames().slice(-2);
      await client.query(`DELETE FROM pgmigrations WHERE name = $1`, [newest]);
      await client.end();
      const result = await validateDeployment({ DATABASE_URL: scratch.url, ...temporal() });
      expect(result.code).toBe(1);
      expect(result.stderr).toContain('missing table: callback_escalations');
      expect(result.stderr).toContain(`pending migrations: ${newest}`);
      expect(JSON.parse(result.stdout).migrations.current).toBe(previous);
    } finally {
      await scratch.drop();
    }
  });

  it('exits 1 naming the search attributes a namespace lacks', async () => {
    const connection = await Connection.connect({ address: process.env.TEST_TEMPORAL_ADDRESS! });
    const namespace = `bare-${Date.now()}`;
    await connection.workflowService.registerNamespace({
      namespace,
      workflowExecutionRetentionPeriod: { seconds: Long.fromNumber(86400) },
    });
    await connection.close();
    const result = await validateDeployment({
      DATABASE_URL: process.env.TEST_DATABASE_URL!,
      TEMPORAL_ADDRESS: process.env.TEST_TEMPORAL_ADDRESS!,
      TEMPORAL_NAMESPACE: namespace,
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('missing search attribute: CallbackStatus');
    expect(result.stderr).toContain('missing search attribute: CompanyId');
  });

  it('exits 1 naming an unreachable Temporal', async () => {
    const result = await validateDeployment({
      DATABASE_URL: process.env.TEST_DATABASE_URL!,
      TEMPORAL_ADDRESS: '127.0.0.1:1',
      TEMPORAL_NAMESPACE: 'default',
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('temporal unreachable');
  });
});
