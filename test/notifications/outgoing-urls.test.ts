import { randomUUID } from 'node:crypto';
import dns from 'node:dns';
import http from 'node:http';
import type { AddressInfo, LookupFunction } from 'node:net';
import { NativeConnection } from '@temporalio/worker';
import webpush from 'web-push';
import { ChannelRegistry } from '../../src/channels/registry';
import { WebPushProvider } from '../../src/channels/webpush';
import { startTestApi, type TestApi } from '../support/api';
import { fieldsOf } from '../support/directory';
import { pushSubscription } from '../support/fixtures';
import { until } from '../support/until';
import { startTestWorker, type TestWorker } from '../support/workers';

/** Names a tenant controls in DNS, as this test's resolver answers them. */
const TENANT_DNS: Record<string, Array<{ address: string; family: 4 | 6 }>> = {
  'push.tenant.test': [{ address: '127.0.0.1', family: 4 }],
  'mapped.tenant.test': [{ address: '::ffff:127.0.0.1', family: 6 }],
  // One public answer does not make a name safe: every address is checked.
  'mixed.tenant.test': [
    { address: '93.184.215.14', family: 4 },
    { address: '10.20.30.40', family: 4 },
  ],
};
const lookup = ((hostname: string, options: dns.LookupOptions, callback: (...args: unknown[]) => void) => {
  const answers = TENANT_DNS[hostname];
  if (!answers) return dns.lookup(hostname, options, callback as never);
  if (options.all) return process.nextTick(() => callback(null, answers));
  return process.nextTick(() => callback(null, answers[0].address, answers[0].family));
}) as unknown as LookupFunction;

/**
 * A tenant cannot make the worker call inside the network: Web Push endpoints are https and
 * public when saved (400 naming the field otherwise), and at every send the host's addresses are
 * checked before connecting (a refusal is a permanent, non-retried failure); whatever an endpoint
 * answers, only its status line is kept.
 */
