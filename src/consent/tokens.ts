import { createHmac, timingSafeEqual } from 'node:crypto';
import { CHANNELS, MESSAGE_KINDS, type Channel, type MessageKind } from './definitions';

/**
 * Signed, expiring unsubscribe tokens for the one-click links in emails (RFC 8058): what to opt
 * out of (company, customer, channel, kind) and until when the link works, signed with
 * HMAC-SHA256 under UNSUBSCRIBE_SECRET. `<payload>.<signature>`, both base64url: no state is kept
 * per link, so a link keeps working after a restart and a replayed one changes nothing twice.
 */
export interface UnsubscribeClaims {
  companyId: string;
  customerId: string;
  channel: Channel;
  kind: MessageKind;
  /** Expiry, seconds since the epoch. */
  exp: number;
}

export type TokenCheck = { ok: true; claims: UnsubscribeClaims } | { ok: false; reason: 'invalid' | 'expired' };

const mac = (secret: string, payload: string) => createHmac('sha256', secret).update(payload).digest();

export function signUnsubscribeToken(secret: string, claims: UnsubscribeClaims): string {
  const payload = Buffer.from(
    JSON.stringify({ co: claims.companyId, cu: claims.customerId, ch: claims.channel, k: claims.kind, exp: claims.exp }),
  ).toString('base64url');
  return `${payload}.${mac(secret, payload).toString('base64url')}`;
}

/** Checks the signature (constant time) first, then the claims, then the expiry. */
export function verifyUnsubscribeToken(secret: string, token: string, nowMs: number): TokenCheck {
  const [payload, signature, extra] = token.split('.');
  if (!payload || !signature || extra !== undefined) return { ok: false, reason: 'invalid' };
  const expected = mac(secret, payload);
  const given = Buffer.from(signature, 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { ok: false, reason: 'invalid' };
  let raw: { co?: unknown; cu?: unknown; ch?: unknown; k?: unknown; exp?: unknown };
  try {
    raw = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
  } catch {
    return { ok: false, reason: 'invalid' };
  }
  const uuid = (v: unknown): v is string => typeof v === 'string' && /^[0-9a-f-]{36}$/i.test(v);
  if (
    !uuid(raw.co) ||
    !uuid(raw.cu) ||
    !(CHANNELS as readonly unknown[]).includes(raw.ch) ||
    !(MESSAGE_KINDS as readonly unknown[]).includes(raw.k) ||
    typeof raw.exp !== 'number' ||
    !Number.isFinite(raw.exp)
  ) {
    return { ok: false, reason: 'invalid' };
  }
  if (raw.exp * 1000 <= nowMs) return { ok: false, reason: 'expired' };
  return {
    ok: true,
    claims: { companyId: raw.co, customerId: raw.cu, channel: raw.ch as Channel, kind: raw.k as MessageKind, exp: raw.exp },
  };
}

/** The settings links are made with (the worker signs, the API verifies). */
export interface UnsubscribeLinks {
  secret: string;
  /** The API's public base URL, e.g. https://api.example.com (the link is `<base>/unsubscribe/<token>`). */
  baseUrl: string;
  ttlDays: number;
}

export function unsubscribeUrl(links: UnsubscribeLinks, claims: Omit<UnsubscribeClaims, 'exp'>, nowMs: number): string {
  const token = signUnsubscribeToken(links.secret, { ...claims, exp: Math.floor(nowMs / 1000) + links.ttlDays * 86_400 });
  return `${links.baseUrl.replace(/\/+$/, '')}/unsubscribe/${token}`;
}
