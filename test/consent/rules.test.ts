import { createHmac } from 'node:crypto';
import { decide, decideAll, optedOutReason, smsKeyword } from '../../src/consent/rules';
import { signUnsubscribeToken, unsubscribeUrl, verifyUnsubscribeToken } from '../../src/consent/tokens';

describe('consent rules (pure)', () => {
  it('transactional: allowed unless opted out on that channel', () => {
    expect(decide('transactional', 'email', [], true)).toBe('allowed');
    expect(decide('transactional', 'email', [], false)).toBe('allowed');
    expect(decide('transactional', 'email', [{ channel: 'email', kind: 'transactional', granted: false }], true)).toBe('opted_out');
    expect(decide('transactional', 'sms', [{ channel: 'email', kind: 'transactional', granted: false }], true)).toBe('allowed');
    // Refusing optional messages does not refuse transactional ones.
    expect(decide('transactional', 'email', [{ channel: 'email', kind: 'optional', granted: false }], true)).toBe('allowed');
  });

  it('optional: the answer, else the company default; never where transactional messages are refused', () => {
    expect(decide('optional', 'email', [], true)).toBe('allowed');
    expect(decide('optional', 'email', [], false)).toBe('opted_out');
    expect(decide('optional', 'email', [{ channel: 'email', kind: 'optional', granted: true }], false)).toBe('allowed');
    expect(decide('optional', 'email', [{ channel: 'email', kind: 'optional', granted: false }], true)).toBe('opted_out');
    const refusedAll = [
      { channel: 'email' as const, kind: 'transactional' as const, granted: false },
      { channel: 'email' as const, kind: 'optional' as const, granted: true },
    ];
    expect(decide('optional', 'email', refusedAll, true)).toBe('opted_out');
    expect(decideAll('optional', refusedAll, false)).toEqual({
      email: 'opted_out',
      sms: 'opted_out',
      whatsapp: 'opted_out',
      push: 'opted_out',
    });
  });

  it('names what was refused', () => {
    expect(optedOutReason('transactional', ['email'])).toBe('opted_out: the customer opted out of transactional messages by email');
    expect(optedOutReason('optional', ['email', 'sms', 'push'])).toBe(
      'opted_out: the customer opted out of optional messages by email, sms and push',
    );
  });

  it('SMS keywords: the carriers’ words, whole message, any case', () => {
    for (const w of ['STOP', 'stop', ' Stop\n', 'UNSUBSCRIBE', 'cancel', 'END', 'quit', 'STOPALL', 'REVOKE', 'OPTOUT'])
      expect(smsKeyword(w)).toBe('opt_out');
    for (const w of ['START', 'start', 'UNSTOP', 'yes', 'OPTIN']) expect(smsKeyword(w)).toBe('opt_in');
    for (const w of ['please stop calling', 'stopp', '', 'hello']) expect(smsKeyword(w)).toBeNull();
  });
});

describe('unsubscribe tokens', () => {
  const secret = 'a-secret-of-at-least-thirty-two-characters';
  const claims = {
    companyId: '6f8ad4e3-a63c-4625-8243-44deecb73085',
    customerId: '681b002d-433d-4808-89f9-ae6dede40d2f',
    channel: 'email' as const,
    kind: 'optional' as const,
  };
  const now = Date.parse('2026-11-26T10:00:00Z');

  it('round-trips its claims until it expires', () => {
    const token = signUnsubscribeToken(secret, { ...claims, exp: now / 1000 + 60 });
    expect(verifyUnsubscribeToken(secret, token, now)).toEqual({ ok: true, claims: { ...claims, exp: now / 1000 + 60 } });
    expect(verifyUnsubscribeToken(secret, token, now + 60_000)).toEqual({ ok: false, reason: 'expired' });
  });

  it('refuses another secret, a changed payload, a changed signature, garbage', () => {
    const token = signUnsubscribeToken(secret, { ...claims, exp: now / 1000 + 60 });
    const [payload, signature] = token.split('.');
    const changed = Buffer.from(Buffer.from(payload, 'base64url').toString().replace('optional', 'transactional')).toString('base64url');
    expect(verifyUnsubscribeToken('another-secret-of-at-least-thirty-two-chars', token, now)).toEqual({ ok: false, reason: 'invalid' });
    expect(verifyUnsubscribeToken(secret, `${changed}.${signature}`, now)).toEqual({ ok: false, reason: 'invalid' });
    expect(verifyUnsubscribeToken(secret, `${payload}.${signature.slice(1)}`, now)).toEqual({ ok: false, reason: 'invalid' });
    for (const bad of ['', '.', 'a.b.c', 'no-dot', `${payload}.`]) expect(verifyUnsubscribeToken(secret, bad, now).ok).toBe(false);
    // A validly signed payload with the wrong shape is refused too.
    const odd = Buffer.from(JSON.stringify({ co: 'x', cu: claims.customerId, ch: 'fax', k: 'optional', exp: 9e9 })).toString('base64url');
    const sig = createHmac('sha256', secret).update(odd).digest('base64url');
    expect(verifyUnsubscribeToken(secret, `${odd}.${sig}`, now)).toEqual({ ok: false, reason: 'invalid' });
  });

  it('builds the link under the public base URL', () => {
    const url = unsubscribeUrl({ secret, baseUrl: 'https://api.example.com/', ttlDays: 30 }, claims, now);
    expect(url).toMatch(/^https:\/\/api\.example\.com\/unsubscribe\/[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
    const check = verifyUnsubscribeToken(secret, url.split('/').pop()!, now);
    expect(check).toMatchObject({ ok: true, claims: { exp: now / 1000 + 30 * 86_400 } });
  });
});
