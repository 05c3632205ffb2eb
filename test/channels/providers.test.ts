import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import webpush from 'web-push';
import { channelConfigSchema, loadChannelConfig } from '../../src/channels/config';
import { ChannelRegistry, createChannelRegistry } from '../../src/channels/registry';
import { SmtpProvider } from '../../src/channels/smtp';
import { TwilioProvider } from '../../src/channels/twilio';
import { ProviderError, type OutboundMessage } from '../../src/channels/types';
import { WebPushProvider } from '../../src/channels/webpush';
import { freePort } from '../../src/dev/free-port';
import {
  startPushServer,
  startSmtpServer,
  startTwilioServer,
  type SmtpTestServer,
  type TwilioTestServer,
} from '../support/channel-servers';
import { pushSubscription } from '../support/fixtures';

const never = new AbortController().signal;
const email = (over: Partial<OutboundMessage> = {}): OutboundMessage => ({
  channel: 'email',
  to: 'carla@example.test',
  subject: 'Hello',
  body: 'Body & more',
  idempotencyKey: '8a7e0c1e-0000-4000-8000-000000000001:1:smtp',
  ...over,
});

async function refusal(promise: Promise<unknown>): Promise<ProviderError> {
  const error = await promise.then(
    () => undefined,
    (e) => e,
  );
  expect(error).toBeInstanceOf(ProviderError);
  return error as ProviderError;
}

describe('email over SMTP (nodemailer against a real SMTP server)', () => {
  let smtp: SmtpTestServer;
  let provider: SmtpProvider;
  beforeAll(async () => {
    smtp = await startSmtpServer();
    provider = new SmtpProvider({ name: 'smtp', url: smtp.url, from: 'Salon <notify@salon.test>', timeoutMs: 2_000 });
  });
  afterAll(() => smtp.close());

  it('sends with a deterministic Message-ID per attempt, as plain text', async () => {
    const result = await provider.send(email(), never);
    const mail = smtp.messages.at(-1)!;
    expect(mail.to).toEqual(['carla@example.test']);
    expect(mail.subject).toBe('Hello');
    expect(mail.messageId).toBe('<8a7e0c1e-0000-4000-8000-000000000001.1.smtp@salon.test>');
    expect(result.providerMessageId).toBe(mail.messageId);
    expect(mail.raw).toContain('Body & more');
  });

  it('classifies 550 as permanent and 451 as transient', async () => {
    smtp.refuseNext({ code: 550, message: 'no such user' }, { code: 451 });
    const permanent = await refusal(provider.send(email(), never));
    expect(permanent).toMatchObject({ kind: 'permanent', ambiguous: false });
    expect(permanent.message).toContain('550');
    const transient = await refusal(provider.send(email(), never));
    expect(transient).toMatchObject({ kind: 'transient', ambiguous: false });
  });

  it('a refused connection is transient and certainly not sent; a bad address is permanent without a connection', async () => {
    const closed = new SmtpProvider({ name: 'down', url: `smtp://127.0.0.1:${await freePort()}`, from: 'a@b.test', timeoutMs: 1_000 });
    expect(await refusal(closed.send(email(), never))).toMatchObject({ kind: 'transient', ambiguous: false });
    const before = smtp.received;
    expect(await refusal(provider.send(email({ to: 'not-an-address' }), never))).toMatchObject({ kind: 'permanent' });
    expect(smtp.received).toBe(before);
  });

  it('wrong credentials (535 to AUTH) are a configuration error, not a bad recipient', async () => {
    const guarded = new SMTPServer({
      authMethods: ['PLAIN', 'LOGIN'],
      allowInsecureAuth: true,
      disabledCommands: ['STARTTLS'],
      logger: false,
      onAuth: (_auth, _session, callback) => callback(Object.assign(new Error('Invalid credentials'), { responseCode: 535 })),
    });
    await new Promise<void>((r) => guarded.listen(0, '127.0.0.1', r));
    try {
      const port = (guarded.server.address() as AddressInfo).port;
      const wrong = new SmtpProvider({ name: 'smtp', url: `smtp://ops:wrong@127.0.0.1:${port}`, from: 'a@b.test', timeoutMs: 2_000 });
      const error = await refusal(wrong.send(email(), never));
      expect(error).toMatchObject({ kind: 'configuration', ambiguous: false });
      expect(error.message).toContain('535');
    } finally {
      await new Promise<void>((r) => guarded.close(() => r()));
    }
  });

  it('an abort (worker shutdown) closes the connection: the server never accepts the message', async () => {
    const accepted = smtp.messages.length;
    const held = smtp.hold();
    const controller = new AbortController();
    const sending = provider.send(email({ idempotencyKey: 'abort:1:smtp' }), controller.signal);
    await held.arrived;
    controller.abort(new Error('worker shutting down'));
    await expect(sending).rejects.toThrow('worker shutting down');
    await new Promise((r) => setTimeout(r, 50));
    held.release();
    await new Promise((r) => setTimeout(r, 50));
    expect(smtp.messages.length).toBe(accepted);
  });
});

