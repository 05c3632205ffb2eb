import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { randomUUID } from 'node:crypto';
import { Connection, type Client } from '@temporalio/client';
import { createApp, type AppDeps } from '../../src/api/app';
import { createMetrics } from '../../src/api/metrics';
import { checkDeployment } from '../../src/deployment/readiness';
import { createLogger } from '../../src/logger';
import type { Pool } from '../../src/db/pool';
import type { PolicyCache } from '../../src/policies/cache';
import { policyCacheFor } from '../../src/policies/service';
import { freePort } from '../../src/dev/free-port';
import { testPool } from './database';
import { testClient, TEST_SECRET_KEYS } from './encryption';
import { SecretBox } from '../../src/integrations/secret-box';
import { parsePayloadKeys } from '../../src/temporal/payload-codec';

export const PLATFORM_TOKEN = 'test-platform-token-of-32-characters';
/** The unsubscribe links' secret of every test API and test worker (src/consent/tokens.ts). */
export const TEST_UNSUBSCRIBE_SECRET = 'test-unsubscribe-secret-of-at-least-32-characters';
/** Twilio's auth token the test API checks X-Twilio-Signature with. */
export const TEST_TWILIO_AUTH_TOKEN = 'test-twilio-auth-token';

export interface TestApi {
  url: string;
  pool: Pool;
  temporal: Client;
  taskQueue: string;
  /** The API's policy cache (listening; closed by close()). */
  policyCache: PolicyCache;
  /** fetch() against the API with JSON in and out. */
  request(
    method: string,
    path: string,
    options?: { key?: string; body?: unknown; headers?: Record<string, string>; raw?: string },
  ): Promise<{ status: number; body: any; headers: Headers }>;
  /** A new company with its admin key, and keys for the other roles. */
  company(name?: string): Promise<{ id: string; admin: string; manager: string; agent: string }>;
  close(): Promise<void>;
}

/**
 * The real API on an ephemeral port, on the suite's Postgres and Temporal. `overrides` swaps
 * dependencies (e.g. a pool to a stopped database) to test failure paths.
 */
export async function startTestApi(overrides: Partial<AppDeps> = {}): Promise<TestApi> {
  const pool = testPool();
  const connection = await Connection.connect({ address: process.env.TEST_TEMPORAL_ADDRESS! });
  const namespace = process.env.TEST_TEMPORAL_NAMESPACE ?? 'default';
  const temporal = testClient(connection, namespace);
  const taskQueue = overrides.taskQueue ?? `api-test-${randomUUID()}`;
  // Starts listening when first used (a test of policies awaits policyCache.start()).
  const policyCache = overrides.policyCache ?? policyCacheFor(overrides.pool ?? pool);
  const deps: AppDeps = {
    pool,
    policyCache,
    temporal,
    taskQueue,
    logger: createLogger('silent'),
    metrics: createMetrics(),
    readiness: () => checkDeployment(overrides.pool ?? pool, connection, namespace),
    platformAdminToken: PLATFORM_TOKEN,
    secrets: new SecretBox(parsePayloadKeys(process.env.SECRET_KEYS ?? TEST_SECRET_KEYS)),
    ...overrides,
  };
  // The port first: the API signs and checks URLs with its own public address.
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  deps.consent ??= { unsubscribeSecret: TEST_UNSUBSCRIBE_SECRET, publicBaseUrl: url, twilioAuthToken: TEST_TWILIO_AUTH_TOKEN };
  const app = createApp(deps);
  const server: Server = await new Promise((resolve, reject) => {
    const s = app.listen(port, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  });

  const request: TestApi['request'] = async (method, path, options = {}) => {
    const headers: Record<string, string> = { ...(options.headers ?? {}) };
    if (options.key) headers.authorization = `Bearer ${options.key}`;
    let body: string | undefined = options.raw;
    if (options.body !== undefined) {
      body = JSON.stringify(options.body);
      headers['content-type'] = 'application/json';
    } else if (options.raw !== undefined) headers['content-type'] ??= 'application/json';
    const res = await fetch(url + path, { method, headers, body });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      /* not JSON (e.g. /metrics) */
    }
    return { status: res.status, body: parsed, headers: res.headers };
  };

  const company: TestApi['company'] = async (name = `Company ${randomUUID().slice(0, 8)}`) => {
    const created = await request('POST', '/v1/companies', { key: PLATFORM_TOKEN, body: { name } });
    if (created.status !== 201) throw new Error(`company creation failed: ${JSON.stringify(created.body)}`);
    const admin = created.body.apiKey.key as string;
    const key = async (role: string) =>
      (await request('POST', '/v1/api-keys', { key: admin, body: { name: role, role } })).body.key as string;
    return { id: created.body.company.id, admin, manager: await key('manager'), agent: await key('agent') };
  };

  return {
    url,
    pool,
    temporal,
    taskQueue,
    policyCache,
    request,
    company,
    close: async () => {
      await new Promise((resolve) => server.close(resolve));
      await policyCache.close();
      await pool.end();
      await connection.close();
    },
  };
}