describe('outgoing URLs a tenant supplies', () => {
  let api: TestApi;
  let native: NativeConnection;
  let worker: TestWorker;
  /** An internal service on this host: its answers carry a marker that must never come back. */
  let internal: http.Server;
  let port: number;
  const received: string[] = [];
  const MARKER = `internal-secret-${randomUUID()}`;

  beforeAll(async () => {
    internal = http.createServer((req, res) => {
      received.push(`${req.method} ${req.url}`);
      req.resume();
      res.writeHead(404, `Not Here ${MARKER}`, { 'content-type': 'application/json', location: `/x/${MARKER}` });
      res.end(JSON.stringify({ instanceId: MARKER, credentials: `${MARKER}-aws-key` }));
    });
    await new Promise<void>((resolve) => internal.listen(0, '127.0.0.1', resolve));
    port = (internal.address() as AddressInfo).port;

    api = await startTestApi();
    native = await NativeConnection.connect({ address: process.env.TEST_TEMPORAL_ADDRESS! });
    const vapid = { subject: 'mailto:ops@salon.test', ...webpush.generateVAPIDKeys() };
    worker = await startTestWorker({
      connection: native,
      client: api.temporal,
      pool: api.pool,
      taskQueue: api.taskQueue,
      channels: new ChannelRegistry(
        [
          // Production's rules, with this test's resolver.
          new WebPushProvider({ name: 'webpush', vapid, ttlSeconds: 60, timeoutMs: 3_000, lookup }),
          // The test/development switch (OUTGOING_ALLOW_LOOPBACK): loopback over http allowed.
          new WebPushProvider({ name: 'webpush-local', vapid, ttlSeconds: 60, timeoutMs: 3_000, allowLoopback: true }),
        ],
        { push: ['webpush'] },
      ),
    });
  });
  afterAll(async () => {
    await worker?.stop();
    await native?.close();
    await api?.close();
    await new Promise((resolve) => internal.close(resolve));
  });

  const keys = () => pushSubscription('https://unused.example').keys;

  it('refuses, naming the field, an endpoint that is not https or is an address outside the public internet', async () => {
    const company = await api.company();
    const refused = [
      `http://push.example.com/send/1`,
      `https://127.0.0.1:${port}/push/1`,
      `https://localhost:${port}/push/1`,
      'https://10.0.0.8/push',
      'https://172.16.4.1/push',
      'https://192.168.1.20/push',
      'https://169.254.169.254/latest/meta-data/',
      'https://100.64.0.1/push',
      'https://0.0.0.0/push',
      'https://224.0.0.1/push',
      'https://2130706433/push', // 127.0.0.1 written as a number
      'https://[::1]/push',
      'https://[::ffff:127.0.0.1]/push',
      'https://[::ffff:a9fe:a9fe]/push', // 169.254.169.254, IPv4-mapped
      'https://[64:ff9b::a00:1]/push', // 10.0.0.1 through NAT64
      'https://[fd12:3456::1]/push',
      'https://[fe80::1]/push',
      'https://user:pass@push.example.com/send/1',
      'ftp://push.example.com/send/1',
    ];
    for (const endpoint of refused) {
      const res = await api.request('POST', '/v1/customers', {
        key: company.admin,
        body: { name: 'Eve', pushSubscription: { endpoint, keys: keys() } },
      });
      expect([endpoint, res.status, fieldsOf(res)]).toEqual([endpoint, 400, ['body.pushSubscription.endpoint']]);
    }
    const ok = await api.request('POST', '/v1/customers', {
      key: company.admin,
      body: { name: 'Ana', pushSubscription: { endpoint: 'https://fcm.googleapis.com/fcm/send/abc:APA91b', keys: keys() } },
    });
    expect(ok.status).toBe(201);
    const patched = await api.request('PATCH', `/v1/customers/${ok.body.id}`, {
      key: company.admin,
      body: { pushSubscription: { endpoint: 'https://[::ffff:10.0.0.1]/x', keys: keys() } },
    });
    expect([patched.status, fieldsOf(patched)]).toEqual([400, ['body.pushSubscription.endpoint']]);
    const { rows } = await api.pool.query(`SELECT count(*)::int AS n FROM customers WHERE company_id = $1`, [company.id]);
    expect(rows[0].n).toBe(1);
    expect(received).toEqual([]);
  });

  /** A customer with this endpoint (saved through the API, or straight into the row as one saved before the rules) and a push notification to them. */
  async function pushTo(endpoint: string, options: { viaApi: boolean; providers?: string[] }) {
    const company = await api.company();
    const subscription = { endpoint, keys: keys() };
    const customer = await api.request('POST', '/v1/customers', {
      key: company.admin,
      body: { name: 'Carla', ...(options.viaApi ? { pushSubscription: subscription } : {}) },
    });
    expect(customer.status).toBe(201);
    if (!options.viaApi)
      await api.pool.query(`UPDATE customers SET push_subscription = $2 WHERE id = $1`, [customer.body.id, JSON.stringify(subscription)]);
    const config = await api.request('PUT', '/v1/notification-configs', {
      key: company.manager,
      body: {
        configurableType: 'company',
        configurableId: company.id,
        eventType: 'payment_received',
        channel: 'push',
        fallbackChannel: 'none',
        retryCount: 3,
        ...(options.providers ? { providers: options.providers } : {}),
      },
    });
    expect(config.status).toBeLessThan(300);
    const sent = await api.request('POST', '/v1/notifications', {
      key: company.agent,
      body: { eventType: 'payment_received', notifiable: { type: 'customer', id: customer.body.id } },
    });
    expect(sent.status).toBe(202);
    const id = sent.body.notification.id as string;
    const final = await until('the notification ends', async () => {
      const res = await api.request('GET', `/v1/notifications/${id}`, { key: company.agent });
      return ['failed', 'delivered'].includes(res.body.status) ? res : undefined;
    });
    const attempts = (
      await api.pool.query(
        `SELECT provider, status, error, error_kind FROM notification_deliveries WHERE notification_id = $1 ORDER BY attempt_number`,
        [id],
      )
    ).rows;
    // Everything stored about it, as text.
    const stored = (
      await api.pool.query(
        `SELECT (SELECT json_agg(d)::text FROM notification_deliveries d WHERE d.notification_id = $1) AS deliveries,
                (SELECT row_to_json(n)::text FROM notifications n WHERE n.id = $1) AS notification`,
        [id],
      )
    ).rows[0];
    return { final, attempts, seen: JSON.stringify(final.body) + stored.deliveries + stored.notification };
  }

  it('at send time, refuses a host name that resolves to loopback, an IPv4-mapped loopback, or a private address among public ones: once, permanent, nothing sent', async () => {
    for (const host of ['push.tenant.test', 'mapped.tenant.test', 'mixed.tenant.test']) {
      const { final, attempts, seen } = await pushTo(`https://${host}:${port}/push/device-1`, { viaApi: true });
      expect([host, final.body.status]).toEqual([host, 'failed']);
      expect(attempts).toEqual([
        {
          provider: 'webpush',
          status: 'failed',
          error: 'webpush: endpoint refused: its host resolves to a non-public address',
          error_kind: 'permanent',
        },
      ]);
      expect(seen).not.toContain(MARKER);
    }
    expect(received).toEqual([]);
  });

  it('at send time, refuses an endpoint saved before the rules (http to a loopback address) without calling it', async () => {
    const { final, attempts } = await pushTo(`http://127.0.0.1:${port}/push/device-2`, { viaApi: false });
    expect(final.body.status).toBe('failed');
    expect(attempts).toEqual([
      { provider: 'webpush', status: 'failed', error: 'webpush: endpoint refused: must be an https URL', error_kind: 'permanent' },
    ]);
    expect(received).toEqual([]);
  });

  it('keeps only the status line of what an endpoint answers: its body, reason phrase and headers never reach the API or the rows', async () => {
    // Reached (the test switch lets loopback through): the answer is a 404 whose body, reason phrase and Location carry the marker.
    const { final, attempts, seen } = await pushTo(`http://127.0.0.1:${port}/push/device-3`, {
      viaApi: false,
      providers: ['webpush-local'],
    });
    expect(received).toEqual(['POST /push/device-3']);
    expect(final.body.status).toBe('failed');
    expect(attempts).toEqual([
      { provider: 'webpush-local', status: 'failed', error: 'webpush-local: HTTP 404 Not Found', error_kind: 'permanent' },
    ]);
    expect(seen).not.toContain(MARKER);
  });
});
