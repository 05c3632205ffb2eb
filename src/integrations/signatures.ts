import { createHmac, timingSafeEqual } from 'node:crypto';
import Retell from 'retell-sdk';

/**
 * Webhook signatures, checked over the raw request body (never re-serialised JSON: a different key
 * order or spacing would change the bytes signed).
 */

/** Cal.com: `X-Cal-Signature-256` is the hex HMAC-SHA256 of the raw body with the webhook's secret. */
export function calcomSignature(raw: Buffer, secret: string): string {
  return createHmac('sha256', secret).update(raw).digest('hex');
}

/** Constant-time comparison of a Cal.com signature header with the one the secret makes. */
export function calcomSignatureMatches(raw: Buffer, secret: string, header: string): boolean {
  const expected = Buffer.from(calcomSignature(raw, secret), 'utf8');
  const given = Buffer.from(header.trim().toLowerCase(), 'utf8');
  // timingSafeEqual needs equal lengths; the length of a hex SHA-256 is public.
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/**
 * Retell: `x-retell-signature` is `v=<ms timestamp>,d=<hex HMAC-SHA256 of body + timestamp>` with
 * the API key that has the webhook badge, accepted within five minutes of its timestamp. Checked by
 * the retell-sdk package's own `Retell.verify` (Web Crypto's HMAC verify: constant time).
 */
export async function retellSignatureMatches(raw: Buffer, apiKey: string, header: string): Promise<boolean> {
  return Retell.verify(raw.toString('utf8'), apiKey, header.trim());
}
