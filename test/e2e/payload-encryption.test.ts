import { Client, Connection } from '@temporalio/client';
import { defaultPayloadConverter, type Payload, type PayloadCodec } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { NativeConnection, Worker } from '@temporalio/worker';
import type { Actor } from '../../src/callbacks/definitions';
import { UnavailableError } from '../../src/errors';
import { productDataConverter } from '../../src/temporal/data-converter';
import { EncryptionCodec, isEncrypted, KEY_ID_METADATA, parsePayloadKeys } from '../../src/temporal/payload-codec';
import { startTestApi, type TestApi } from '../support/api';
import { ROTATED_PAYLOAD_KEY, TEST_PAYLOAD_KEYS, testDataConverter, testPayloadCodec } from '../support/encryption';
import { createOrganisation } from '../support/fixtures';
import { uniqueTaskQueue, workflowBundle } from '../support/temporal';
import { startChannelServers, startTestWorker, testChannels, type ChannelServers, type TestWorker } from '../support/workers';
import { saveHistories } from '../workflows/recorded-histories';

type History = temporal.api.history.v1.IHistory;
const { History: HistoryMessage } = temporal.api.history.v1;
const { DescribeWorkflowExecutionResponse } = temporal.api.workflowservice.v1;

const NAMESPACE = process.env.TEST_TEMPORAL_NAMESPACE ?? 'default';
const TOKEN = 'e2e-codec-token-0123456789abcdef';
// The customer whose data must never be readable in Temporal.
const NAME = 'Zofia Przybylska';
const EMAIL = 'zofia.przybylska@example.test';
const PHONE = '+48600111222';
const SECRETS = [NAME, 'Przybylska', EMAIL, 'zofia.przybylska', PHONE, '600111222'];
const manager: Actor = { kind: 'api', role: 'manager', staffId: null, label: 'test manager' };

/** Every payload in a message, with where it sits (e.g. `events.0.workflowExecutionStartedEventAttributes.input.payloads.0`). */
function payloadsIn(node: unknown, path: string[] = [], out: Array<{ path: string; payload: Payload }> = []) {
  if (!node || typeof node !== 'object' || node instanceof Uint8Array) return out;
  if (Array.isArray(node)) {
    node.forEach((n, i) => payloadsIn(n, [...path, String(i)], out));
    return out;
  }
  const o = node as Record<string, unknown>;
  const metadata = o.metadata as Record<string, unknown> | undefined;
  if (metadata && typeof metadata === 'object' && Object.values(metadata).every((v) => v instanceof Uint8Array)) {
    if (o.data === undefined || o.data === null || o.data instanceof Uint8Array) {
      out.push({ path: path.join('.'), payload: o as Payload });
      return out;
    }
  }
  for (const [k, v] of Object.entries(o)) payloadsIn(v, [...path, k], out);
  return out;
}

/**
 * What never passes through a codec: search attributes (indexed by Temporal: ids and states only),
 * headers, and the SDK core's own bookkeeping in markers (a local activity's seq, attempt, type and
 * times; a patch's id), which it must read back without the data converter. A marker's `result`
 * (the local activity's result) is a payload like any other.
 */
const outsideCodec = (path: string) =>
  /(^|\.)(searchAttributes|header)\./.test(path) || /markerRecordedEventAttributes\.details\.(?!result\.|input\.)[^.]+\./.test(path);
const BOOKKEEPING = new Set([
  'seq',
  'attempt',
  'activity_id',
  'activity_type',
  'complete_time',
  'backoff',
  'original_schedule_time',
  'id',
  'deprecated',
]);
const text = (b: Uint8Array | null | undefined) => Buffer.from(b ?? new Uint8Array()).toString('utf8');
const toJson = (p: Payload) => ({
  metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v!).toString('base64')])),
  data: Buffer.from(p.data ?? new Uint8Array()).toString('base64'),
});

/**
 * Personal data in Temporal: a customer's name, email and phone go through a callback and two
 * notifications (to the assignee and to the customer) over the real API, worker and dev server.
 * What Temporal stores (the raw history and the execution's description, read by a client
 * WITHOUT the codec) holds none of them; the codec server decodes them back; a new key rotates in
 * without losing the old histories; a run that started before encryption and finished after it
 * replays. The histories are recorded for test/workflows/replay.test.ts (UPDATE_HISTORIES=1).
 */
