import { createHash } from 'node:crypto';
import webpush from 'web-push';
import {
  classifyFetchError,
  classifyHttpStatus,
  ProviderError,
  withTimeout,
  type ChannelProvider,
  type OutboundMessage,
  type SendResult,
} from './types';

export interface WebPushProviderOptions {
  name: string;
  vapid: { subject: string; publicKey: string; privateKey: string };
  /** Seconds the push service keeps an undelivered message. */
  ttlSeconds: number;
  timeoutMs: number;
}

/**
 * Web Push (RFC 8030) with VAPID (RFC 8292): `web-push` builds the encrypted request (aes128gcm
 * payload, VAPID JWT), fetch sends it to the subscription's endpoint (http or https, with a
 * timeout and the activity's cancellation). Web Push has no idempotency key; the Topic header
 * (derived from the attempt key) makes the push service replace a not-yet-delivered duplicate,
 * which narrows, but does not close, the window: hence idempotent = false.
 */
export class WebPushProvider implements ChannelProvider {
  readonly channel = 'push' as const;
  readonly idempotent = false;
  readonly name: string;

  constructor(private readonly options: WebPushProviderOptions) {
    this.name = options.name;
  }

  async send(message: OutboundMessage, signal: AbortSignal): Promise<SendResult> {
    const subscription = message.push;
    if (!subscription?.endpoint) throw new ProviderError(`${this.name}: no push subscription`, 'permanent');
    const topic = createHash('sha256').update(message.idempotencyKey).digest('base64url').slice(0, 32);
    let details: ReturnType<typeof webpush.generateRequestDetails>;
    try {
      details = webpush.generateRequestDetails(subscription, JSON.stringify({ title: message.subject ?? '', body: message.body }), {
        vapidDetails: this.options.vapid,
        TTL: this.options.ttlSeconds,
        topic,
      });
    } catch (error) {
      // A malformed subscription (bad keys, bad endpoint) will never work.
      throw new ProviderError(`${this.name}: invalid push subscription: ${(error as Error).message}`, 'permanent');
    }
    let response: Response;
    try {
      response = await fetch(details.endpoint, {
        method: details.method,
        headers: details.headers as Record<string, string>,
        body: details.body as Buffer | null,
        signal: withTimeout(signal, this.options.timeoutMs),
      });
    } catch (error) {
      classifyFetchError(error, signal, this.name);
    }
    const text = await response.text().catch(() => '');
    if (response.ok) return { providerMessageId: response.headers.get('location') };
    // 404/410: the subscription expired or was removed; other 4xx: the request itself is wrong.
    throw new ProviderError(
      `${this.name}: HTTP ${response.status}: ${text.slice(0, 200) || response.statusText}`,
      classifyHttpStatus(response.status),
      { status: response.status, addressGone: response.status === 404 || response.status === 410 },
    );
  }
}
