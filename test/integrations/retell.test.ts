import { createHmac, randomUUID } from 'node:crypto';
import Retell from 'retell-sdk';
import type { TestApi } from '../support/api';
import { seedDirectory, type Directory } from '../support/directory';
import type { ChannelServers } from '../support/workers';
import { startApiStack, type ApiStack } from '../support/stack';

const H = 3_600_000;

/**
 * POST /webhooks/retell/<hook id> on the real API, the shared dev server and a worker: the signature as
 * Retell makes it (the SDK's own `Retell.sign`, and by hand the documented way), each function
 * against real policies, appointments and callbacks, the caller matched by phone within the
 * company, an unknown caller answered without anyone's data, request_callback once per call, a
 * long call's body (the transcript with word timings) under Retell's own body limit, and the call
 * events (call_started, call_ended, call_analyzed) recorded, any other event answered and ignored.
 */
describe('Retell function-call webhook', () => {
  let stack: ApiStack;
  let api: TestApi;
  let servers: ChannelServers;

  beforeAll(async () => {
    stack = await startApiStack();
    ({ api, servers } = stack);
  });
  afterAll(() => stack?.close());

  /** A company whose Retell key is set, with its seeded directory (customer Carla: +34 600 000 001). */
  async function setUp() {
    const company = await api.company();
    const dir = await seedDirectory(api, company);
    const apiKey = `key_${randomUUID().replace(/-/g, '')}`;
    const set = await api.request('PUT', '/v1/integrations/retell', {
      key: company.admin,
      body: { secret: apiKey, defaultBranchId: dir.branch.id },
    });
    expect(set.status).toBe(201);
    expect(set.body.webhookUrl).toBe(`${api.url}${set.body.webhookPath}`);
    paths.set(apiKey, set.body.webhookPath);
    return { company, dir, apiKey, path: set.body.webhookPath as string };
  }
  /** Each Retell key's integration URL (a request signed with a key goes to that key's URL unless told otherwise). */
  const paths = new Map<string, string>();
  async function book(company: { admin: string }, dir: Directory, startsAt: number) {
    const r = await api.request('POST', '/v1/appointments', {
      key: company.admin,
      body: {
        customerId: dir.customer.id,
        branchId: dir.branch.id,
        serviceId: dir.service.id,
        staffId: dir.staff.id,
        startsAt: new Date(startsAt).toISOString(),
        endsAt: new Date(startsAt + 45 * 60_000).toISOString(),
      },
    });
    expect(r.status).toBe(201);
    return r.body as { id: string };
  }
  const fn = (name: string, args: Record<string, unknown>, callId = `call_${randomUUID()}`, from = '+34600000001') =>
    JSON.stringify({
      name,
      args,
      call: {
        call_id: callId,
        agent_id: 'agent_1',
        from_number: from,
        to_number: '+34910000000',
        direction: 'inbound',
        call_status: 'ongoing',
      },
    });
  const post = (path: string, raw: string, signature?: string) =>
    api.request('POST', path, { raw, headers: signature === undefined ? {} : { 'x-retell-signature': signature } });
  const signed = async (raw: string, apiKey: string, path = paths.get(apiKey)!) => post(path, raw, await Retell.sign(raw, apiKey));

  it('accepts the signature Retell makes (the SDK’s and the documented one by hand); refuses missing, wrong, tampered and stale ones with 401', async () => {
    const { company, apiKey, path } = await setUp();
    const raw = fn('check_cancellation_policy', {});
    const byHand = (body: string, key: string, at: number) =>
      `v=${at},d=${createHmac('sha256', key)
        .update(body + at)
        .digest('hex')}`;
    expect((await post(path, raw)).status).toBe(401);
    expect((await post(path, raw, await Retell.sign(raw, `key_${randomUUID()}`))).status).toBe(401);
    expect((await post(path, raw.replace('+34600000001', '+34600000009'), await Retell.sign(raw, apiKey))).status).toBe(401);
    expect((await post(path, raw, byHand(raw, apiKey, Date.now() - 10 * 60_000))).status).toBe(401);
    expect((await post(path, raw, 'sha256=abc')).status).toBe(401);
    expect(await api.pool.query(`SELECT 1 FROM calls WHERE company_id = $1`, [company.id]).then((r) => r.rowCount)).toBe(0);
    // Another hook id is no one's; the shared address of earlier releases is retired, naming the new one.
    expect((await post(`/webhooks/retell/${randomUUID().replace(/-/g, '')}`, raw, await Retell.sign(raw, apiKey))).status).toBe(404);
    const retired = await post('/webhooks/retell', raw, await Retell.sign(raw, apiKey));
    expect(retired.status).toBe(410);
    expect(retired.body.error.code).toBe('webhook_url_retired');
    const sdk = await signed(raw, apiKey);
    const hand = await post(path, raw, byHand(raw, apiKey, Date.now()));
    expect([sdk.status, hand.status]).toEqual([200, 200]);
  });

  it('check_cancellation_policy answers the engine’s quote for the caller’s next appointment under a real policy', async () => {
    const { company, dir, apiKey } = await setUp();
    const set = await api.request('PUT', '/v1/policies', {
      key: company.manager,
      body: { entityType: 'branch', entityId: dir.branch.id, policyType: 'cancellation', config: { hours_before: 24, fee_cents: 1200 } },
    });
    expect(set.status).toBeLessThan(300);
    const soon = await book(company, dir, Date.now() + 10 * H);
    const r = await signed(fn('check_cancellation_policy', {}), apiKey);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ ok: true, appointmentId: soon.id, allowed: false, deadline: { hoursBefore: 24 } });
    expect(r.body.message).toMatch(/^You cannot cancel your Haircut on .+ any more: /);
    const later = await book(company, dir, Date.now() + 4 * 24 * H);
    const q = await signed(fn('check_cancellation_policy', { appointment_id: later.id }), apiKey);
    expect(q.body).toMatchObject({ ok: true, appointmentId: later.id, allowed: true, fee: { cents: 1200, currency: 'EUR' } });
    expect(q.body.message).toMatch(/the fee would be 12\.00 EUR\.$/);
  });

  it('cancel_appointment and reschedule_appointment go through the engine, recorded as made by the phone agent for the call', async () => {
    const { company, dir, apiKey } = await setUp();
    const first = await book(company, dir, Date.now() + 3 * 24 * H);
    const second = await book(company, dir, Date.now() + 5 * 24 * H);
    const callId = `call_${randomUUID()}`;
    const cancelled = await signed(fn('cancel_appointment', { appointment_id: first.id, reason: 'travelling' }, callId), apiKey);
    expect(cancelled.body).toMatchObject({ ok: true, appointmentId: first.id, cancelled: true });
    const to = new Date(Math.ceil((Date.now() + 6 * 24 * H) / 60_000) * 60_000).toISOString();
    const moved = await signed(fn('reschedule_appointment', { new_start: to }, callId), apiKey);
    expect(moved.body).toMatchObject({ ok: true, appointmentId: second.id, rescheduled: true, startsAt: to });
    const rows = await api.pool.query(
      `SELECT a.id, a.status, a.starts_at, m.modification_type, m.modified_by, m.reason, m.actor_role
         FROM appointments a JOIN appointment_modifications m ON m.appointment_id = a.id WHERE a.company_id = $1 ORDER BY m.created_at`,
      [company.id],
    );
    expect(rows.rows).toEqual([
      expect.objectContaining({
        id: first.id,
        status: 'cancelled',
        modification_type: 'cancel',
        modified_by: `phone_agent:retell:${callId}`,
        reason: 'travelling',
        actor_role: null,
      }),
      expect.objectContaining({
        id: second.id,
        starts_at: new Date(to),
        modification_type: 'reschedule',
        modified_by: `phone_agent:retell:${callId}`,
      }),
    ]);
    // The appointment's workflow heard of the cancellation and ended.
    expect(await api.temporal.workflow.getHandle(`appointment-${first.id}`).result()).toMatchObject({ outcome: 'cancelled' });
    // A reschedule into the past is refused in words the agent can say, and changes nothing.
    const past = await signed(fn('reschedule_appointment', { new_start: new Date(Date.now() - H).toISOString() }), apiKey);
    expect(past.body).toMatchObject({ ok: false });
    expect(past.body.message).toMatch(/^I cannot do that: /);
    // Arguments Retell's LLM got wrong are a 400 naming them.
    const bad = await signed(fn('reschedule_appointment', { new_start: 'next tuesday' }), apiKey);
    expect(bad.status).toBe(400);
    expect(bad.body.error.details.fields).toEqual([expect.objectContaining({ field: 'body.args.new_start' })]);
  });

  it('request_callback creates one callback per call with the call’s priority, however often the agent asks', async () => {
    const { company, dir, apiKey } = await setUp();
    const callId = `call_${randomUUID()}`;
    const raw = fn('request_callback', { priority: 'urgent', reason: 'wants to change colour' }, callId);
    const first = await signed(raw, apiKey);
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ ok: true, priority: 'urgent' });
    const again = await signed(raw, apiKey);
    const differently = await signed(fn('request_callback', { priority: 'normal' }, callId), apiKey);
    expect([again.body.callbackId, differently.body.callbackId]).toEqual([first.body.callbackId, first.body.callbackId]);
    const rows = await api.pool.query(
      `SELECT id, branch_id, customer_id, priority, notes, workflow_id FROM callback_requests WHERE company_id = $1`,
      [company.id],
    );
    expect(rows.rows).toEqual([
      {
        id: first.body.callbackId,
        branch_id: dir.branch.id,
        customer_id: dir.customer.id,
        priority: 'urgent',
        notes: 'wants to change colour',
        workflow_id: `callback-${first.body.callbackId}`,
      },
    ]);
    const call = await api.pool.query(`SELECT customer_id, callback_id FROM calls WHERE company_id = $1 AND external_call_id = $2`, [
      company.id,
      callId,
    ]);
    expect(call.rows).toEqual([{ customer_id: dir.customer.id, callback_id: first.body.callbackId }]);
    // Its workflow runs.
    const d = await api.temporal.workflow.getHandle(`callback-${first.body.callbackId}`).describe();
    expect(d.status.name).toBe('RUNNING');
  });

  it('an unknown caller gets a sentence, never another company’s data; the URL names the company', async () => {
    const a = await setUp();
    const b = await setUp();
    await book(a.company, a.dir, Date.now() + 3 * 24 * H);
    // B's key on A's URL (and A's on B's) is refused: each URL checks its own integration's key only.
    expect((await signed(fn('cancel_appointment', {}), b.apiKey, a.path)).status).toBe(401);
    expect((await signed(fn('cancel_appointment', {}), a.apiKey, b.path)).status).toBe(401);
    // A number no customer of B has (A's customers are not B's).
    const unknown = await signed(fn('check_cancellation_policy', {}, undefined, '+44 7400 123456'), b.apiKey);
    expect(unknown.status).toBe(200);
    expect(unknown.body).toEqual({
      message: 'I could not find a customer with this phone number. I can arrange a callback instead.',
      ok: false,
      error: 'unknown_caller',
    });
    // Carla's number exists in both companies; signed with B's key, only B's Carla (who has no appointment) is seen.
    const viaB = await signed(fn('cancel_appointment', {}), b.apiKey);
    expect(viaB.body).toEqual({ message: 'I could not find an upcoming appointment of yours.', ok: false, error: 'no_appointment' });
    expect((await api.pool.query(`SELECT status FROM appointments WHERE company_id = $1`, [a.company.id])).rows).toEqual([
      { status: 'scheduled' },
    ]);
    // An unknown caller can still ask for a callback: the integration's default branch takes it.
    const cb = await signed(fn('request_callback', { name: 'Eva' }, undefined, '+44 7400 123456'), b.apiKey);
    expect(cb.body).toMatchObject({ ok: true, priority: 'normal' });
    const row = (
      await api.pool.query(`SELECT branch_id, customer_id, customer_name, phone_number FROM callback_requests WHERE id = $1`, [
        cb.body.callbackId,
      ])
    ).rows[0];
    expect(row).toEqual({ branch_id: b.dir.branch.id, customer_id: null, customer_name: 'Eva', phone_number: '+447400123456' });
  });

  /**
   * A call object as Retell's API returns it (retell-sdk's PhoneCallResponse): the transcript as
   * text, per utterance with word timings (transcript_object), and with the tool calls
   * (transcript_with_tool_calls); `utterances` of about 25 words each.
   */
  function longCall(callId: string, utterances: number, from = '+34600000001') {
    const words =
      'I would like to move my appointment because I will be travelling next week and cannot come on Tuesday at all sorry'.split(' ');
    let t = 0;
    const turns = Array.from({ length: utterances }, (_, i) => {
      const role = i % 2 === 0 ? 'agent' : 'user';
      const timed = words.slice(0, 25).map((word) => ({ word, start: +(t += 0.31).toFixed(3), end: +(t + 0.27).toFixed(3) }));
      return { role, content: timed.map((w) => w.word).join(' '), words: timed };
    });
    const start = Date.now() - 40 * 60_000;
    return {
      call_type: 'phone_call',
      call_id: callId,
      agent_id: 'agent_4f1c0de',
      agent_version: 3,
      call_status: 'ongoing',
      direction: 'inbound',
      from_number: from,
      to_number: '+34910000000',
      start_timestamp: start,
      transcript: turns.map((u) => `${u.role === 'agent' ? 'Agent' : 'User'}: ${u.content}`).join('\n'),
      transcript_object: turns,
      transcript_with_tool_calls: turns,
      retell_llm_dynamic_variables: { customer_name: 'Carla' },
      metadata: {},
      data_storage_setting: 'everything',
    };
  }

  it('a long call’s request_callback (its transcript with word timings, ~130 KiB) is accepted under Retell’s own limit; the API keeps its 100 kB', async () => {
    const { company, dir, apiKey } = await setUp();
    const callId = `call_${randomUUID()}`;
    const raw = JSON.stringify({
      name: 'request_callback',
      args: { priority: 'high', reason: 'wants a colour consultation' },
      call: longCall(callId, 70),
    });
    const size = Buffer.byteLength(raw);
    expect(size).toBeGreaterThan(120 * 1024);
    expect(size).toBeLessThan(200 * 1024);
    const r = await signed(raw, apiKey);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ ok: true, priority: 'high' });
    const row = (await api.pool.query(`SELECT customer_id, priority FROM callback_requests WHERE id = $1`, [r.body.callbackId])).rows[0];
    expect(row).toEqual({ customer_id: dir.customer.id, priority: 'high' });
    // Past RETELL_WEBHOOK_BODY_LIMIT (5 MB): 413, nothing written.
    const huge = JSON.stringify({ name: 'request_callback', args: {}, call: longCall(`call_${randomUUID()}`, 2600) });
    expect(Buffer.byteLength(huge)).toBeGreaterThan(5 * 1024 * 1024);
    expect((await signed(huge, apiKey)).status).toBe(413);
    // The API's own routes keep BODY_LIMIT (100 kB).
    const big = await api.request('POST', '/v1/customers', { key: company.admin, body: { name: 'Big', notes: 'x'.repeat(150_000) } });
    expect(big.status).toBe(413);
  });

  it('call_started, call_ended and call_analyzed are answered 200 and recorded on the call; other events are answered and ignored', async () => {
    const { company, dir, apiKey } = await setUp();
    const callId = `call_${randomUUID()}`;
    const call = longCall(callId, 30);
    const event = (name: string, c: Record<string, unknown>) => JSON.stringify({ event: name, call: c });
    const { transcript: _t, transcript_object: _o, transcript_with_tool_calls: _w, ...basic } = call;
    const started = await signed(event('call_started', { ...basic, call_status: 'ongoing' }), apiKey);
    expect(started.status).toBe(200);
    expect(started.body).toMatchObject({ ok: true, event: 'call_started', outcome: 'recorded', callId });
    const readCall = async () =>
      (
        await api.pool.query(
          `SELECT customer_id, branch_id, status, started_at, ended_at, duration_seconds, summary, metadata FROM calls WHERE company_id = $1 AND external_call_id = $2`,
          [company.id, callId],
        )
      ).rows[0];
    expect(await readCall()).toMatchObject({
      customer_id: dir.customer.id,
      status: 'in_progress',
      started_at: new Date(call.start_timestamp),
      ended_at: null,
    });
    // A function call during the call finds the same row.
    expect((await signed(fn('request_callback', {}, callId), apiKey)).body).toMatchObject({ ok: true });
    const end = call.start_timestamp + 754_000;
    const ended = await signed(
      event('call_ended', { ...call, call_status: 'ended', end_timestamp: end, duration_ms: 754_000, disconnection_reason: 'user_hangup' }),
      apiKey,
    );
    expect(ended.body).toMatchObject({ ok: true, event: 'call_ended', outcome: 'recorded' });
    const analyzed = await signed(
      event('call_analyzed', {
        ...call,
        call_status: 'ended',
        end_timestamp: end,
        duration_ms: 754_000,
        disconnection_reason: 'user_hangup',
        call_analysis: {
          call_summary: 'Carla asked to be called back about moving her appointment.',
          user_sentiment: 'Neutral',
          call_successful: true,
          in_voicemail: false,
        },
      }),
      apiKey,
    );
    expect(analyzed.body).toMatchObject({ ok: true, event: 'call_analyzed', outcome: 'recorded' });
    expect(await readCall()).toMatchObject({
      status: 'completed',
      ended_at: new Date(end),
      duration_seconds: 754,
      summary: 'Carla asked to be called back about moving her appointment.',
      metadata: { agentId: 'agent_4f1c0de', disconnectionReason: 'user_hangup', callSuccessful: true, userSentiment: 'Neutral' },
    });
    // A late call_started (events may cross) does not reopen the call.
    await signed(event('call_started', basic), apiKey);
    expect((await readCall()).status).toBe('completed');
    // Events this service does not record: 200, ignored.
    for (const name of ['transcript_updated', 'transfer_started', 'chat_started']) {
      const r = await signed(event(name, call), apiKey);
      expect([r.status, r.body.outcome]).toEqual([200, 'ignored']);
    }
    // A call nobody picked up: missed.
    const missedId = `call_${randomUUID()}`;
    await signed(
      event('call_ended', { ...basic, call_id: missedId, call_status: 'ended', disconnection_reason: 'dial_no_answer' }),
      apiKey,
    );
    expect((await api.pool.query(`SELECT status FROM calls WHERE external_call_id = $1`, [missedId])).rows).toEqual([{ status: 'missed' }]);
    expect(await api.pool.query(`SELECT count(*)::int AS n FROM calls WHERE company_id = $1`, [company.id]).then((r) => r.rows[0].n)).toBe(
      2,
    );
  });
});
