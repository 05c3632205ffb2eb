import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { defaultPayloadConverter } from '@temporalio/common';
import { signUnsubscribeToken } from '../../src/consent/tokens';
import { createLogger } from '../../src/logger';
import { startTestApi, TEST_UNSUBSCRIBE_SECRET, type TestApi } from '../support/api';
import { launchBrowser, type TestBrowser } from '../support/browser';
import { testPayloadCodec } from '../support/encryption';

const TOKEN = 'codec-test-token-0123456789abcdef';
const NAMESPACE = process.env.TEST_TEMPORAL_NAMESPACE ?? 'default';

/**
 * The API's security headers (helmet) and content security policies do not break the pages and
 * callers it serves besides the console: the OpenAPI browser at /docs, the codec server called
 * from the Temporal Web UI's origin, and the unsubscribe page's form, each in a real Chromium.
 */
describe('security headers with the API’s other pages and callers', () => {
  let api: TestApi;
  let browser: TestBrowser;
  /** A page on another origin, standing in for the Temporal Web UI that calls the codec server. */
  let webUi: Server;
  let webUiOrigin: string;
  const logs: string[] = [];

  beforeAll(async () => {
    webUi = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>Web UI</title>'));
    await new Promise<void>((resolve) => webUi.listen(0, '127.0.0.1', resolve));
    webUiOrigin = `http://127.0.0.1:${(webUi.address() as AddressInfo).port}`;
    const sink = new Writable({
      write(chunk, _encoding, done) {
        logs.push(String(chunk));
        done();
      },
    });
    api = await startTestApi({
      logger: createLogger('info', sink),
      codecServer: { codec: testPayloadCodec(), token: TOKEN, namespace: NAMESPACE, allowedOrigins: [webUiOrigin] },
    });
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await api?.close();
    await new Promise((resolve) => webUi?.close(resolve));
  });

  it('every response carries helmet’s headers; JSON answers a policy that loads nothing', async () => {
    for (const path of ['/health', '/openapi.json', '/v1/company', '/no-such-route']) {
      const res = await fetch(api.url + path);
      expect(res.headers.get('content-security-policy')).toBe(
        "default-src 'none';base-uri 'none';form-action 'self';frame-ancestors 'none'",
      );
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('referrer-policy')).toBe('no-referrer');
      expect(res.headers.get('cross-origin-opener-policy')).toBe('same-origin');
      expect(res.headers.get('x-powered-by')).toBeNull();
    }
    // The request log keeps each answer's own headers, not the fixed security ones.
    const line = JSON.parse(logs.find((l) => l.includes('"url":"/openapi.json"'))!);
    expect(line.res).toMatchObject({ statusCode: 200, headers: { 'content-type': expect.stringMatching(/application\/json/) } });
    expect(Object.keys(line.res.headers)).not.toContain('content-security-policy');
    expect(logs.join('')).not.toContain('frame-ancestors');
  });

  it('/docs renders every operation under its own policy, and its page may call the API', async () => {
    const { page, problems } = await browser.page();
    const res = await page.goto(`${api.url}/docs/`);
    await page.locator('.opblock').first().waitFor({ timeout: 30_000 }); // swagger-ui reads the whole document first
    expect(await page.locator('.opblock').count()).toBeGreaterThan(50);
    expect(await page.locator('.opblock-summary-path').allTextContents()).toContain('/v1/branches/{id}/callbacks/escalations');
    // What "Try it out" does: a request from the page to the API (connect-src).
    const status = await page.evaluate(async () => (await fetch('/health')).status);
    expect(status).toBe(200);
    expect(problems).toEqual([]);
    // Scripts from the page's origin only; inline styles allowed (swagger-ui's own <style> blocks).
    const csp = res!.headers()['content-security-policy'];
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toMatch(/script-src[^;]*unsafe/);
  });

  it('the codec server answers the Web UI’s origin: the preflight and the decode pass in the browser', async () => {
    const [encrypted] = await testPayloadCodec().encode([defaultPayloadConverter.toPayload({ customer: 'Zofia' })!]);
    const payload = {
      metadata: Object.fromEntries(Object.entries(encrypted.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v!).toString('base64')])),
      data: Buffer.from(encrypted.data!).toString('base64'),
    };
    const { page, problems } = await browser.page();
    await page.goto(webUiOrigin);
    const answer = await page.evaluate(
      async ({ url, namespace, body }) => {
        // As the Web UI calls it: JSON, X-Namespace (so a preflight), credentials included.
        const res = await fetch(url, {
          method: 'POST',
          credentials: 'include',
          headers: { 'content-type': 'application/json', 'x-namespace': namespace },
          body: JSON.stringify(body),
        });
        return { status: res.status, body: (await res.json()) as { payloads: Array<{ data: string }> } };
      },
      { url: `${api.url}/codec/${TOKEN}/decode`, namespace: NAMESPACE, body: { payloads: [payload] } },
    );
    expect(answer.status).toBe(200);
    expect(JSON.parse(Buffer.from(answer.body.payloads[0].data, 'base64').toString())).toEqual({ customer: 'Zofia' });
    expect(problems).toEqual([]);
  });

  it('the unsubscribe page’s form posts under the API’s policy (form-action self)', async () => {
    const company = await api.company();
    const customer = (
      await api.request('POST', '/v1/customers', { key: company.admin, body: { name: 'Ulla', email: 'ulla@example.test' } })
    ).body;
    const token = signUnsubscribeToken(TEST_UNSUBSCRIBE_SECRET, {
      companyId: company.id,
      customerId: customer.id,
      channel: 'email',
      kind: 'optional',
      exp: Math.floor(Date.now() / 1000) + 600,
    });
    const { page, problems } = await browser.page();
    await page.goto(`${api.url}/unsubscribe/${token}`);
    await page.getByRole('button', { name: 'Unsubscribe' }).click();
    await page.waitForURL(`${api.url}/unsubscribe/${token}`);
    await page.getByRole('heading').waitFor();
    const consents = await api.request('GET', `/v1/customers/${customer.id}/consents`, { key: company.agent });
    expect(consents.body.history).toHaveLength(1);
    expect(problems).toEqual([]);
  });
});
