import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { freePort } from '../../src/dev/free-port';
import { createHmac } from 'node:crypto';
import { devPayloadKeysFile, devSecretKeysFile } from '../../src/dev/payload-keys';
import { productDataConverter } from '../../src/temporal/data-converter';
import { EncryptionCodec, parsePayloadKeys } from '../../src/temporal/payload-codec';

const ROOT = path.resolve(__dirname, '..', '..');
const TOKEN = 'start-test-platform-token-0123456789';

/**
 * `npm start`'s all-in-one mode as a user runs it: its own PostgreSQL and Temporal dev server
 * (Web UI, SQLite file), migrations, worker, API and local channel sinks; a notification goes
 * end to end; SIGTERM stops everything; a second start on the same data finds the first run's
 * notification and its workflow again. In the suite's TEMPORAL_PERSISTENCE=postgres mode, npm start
 * inherits it: the full Temporal server with its data in the embedded PostgreSQL, and no Web UI.
 */
const onPostgres = process.env.TEMPORAL_PERSISTENCE === 'postgres';

describe(`npm start (all-in-one, Temporal ${onPostgres ? 'server on PostgreSQL' : 'dev server'})`, () => {
  let dataDir: string;
  let env: Record<string, string>;
  let child: ChildProcess | undefined;
  let output = '';

  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ao-start-'));
    fs.chmodSync(dataDir, 0o755);
    env = {
      DATA_DIR: dataDir,
      PORT: String(await freePort()),
      EMBEDDED_POSTGRES_PORT: String(await freePort()),
      TEMPORAL_DEV_PORT: String(await freePort()),
      TEMPORAL_UI_PORT: String(await freePort()),
      PLATFORM_ADMIN_TOKEN: TOKEN,
      LOG_LEVEL: 'info',
      // No keys given (the suite's are in the environment): npm start generates its development key.
      PAYLOAD_KEYS: '',
      PAYLOAD_KEYS_FILE: '',
      SECRET_KEYS: '',
      SECRET_KEYS_FILE: '',
    };
  });
  afterAll(() => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  async function start(): Promise<void> {
    output = '';
    const { DATABASE_URL: _d, TEMPORAL_ADDRESS: _t, SMTP_URL: _s, TWILIO_BASE_URL: _w, ...inherited } = process.env;
    child = spawn(process.execPath, ['-r', '@swc-node/register', 'src/main.ts', 'start'], {
      cwd: ROOT,
      env: { ...inherited, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (d) => (output += d));
    await new Promise<void>((resolve, reject) => {
      const timer = setInterval(() => {
        if (output.includes('Appointment orchestrator is running')) {
          clearInterval(timer);
          resolve();
        }
      }, 100);
      child!.once('exit', (code) => {
        clearInterval(timer);
        reject(new Error(`npm start exited (${code}):\n${output.slice(-3000)}`));
      });
    });
  }

  async function stop(): Promise<number | null> {
    const c = child!;
    const exited = new Promise<number | null>((resolve) => c.once('exit', resolve));
    c.kill('SIGTERM');
    return exited;
  }

  const api = async (method: string, p: string, key: string, body?: unknown) => {
    const res = await fetch(`http://127.0.0.1:${env.PORT}${p}`, {
      method,
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as any };
  };

  /** The dev server's Web UI answers and is pointed at the API's codec server (--ui-codec-endpoint), whose token is in the endpoint. */
  async function expectWebUiWithCodec(): Promise<void> {
    expect((await fetch(`http://127.0.0.1:${env.TEMPORAL_UI_PORT}/`)).status).toBe(200);
    const settings = JSON.stringify(await (await fetch(`http://127.0.0.1:${env.TEMPORAL_UI_PORT}/api/v1/settings`)).json());
    const endpoint = new RegExp(`http://127\\.0\\.0\\.1:${env.PORT}/codec/[A-Za-z0-9_-]{24,}`).exec(settings)?.[0];
    expect(endpoint).toBeDefined();
    const preflight = await fetch(`${endpoint}/decode`, {
      method: 'OPTIONS',
      headers: {
        origin: `http://localhost:${env.TEMPORAL_UI_PORT}`,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type,x-namespace',
      },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe(`http://localhost:${env.TEMPORAL_UI_PORT}`);
    const decoded = await fetch(`${endpoint}/decode`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-namespace': 'default' },
      body: JSON.stringify({ payloads: [] }),
    });
    expect(decoded.status).toBe(200);
  }

  it('runs the whole service, delivers a notification, stops cleanly and keeps its data across a restart', async () => {
    await start();
    expect((await api('GET', '/health/ready', '')).body).toMatchObject({ ok: true });
    if (onPostgres) {
      expect(output).toContain(`Temporal       127.0.0.1:${env.TEMPORAL_DEV_PORT}   (server on PostgreSQL; no Web UI in this mode)`);
      await expect(fetch(`http://127.0.0.1:${env.TEMPORAL_UI_PORT}/`)).rejects.toThrow();
    } else {
      await expectWebUiWithCodec();
    }

    const company = await api('POST', '/v1/companies', TOKEN, { name: 'Start Salon' });
    const key = company.body.apiKey.key;
    const customer = await api('POST', '/v1/customers', key, { name: 'Lucía', email: 'lucia@example.test' });
    const sent = await api('POST', '/v1/notifications', key, {
      eventType: 'payment_received',
      notifiable: { type: 'customer', id: customer.body.id },
      data: {},
    });
    expect(sent.status).toBe(202);
    const id = sent.body.notification.id;
    let status = '';
    for (let i = 0; i < 100 && status !== 'delivered'; i++) {
      status = (await api('GET', `/v1/notifications/${id}`, key)).body.status;
      if (status !== 'delivered') await new Promise((r) => setTimeout(r, 100));
    }
    expect(status).toBe('delivered');
    // The dev sink listens on the channel's default port (1025); when another process on this machine
    // holds it (another checkout's npm start), that one took the email: delivered all the same.
    if (!output.includes('SMTP dev sink not started')) {
      expect(output).toMatch(/"to":\["lucia@example.test"\].*email delivered to the local dev inbox/);
    }
    // A Cal.com integration: its secret sealed with the key npm start generated into DATA_DIR/secret-keys, its own URL.
    const calcom = await api('PUT', '/v1/integrations/calcom', key, {});
    expect(calcom.body.webhookUrl).toBe(`http://127.0.0.1:${env.PORT}${calcom.body.webhookPath}`);
    const ping = async () => {
      const raw = JSON.stringify({ triggerEvent: 'PING', createdAt: new Date().toISOString(), payload: {} });
      const signature = createHmac('sha256', calcom.body.secret).update(raw).digest('hex');
      const res = await fetch(calcom.body.webhookUrl, { method: 'POST', headers: { 'x-cal-signature-256': signature }, body: raw });
      return { status: res.status, body: (await res.json()) as any };
    };
    expect((await ping()).body).toMatchObject({ outcome: 'ignored' });
    expect(fs.statSync(devSecretKeysFile(dataDir)).mode & 0o777).toBe(0o600);
    expect(await stop()).toBe(0);
    expect(output).toContain('"msg":"stopped"');

    // Same DATA_DIR: PostgreSQL and the Temporal dev server's SQLite file (or the Temporal server's
    // databases in that PostgreSQL) both kept the first run.
    await start();
    expect((await api('GET', `/v1/notifications/${id}`, key)).body.status).toBe('delivered');
    // The secret opens after the restart (the same key file).
    expect((await ping()).status).toBe(200);
    const connection = await Connection.connect({ address: `127.0.0.1:${env.TEMPORAL_DEV_PORT}` });
    try {
      const described = await connection.workflowService.describeWorkflowExecution({
        namespace: 'default',
        execution: { workflowId: `notification-${id}` },
      });
      expect(described.workflowExecutionInfo?.type?.name).toBe('notificationWorkflow');
      // Encrypted with the key npm start generated into DATA_DIR (0600) and kept across the restart.
      const keyFile = devPayloadKeysFile(dataDir);
      expect(fs.statSync(keyFile).mode & 0o777).toBe(0o600);
      const codec = new EncryptionCodec(parsePayloadKeys(fs.readFileSync(keyFile, 'utf8')));
      const client = new Client({ connection, namespace: 'default', dataConverter: productDataConverter(codec) });
      expect(await client.workflow.getHandle(`notification-${id}`).result()).toMatchObject({ status: 'delivered' });
      const plain = new Client({ connection, namespace: 'default' });
      await expect(plain.workflow.getHandle(`notification-${id}`).result()).rejects.toThrow(/encoding|binary\/encrypted/i);
    } finally {
      await connection.close();
    }
    expect(await stop()).toBe(0);
  }, 120_000);
});
