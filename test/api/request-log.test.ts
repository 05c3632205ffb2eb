import { Writable } from 'node:stream';
import { createLogger } from '../../src/logger';
import { startTestApi, type TestApi } from '../support/api';
import { testPayloadCodec } from '../support/encryption';
import { until } from '../support/until';

const CODEC_TOKEN = 'log-codec-token-0123456789abcdef';

/**
 * The request log of the real API, captured as it is written: secrets that travel in a URL (the
 * unsubscribe token, the codec token in the Web UI's endpoint, a webhook's capability id, a token in
 * a query parameter) and credentials in headers never reach it; what an operator needs to follow a
 * request (method, route, status, harmless query parameters) does.
 */
describe('the request log keeps secrets out', () => {
  let api: TestApi;
  const lines: string[] = [];
  const secrets = {
    unsubscribe: 'eyJjIjoiY3VzdG9tZXIifQ.c2lnbmF0dXJlLW9mLXRoZS11bnN1YnNjcmliZS10b2tlbg',
    hook: 'wh_7c1f4e9a2b3d4c5e6f708192a3b4c5d6',
    retellHook: '0f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a',
    query: 'qs-secret-value-3f2e1d0c9b8a',
    signature: 'sig-secret-value-5a4b3c2d1e0f',
    apiKey: `ak_deadbeef_${'S'.repeat(43)}`,
  };
  const logged = () => lines.join('\n');
  const entryFor = (method: string, fragment: string) =>
    lines.map((l) => JSON.parse(l)).find((e) => e.req?.method === method && String(e.req?.url).includes(fragment));

  beforeAll(async () => {
    const sink = new Writable({
      write(chunk, _encoding, done) {
        lines.push(...String(chunk).split('\n').filter(Boolean));
        done();
      },
    });
    api = await startTestApi({
      logger: createLogger('info', sink),
      authFailuresPerMinute: 0,
      codecServer: { codec: testPayloadCodec(), token: CODEC_TOKEN, namespace: 'default', allowedOrigins: [] },
    });
  });
  afterAll(() => api.close());

  it('redacts path tokens, capability ids and token-like query parameters; keeps the rest', async () => {
    const company = await api.company();
    await api.request('GET', `/unsubscribe/${secrets.unsubscribe}?c=email`);
    await api.request('POST', `/unsubscribe/${secrets.unsubscribe}`, {
      raw: 'List-Unsubscribe=One-Click',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    await api.request('POST', `/codec/${CODEC_TOKEN}/decode`, { body: { payloads: [] } });
    await api.request('POST', `/webhooks/calcom/${secrets.hook}`, { body: { triggerEvent: 'PING' } });
    await api.request('POST', `/webhooks/retell/${secrets.retellHook}/`, { body: { event: 'call_started' } });
    await api.request('GET', `/v1/branches?limit=5&token=${secrets.query}&access_token=${secrets.query}&sig=${secrets.signature}`, {
      key: company.agent,
    });
    await api.request('GET', `/v1/branches?apiKey=${secrets.apiKey}`, { key: secrets.apiKey });
    await api.request('POST', '/webhooks/twilio/sms', {
      raw: 'From=%2B14155550199&Body=STOP',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': secrets.signature },
    });

    // Each request is logged when its response finishes.
    await until('every request logged', async () => lines.filter((l) => l.includes('"req":')).length >= 10 || undefined);
    const text = logged();
    for (const [name, secret] of Object.entries({ ...secrets, codec: CODEC_TOKEN, agentKey: company.agent })) {
      expect({ name, inLog: text.includes(secret) }).toEqual({ name, inLog: false });
    }
    // What is kept: the request's shape, for following it.
    expect(entryFor('GET', '/unsubscribe/')?.req.url).toBe('/unsubscribe/***?c=email');
    expect(entryFor('POST', '/unsubscribe/')?.req.url).toBe('/unsubscribe/***');
    expect(entryFor('POST', '/codec/')?.req.url).toBe('/codec/***/decode');
    expect(entryFor('POST', '/webhooks/calcom')?.req.url).toBe('/webhooks/calcom/***');
    expect(entryFor('POST', '/webhooks/retell')?.req.url).toBe('/webhooks/retell/***/');
    expect(entryFor('POST', '/webhooks/twilio')?.req.url).toBe('/webhooks/twilio/sms');
    const listed = entryFor('GET', 'limit=5');
    expect(listed?.req.url).toBe('/v1/branches?limit=5&token=***&access_token=***&sig=***');
    expect(listed?.res.statusCode).toBe(400); // unknown parameters: refused, and logged without their values
    expect(entryFor('GET', 'apiKey=')?.req.url).toBe('/v1/branches?apiKey=***');
  });
});
