import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { createPool, type Pool } from '../../src/db/pool';

/** The suite's migrated database (started by global-setup). */
export function testDatabaseUrl(): string {
  const url = process.env.TEST_DATABASE_URL;
  if (!url) throw new Error('TEST_DATABASE_URL is not set: run the tests through jest (global-setup starts Postgres)');
  return url;
}

export function testPool(): Pool {
  return createPool(testDatabaseUrl(), { max: 5 });
}

/**
 * A brand-new empty database on the same server, for tests that migrate up and down.
 * Returns its URL and a function that drops it.
 */
export async function scratchDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const adminUrl = process.env.TEST_ADMIN_DATABASE_URL ?? withDatabase(testDatabaseUrl(), 'postgres');
  const name = `scratch_${randomUUID().replace(/-/g, '')}`;
  // template0: nobody connects to it, so parallel test files can copy it at the same time
  // (copying template1 fails while another session uses it).
  await adminQuery(adminUrl, `CREATE DATABASE ${name} TEMPLATE template0`);
  return {
    url: withDatabase(adminUrl, name),
    drop: () => adminQuery(adminUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
  };
}

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

async function adminQuery(url: string, sql: string): Promise<void> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}