describe('SMS and WhatsApp over a Twilio-shaped HTTP API', () => {
  let twilio: TwilioTestServer;
  let sms: TwilioProvider;
  let whatsapp: TwilioProvider;
  const text = (over: Partial<OutboundMessage> = {}): OutboundMessage => ({
    channel: 'sms',
    to: '+34600000001',
    body: 'See you at 10:00',
    idempotencyKey: 'n:1:twilio-sms',
    ...over,
  });
  beforeAll(async () => {
    twilio = await startTwilioServer('ACabc', 's3cret');
    const common = { baseUrl: twilio.baseUrl, accountSid: 'ACabc', authToken: 's3cret', timeoutMs: 1_000 };
    sms = new TwilioProvider({ ...common, name: 'twilio-sms', channel: 'sms', from: '+15005550006' });
    whatsapp = new TwilioProvider({ ...common, name: 'twilio-whatsapp', channel: 'whatsapp', from: 'whatsapp:+14155238886' });
  });
  afterAll(() => twilio.close());

  it('posts form-encoded To/From/Body with basic auth (and no idempotency header Twilio does not document)', async () => {
    const result = await sms.send(text({ idempotencyKey: 'n:1:a' }), never);
    const req = twilio.requests.at(-1)!;
    expect(req.path).toBe('/2010-04-01/Accounts/ACabc/Messages.json');
    expect(req.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(req.headers.authorization).toBe(`Basic ${Buffer.from('ACabc:s3cret').toString('base64')}`);
    expect(req.headers['i-twilio-idempotency-token']).toBeUndefined();
    expect(Object.fromEntries(new URLSearchParams(req.body.toString()))).toEqual({
      To: '+34600000001',
      From: '+15005550006',
      Body: 'See you at 10:00',
    });
    expect(result.providerMessageId).toMatch(/^SM/);
  });

  it('is not idempotent: the same attempt sent twice is two messages, as on the real Messages API', async () => {
    expect(sms.idempotent).toBe(false);
    const before = twilio.messages.length;
    const a = await sms.send(text({ idempotencyKey: 'n:2:dup' }), never);
    const b = await sms.send(text({ idempotencyKey: 'n:2:dup' }), never);
    expect(b.providerMessageId).not.toBe(a.providerMessageId);
    expect(twilio.messages.length).toBe(before + 2);
  });

  it('uses whatsapp: addresses for WhatsApp', async () => {
    await whatsapp.send(text({ channel: 'whatsapp', to: 'whatsapp:+34600000001', idempotencyKey: 'n:1:wa' }), never);
    expect(twilio.messages.at(-1)).toMatchObject({ to: 'whatsapp:+34600000001', from: 'whatsapp:+14155238886' });
  });

  it('classifies 4xx as permanent, 401/403 as configuration, 429 and 5xx as transient', async () => {
    twilio.failNext(400, 401, 403, 404, 429, 500, 503);
    for (const expected of ['permanent', 'configuration', 'configuration', 'permanent', 'transient', 'transient', 'transient']) {
      expect((await refusal(sms.send(text(), never))).kind).toBe(expected);
    }
    expect((await refusal(sms.send(text({ to: '600 000' }), never))).kind).toBe('permanent');
  });

  it('a timeout is transient and ambiguous (it may have been sent); a refused connection is not', async () => {
    const silent = http.createServer(() => undefined);
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const slow = new TwilioProvider({
      name: 'slow',
      channel: 'sms',
      baseUrl: `http://127.0.0.1:${(silent.address() as AddressInfo).port}`,
      accountSid: 'A',
      authToken: 'B',
      from: '+15005550006',
      timeoutMs: 200,
    });
    expect(await refusal(slow.send(text(), never))).toMatchObject({ kind: 'transient', ambiguous: true });
    silent.closeAllConnections();
    silent.close();
    const down = new TwilioProvider({
      name: 'down',
      channel: 'sms',
      baseUrl: `http://127.0.0.1:${await freePort()}`,
      accountSid: 'A',
      authToken: 'B',
      from: '+15005550006',
      timeoutMs: 500,
    });
    expect(await refusal(down.send(text(), never))).toMatchObject({ kind: 'transient', ambiguous: false });
  });

  it('rethrows a cancellation instead of classifying it', async () => {
    const controller = new AbortController();
    controller.abort(new Error('cancelled'));
    await expect(sms.send(text(), controller.signal)).rejects.toThrow('cancelled');
  });
});

describe('Web Push with VAPID', () => {
  let push: Awaited<ReturnType<typeof startPushServer>>;
  let provider: WebPushProvider;
  const keys = webpush.generateVAPIDKeys();
  beforeAll(async () => {
    push = await startPushServer();
    provider = new WebPushProvider({
      name: 'webpush',
      vapid: { subject: 'mailto:ops@salon.test', ...keys },
      ttlSeconds: 120,
      timeoutMs: 1_000,
      allowLoopback: true, // the local push service: http on loopback (OUTGOING_ALLOW_LOOPBACK)
    });
  });
  afterAll(async () => {
    await provider.close();
    await push.close();
  });
  const message = (sub: ReturnType<typeof pushSubscription> | undefined): OutboundMessage => ({
    channel: 'push',
    to: sub?.endpoint ?? '',
    push: sub,
    subject: 'Reminder',
    body: 'Tomorrow 10:00',
    idempotencyKey: 'n:1:webpush',
  });

  it('sends an encrypted, VAPID-signed request to the subscription endpoint', async () => {
    const sub = pushSubscription(push.endpoint('device-1'));
    const result = await provider.send(message(sub), never);
    const req = push.requests.at(-1)!;
    expect(req.path).toBe('/push/device-1');
    expect(req.headers['content-encoding']).toBe('aes128gcm');
    expect(req.headers.ttl).toBe('120');
    expect(req.headers.authorization).toMatch(new RegExp(`^vapid t=.+, k=${keys.publicKey}$`));
    expect(req.headers.topic).toMatch(/^[A-Za-z0-9_-]{1,32}$/);
    expect(req.body.length).toBeGreaterThan(16);
    expect(req.body.toString()).not.toContain('Tomorrow'); // encrypted
    expect(result.providerMessageId).toMatch(/messages/);
  });

  it('410 Gone (expired subscription) is permanent, 429 and 5xx are transient, no subscription is permanent', async () => {
    const sub = pushSubscription(push.endpoint('device-2'));
    push.failNext(410, 429, 502);
    expect((await refusal(provider.send(message(sub), never))).kind).toBe('permanent');
    expect((await refusal(provider.send(message(sub), never))).kind).toBe('transient');
    expect((await refusal(provider.send(message(sub), never))).kind).toBe('transient');
    expect((await refusal(provider.send(message(undefined), never))).kind).toBe('permanent');
    const broken = { endpoint: push.endpoint('x'), keys: { p256dh: 'short', auth: 'x' } };
    expect((await refusal(provider.send(message(broken), never))).kind).toBe('permanent');
  });

  it('keeps the status line of a refusal, never the body the endpoint sent', async () => {
    push.failNext(400);
    const error = await refusal(provider.send(message(pushSubscription(push.endpoint('device-3'))), never));
    expect([error.kind, error.message]).toEqual(['permanent', 'webpush: HTTP 400 Bad Request']);
    expect(error.message).not.toContain('scripted failure'); // the body the push service answered with
  });

  it('without the test switch (production), refuses the local push service before connecting: http, loopback', async () => {
    const strict = new WebPushProvider({
      name: 'webpush',
      vapid: { subject: 'mailto:ops@salon.test', ...keys },
      ttlSeconds: 120,
      timeoutMs: 1_000,
    });
    try {
      const before = push.requests.length;
      const plain = await refusal(strict.send(message(pushSubscription(push.endpoint('device-4'))), never));
      expect([plain.kind, plain.message]).toEqual(['permanent', 'webpush: endpoint refused: must be an https URL']);
      const loopback = await refusal(strict.send(message(pushSubscription(push.endpoint('device-4').replace('http:', 'https:'))), never));
      expect([loopback.kind, loopback.message]).toEqual([
        'permanent',
        'webpush: endpoint refused: must not point at a loopback, private or otherwise non-public address',
      ]);
      expect(push.requests.length).toBe(before);
    } finally {
      await strict.close();
    }
  });
});

describe('provider registry and channel configuration', () => {
  const cfg = (env: Record<string, string>) => loadChannelConfig(env as NodeJS.ProcessEnv);

  it('orders a channel by the configured providers, skipping unknown and other-channel names, else the defaults', () => {
    const registry = createChannelRegistry(cfg({ SMTP_BACKUP_URL: 'smtp://127.0.0.1:2525' }));
    expect(registry.names()).toEqual(['smtp', 'smtp-backup', 'twilio-sms', 'twilio-whatsapp', 'webpush']);
    expect(registry.providersFor('email', null)).toEqual(['smtp', 'smtp-backup']);
    expect(registry.providersFor('email', ['smtp-backup', 'nope', 'twilio-sms', 'smtp'])).toEqual(['smtp-backup', 'smtp']);
    expect(registry.providersFor('sms', ['smtp-backup'])).toEqual(['twilio-sms']);
    const custom = new ChannelRegistry(
      registry.names().map((n) => registry.get(n)!),
      { email: ['smtp'] },
    );
    expect(custom.providersFor('email', null)).toEqual(['smtp']);
    expect(custom.plan(['smtp-backup'])).toEqual({
      email: ['smtp-backup'],
      sms: ['twilio-sms'],
      whatsapp: ['twilio-whatsapp'],
      push: ['webpush'],
    });
  });

  it('has safe loopback defaults and names each invalid variable', () => {
    const c = cfg({});
    expect(c.SMTP_URL).toBe('smtp://127.0.0.1:1025');
    expect(c.TWILIO_BASE_URL).toBe('http://127.0.0.1:4010');
    expect(c.CHANNEL_TIMEOUT_MS).toBe(10_000);
    const bad = channelConfigSchema.safeParse({ SMTP_URL: 'http://x', TWILIO_SMS_FROM: '123', CHANNEL_TIMEOUT_MS: 'soon' });
    expect(bad.success).toBe(false);
    expect(bad.error!.issues.map((i) => i.path.join('.')).sort()).toEqual(['CHANNEL_TIMEOUT_MS', 'SMTP_URL', 'TWILIO_SMS_FROM']);
    expect(() => cfg({ VAPID_PUBLIC_KEY: 'only-one' })).toThrow(/VAPID_PRIVATE_KEY: set both/);
    expect(() => cfg({ SMTP_URL: 'nope' })).toThrow(/SMTP_URL/);
    // The loopback switch for tests and development: off by default, never in production.
    expect(c.OUTGOING_ALLOW_LOOPBACK).toBe(false);
    expect(cfg({ OUTGOING_ALLOW_LOOPBACK: 'true' }).OUTGOING_ALLOW_LOOPBACK).toBe(true);
    expect(() => cfg({ OUTGOING_ALLOW_LOOPBACK: 'true', NODE_ENV: 'production' })).toThrow(
      /OUTGOING_ALLOW_LOOPBACK: must not be set with NODE_ENV=production/,
    );
    expect(cfg({ OUTGOING_ALLOW_LOOPBACK: 'false', NODE_ENV: 'production' }).OUTGOING_ALLOW_LOOPBACK).toBe(false);
    expect(() => cfg({ OUTGOING_ALLOW_LOOPBACK: 'maybe' })).toThrow(/OUTGOING_ALLOW_LOOPBACK/);
    expect(createChannelRegistry(cfg({ OUTGOING_ALLOW_LOOPBACK: 'true' })).get('webpush')).toBeDefined();
    // Empty variables (VAR= in compose files) take the defaults instead of failing validation.
    expect(cfg({ TWILIO_AUTH_TOKEN: '', TWILIO_SMS_FROM: ' ', SMTP_BACKUP_URL: '' })).toMatchObject({
      TWILIO_AUTH_TOKEN: 'local-token',
      TWILIO_SMS_FROM: '+15005550006',
    });
  });
});
