import { Writable } from 'node:stream';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import { createLogger } from '../../src/logger';
import { EncryptionCodec, parsePayloadKeys } from '../../src/temporal/payload-codec';
import { startTestApi, type TestApi } from '../support/api';
import { ROTATED_PAYLOAD_KEY, TEST_PAYLOAD_KEYS, testPayloadCodec } from '../support/encryption';

const TOKEN = 'codec-test-token-0123456789abcdef';
const UI = 'http://127.0.0.1:8233';
const NAMESPACE = process.env.TEST_TEMPORAL_NAMESPACE ?? 'default';

/** Payloads as the Web UI and the CLI send them: protobuf JSON, bytes in base64. */
const toJson = (p: Payload) => ({
  metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v!).toString('base64')])),
  data: Buffer.from(p.data ?? new Uint8Array()).toString('base64'),
});
const fromJson = (p: { metadata: Record<string, string>; data: string }): Payload => ({
  metadata: Object.fromEntries(Object.entries(p.metadata).map(([k, v]) => [k, Buffer.from(v, 'base64')])),
  data: Buffer.from(p.data, 'base64'),
});
const value = (v: unknown) => toJson(defaultPayloadConverter.toPayload(v)!);

/**
 * The codec server (Temporal's remote codec protocol) in the real API: the token, CORS for the
 * Web UI's origin, X-Namespace, what it decodes and refuses, and that the token stays out of the logs.
 */