describe('payload encryption end to end', () => {
  let api: TestApi;
  let servers: ChannelServers;
  let native: NativeConnection;
  let raw: Connection;
  /** Reads what Temporal stores, as anyone with access to it would: no codec. */
  let plain: Client;
  let worker: TestWorker;
  const finished: Array<{ label: string; workflowId: string; history: History }> = [];

  beforeAll(async () => {
    api = await startTestApi({
      codecServer: { codec: testPayloadCodec(), token: TOKEN, namespace: NAMESPACE, allowedOrigins: [] },
    });
    servers = await startChannelServers();
    native = await NativeConnection.connect({ address: process.env.TEST_TEMPORAL_ADDRESS! });
    raw = await Connection.connect({ address: process.env.TEST_TEMPORAL_ADDRESS! });
    plain = new Client({ connection: raw, namespace: NAMESPACE });
    worker = await startTestWorker({
      connection: native,
      client: api.temporal,
      pool: api.pool,
      taskQueue: api.taskQueue,
      channels: testChannels(servers),
    });
  });
  afterAll(async () => {
    await worker?.stop();
    await native?.close();
    await raw?.close();
    await servers?.close();
    await api?.close();
  });

  const decodeThrough = async (url: string, payloads: Payload[]) => {
    const res = await fetch(`${url}/codec/decode`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', 'x-namespace': NAMESPACE },
      body: JSON.stringify({ payloads: payloads.map(toJson) }),
    });
    return { status: res.status, body: (await res.json()) as any };
  };

  const untilFinal = async (companyId: string) => {
    for (let i = 0; i < 200; i++) {
      const { rows } = await api.pool.query(`SELECT id, status FROM notifications WHERE company_id = $1`, [companyId]);
      if (rows.length > 0 && rows.every((r) => ['delivered', 'failed', 'suppressed', 'cancelled'].includes(r.status))) return rows;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error('notifications did not finish');
  };

  it('raw history and visibility hold no name, email or phone; the codec endpoint decodes them back', async () => {
    const company = await api.company();
    const branch = (await api.request('POST', '/v1/branches', { key: company.admin, body: { name: 'Centrum', timeZone: 'Europe/Warsaw' } }))
      .body;
    const staff = await api.request('POST', '/v1/staff', {
      key: company.admin,
      body: { branchId: branch.id, name: 'Kim', email: 'kim@salon.test', timeZone: 'Europe/Warsaw' },
    });
    expect(staff.status).toBe(201);
    const customer = await api.request('POST', '/v1/customers', {
      key: company.admin,
      body: { name: NAME, email: EMAIL, phone: PHONE, timeZone: 'Europe/Warsaw', homeBranchId: branch.id },
    });
    expect(customer.status).toBe(201);

    const callback = await api.request('POST', '/v1/callbacks', {
      key: company.agent,
      body: { branchId: branch.id, customerId: customer.body.id, priority: 'high', notes: 'wants to move the appointment' },
    });
    expect(callback.status).toBe(201);
    const callbackId = callback.body.callback.id as string;
    const sent = await api.request('POST', '/v1/notifications', {
      key: company.agent,
      body: { eventType: 'payment_received', notifiable: { type: 'customer', id: customer.body.id }, data: { amount: '25.00 EUR' } },
    });
    expect(sent.status).toBe(202);
    // The assignee is told (staff_assigned, with the customer's name and number), then completes it.
    const notifications = await untilFinal(company.id);
    expect(notifications.length).toBeGreaterThanOrEqual(2);
    // staff_assigned goes by push, and Kim has no subscription: its fallback, email, delivers it.
    expect(notifications.map((n) => n.status)).toEqual(notifications.map(() => 'delivered'));
    expect(servers.smtp.messages.some((m) => m.to.includes(EMAIL))).toBe(true);
    const done = await api.request('POST', `/v1/callbacks/${callbackId}/complete`, { key: company.manager, body: { notes: 'moved' } });
    expect(done.status).toBeLessThan(300);
    expect(await api.temporal.workflow.getHandle(`callback-${callbackId}`).result()).toMatchObject({ status: 'completed' });

    const workflowIds = [`callback-${callbackId}`, ...notifications.map((n) => `notification-${n.id}`)];
    const encrypted: Payload[] = [];
    for (const workflowId of workflowIds) {
      await api.temporal.workflow.getHandle(workflowId).result();
      const history = await plain.workflow.getHandle(workflowId).fetchHistory();
      finished.push({ label: `encrypted ${workflowId.split('-')[0]} ${finished.length}`, workflowId, history });
      const stored = Buffer.from(HistoryMessage.encode(history).finish());
      const described = await raw.workflowService.describeWorkflowExecution({ namespace: NAMESPACE, execution: { workflowId } });
      const visible = Buffer.from(DescribeWorkflowExecutionResponse.encode(described).finish());
      for (const secret of SECRETS) {
        expect({ workflowId, secret, inHistory: stored.includes(secret) }).toEqual({ workflowId, secret, inHistory: false });
        expect({ workflowId, secret, inVisibility: visible.includes(secret) }).toEqual({ workflowId, secret, inVisibility: false });
      }
      // Every payload is ciphertext, but the search attributes (ids and states, indexed by Temporal).
      const payloads = payloadsIn(history);
      const clear = payloads.filter((p) => !isEncrypted(p.payload) && !outsideCodec(p.path)).map((p) => p.path);
      expect({ workflowId, clear }).toEqual({ workflowId, clear: [] });
      encrypted.push(...payloads.filter((p) => isEncrypted(p.payload)).map((p) => p.payload));
      // The search attributes are readable and hold no personal data (checked above with the rest).
      expect(payloads.some((p) => outsideCodec(p.path) && text(p.payload.data).includes(company.id))).toBe(true);
      // Marker bookkeeping in clear is only that: no field of ours.
      for (const p of payloads.filter((q) => q.path.includes('markerRecordedEventAttributes') && outsideCodec(q.path))) {
        const fields = Object.keys(JSON.parse(text(p.payload.data)));
        expect(fields.filter((f) => !BOOKKEEPING.has(f))).toEqual([]);
      }
    }

    // The memo (who to call, for the Web UI) is a payload too: encrypted in visibility, readable with the keys.
    const memo = (await raw.workflowService.describeWorkflowExecution({ namespace: NAMESPACE, execution: { workflowId: workflowIds[0] } }))
      .workflowExecutionInfo!.memo!.fields!;
    expect(isEncrypted(memo.customerName!)).toBe(true);
    expect((await api.temporal.workflow.getHandle(workflowIds[0]).describe()).memo).toMatchObject({ customerName: NAME, phone: '+48…222' });

    // Through the codec server (what the Web UI calls), the same payloads read in clear.
    const decoded = await decodeThrough(api.url, encrypted);
    expect(decoded.status).toBe(200);
    const clearText = (decoded.body.payloads as Array<{ data: string }>)
      .map((p) => Buffer.from(p.data, 'base64').toString('utf8'))
      .join('\n');
    for (const secret of [NAME, EMAIL, PHONE]) expect(clearText).toContain(secret);
  });

  it('the encrypted histories replay with the current workflow code (and are recorded with UPDATE_HISTORIES=1)', async () => {
    expect(finished.length).toBeGreaterThanOrEqual(3);
    const failures: string[] = [];
    for await (const result of Worker.runReplayHistories(
      { workflowBundle: await workflowBundle(), dataConverter: testDataConverter() },
      finished,
    ))
      if (result.error) failures.push(`${result.workflowId}: ${result.error.message}`);
    expect(failures).toEqual([]);
    if (process.env.UPDATE_HISTORIES === '1') {
      saveHistories('callback', finished.filter((h) => h.workflowId.startsWith('callback-')).slice(0, 1));
      saveHistories('notification', finished.filter((h) => h.workflowId.startsWith('notification-')).slice(0, 2));
    }
  });

  it('key rotation: a new newest key encrypts new runs, old histories still replay and decode, a process without the new key says which key it lacks', async () => {
    const keys = `${TEST_PAYLOAD_KEYS},${ROTATED_PAYLOAD_KEY}`;
    const rotated = new EncryptionCodec(parsePayloadKeys(keys));
    // Old histories (key test-2026a) replay on a worker that has both keys.
    const failures: string[] = [];
    for await (const result of Worker.runReplayHistories(
      { workflowBundle: await workflowBundle(), dataConverter: productDataConverter(rotated) },
      finished,
    ))
      if (result.error) failures.push(`${result.workflowId}: ${result.error.message}`);
    expect(failures).toEqual([]);

    // A rotated deployment: API (and its codec server) and worker with both keys, the new one last.
    const client = new Client({ connection: raw, namespace: NAMESPACE, dataConverter: productDataConverter(rotated) });
    const rotatedApi = await startTestApi({
      temporal: client,
      taskQueue: uniqueTaskQueue('rotated'),
      codecServer: { codec: rotated, token: TOKEN, namespace: NAMESPACE, allowedOrigins: [] },
    });
    const rotatedWorker = await startTestWorker({
      connection: native,
      client,
      pool: api.pool,
      taskQueue: rotatedApi.taskQueue,
      channels: testChannels(servers),
      payloadCodec: rotated,
    });
    try {
      const org = await createOrganisation(api.pool, { customer: { email: EMAIL, phone: PHONE } });
      const { notification } = await rotatedWorker.service.sendNotification(org.companyId, {
        eventType: 'payment_received',
        notifiable: { type: 'customer', id: org.customerId },
      });
      expect(await client.workflow.getHandle(notification.workflowId).result()).toMatchObject({ status: 'delivered' });
      const history = await plain.workflow.getHandle(notification.workflowId).fetchHistory();
      const fresh = payloadsIn(history).filter((p) => isEncrypted(p.payload));
      expect(new Set(fresh.map((p) => text(p.payload.metadata![KEY_ID_METADATA])))).toEqual(new Set(['test-2026b']));

      const old = finished.flatMap((h) => payloadsIn(h.history).filter((p) => isEncrypted(p.payload))).map((p) => p.payload);
      expect(new Set(old.map((p) => text(p.metadata![KEY_ID_METADATA])))).toEqual(new Set(['test-2026a']));
      // The rotated codec server reads both generations ...
      const both = await decodeThrough(rotatedApi.url, [...old.slice(0, 5), ...fresh.map((p) => p.payload)]);
      expect(both.status).toBe(200);
      expect(JSON.stringify(both.body)).not.toContain('YmluYXJ5L2VuY3J5cHRlZA=='); // base64 of binary/encrypted: nothing left encrypted
      // ... one with only the old key refuses the new payloads, naming the key it lacks.
      const stale = await decodeThrough(api.url, [fresh[0].payload]);
      expect(stale).toMatchObject({
        status: 400,
        body: { error: { code: 'undecodable_payload', message: expect.stringContaining('"test-2026b"') } },
      });
      const failures2: string[] = [];
      for await (const result of Worker.runReplayHistories(
        { workflowBundle: await workflowBundle(), dataConverter: productDataConverter(rotated) },
        [{ workflowId: notification.workflowId, history }],
      ))
        if (result.error) failures2.push(result.error.message);
      expect(failures2).toEqual([]);
    } finally {
      await rotatedWorker.stop();
      await rotatedApi.close();
    }
  });

  it('a run started before encryption was switched on finishes after it and replays: plain and encrypted payloads in one history', async () => {
    const org = await createOrganisation(api.pool, { customer: { email: EMAIL, phone: PHONE } });
    const taskQueue = uniqueTaskQueue('rollout');
    // The release before encryption: no codec on the client nor on the worker.
    const none: PayloadCodec = { encode: async (p) => p, decode: async (p) => p };
    // No sticky cache: the workflow's next task goes to the task queue, where the new release polls.
    const before = await startTestWorker({
      connection: native,
      client: plain,
      pool: api.pool,
      taskQueue,
      payloadCodec: none,
      maxCachedWorkflows: 0,
    });
    const { callback } = await before.callbacks.createCallback(
      org.companyId,
      { branchId: org.branchId, customerName: NAME, phoneNumber: PHONE, priority: 'normal', metadata: {} },
      { role: 'manager' },
    );
    const workflowId = `callback-${callback.id}`;
    for (let i = 0; i < 100; i++) {
      const { rows } = await api.pool.query(`SELECT status FROM callback_requests WHERE id = $1`, [callback.id]);
      if (rows[0].status === 'assigned') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    await before.stop();
    // The release with encryption takes over the same running workflow and finishes it.
    const after = await startTestWorker({ connection: native, client: api.temporal, pool: api.pool, taskQueue });
    try {
      // The old worker's last poll may have been handed a task as it stopped: that task times out
      // (10 s) before the new worker gets the workflow, so the first update can miss its 5 s deadline.
      // The retries carry one Idempotency-Key, as a client's would: the update admitted by the first is not sent twice.
      const idempotencyKey = `complete-${callback.id}`;
      for (let attempt = 1; ; attempt++) {
        try {
          await after.callbacks.message(
            org.companyId,
            callback.id,
            'complete',
            { notes: 'called back after the upgrade' },
            manager,
            idempotencyKey,
          );
          break;
        } catch (error) {
          if (!(error instanceof UnavailableError) || attempt === 6) throw error;
        }
      }
      expect(await api.temporal.workflow.getHandle(workflowId).result()).toMatchObject({ status: 'completed' });
    } finally {
      await after.stop();
    }
    const history = await plain.workflow.getHandle(workflowId).fetchHistory();
    const payloads = payloadsIn(history).filter((p) => !outsideCodec(p.path));
    expect(payloads.some((p) => isEncrypted(p.payload))).toBe(true);
    const clear = payloads.filter((p) => !isEncrypted(p.payload));
    expect(clear.length).toBeGreaterThan(0);
    // The plain part is what the old release wrote: the start (its memo has the name in clear).
    expect(Buffer.from(HistoryMessage.encode(history).finish()).includes(NAME)).toBe(true);
    expect(clear.map((p) => defaultPayloadConverter.fromPayload(p.payload))).toContainEqual(
      expect.objectContaining({ callbackId: callback.id }),
    );

    const failures: string[] = [];
    const recorded = [{ label: 'mixed rollout: started plain, finished encrypted', workflowId, history }];
    for await (const result of Worker.runReplayHistories(
      { workflowBundle: await workflowBundle(), dataConverter: testDataConverter() },
      recorded,
    ))
      if (result.error) failures.push(result.error.message);
    expect(failures).toEqual([]);
    if (process.env.UPDATE_HISTORIES === '1') saveHistories('callback', recorded);
  });
});