describe('codec server: POST /codec/{encode,decode}', () => {
  let api: TestApi;
  const logs: string[] = [];

  beforeAll(async () => {
    const sink = new Writable({
      write(chunk, _encoding, done) {
        logs.push(String(chunk));
        done();
      },
    });
    api = await startTestApi({
      logger: createLogger('info', sink),
      authFailuresPerMinute: 0,
      codecServer: { codec: testPayloadCodec(), token: TOKEN, namespace: NAMESPACE, allowedOrigins: [UI, 'http://localhost:8233'] },
    });
  });
  afterAll(() => api.close());

  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${api.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  const bearer = { authorization: `Bearer ${TOKEN}` };

  it('encodes and decodes with the bearer token: ciphertext out, the same values back', async () => {
    const values = [{ customerName: 'Zofia Przybylska', phone: '+48600111222' }, 'plain text', 42];
    const encoded = await post('/codec/encode', { payloads: values.map(value) }, bearer);
    expect(encoded.status).toBe(200);
    const { payloads } = (await encoded.json()) as { payloads: Array<{ metadata: Record<string, string>; data: string }> };
    expect(payloads).toHaveLength(3);
    for (const p of payloads) {
      expect(Buffer.from(p.metadata.encoding, 'base64').toString()).toBe('binary/encrypted');
      expect(Buffer.from(p.data, 'base64').toString('latin1')).not.toContain('Zofia');
    }
    // The product's own codec reads what the server wrote: the same keys, the same format.
    const direct = await testPayloadCodec().decode(payloads.map(fromJson));
    expect(direct.map((p) => defaultPayloadConverter.fromPayload(p))).toEqual(values);

    const decoded = await post('/codec/decode', { payloads }, { ...bearer, 'x-namespace': NAMESPACE });
    expect(decoded.status).toBe(200);
    const back = ((await decoded.json()) as { payloads: Array<{ metadata: Record<string, string>; data: string }> }).payloads;
    expect(back.map((p) => defaultPayloadConverter.fromPayload(fromJson(p)))).toEqual(values);
  });

  it('accepts the token as a path segment (the endpoint the Web UI is given), and keeps it out of the logs', async () => {
    const [encrypted] = await testPayloadCodec().encode([defaultPayloadConverter.toPayload({ secret: 'in the path' })!]);
    const res = await post(`/codec/${TOKEN}/decode`, { payloads: [toJson(encrypted)] }, { origin: UI, 'x-namespace': NAMESPACE });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe(UI);
    const [p] = ((await res.json()) as { payloads: Array<{ metadata: Record<string, string>; data: string }> }).payloads;
    expect(defaultPayloadConverter.fromPayload(fromJson(p))).toEqual({ secret: 'in the path' });
    const line = logs.find((l) => l.includes('/codec/***/decode'));
    expect(line).toBeDefined();
    expect(logs.join('\n')).not.toContain(TOKEN);
  });

  it('answers 401 without the token or with a wrong one, in the header or the path', async () => {
    const body = { payloads: [value('x')] };
    for (const [path, headers] of [
      ['/codec/decode', {}],
      ['/codec/decode', { authorization: 'Bearer wrong-token-wrong-token-wrong' }],
      ['/codec/encode', { authorization: `Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}` }],
      ['/codec/not-the-token-at-all-0123456789/decode', {}],
    ] as const) {
      const res = await post(path, body, headers);
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('unauthorized');
    }
  });

  it("answers the Web UI's CORS preflight for its origin, and refuses other origins", async () => {
    const preflight = (origin: string) =>
      fetch(`${api.url}/codec/${TOKEN}/decode`, {
        method: 'OPTIONS',
        headers: {
          origin,
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'authorization,content-type,x-namespace',
        },
      });
    const ok = await preflight(UI);
    expect(ok.status).toBe(204);
    expect(ok.headers.get('access-control-allow-origin')).toBe(UI);
    expect(ok.headers.get('access-control-allow-methods')).toContain('POST');
    expect(ok.headers.get('access-control-allow-headers')?.toLowerCase()).toEqual(expect.stringContaining('x-namespace'));
    expect(ok.headers.get('access-control-allow-headers')?.toLowerCase()).toEqual(expect.stringContaining('content-type'));
    expect(ok.headers.get('access-control-allow-headers')?.toLowerCase()).toEqual(expect.stringContaining('authorization'));
    expect(ok.headers.get('access-control-allow-credentials')).toBe('true');
    expect(ok.headers.get('vary')).toContain('Origin');
    expect((await preflight('http://localhost:8233')).headers.get('access-control-allow-origin')).toBe('http://localhost:8233');

    const evil = await preflight('https://evil.example');
    expect(evil.status).toBe(403);
    expect(evil.headers.get('access-control-allow-origin')).toBeNull();
    // The request itself from another origin is refused too, even with the right token.
    const post403 = await post('/codec/decode', { payloads: [value('x')] }, { ...bearer, origin: 'https://evil.example' });
    expect(post403.status).toBe(403);
    expect(((await post403.json()) as { error: { code: string } }).error.code).toBe('origin_not_allowed');
  });

  it('serves its own namespace only (X-Namespace)', async () => {
    const res = await post('/codec/decode', { payloads: [value('x')] }, { ...bearer, 'x-namespace': 'someone-else' });
    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({ error: { code: 'namespace_not_served' } });
  });

  it('decodes an unencrypted payload to itself, and refuses what it cannot decrypt, naming the key id', async () => {
    const plain = value({ sent: 'by hand' });
    const same = await post('/codec/decode', { payloads: [plain] }, bearer);
    expect(((await same.json()) as { payloads: unknown[] }).payloads).toEqual([plain]);

    const rotated = new EncryptionCodec(parsePayloadKeys(`${TEST_PAYLOAD_KEYS},${ROTATED_PAYLOAD_KEY}`));
    const [newer] = await rotated.encode([defaultPayloadConverter.toPayload('from a newer key')!]);
    const res = await post('/codec/decode', { payloads: [toJson(newer)] }, bearer);
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: { code: 'undecodable_payload', message: expect.stringContaining('"test-2026b"') } });
  });

  it('takes a missing list as an empty one: `{}` is what the CLI sends for a query or a signal without arguments', async () => {
    for (const op of ['encode', 'decode']) {
      for (const body of [{}, { payloads: null }, { payloads: [] }]) {
        const res = await post(`/codec/${op}`, body, bearer);
        expect([op, body, res.status, await res.json()]).toEqual([op, body, 200, { payloads: [] }]);
      }
    }
  });

  it('validates the body (400 naming the field) and takes payloads larger than the API body limit', async () => {
    const bad = await post('/codec/decode', { payloads: [{ data: 'not base64!' }] }, bearer);
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({
      error: { code: 'validation_error', details: { fields: [{ field: 'body.payloads.0.data' }] } },
    });
    const unknown = await post('/codec/decode', { nothing: true }, bearer);
    expect([unknown.status, await unknown.json()]).toMatchObject([400, { error: { details: { fields: [{ field: 'body.nothing' }] } } }]);
    const malformed = await fetch(`${api.url}/codec/decode`, {
      method: 'POST',
      headers: { ...bearer, 'content-type': 'application/json' },
      body: '{',
    });
    expect(malformed.status).toBe(400);

    const plainText = await fetch(`${api.url}/codec/decode`, {
      method: 'POST',
      headers: { ...bearer, 'content-type': 'text/plain' },
      body: JSON.stringify({ payloads: [value('x')] }),
    });
    expect([plainText.status, ((await plainText.json()) as { error: { code: string } }).error.code]).toEqual([
      415,
      'unsupported_media_type',
    ]);

    const large = await post('/codec/encode', { payloads: [value('x'.repeat(300_000))] }, bearer);
    expect(large.status).toBe(200);
  });

  it('is not there when no token is configured', async () => {
    const plain = await startTestApi();
    try {
      const res = await fetch(`${plain.url}/codec/decode`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...bearer },
        body: '{"payloads":[]}',
      });
      expect(res.status).toBe(404);
    } finally {
      await plain.close();
    }
  });
});
